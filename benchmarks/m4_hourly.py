"""M4 Hourly through the tsforecast CLI with default settings: one global model for 414 series.

Converts the competition's wide files (one series per row, no timestamps) to long CSVs on an
invented hourly clock, then does what a user would: `tsforecast train` (default settings; only
the horizon is given, so the seasonal periods are the hourly defaults 24 and 168),
`tsforecast predict`, and `tsforecast evaluate`
against Hourly-test, which scores sMAPE, MASE and OWA as the competition did, next to seasonal
naive and Naive2 (computed by `evaluate` from the training file).

    python benchmarks/m4_hourly.py [--data DIR] [--out FILE] [-- extra train options]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

try:
    from tsforecast import baselines
except ModuleNotFoundError:  # a checkout without `pip install -e .`: use its own package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tsforecast import baselines

REPO = Path(__file__).resolve().parents[1]
from m4 import DEFAULT_DATA, H, M, long_frame, read_wide  # noqa: E402  (benchmarks/ is on sys.path)

DEFAULT_OUT = REPO / "benchmarks" / "results" / "m4_hourly.json"
WORK = REPO / ".bench" / "m4_hourly"
TRAIN_OPTIONS = ["--horizon", str(H)]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli(*args: str) -> tuple[float, float]:
    """Run the tsforecast CLI in a child process; returns its wall time and CPU time (user +
    system, all cores: on a shared machine the wall time says more about the neighbours)."""
    began, cpu = time.perf_counter(), children_cpu()
    subprocess.run(
        [sys.executable, "-m", "tsforecast", *args],
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return time.perf_counter() - began, children_cpu() - cpu


def evaluate(forecast: Path, actuals: Path, data: Path, scores: Path) -> dict:
    """`tsforecast evaluate` of a forecast file against Hourly-test, MASE scaled on the
    training file as the competition did; its scores per method."""
    cli(
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
    train_s, train_cpu = cli("train", str(data), *options, "--out", str(model))
    # With the 90% interval, whose coverage of the test hours `evaluate` scores.
    predict_s, predict_cpu = cli(
        "predict", str(data), "--model", str(model), "--level", "90", "--out", str(forecast)
    )
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    # seasonal naive beside the model's forecast, so that `evaluate` scores it on equal terms
    frame = pd.read_csv(forecast, dtype={"unique_id": str})
    naive = {sid: baselines.seasonal_naive(y, H, M) for sid, y in train.items()}
    step = frame.groupby("unique_id").cumcount()
    frame["seasonal_naive"] = [
        naive[sid][k] for sid, k in zip(frame["unique_id"], step, strict=True)
    ]
    frame.to_csv(forecast, index=False)
    results = evaluate(forecast, actuals, data, scores)
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
    print("| step | wall s | CPU s |\n|---|---:|---:|")
    print(
        f"| train | {train_s:.0f} | {train_cpu:.0f} |\n"
        f"| predict | {predict_s:.0f} | {predict_cpu:.0f} |"
    )
    print(f"| total | {train_s + predict_s:.0f} | {train_cpu + predict_cpu:.0f} |")
    print(f"\npeak memory {peak_mb:,.0f} MB, {len(history)} epochs\n")
    print("validation (the last windows of Hourly-train)\n")
    print("| method | sMAPE | MASE |\n|---|---:|---:|")
    for name, row in validation.items():
        print(f"| {name} | {row['sMAPE']:.3f} | {row['MASE']:.3f} |")
    network_steps = sum(step == "model" for step in served_steps)
    print(f"\nserved: the network at {network_steps} of {len(served_steps)} steps\n")
    print("test (Hourly-test)\n")
    print("| method | sMAPE | MASE | OWA |\n|---|---:|---:|---:|")
    for name, row in results.items():
        print(f"| {name} | {row['sMAPE']:.3f} | {row['MASE']:.3f} | {row['OWA']:.3f} |")
    coverage = model_row.get("coverage-90")
    if coverage is not None:
        print(f"\n90% interval: coverage {100 * coverage:.1f}% of the test hours")
    print(f"\nbeats seasonal naive on both: {'yes' if beats else 'NO'}")
    print(f"train options: {' '.join(options)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
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
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
