"""Prediction intervals on M4 Hourly with the default settings: coverage, width and MSIS of the
80%, 90% and 95% intervals on the competition's test set (the 48 hours after each of the 414
training series).

For each interval method (`--methods conformal,quantile`; conformal is the default), what a user
would run: `tsforecast train` with only the horizon and `--interval-method METHOD` given,
`tsforecast predict --level 80 --level 90 --level 95`, and `tsforecast evaluate` against
Hourly-test. `--model METHOD=DIR` forecasts with a model trained that way already instead of
training one (benchmarks/m4_hourly.py leaves its default, conformal, model in
.bench/m4_hourly/model).

    python benchmarks/intervals_m4.py [--data DIR] [--out FILE] [--methods conformal,quantile]
        [--model conformal=DIR]

M4 scores intervals with MSIS (mean scaled interval score: the width plus 2/alpha times every
miss, scaled like MASE, averaged per series and then over the set); a well-calibrated interval
covers its level.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import markdown_table, run_cli, write_result
from m4 import DEFAULT_DATA, H, long_frame, read_wide
from m4_hourly import scores_from_cli

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "intervals_m4.json"
WORK = REPO / ".bench" / "intervals_m4"
LEVELS = (80, 90, 95)


def interval_cells(row: dict) -> list[str]:
    """The row's coverage and MSIS at each level, in the table's order."""
    cells = []
    for level in LEVELS:
        cells += [f"{100 * row[f'coverage-{level}']:.1f}%", f"{row[f'MSIS-{level}']:.2f}"]
    return cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with Hourly-*.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    parser.add_argument("--work", type=Path, default=WORK, help="folder for CSVs and models")
    parser.add_argument("--methods", default="conformal,quantile")
    parser.add_argument(
        "--model", action="append", default=[], metavar="METHOD=DIR", help="a trained model"
    )
    args = parser.parse_args(argv)
    given = dict(item.split("=", 1) for item in args.model)

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    data, actuals = work / "train.csv", work / "test.csv"
    long_frame(read_wide(args.data / "Hourly-train.csv")).to_csv(data, index=False)
    long_frame(read_wide(args.data / "Hourly-test.csv"), test=True).to_csv(actuals, index=False)
    levels = [option for level in LEVELS for option in ("--level", str(level))]

    rows = []
    for method in args.methods.split(","):
        options = ["--horizon", str(H), "--interval-method", method]
        model, train_s = Path(given.get(method, work / f"model-{method}")), None
        if method not in given:
            train_s = run_cli("train", str(data), *options, "--out", str(model)).wall_s
        config = json.loads((model / "config.json").read_text())["config"]
        forecast, scores = work / f"forecast-{method}.csv", work / f"scores-{method}.json"
        predict_s = run_cli(
            "predict", str(data), "--model", str(model), *levels, "--out", str(forecast)
        ).wall_s
        scored = scores_from_cli(forecast, actuals, data, scores)["model"]
        row = {
            "method": method,
            "train_options": options,
            "trained_here": method not in given,
            "interval_config": config["intervals"],
            "train_seconds": None if train_s is None else round(train_s, 1),
            "predict_seconds": round(predict_s, 1),
            "OWA": scored["OWA"],
            **{
                f"{name}-{level}": scored[f"{name}-{level}"]
                for level in LEVELS
                for name in ("coverage", "width", "MSIS")
            },
        }
        rows.append(row)
        print(json.dumps(row), flush=True)

    print(f"\nM4 Hourly, 414 series, h={H}, default settings\n")
    headers = [f"{level}% {name}" for level in LEVELS for name in ("coverage", "MSIS")]
    cells = [[row["method"], *interval_cells(row)] for row in rows]
    print(markdown_table(["method", *headers], "l" + "r" * len(headers), cells))
    write_result(args.out, {"dataset": "M4 Hourly", "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
