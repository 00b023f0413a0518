"""A 5-minute panel, as a user with server or meter metrics brings it: 10 series of 8 weeks
(16,128 steps each) with a daily and a weekly cycle, trained by `tsforecast train` with the
defaults. Prints the wall and CPU time, the epochs and the validation table (the network alone,
what is served, seasonal naive a day and a week back).

The panel is generated, seeded, so that every run and every machine trains on the same file:
each series has its own level, daily shape (a working-hours peak of its own height and width),
weekend dip, slow drift and AR(1) noise.

    python benchmarks/five_minute.py --out benchmarks/results/five_minute.json [-- train options]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from common import markdown_table, run_cli, write_result

SERIES, WEEKS, PER_DAY = 10, 8, 288


def five_minute_panel(seed: int = 0) -> pd.DataFrame:
    """The long `unique_id, ds, y` frame of the benchmark's panel."""
    rng = np.random.default_rng(seed)
    n = WEEKS * 7 * PER_DAY
    ds = pd.date_range("2026-01-05", periods=n, freq="5min")  # a Monday
    hour = (np.arange(n) % PER_DAY) / 12.0
    weekend = np.asarray(ds.dayofweek >= 5)
    frames = []
    for k in range(SERIES):
        level = rng.uniform(50, 500)
        peak_hour, width = rng.uniform(11, 16), rng.uniform(2, 4)
        daily = rng.uniform(0.3, 0.8) * np.exp(-0.5 * ((hour - peak_hour) / width) ** 2)
        night = 0.1 * np.cos(2 * np.pi * hour / 24)
        dip = np.where(weekend, rng.uniform(0.5, 0.9), 1.0)
        drift = 1 + rng.uniform(-0.1, 0.1) * np.arange(n) / n
        noise = np.zeros(n)
        shocks = rng.normal(0, 0.03, n)
        for t in range(1, n):
            noise[t] = 0.9 * noise[t - 1] + shocks[t]
        y = level * drift * (1 + dip * daily + night + noise)
        frames.append(pd.DataFrame({"unique_id": f"host{k:02d}", "ds": ds, "y": y.round(3)}))
    return pd.concat(frames, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("extra", nargs="*", help="train options after --")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data, model = Path(tmp) / "five_minute.csv", Path(tmp) / "model"
        five_minute_panel().to_csv(data, index=False)
        run = run_cli("train", str(data), *args.extra, "-q", "--out", str(model))
        history = pd.read_csv(model / "history.csv")
        metrics = json.loads((model / "metrics.json").read_text())
        config = json.loads((model / "config.json").read_text())["config"]
    methods = ("model", "served", "mstl", "model+mstl", "seasonal_naive", "seasonal_naive_2016")
    validation = {name: metrics[name]["mase"] for name in methods if name in metrics}
    result = {
        "series": SERIES,
        "steps_per_series": WEEKS * 7 * PER_DAY,
        "train_options": args.extra,
        "train_wall_s": round(run.wall_s, 1),
        "train_cpu_s": round(run.cpu_s, 1),
        "peak_mb": round(run.peak_mb),
        "epochs": len(history),
        # The first epoch compiles; the median of the others is the running cost.
        "epoch_s": round(statistics.median(history["seconds"].iloc[1:]), 2),
        "lookback": config["window"]["lookback"],
        "chunk": config["model"]["chunk"],
        "validation_mase": validation,
    }
    peak = result["peak_mb"]
    print(
        f"{SERIES} series x {WEEKS} weeks of 5-minute data, lookback {result['lookback']}, "
        f"chunk {result['chunk']}\n"
    )
    print(
        markdown_table(
            ["train wall s", "CPU s", "epochs", "s / epoch", "peak MB"],
            "rrrrr",
            [[f"{run.wall_s:.0f}", f"{run.cpu_s:.0f}", len(history), result["epoch_s"], peak]],
        )
    )
    print("\nvalidation MASE\n")
    print(
        markdown_table(["method", "MASE"], "lr", [[k, f"{v:.3f}"] for k, v in validation.items()])
    )
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
