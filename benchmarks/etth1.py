"""Every tsforecast model and strategy on ETTh1 (target OT, univariate) with the default settings,
next to seasonal naive, on the split and scale the literature uses.

Informer's borders (12/4/4 months of 30 days, see ../shared/data/etth1/README.md): train rows
[0, 8640), validation [8640, 11520), test [11520, 14400). Each run is `tsforecast train` on a
file of the train and validation months with only --horizon, --model and --strategy given
(everything else, lookback, epochs, early stopping, ensemble, serving check, is the default, and
training picks its own validation windows at the end of that file, as a user's run would); the
trained model then forecasts every test window (sliding by 1, inputs reaching back into the
validation months) in one call of the library's forecaster, served as `predict` serves it.
Forecasts and actuals are z-scored with the mean and std (ddof 0) of the train rows, and test MSE
and MAE are reported on that scale, as the published tables are. (Informer's test loader drops
the last partial batch of 32; here every test window counts.)

The data's licence (CC BY-ND 4.0) forbids sharing derived copies: the CSVs and models are
written to a temporary folder that is removed afterwards, never into the project.

    python benchmarks/etth1.py [--horizons 24,168] [--models lstm,...] [--strategies direct,...]

Prints a markdown table and writes benchmarks/results/etth1.json (after every row).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import markdown_table, run_cli, stamp, write_result

from tsforecast import artifacts
from tsforecast.config import MODEL_NAMES, STRATEGIES
from tsforecast.data import load_panel
from tsforecast.forecast import Forecaster

ROOT = Path(__file__).resolve().parent.parent

TRAIN_END, VAL_END, TEST_END = 12 * 30 * 24, 16 * 30 * 24, 20 * 30 * 24


def test_targets(horizon: int) -> np.ndarray:
    """<int>[n, horizon]: the rows each test window forecasts, its first target sliding over
    [VAL_END, TEST_END - horizon]."""
    first = np.arange(VAL_END, TEST_END - horizon + 1)
    return first[:, None] + np.arange(horizon)[None, :]


def scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {
        "test_mse": float(np.mean((pred - truth) ** 2)),
        "test_mae": float(np.mean(np.abs(pred - truth))),
    }


def train(csv: Path, out: Path, horizon: int, model: str, strategy: str) -> float:
    return run_cli(
        "train",
        str(csv),
        "--horizon",
        str(horizon),
        "--model",
        model,
        "--strategy",
        strategy,
        "--quiet",
        "--out",
        str(out),
    ).wall_s


def run(
    full_csv: Path, model_dir: Path, seconds: float, z: np.ndarray, horizon: int, names: tuple
) -> dict:
    artifact = artifacts.load(model_dir)
    config = artifact.config
    panel, _ = load_panel(dataclasses.replace(config.data, path=str(full_csv)))
    targets = test_targets(horizon)
    starts = targets[:, 0] - config.window.lookback
    forecasts = Forecaster.of(artifact).forecast(
        panel, np.zeros(len(starts), dtype=np.int64), starts
    )
    mean, std = z
    pred = (forecasts.original() - mean) / std
    truth = (panel.values[targets] - mean) / std
    metrics = json.loads((model_dir / "metrics.json").read_text())
    served = sorted(set(artifact.served)) or ["model"]
    return {
        "horizon": horizon,
        "model": names[0],
        "strategy": names[1],
        **scores(pred, truth),
        "validation_mase": metrics["served"]["mase"],
        "validation_seasonal_naive_mase": metrics["seasonal_naive"]["mase"],
        "served": served,
        "lookback": config.window.lookback,
        "epochs": len(artifact.history),
        "best_epoch": metrics["best_epoch"],
        "ensemble": config.train.ensemble,
        "train_s": round(seconds, 1),
        "test_windows": int(len(starts)),
    }


def seasonal_naive(series: np.ndarray, horizon: int, season: int) -> dict:
    targets = test_targets(horizon)
    # The value one season before each target, from the last season before the window's origin.
    lag = season * (1 + np.arange(horizon) // season)
    pred = series[targets - lag[None, :]]
    return {
        "horizon": horizon,
        "model": f"seasonal naive {season}",
        "strategy": "",
        **scores(pred, series[targets]),
        "test_windows": int(len(targets)),
    }


def table(rows: list[dict]) -> str:
    headers = [
        "horizon",
        "model",
        "strategy",
        "test MSE",
        "test MAE",
        "validation MASE (seasonal naive)",
        "served",
        "epochs (best)",
        "train s",
    ]
    cells = []
    for row in rows:
        validation = (
            f"{row['validation_mase']:.3f} ({row['validation_seasonal_naive_mase']:.3f})"
            if "validation_mase" in row
            else ""
        )
        epochs = f"{row['epochs']} ({row['best_epoch']})" if "epochs" in row else ""
        cells.append(
            [
                row["horizon"],
                row["model"],
                row["strategy"],
                f"{row['test_mse']:.4f}",
                f"{row['test_mae']:.4f}",
                validation,
                ", ".join(row.get("served", [])),
                epochs,
                row.get("train_s", ""),
            ]
        )
    return markdown_table(headers, "rllrrrlrr", cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "data" / "etth1" / "ETTh1.csv"
    )
    parser.add_argument("--horizons", default="24,168")
    parser.add_argument("--models", default=",".join(MODEL_NAMES))
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "etth1.json")
    args = parser.parse_args()

    frame = pd.read_csv(args.data, usecols=["date", "OT"]).iloc[:TEST_END]
    frame.columns = ["ds", "y"]
    raw = frame["y"].to_numpy(np.float64)
    z = np.array([raw[:TRAIN_END].mean(), raw[:TRAIN_END].std()])
    series = (raw - z[0]) / z[1]

    rows: list[dict] = []
    began, at_start = time.perf_counter(), stamp()  # the code as it was when the run began
    settings = {k: str(v) for k, v in vars(args).items()}

    def record(row: dict, complete: bool = False) -> None:
        # Written after every row: a long run that is stopped keeps what it measured.
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        result = {
            "settings": settings,
            "complete": complete,
            "total_s": round(time.perf_counter() - began, 1),
            "rows": rows,
        }
        write_result(args.out, result, at_start)

    runs = [
        (h, n, s)
        for h in map(int, args.horizons.split(","))
        for n in args.models.split(",")
        for s in args.strategies.split(",")
    ]
    with tempfile.TemporaryDirectory() as tmp:
        fit_csv, full_csv = Path(tmp) / "train-validation.csv", Path(tmp) / "all.csv"
        frame.iloc[:VAL_END].to_csv(fit_csv, index=False)
        frame.to_csv(full_csv, index=False)
        for index, (horizon, name, strategy) in enumerate(runs):
            if index == 0 or runs[index - 1][0] != horizon:
                for season in (24, 168):
                    record(seasonal_naive(series, horizon, season))
            model_dir = Path(tmp) / f"{name}-{strategy}-{horizon}"
            seconds = train(fit_csv, model_dir, horizon, name, strategy)
            row = run(full_csv, model_dir, seconds, z, horizon, (name, strategy))
            record(row, complete=index == len(runs) - 1)
    print(table(rows))


if __name__ == "__main__":
    main()
