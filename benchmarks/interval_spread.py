"""What a conformal radius should be a multiple of: the series' standard deviation (`series`,
one width per series) or how much the series moved over the window the forecast reads
(`recent`). Both use the same trained model and the same validation errors; only the scaling of
the scores and radii differs, so one training run per data set decides.

For each trained model directory it reports, at 80/90/95%:

- validation halves: radii from the earlier half of the training run's own validation windows,
  scored on the later half (what metrics.json reports);
- after training (when `--after FILE` holds later rows of the same single series): radii from
  all validation windows (as a saved model has them), scored on forecasts made every
  `--every` rows from the end of the training data to the end of FILE, without retraining.

Only validation data is read: the defaults are chosen on it.

    python benchmarks/interval_spread.py NAME=MODEL_DIR[@AFTER_CSV] ... [--every 24]

Prints a table and writes benchmarks/results/interval_spread.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from common import markdown_table, write_result

from tsforecast import artifacts, transforms
from tsforecast.data import load_panel
from tsforecast.forecast import Forecaster
from tsforecast.intervals import (
    conformal_bounds,
    interval_scores,
    mean_scores,
    recent_spread,
    validation_interval_metrics,
)
from tsforecast.metrics import mase_scale
from tsforecast.serving import ValidationWindows, targets_of
from tsforecast.windows import split_windows

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "interval_spread.json"
LEVELS = (80.0, 90.0, 95.0)


def spreads(forecaster: Forecaster, panel, series, starts) -> tuple[object, dict]:
    """The served forecasts of these windows and both spreads of each."""
    config = forecaster.config
    result = forecaster.forecast(panel, series, starts)
    std = forecaster.scaler.for_panel(transforms.transform_panel(config.data.transform, panel))[1]
    std = std[series, 0]
    history = transforms.transform_panel(config.data.transform, panel).values
    rows = panel.offsets[series] + starts
    recent = recent_spread(history, rows, config.window.lookback, config.data.season, std)
    return result, {"series": std, "recent": recent}


def compare_spreads(model: Path, after: Path | None, every: int) -> dict:
    """Coverage and MSIS of both spreads' intervals per level, on the validation halves and,
    with `after`, at origins every `every` rows after the training data."""
    artifact = artifacts.load(model)
    config = artifact.config
    lookback, horizon = config.window.lookback, config.window.horizon
    panel, _ = load_panel(config.data)
    split = split_windows(panel.offsets, lookback, horizon, config.window.val_size, panel.ids)
    forecaster = Forecaster.of(artifact)
    series = split.val_series
    result, by_spread = spreads(forecaster, panel, series, split.val_starts - panel.offsets[series])
    modelled = transforms.transform_panel(config.data.transform, panel)
    targets = targets_of(modelled, split.val_starts, lookback, horizon)
    trained = np.flatnonzero(split.usable)
    shape = (len(trained), split.val_size, horizon)
    windows = ValidationWindows.of(panel, split, lookback, horizon, config.data.season)
    scales = windows.scales.reshape(shape[:2])[:, 0]
    report: dict = {"model": str(model), "lookback": lookback, "horizon": horizon}
    for name, spread in by_spread.items():
        halves = validation_interval_metrics(
            targets.reshape(shape),
            {"served": result.point.reshape(shape)},
            spread.reshape(shape[:2]),
            scales,
            LEVELS,
            None,
            result.original,
        )
        report[f"validation halves, {name}"] = halves["served"]
    if after is None:
        return report
    later, _ = load_panel(dataclasses.replace(config.data, path=str(after)))
    first = int(panel.lengths[0])
    origins = np.arange(first, int(later.lengths[0]) - horizon + 1, every)
    zero = np.zeros(len(origins), dtype=np.int64)
    ahead, ahead_spread = spreads(forecaster, later, zero, origins - lookback)
    actual = later.values[origins[:, None] + np.arange(horizon)].astype(np.float64)
    scale = mase_scale(panel.series(0), config.data.season)
    report["origins after training"] = int(len(origins))
    for name, spread in by_spread.items():
        scores = np.abs(result.point - targets) / spread[:, None]
        per_level = {}
        for level in LEVELS:
            lo, hi = conformal_bounds(ahead.point, scores, ahead_spread[name], level)
            lo, hi = ahead.original(lo), ahead.original(hi)
            per_level[f"{level:g}"] = mean_scores(
                [interval_scores(actual[j], lo[j], hi[j], scale, level) for j in range(len(lo))]
            )
        report[f"after training, {name}"] = per_level
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="NAME=MODEL_DIR[@AFTER_CSV]")
    parser.add_argument("--every", type=int, default=24)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    reports = {}
    for spec in args.models:
        name, rest = spec.split("=", 1)
        model, _, after = rest.partition("@")
        reports[name] = compare_spreads(Path(model), Path(after) if after else None, args.every)
        print(json.dumps({name: reports[name]}), flush=True)
    cells = []
    for name, report in reports.items():
        for key, per_level in report.items():
            if not isinstance(per_level, dict):
                continue
            where, spread = key.split(", ")
            coverages = [f"{per_level[f'{v:g}']['coverage']:.1%}" for v in LEVELS]
            cells.append([name, where, spread, *coverages, f"{per_level['90']['msis']:.2f}"])
    headers = ["data", "scored on", "spread", "cov. 80", "cov. 90", "cov. 95", "MSIS 90"]
    print("\n" + markdown_table(headers, "lllrrrr", cells))
    write_result(args.out, {"levels": LEVELS, "every": args.every, **reports})
    return 0


if __name__ == "__main__":
    sys.exit(main())
