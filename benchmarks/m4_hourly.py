"""M4 Hourly through the tsforecast CLI with default settings: one global model for 414 series.

Converts the competition's wide files (one series per row, no timestamps) to long CSVs on an
invented hourly clock, then does what a user would: `tsforecast train` (default settings; only
the horizon is given, so the seasonal periods are the hourly defaults 24 and 168),
`tsforecast predict`, and `tsforecast evaluate`
against Hourly-test, which scores sMAPE, MASE and OWA as the competition did, next to seasonal
naive and Naive2 (computed by `evaluate` from the training file).

    python benchmarks/m4_hourly.py [--data DIR] [--out FILE] [-- extra train options]
    python benchmarks/m4_hourly.py --tune 2250 --out benchmarks/results/m4_hourly-tune.json

`--tune SECONDS` runs `tsforecast tune` with that `--time-budget` (its study in the work folder)
and `--model-out` in place of `train`, and records its trials and choice; the test file is read
only after it has chosen.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd
from common import markdown_table, run_cli, write_result
from m4 import DEFAULT_DATA, H, M, long_frame, read_wide

from tsforecast import baselines

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "m4_hourly.json"
WORK = REPO / ".bench" / "m4_hourly"
TRAIN_OPTIONS = ["--horizon", str(H)]


def scores_from_cli(forecast: Path, actuals: Path, data: Path, scores: Path) -> dict:
    """`tsforecast evaluate` of a forecast file against Hourly-test, MASE scaled on the
    training file as the competition did; its scores per method."""
    run_cli(
        "evaluate",
        str(forecast),
        str(actuals),
        "--train",
        str(data),
        "--season-length",
        str(M),
        "--out",
        str(scores),
    )
    return json.loads(scores.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with Hourly-*.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    parser.add_argument(
        "--work", type=Path, default=WORK, help="folder for the CSVs, the model and the forecast"
    )
    parser.add_argument(
        "--tune", type=float, help="tune within this many seconds instead of training"
    )
    parser.add_argument("extra", nargs="*", help="train options after --, overriding the defaults")
    args = parser.parse_args(argv)

    train = read_wide(args.data / "Hourly-train.csv")
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    data, actuals, model = work / "train.csv", work / "test.csv", work / "model"
    forecast, scores = work / "forecast.csv", work / "scores.json"
    long_frame(train).to_csv(data, index=False)
    long_frame(read_wide(args.data / "Hourly-test.csv"), test=True).to_csv(actuals, index=False)

    options = TRAIN_OPTIONS + args.extra
    tuned = None
    if args.tune:
        study, tuned_file, trials = work / "tune.db", work / "tuned.json", work / "trials.txt"
        study.unlink(missing_ok=True)
        with trials.open("w") as table:
            train_run = run_cli(
                "tune", str(data), *options, "--time-budget", str(args.tune), "--study",
                str(study), "--out", str(tuned_file), "--model-out", str(model), "--plot",
                str(work / "search.png"), stdout_to=table,
            )  # fmt: skip
        tuned = {
            **json.loads(tuned_file.read_text()),
            "budget_s": args.tune,
            "trials_table": trials.read_text(),
        }
        print(tuned["trials_table"])
    else:
        train_run = run_cli("train", str(data), *options, "--out", str(model))
    # With the 90% interval, whose coverage of the test hours `evaluate` scores.
    predict_run = run_cli(
        "predict", str(data), "--model", str(model), "--level", "90", "--out", str(forecast)
    )
    train_s, train_cpu = train_run.wall_s, train_run.cpu_s
    predict_s, predict_cpu = predict_run.wall_s, predict_run.cpu_s
    peak_mb = max(train_run.peak_mb, predict_run.peak_mb)

    # seasonal naive beside the model's forecast, so that `evaluate` scores it on equal terms
    frame = pd.read_csv(forecast, dtype={"unique_id": str})
    naive = {sid: baselines.seasonal_naive(y, H, M) for sid, y in train.items()}
    step = frame.groupby("unique_id").cumcount()
    frame["seasonal_naive"] = [
        naive[sid][k] for sid, k in zip(frame["unique_id"], step, strict=True)
    ]
    frame.to_csv(forecast, index=False)
    results = scores_from_cli(forecast, actuals, data, scores)
    model_row, naive_row = results["model"], results["seasonal_naive"]
    beats = model_row["sMAPE"] < naive_row["sMAPE"] and model_row["MASE"] < naive_row["MASE"]
    history = pd.read_csv(model / "history.csv")
    # What training saw on its validation windows (the last ones of Hourly-train): what the
    # defaults are chosen on, before the test columns are looked at.
    trained = json.loads((model / "metrics.json").read_text())
    validation = {
        name: {"sMAPE": row["smape"], "MASE": row["mase"]}
        for name, row in trained.items()
        if name in ("model", "served") or name.startswith("seasonal_naive")
    }
    served_steps = trained["serving"]["steps"]

    print(f"M4 Hourly, {len(train)} series, h={H}, m={M}, {os.cpu_count()} CPU cores\n")
    steps = [
        ["train", f"{train_s:.0f}", f"{train_cpu:.0f}"],
        ["predict", f"{predict_s:.0f}", f"{predict_cpu:.0f}"],
        ["total", f"{train_s + predict_s:.0f}", f"{train_cpu + predict_cpu:.0f}"],
    ]
    print(markdown_table(["step", "wall s", "CPU s"], "lrr", steps))
    print(f"\npeak memory {peak_mb:,.0f} MB, {len(history)} epochs\n")
    print("validation (the last windows of Hourly-train)\n")
    print(
        markdown_table(
            ["method", "sMAPE", "MASE"],
            "lrr",
            [[name, f"{r['sMAPE']:.3f}", f"{r['MASE']:.3f}"] for name, r in validation.items()],
        )
    )
    network_steps = sum(step == "model" for step in served_steps)
    print(f"\nserved: the network at {network_steps} of {len(served_steps)} steps\n")
    print("test (Hourly-test)\n")
    print(
        markdown_table(
            ["method", "sMAPE", "MASE", "OWA"],
            "lrrr",
            [
                [name, f"{r['sMAPE']:.3f}", f"{r['MASE']:.3f}", f"{r['OWA']:.3f}"]
                for name, r in results.items()
            ],
        )
    )
    coverage = model_row.get("coverage-90")
    if coverage is not None:
        print(f"\n90% interval: coverage {100 * coverage:.1f}% of the test hours")
    print(f"\nbeats seasonal naive on both: {'yes' if beats else 'NO'}")
    print(f"train options: {' '.join(options)}")
    write_result(
        args.out,
        {
            "dataset": "M4 Hourly",
            "n_series": len(train),
            "horizon": H,
            "season": M,
            "train_seconds": round(train_s, 1),
            "predict_seconds": round(predict_s, 1),
            "train_cpu_seconds": round(train_cpu, 1),
            "predict_cpu_seconds": round(predict_cpu, 1),
            "peak_memory_mb": round(peak_mb),
            "epochs": int(len(history)),
            "train_options": options,
            "validation": validation,
            "served_steps": served_steps,
            "results": results,
            "beats_seasonal_naive": beats,
            **({"tune": tuned} if tuned else {}),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
