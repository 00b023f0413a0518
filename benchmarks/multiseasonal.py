"""Single long series with a daily and a weekly cycle: tsforecast against MSTL and seasonal naive
at both periods, through `tsforecast backtest --baselines mstl`, on rolling origins.

The series are the high useful load (HUFL) of ETTh1 and ETTh2 (hourly; see
../shared/data/etth1/README.md). Informer's borders split each into train [0, 8640), validation
[8640, 11520) and test [11520, 14400). Two phases per series, each one backtest with the
default settings (only the horizon given), trained once at the first cutoff:

- validation: the file holds the train and validation months; 100 daily origins over the last
  100 days of the validation months. This is what defaults may be chosen on.
- test: the file holds train, validation and test months; 100 daily origins over the test
  months.

100 days of 24 forecasts each: 2,400 scored hours per stretch, so that a 90% interval's coverage
is known to about ±1.5 points (the 20 origins of an earlier version scored 480 and moved by ±5).

The data's licence (CC BY-ND 4.0) forbids sharing modified copies: the single-column CSVs are
written to a temporary folder that is removed afterwards, never into the project.

    python benchmarks/multiseasonal.py [--series "ETTh1 HUFL,ETTh2 HUFL"] [--phases validation,test]
        [--out FILE] [-- extra backtest options]

Prints a table and writes benchmarks/results/multiseasonal.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "multiseasonal.json"
TRAIN_END, VAL_END, TEST_END = 12 * 30 * 24, 16 * 30 * 24, 20 * 30 * 24
HORIZON, WINDOWS, STEP = 24, 100, 24
PHASES = {"validation": VAL_END, "test": TEST_END}
SERIES = {"ETTh1 HUFL": ("etth1/ETTh1.csv", "HUFL"), "ETTh2 HUFL": ("etth2/ETTh2.csv", "HUFL")}
# The backtest's method names: `evaluate` labels the model's y_hat column "model".
METHODS = ("model", "mstl", "seasonal_naive", "seasonal_naive_168", "naive2")


def backtest(csv: Path, out: Path, extra: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tsforecast",
            "backtest",
            str(csv),
            "--horizon",
            str(HORIZON),
            "--windows",
            str(WINDOWS),
            "--step",
            str(STEP),
            "--baselines",
            "mstl",
            "--level",
            "90",
            "--quiet",
            "--out",
            str(out),
            *extra,
        ],
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default=",".join(SERIES))
    parser.add_argument("--phases", default="validation,test")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("extra", nargs="*", help="backtest options after --")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.series.split(","):
            file, column = SERIES[name]
            frame = pd.read_csv(DATA / file, usecols=["date", column])
            frame.columns = ["ds", "y"]
            for phase in args.phases.split(","):
                csv = Path(tmp) / f"{column}-{phase}.csv"
                frame.iloc[: PHASES[phase]].to_csv(csv, index=False)
                out = Path(tmp) / f"{name.replace(' ', '-')}-{phase}"
                seconds = backtest(csv, out, args.extra)
                metrics = json.loads((out / "backtest_metrics.json").read_text())
                row = {"series": name, "phase": phase, "seconds": round(seconds, 1)}
                for method in METHODS:
                    row[method] = {k: metrics[method][k] for k in ("MASE", "sMAPE")}
                row["coverage_90"] = metrics["model"].get("coverage-90")
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(f"\n{WINDOWS} origins {STEP} h apart, horizon {HORIZON}; MASE (m = 24)\n")
    print(
        "| series | phase | tsforecast | MSTL | seasonal naive 24 | seasonal naive 168 | Naive2 |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for row in rows:
        cells = " | ".join(f"{row[m]['MASE']:.3f}" for m in METHODS)
        print(f"| {row['series']} | {row['phase']} | {cells} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "horizon": HORIZON,
                "origins": WINDOWS,
                "step": STEP,
                "backtest_options": args.extra,
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
