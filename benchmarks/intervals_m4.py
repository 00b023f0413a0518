"""Prediction intervals on M4 Hourly: coverage and MSIS of 95% intervals, on the competition's
test set (the 48 hours after each of the 414 training series).

Trains one small global LSTM per interval method (conformal, quantile) on all 414 series and
compares them with seasonal naive given conformal intervals the same way: its absolute errors on
the model's validation windows, divided by each series' std, pooled, the finite-sample-corrected
quantile per step, multiplied back by the std.

    python benchmarks/intervals_m4.py [--data DIR] [--out FILE] [--epochs N] [--hidden N]

M4 scores intervals with MSIS (mean scaled interval score, scaled like MASE, averaged per series
then over the set) and ACD, the absolute difference between coverage and 95%.
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

try:
    from tsforecast import baselines, forecast, metrics, training
except ModuleNotFoundError:  # a checkout without `pip install -e .`: use its own package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tsforecast import baselines, forecast, metrics, training
from tsforecast.config import (
    Config,
    DataConfig,
    IntervalConfig,
    ModelConfig,
    TrainConfig,
    WindowConfig,
)
from tsforecast.data import load_panel
from tsforecast.intervals import conformal_bounds, interval_columns
from tsforecast.windows import seasonal_naive_windows, split_windows

REPO = Path(__file__).resolve().parents[1]
from m4 import DEFAULT_DATA, H, M, long_frame, read_wide  # noqa: E402  (benchmarks/ is on sys.path)

LEVELS = (80.0, 95.0)
DEFAULT_OUT = REPO / "benchmarks" / "results" / "intervals_m4.json"


def scores(
    name: str,
    intervals: str,
    test: np.ndarray,
    insample: list[np.ndarray],
    point: np.ndarray,
    bounds: dict[float, tuple[np.ndarray, np.ndarray]],
    seconds: float | None,
) -> dict:
    """Per-series sMAPE, MASE, MSIS at 95% averaged over the set; coverage over all points."""
    scale = [metrics.mase_scale(x, M) for x in insample]
    row = {
        "method": name,
        "intervals": intervals,
        "smape": float(np.mean([metrics.smape(test[i], point[i]) for i in range(len(test))])),
        "mase": float(
            np.mean([metrics.mase(test[i], point[i], scale[i]) for i in range(len(test))])
        ),
    }
    for level in LEVELS:
        lo, hi = bounds[level]
        row[f"coverage_{level:g}"] = metrics.coverage(test, lo, hi)
    lo, hi = bounds[95.0]
    row["acd_95"] = abs(row["coverage_95"] - 0.95)
    row["msis_95"] = float(
        np.mean([metrics.msis(test[i], lo[i], hi[i], scale[i], 95.0) for i in range(len(test))])
    )
    row["train_seconds"] = seconds
    return row


def model_config(path: Path, method: str, args: argparse.Namespace) -> Config:
    return Config(
        data=DataConfig(path=str(path), season_length=M),
        window=WindowConfig(lookback=args.lookback, horizon=H),
        model=ModelConfig(name="lstm", hidden=args.hidden),
        train=TrainConfig(epochs=args.epochs, batch_size=256, lr=3e-3, patience=3, seed=0),
        intervals=IntervalConfig(method=method, levels=LEVELS),
    )


def run(args: argparse.Namespace) -> list[dict]:
    train = read_wide(args.data / "Hourly-train.csv")
    test_map = read_wide(args.data / "Hourly-test.csv")
    ids = list(train)
    test = np.stack([test_map[sid] for sid in ids])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m4_hourly.parquet"
        long_frame(train).to_parquet(path)
        panel = None
        for method in ("conformal", "quantile"):
            began = time.perf_counter()
            config = model_config(path, method, args)
            train_panel, data_cfg = load_panel(config.data)
            outcome = training.train(train_panel, dataclasses.replace(config, data=data_cfg))
            artifact = outcome.artifact
            seconds = time.perf_counter() - began
            print(
                f"{method}: trained in {seconds:.0f}s, best epoch {artifact.metrics['best_epoch']}",
                file=sys.stderr,
            )
            if panel is None:
                panel, _ = load_panel(artifact.config.data)
            order = [panel.ids.index(sid) for sid in ids]
            frame = forecast.forecast(forecast.Forecaster.of(artifact), panel, LEVELS)

            def column(c: str, frame=frame, panel=panel, order=order) -> np.ndarray:
                return frame[c].to_numpy().reshape(len(panel.ids), H)[order]

            bounds = {level: tuple(column(c) for c in interval_columns(level)) for level in LEVELS}
            insample = [train[sid] for sid in ids]
            rows.append(
                scores("tsforecast lstm", method, test, insample, column("y_hat"), bounds, seconds)
            )
            if method == "conformal":
                rows.append(seasonal_naive_row(artifact, panel, ids, test, insample))
    return rows


def seasonal_naive_row(
    artifact, panel, ids: list[str], test: np.ndarray, insample: list[np.ndarray]
) -> dict:
    """Seasonal naive with conformal intervals from its own errors on the model's validation
    windows."""
    window = artifact.config.window
    split = split_windows(panel.offsets, window.lookback, H, window.val_size)
    _, panel_std = artifact.scaler.lookup(panel.ids)
    errors = []
    for i in range(len(panel.ids)):
        series = panel.series(i).astype(np.float64)
        starts = split.val_starts[split.val_series == i] - panel.offsets[i]
        naive = seasonal_naive_windows(series, starts, window.lookback, H, M)
        actual = series[starts[:, None] + window.lookback + np.arange(H)]
        errors.append(np.abs(naive - actual) / panel_std[i])
    calibration = np.concatenate(errors)
    _, std = artifact.scaler.lookup(tuple(ids))
    point = np.stack(
        [baselines.seasonal_naive(panel.series(panel.ids.index(sid)), H, M) for sid in ids]
    )
    bounds = {level: conformal_bounds(point, calibration, std, level) for level in LEVELS}
    return scores("seasonal naive", "conformal", test, insample, point, bounds, None)


def table(rows: list[dict]) -> str:
    lines = [
        "| method | intervals | coverage 95 | ACD 95 | MSIS 95 | coverage 80 | "
        "sMAPE | MASE | train s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        seconds = "" if r["train_seconds"] is None else f"{r['train_seconds']:.0f}"
        lines.append(
            f"| {r['method']} | {r['intervals']} | {100 * r['coverage_95']:.1f}% | "
            f"{r['acd_95']:.3f} | {r['msis_95']:.2f} "
            f"| {100 * r['coverage_80']:.1f}% | {r['smape']:.2f} | {r['mase']:.3f} | {seconds} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--lookback", type=int, default=48)
    args = parser.parse_args()
    rows = run(args)
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "epochs": args.epochs,
        "hidden": args.hidden,
        "lookback": args.lookback,
        "levels": LEVELS,
    }
    args.out.write_text(json.dumps({"settings": settings, "results": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
