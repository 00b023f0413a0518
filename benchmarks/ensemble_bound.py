"""How far batching can take an ensemble on this machine: one LSTM layer's forward and backward
pass over a window, per time step, for

- one model on B windows (what one device does for one model in training),
- one model on K*B windows (K times the rows through ONE set of weights: the cheapest any
  implementation of K members could be, since members cannot share weights),
- K models on B windows each, `jax.vmap`-ed (what `--ensemble K` does).

The middle row over the first is the bound on an ensemble's cost ratio; if it is near K, the
machine is compute-bound and no batching trick makes K members much cheaper than K models.
Runs on one device (a training run gives each device its share of the batch), the variants
alternated in one process.

    python benchmarks/ensemble_bound.py    # defaults: hidden 64, lookback 168, B=32, K=5

Prints a table and writes benchmarks/results/ensemble_bound-hidden<H>-batch<B>.json.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from common import markdown_table, write_result

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lookback", type=int, default=168)
    parser.add_argument(
        "--batch",
        type=int,
        default=32,
        help="windows per device (the default batch 64 over 2 devices)",
    )
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ["TSFORECAST_HOST_DEVICES"] = "1"

    import tsforecast  # noqa: F401  (first: it sets the host device count before jax starts)
    # isort: split

    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from tsforecast.models import CELLS

    rnn = nn.RNN(CELLS["lstm"](args.hidden))

    def loss(params, x):
        return jnp.sum(rnn.apply(params, x)[:, -1])

    grad = jax.grad(loss)

    def inputs(rows: int) -> jax.Array:
        return jax.random.normal(jax.random.PRNGKey(1), (rows, args.lookback, 1))

    def init(seed: jax.Array):
        return rnn.init(jax.random.PRNGKey(seed), inputs(1))

    k, b = args.members, args.batch
    cases = {
        f"1 model, {b} windows": (jax.jit(grad), init(0), inputs(b)),
        f"1 model, {k * b} windows": (jax.jit(grad), init(0), inputs(k * b)),
        f"{k} models (vmap), {b} windows each": (
            jax.jit(jax.vmap(grad, in_axes=(0, None))),
            jax.vmap(init)(jnp.arange(k)),
            inputs(b),
        ),
    }
    for fn, params, x in cases.values():
        jax.block_until_ready(fn(params, x))
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(args.repeats):
        for name, (fn, params, x) in cases.items():
            began = time.perf_counter()
            for _ in range(10):
                out = fn(params, x)
            jax.block_until_ready(out)
            best[name] = min(best[name], (time.perf_counter() - began) / 10 / args.lookback * 1e6)

    base = next(iter(best.values()))
    rows = [
        {"case": name, "us_per_step": round(us, 1), "ratio": round(us / base, 2)}
        for name, us in best.items()
    ]
    headers = [
        f"case (hidden {args.hidden}, one device)",
        "µs per step, forward + backward",
        "ratio",
    ]
    cells = [[r["case"], f"{r['us_per_step']:.1f}", f"{r['ratio']:.2f}x"] for r in rows]
    print(markdown_table(headers, "lrr", cells))
    out = (
        ROOT
        / "benchmarks"
        / "results"
        / f"ensemble_bound-hidden{args.hidden}-batch{args.batch}.json"
    )
    write_result(out, {"settings": vars(args), "rows": rows})


if __name__ == "__main__":
    main()
