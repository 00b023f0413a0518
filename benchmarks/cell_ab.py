"""LSTM cell variants timed against each other in one process, epochs alternated.

This machine's epoch times drift by 10-25% between runs, more than the differences between
cells; alternating the variants' epochs inside one process cancels most of that. Each variant
is the real compiled epoch of tsforecast's trainer (both cores as two devices), on the peers'
series, from the same initial weights:

- `flax`: Flax's `nn.LSTMCell` (four matrix products each for input and state, XLA's tanh and
  logistic);
- `flax+rational`: the same with tsforecast's rational tanh and sigmoid;
- `fused`: tsforecast's cell (one matrix product each) with XLA's tanh and logistic;
- `fused+rational`: tsforecast's cell as shipped.

    python benchmarks/cell_ab.py                              # the peers' workload
    python benchmarks/cell_ab.py --lookback 168 --batch 64    # the default settings

Prints the median epoch of each and its speed-up over the first; writes
benchmarks/results/cell_ab-lookback<L>-batch<B>.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial
from pathlib import Path

from common import markdown_table, write_result

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--csv",
        type=Path,
        default=ROOT / ".bench" / "series.csv",
        help="made by benchmarks/speed.py",
    )
    parser.add_argument("--windows", type=int, default=12000, help="training windows per epoch")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--lookback", type=int, default=96)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()

    import tsforecast  # noqa: F401  (first: it sets the host device count before jax starts)
    # isort: split

    import flax.linen as nn
    import jax
    import numpy as np
    import pandas as pd

    from tsforecast import activations, models
    from tsforecast.config import Config, ModelConfig, TrainConfig, WindowConfig
    from tsforecast.trainer import build_trainer

    glorot = nn.initializers.glorot_uniform()
    rational = {"gate_fn": activations.sigmoid, "activation_fn": activations.tanh}
    variants = {
        "flax": partial(nn.LSTMCell, kernel_init=glorot),
        "flax+rational": partial(nn.LSTMCell, kernel_init=glorot, **rational),
        "fused": partial(models.LSTMCell, kernel_init=glorot),
        "fused+rational": partial(models.LSTMCell, kernel_init=glorot, **rational),
    }
    y = pd.read_csv(args.csv, usecols=["y"])["y"].to_numpy(np.float32)
    z = ((y - y.mean()) / y.std()).astype(np.float32)[:, None]
    # No framing (plain z-scores in, no seasonal term), every window in each epoch, MSE, and a
    # clip norm that never clips.
    config = Config(
        window=WindowConfig(lookback=args.lookback, horizon=24),
        model=ModelConfig(name="lstm", hidden=64, normalize="series", residual="none"),
        train=TrainConfig(
            batch_size=args.batch, lr=1e-3, clip_norm=1e9, loss="mse", seed=0, epoch_windows=None
        ),
    )
    shipped = models.CELLS["lstm"]
    runs = {}
    for name, cell in variants.items():
        # The cell is read when the model is first traced (its initialisation, then the epoch),
        # so each variant compiles its own.
        models.CELLS["lstm"] = cell
        trainer = build_trainer(config)
        params, values, starts = trainer.place(
            trainer.initial_params(1), z, np.arange(args.windows, dtype=np.int32)
        )
        # One untimed epoch, which compiles.
        state = (params, *trainer.start_state(params))
        state = jax.block_until_ready(trainer.train_epoch(*state, values, starts)[:3])
        runs[name] = [trainer.train_epoch, state, values, starts]
    models.CELLS["lstm"] = shipped

    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, run in runs.items():
            epoch, state, values, starts = run
            began = time.perf_counter()
            run[1] = jax.block_until_ready(epoch(*state, values, starts)[:3])
            seconds[name].append(time.perf_counter() - began)

    first = statistics.median(seconds["flax"])
    rows = [
        {
            "variant": name,
            "epoch_s": statistics.median(s),
            "speedup": first / statistics.median(s),
            "runs_s": s,
        }
        for name, s in seconds.items()
    ]
    cells = [[r["variant"], f"{r['epoch_s']:.3f}", f"{r['speedup']:.2f}x"] for r in rows]
    print(markdown_table(["cell", f"epoch s (median of {args.repeats})", "vs flax"], "lrr", cells))
    out = (
        ROOT / "benchmarks" / "results" / f"cell_ab-lookback{args.lookback}-batch{args.batch}.json"
    )
    write_result(out, {"settings": {k: str(v) for k, v in vars(args).items()}, "rows": rows})


if __name__ == "__main__":
    main()
