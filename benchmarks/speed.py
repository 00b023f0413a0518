"""Training speed of tsforecast against the peers in ../shared/peers, side by side in one run.

The workload is the peers' (see ../shared/peers/README.md): the 60,000-row series of
make_series.py, lookback 96, horizon 24, one LSTM layer of 64, Adam 1e-3, MSE, batch 256,
the first 80% of windows for training, standardised with the statistics of the part the
training windows touch. Each tsforecast variant runs in its own process because the number of
host devices is fixed when jax starts.

    python benchmarks/speed.py                        # tsforecast variants and all peers
    python benchmarks/speed.py --peers none --epochs 3
    python benchmarks/speed.py --models lstm,gru,bilstm,conv-lstm --peers none
    python benchmarks/speed.py --devices 1 --peers-dir .peers --out speed-gpu.json  # make bench-gpu

Prints a table and writes benchmarks/results/speed.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import markdown_table, write_result

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
BENCH = ROOT / ".bench"
VAL_FRAC = 0.2


def gflop_per_epoch(
    model: str,
    n_train: int,
    lookback: int,
    horizon: int,
    hidden: int,
    filters: int = 32,
    kernel: int = 3,
    pool: int = 2,
) -> float:
    """Matmuls of one recurrent layer (4 gates for an LSTM, 3 for a GRU, both directions of a
    bilstm; the conv-lstm's Conv1D and its LSTM over the pooled steps) and the head, forward +
    backward taken as 3x forward (the peers' count)."""

    def gates(count: int, inputs: int, steps: int) -> int:
        return 2 * count * (inputs + hidden) * hidden * steps

    per_window = {
        "lstm": gates(4, 1, lookback) + 2 * hidden * horizon,
        "gru": gates(3, 1, lookback) + 2 * hidden * horizon,
        "bilstm": 2 * gates(4, 1, lookback) + 2 * 2 * hidden * horizon,
        "conv-lstm": 2 * kernel * filters * lookback
        + gates(4, filters, lookback // pool)
        + 2 * hidden * horizon,
    }[model]
    return 3 * per_window * n_train / 1e9


def run_tsforecast(args: argparse.Namespace) -> dict:
    """One variant in this process: the compiled-epoch trainer on the peers' exact windows."""
    import tsforecast  # noqa: F401  (first: it sets the host device count before jax starts)
    # isort: split

    import jax
    import numpy as np
    import pandas as pd

    from tsforecast.config import Config, DataConfig, ModelConfig, TrainConfig, WindowConfig
    from tsforecast.models import count_params
    from tsforecast.trainer import build_trainer

    y = pd.read_csv(args.csv, usecols=["ds", "y"])["y"].to_numpy(np.float32)
    lookback, horizon = args.lookback, args.horizon
    n_windows = len(y) - lookback - horizon + 1
    n_val = int(round(n_windows * VAL_FRAC))
    n_train = n_windows - n_val
    fit_part = y[: n_train - 1 + lookback + horizon]
    z = ((y - fit_part.mean()) / fit_part.std()).astype(np.float32)

    config = Config(
        data=DataConfig(season_length=1),
        window=WindowConfig(lookback=lookback, horizon=horizon),
        # The peers' plain z-scored windows: no window framing.
        model=ModelConfig(
            name=args.model,
            hidden=args.hidden,
            strategy=args.strategy,
            normalize="series",
            residual="none",
        ),
        train=TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch,
            lr=1e-3,
            clip_norm=1e9,
            loss="mse",
            seed=0,
            epoch_windows=None,
        ),
    )
    trainer = build_trainer(config)
    mesh = trainer.mesh
    params = trainer.initial_params()
    n_params = count_params(params)
    params, values, train_starts, val_starts = trainer.place(
        params,
        z[:, None],
        np.arange(n_train, dtype=np.int32),
        np.arange(n_train, n_windows, dtype=np.int32),
    )
    opt_state, rng = trainer.start_state(params)
    times = []
    for _ in range(args.epochs):
        began = time.perf_counter()
        params, opt_state, rng, loss = trainer.train_epoch(
            params, opt_state, rng, values, train_starts
        )
        jax.block_until_ready(params)
        times.append(time.perf_counter() - began)
    val_mse = float(trainer.evaluate(params, values, val_starts))
    median = statistics.median(times[1:]) if len(times) > 1 else times[0]
    return {
        "peer": (
            f"tsforecast {args.model}{' recursive' if args.strategy == 'recursive' else ''} "
            f"({mesh.size} device{'s' if mesh.size > 1 else ''})"
        ),
        "device": f"{jax.devices()[0].platform}",
        "windows": n_train,
        "compile_s": round(times[0] - median, 3),
        "epoch_s_median": round(median, 3),
        "windows_per_s": round(n_train / median, 1),
        "val_mse": round(val_mse, 5),
        "params": n_params,
        "epoch_s": [round(t, 3) for t in times],
        "gflop_per_s": round(
            gflop_per_epoch(args.model, n_train, lookback, horizon, args.hidden) / median, 2
        ),
        "batch": args.batch,
        "epochs": args.epochs,
    }


def workload(args: argparse.Namespace) -> list[str]:
    """The options that size the workload, the same for tsforecast and every peer."""
    return ["--epochs", str(args.epochs), "--batch", str(args.batch), "--hidden", str(args.hidden)]


def variant(args: argparse.Namespace, model: str, strategy: str, devices: int) -> dict:
    env = dict(os.environ, TSFORECAST_HOST_DEVICES=str(devices))
    env.pop("XLA_FLAGS", None)
    command = [
        sys.executable,
        __file__,
        "--only-tsforecast",
        "--model",
        model,
        "--strategy",
        strategy,
        "--csv",
        str(args.csv),
        *workload(args),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"peer": f"tsforecast {model}", "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_peers(args: argparse.Namespace) -> list[dict]:
    python = os.environ.get("PEERS_PY", str(BENCH / "peers-venv" / "bin" / "python"))
    env = dict(
        os.environ,
        PY=python,
        CSV=str(args.csv),
        PEERS=args.peers.replace(",", " "),
        KERAS_BACKEND="jax",
    )
    command = [
        "bash",
        str(args.peers_dir / "run_all.sh"),
        *workload(args),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def table(rows: list[dict]) -> str:
    headers = ["run", "epoch s", "compile s", "windows/s", "GFLOP/s", "val MSE", "params"]
    cells = []
    for row in rows:
        if "error" in row:
            cells.append([row["peer"], f"failed: {row['error']}", "", "", "", "", ""])
            continue
        cells.append(
            [
                row["peer"],
                f"{row['epoch_s_median']:.2f}",
                f"{row['compile_s']:.2f}",
                f"{row['windows_per_s']:,.0f}",
                f"{row.get('gflop_per_s', 0):.1f}",
                f"{row['val_mse']:.4f}",
                f"{row['params']:,}",
            ]
        )
    return markdown_table(headers, "lrrrrrr", cells)


def ratios(rows: list[dict]) -> str:
    ours = [r for r in rows if r["peer"].startswith("tsforecast") and "error" not in r]
    peers = [r for r in rows if not r["peer"].startswith("tsforecast") and "error" not in r]
    lines = []
    for mine in ours:
        for peer in peers:
            lines.append(
                f"{mine['peer']} vs {peer['peer']}: "
                f"{peer['epoch_s_median'] / mine['epoch_s_median']:.2f}x faster per epoch"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=BENCH / "series.csv")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lookback", type=int, default=96)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument(
        "--models",
        default="lstm",
        help="comma-separated tsforecast models to time, e.g. lstm,gru,bilstm,conv-lstm",
    )
    parser.add_argument(
        "--strategies",
        default="direct",
        help=(
            "comma-separated: direct, recursive (its validation pass rolls the model forward "
            "horizon times)"
        ),
    )
    parser.add_argument(
        "--devices", default="1,all", help="host device counts to try: numbers or 'all'"
    )
    parser.add_argument(
        "--peers", default="keras_seed,torch_lstm,flax_naive", help="peers to run, or 'none'"
    )
    parser.add_argument(
        "--peers-dir",
        type=Path,
        default=SHARED / "peers",
        help="the peers' folder, named peers (run_all.sh runs peers/NAME.py from its parent)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "speed.json")
    parser.add_argument("--only-tsforecast", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="lstm", help=argparse.SUPPRESS)
    parser.add_argument("--strategy", default="direct", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.only_tsforecast:
        print(json.dumps(run_tsforecast(args)))
        return
    if not args.csv.exists():
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                str(args.peers_dir / "make_series.py"),
                "--out",
                str(args.csv),
                "--n",
                "60000",
            ],
            check=True,
        )

    rows = []
    cores = len(os.sched_getaffinity(0))
    for model in args.models.split(","):
        for strategy in args.strategies.split(","):
            for devices in args.devices.split(","):
                rows.append(
                    variant(args, model, strategy, cores if devices == "all" else int(devices))
                )
                print(json.dumps(rows[-1]), file=sys.stderr)
    if args.peers != "none":
        rows += run_peers(args)
    print(table(rows))
    print()
    print(ratios(rows))
    write_result(
        args.out,
        {"workload": vars(args) | {"csv": str(args.csv), "out": str(args.out)}, "rows": rows},
    )


if __name__ == "__main__":
    main()
