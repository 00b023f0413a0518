"""What --ensemble K costs per epoch next to one model, on the CPU.

Trains the same model with K = 1 and K = 5 (by default on sample_data/hourly.csv, hidden 64,
batch 256), alternating the runs (1, 5, 1, 5, ...) so that a machine shared with other work
slows both alike, and reports the median epoch time after the first (compiling) epoch of each
run, then the median over runs.

    python benchmarks/ensemble_cost.py
    python benchmarks/ensemble_cost.py --data big.csv --members 1,3,5 --repeats 3

Prints a markdown table and writes benchmarks/results/ensemble_cost-hidden<H>-batch<B>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from pathlib import Path

from common import markdown_table, write_result

ROOT = Path(__file__).resolve().parent.parent


def one_run(data: str, members: int, args: argparse.Namespace) -> dict:
    from tsforecast import training
    from tsforecast.config import Config, DataConfig, ModelConfig, TrainConfig, WindowConfig
    from tsforecast.data import load_panel

    config = Config(
        data=DataConfig(path=data),
        window=WindowConfig(lookback=args.lookback, horizon=args.horizon),
        model=ModelConfig(hidden=args.hidden),
        train=TrainConfig(
            epochs=args.epochs, batch_size=args.batch_size, patience=args.epochs, ensemble=members
        ),
    )
    began = time.perf_counter()
    panel, data_cfg = load_panel(config.data)
    outcome = training.train(panel, dataclasses.replace(config, data=data_cfg))
    seconds = [float(s) for s in outcome.artifact.history["seconds"]]
    return {
        "members": members,
        "first_epoch_s": seconds[0],
        "epoch_s": statistics.median(seconds[1:]),
        "wall_s": time.perf_counter() - began,
        "val_mase": outcome.artifact.metrics["model"]["mase"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "sample_data" / "hourly.csv"))
    parser.add_argument("--members", default="1,5")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lookback", type=int, default=96)
    parser.add_argument("--horizon", type=int, default=24)
    args = parser.parse_args()

    sizes = [int(k) for k in args.members.split(",")]
    runs = [one_run(args.data, k, args) for _ in range(args.repeats) for k in sizes]
    baseline = statistics.median(r["epoch_s"] for r in runs if r["members"] == sizes[0])
    rows = []
    for k in sizes:
        mine = [r for r in runs if r["members"] == k]
        epoch = statistics.median(r["epoch_s"] for r in mine)
        row = {
            "members": k,
            "epoch_s": epoch,
            "runs_epoch_s": [r["epoch_s"] for r in mine],
            "ratio": epoch / baseline,
            "first_epoch_s": statistics.median(r["first_epoch_s"] for r in mine),
            "val_mase": statistics.median(r["val_mase"] for r in mine),
        }
        rows.append(row)
    headers = [
        "members",
        f"epoch s (median of {args.repeats} runs)",
        "runs' epoch s",
        f"ratio to K={sizes[0]}",
        "first epoch s",
        "val MASE",
    ]
    cells = [
        [
            row["members"],
            f"{row['epoch_s']:.3f}",
            ", ".join(f"{s:.3f}" for s in row["runs_epoch_s"]),
            f"{row['ratio']:.2f}",
            f"{row['first_epoch_s']:.1f}",
            f"{row['val_mase']:.3f}",
        ]
        for row in rows
    ]
    print(markdown_table(headers, "llllll", cells))
    out = (
        ROOT
        / "benchmarks"
        / "results"
        / f"ensemble_cost-hidden{args.hidden}-batch{args.batch_size}.json"
    )
    settings = {k: v for k, v in vars(args).items()}
    write_result(
        out, {"settings": settings, "cpu_count": os.cpu_count(), "rows": rows, "runs": runs}
    )


if __name__ == "__main__":
    main()
