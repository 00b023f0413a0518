"""M4 Hourly through the tsforecast CLI: one global model for all 414 series.

Converts the competition's wide files (one series per row, no timestamps) to a long CSV with an
invented hourly index (every series starts 2000-01-01 00:00), runs `tsforecast train` and
`tsforecast predict` as a user would, and scores the 48 forecast hours against Hourly-test with
the competition's sMAPE and MASE (m = 24), next to seasonal naive and Naive2.

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

import numpy as np
import pandas as pd

try:
    from tsforecast import baselines, metrics
except ModuleNotFoundError:  # a checkout without `pip install -e .`: use its own package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tsforecast import baselines, metrics

REPO = Path(__file__).resolve().parents[1]
from m4 import DEFAULT_DATA, H, M, read_wide  # noqa: E402  (benchmarks/ is on sys.path)
DEFAULT_OUT = REPO / "benchmarks" / "results" / "m4_hourly.json"
WORK = REPO / ".bench" / "m4_hourly"
# Window-normalised inputs and a seasonal-naive residual target: a plain network on
# level-normalised windows loses to seasonal naive on this set.
TRAIN_OPTIONS = [
    "--horizon", str(H), "--season-length", str(M), "--lookback", "168", "--normalize", "window",
    "--residual", "seasonal", "--loss", "mae", "--hidden", "64", "--batch-size", "256", "--lr", "2e-3",
    "--epochs", "8", "--epoch-windows", "48000", "--patience", "3", "--val-size", "24", "--seed", "0",
]


def write_long(train: dict[str, np.ndarray], path: Path) -> None:
    frames = [
        pd.DataFrame({"unique_id": sid, "ds": pd.date_range("2000-01-01", periods=len(y), freq="h"), "y": y})
        for sid, y in train.items()
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli(*args: str) -> tuple[float, float]:
    """Run the tsforecast CLI in a child process; returns its wall time and CPU time (user +
    system, all cores: on a shared machine the wall time says more about the neighbours)."""
    began, cpu = time.perf_counter(), children_cpu()
    subprocess.run([sys.executable, "-m", "tsforecast", *args], check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    return time.perf_counter() - began, children_cpu() - cpu


def score(train: dict[str, np.ndarray], test: dict[str, np.ndarray], forecasts: dict[str, np.ndarray]) -> dict[str, float]:
    smape, mase = [], []
    for sid, history in train.items():
        scale = metrics.mase_scale(history, M)
        smape.append(metrics.smape(test[sid], forecasts[sid]))
        mase.append(metrics.mase(test[sid], forecasts[sid], scale))
    return {"smape": float(np.mean(smape)), "mase": float(np.mean(mase))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with Hourly-*.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    parser.add_argument("extra", nargs="*", help="train options after --, overriding the defaults")
    args = parser.parse_args(argv)

    train = read_wide(args.data / "Hourly-train.csv")
    test = read_wide(args.data / "Hourly-test.csv")
    data, model, forecast = WORK / "train.csv", WORK / "model", WORK / "forecast.csv"
    write_long(train, data)

    options = TRAIN_OPTIONS + args.extra
    train_s, train_cpu = cli("train", str(data), *options, "--out", str(model))
    predict_s, predict_cpu = cli("predict", str(data), "--model", str(model), "--out", str(forecast))
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    frame = pd.read_csv(forecast, dtype={"unique_id": str})
    ours = {sid: group["y_hat"].to_numpy(np.float64) for sid, group in frame.groupby("unique_id", sort=False)}
    results = {
        "tsforecast": score(train, test, ours),
        "seasonal naive": score(train, test, {s: baselines.seasonal_naive(x, H, M) for s, x in train.items()}),
        "Naive2": score(train, test, {s: baselines.naive2(x, H, M) for s, x in train.items()}),
    }
    ref = results["Naive2"]
    for r in results.values():
        r["owa"] = metrics.owa(r["smape"], r["mase"], ref["smape"], ref["mase"])
    naive = results["seasonal naive"]
    beats = results["tsforecast"]["smape"] < naive["smape"] and results["tsforecast"]["mase"] < naive["mase"]

    print(f"M4 Hourly, {len(train)} series, h={H}, m={M}, {os.cpu_count()} CPU cores\n")
    print("| step | wall s | CPU s |\n|---|---:|---:|")
    print(f"| train | {train_s:.0f} | {train_cpu:.0f} |\n| predict | {predict_s:.0f} | {predict_cpu:.0f} |")
    print(f"| total | {train_s + predict_s:.0f} | {train_cpu + predict_cpu:.0f} |")
    print(f"\npeak memory {peak_mb:,.0f} MB, {len(pd.read_csv(model / 'history.csv'))} epochs\n")
    print("| method | sMAPE | MASE | OWA |\n|---|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['smape']:.3f} | {r['mase']:.3f} | {r['owa']:.3f} |")
    print(f"\nbeats seasonal naive on both: {'yes' if beats else 'NO'}")
    print(f"train options: {' '.join(options)}")
    history = pd.read_csv(model / "history.csv")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "dataset": "M4 Hourly", "n_series": len(train), "horizon": H, "season": M,
        "train_seconds": round(train_s, 1), "predict_seconds": round(predict_s, 1),
        "train_cpu_seconds": round(train_cpu, 1), "predict_cpu_seconds": round(predict_cpu, 1), "peak_memory_mb": round(peak_mb),
        "epochs": int(len(history)), "train_options": options, "results": results, "beats_seasonal_naive": beats,
    }, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
