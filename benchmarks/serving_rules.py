"""Which serving rule, judged on validation data only: the network or the mean of the network and
MSTL as the incumbent that another method must beat on both halves of the training's
validation windows (`serving.choose`).

For ETTh1 and ETTh2 HUFL (see benchmarks/multiseasonal.py) a model is trained with the default
settings on the rows before the validation phase's first backtest cutoff (row 9,120). Every
method the model can serve is then forecast on every 24th of the training's own validation
windows (each with a fresh MSTL fit) and at the 100 daily origins of the validation months that
multiseasonal.py scores (rows 9,120 to 11,520); each rule chooses per horizon step on the
former, and its choice is scored on the latter. At the same origins MSTL fitted on the whole
history is set beside the 16 weeks that the served MSTL reads (`classical.HISTORY_SEASONS`),
with the seconds per fit. No test month is read.

    python benchmarks/serving_rules.py [--out FILE]

Prints a table and writes benchmarks/results/serving_rules.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import markdown_table, run_cli, write_result

from tsforecast import artifacts, classical, serving
from tsforecast.data import load_panel
from tsforecast.forecast import Forecaster
from tsforecast.metrics import mase_scale
from tsforecast.serving import NETWORK, NETWORK_AND_MSTL, ValidationWindows
from tsforecast.windows import split_windows

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "serving_rules.json"
SERIES = {"ETTh1 HUFL": ("etth1/ETTh1.csv", "HUFL"), "ETTh2 HUFL": ("etth2/ETTh2.csv", "HUFL")}
FIRST_CUTOFF, VAL_END, HORIZON, EVERY = 9120, 16 * 30 * 24, 24, 24
INCUMBENTS = (NETWORK, NETWORK_AND_MSTL)


def forecasts(forecaster, panel, starts) -> dict[str, np.ndarray]:
    """Every method the model can serve, of the windows starting at `starts` of series 0."""
    series = np.zeros(len(starts), dtype=np.int64)
    network = forecaster.forecast(panel, series, starts).original()
    return serving.candidates(panel, series, starts, forecaster.config, network, with_mstl=True)


def score_rules(name: str, tmp: Path) -> dict:
    """Train on the series' rows before the first cutoff, let each rule choose on the
    training's validation windows, and score every method and rule at the validation months'
    origins, with MSTL on the whole history beside MSTL on the recent seasons."""
    file, column = SERIES[name]
    frame = pd.read_csv(DATA / file, usecols=["date", column])
    frame.columns = ["ds", "y"]
    train_csv, later_csv = tmp / f"{column}-train.csv", tmp / f"{column}-validation.csv"
    frame.iloc[:FIRST_CUTOFF].to_csv(train_csv, index=False)
    frame.iloc[:VAL_END].to_csv(later_csv, index=False)
    model = tmp / f"{column}-model"
    trained = run_cli(
        "train", str(train_csv), "--horizon", str(HORIZON), "--out", str(model), "--quiet"
    ).wall_s
    artifact = artifacts.load(model)
    config = artifact.config
    lookback = config.window.lookback
    panel, _ = load_panel(config.data)
    split = split_windows(panel.offsets, lookback, HORIZON, config.window.val_size, panel.ids)
    forecaster = dataclasses.replace(Forecaster.of(artifact), served=())
    history = panel.series(0).astype(np.float64)
    scale = mase_scale(history[: split.train_part[0]], config.data.season)

    picked = np.arange(0, len(split.val_starts), EVERY)
    starts = split.val_starts[picked]
    validation = forecasts(forecaster, panel, starts)
    targets = history[starts[:, None] + lookback + np.arange(HORIZON)]
    errors = {method: np.abs(f - targets) / scale for method, f in validation.items()}

    later, _ = load_panel(dataclasses.replace(config.data, path=str(later_csv)))
    values = later.series(0).astype(np.float64)
    origins = np.arange(FIRST_CUTOFF, VAL_END - HORIZON + 1, HORIZON)
    after = forecasts(forecaster, later, origins - lookback)
    actual = values[origins[:, None] + np.arange(HORIZON)]

    def after_mase_of(forecast: np.ndarray) -> float:
        return float(np.mean(np.abs(forecast - actual)) / scale)

    def after_mase(steps) -> float:
        return after_mase_of(np.stack([after[m][:, h] for h, m in enumerate(steps)], axis=1))

    began = time.perf_counter()
    mstl = classical.statsforecast_module("this benchmark").models.MSTL
    whole = np.stack(
        [
            mstl(season_length=list(config.data.season_length)).forecast(
                y=values[:origin], h=HORIZON
            )["mean"]
            for origin in origins
        ]
    )
    whole_seconds = (time.perf_counter() - began) / len(origins)
    began = time.perf_counter()
    classical.mstl_windows(
        later,
        np.zeros(len(origins), np.int64),
        origins - lookback,
        lookback,
        HORIZON,
        config.data.season_length,
    )
    recent_seconds = (time.perf_counter() - began) / len(origins)
    row = {
        "series": name,
        "mstl_history": {
            "16 longest seasons": {
                "mstl": after_mase_of(after["mstl"]),
                "mean": after_mase_of(after[NETWORK_AND_MSTL]),
                "seconds_per_fit": round(recent_seconds, 3),
            },
            "whole": {
                "mstl": after_mase_of(whole),
                "mean": after_mase_of((whole + after[NETWORK]) / 2),
                "seconds_per_fit": round(whole_seconds, 3),
            },
        },
        "validation_windows_used": int(len(picked)),
        "origins": int(len(origins)),
        "train_seconds": round(trained, 1),
        "methods_after": {m: after_mase([m] * HORIZON) for m in after},
        "rules": {},
    }
    for incumbent in INCUMBENTS:
        earlier = ValidationWindows.of(panel, split, lookback, HORIZON, 1).earlier
        steps, _ = serving.choose(errors, earlier[picked], incumbent)
        row["rules"][incumbent] = {
            "after_mase": after_mase(steps),
            "steps": {m: steps.count(m) for m in sorted(set(steps))},
        }
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:  # the data's licence: no copies kept
        rows = [score_rules(name, Path(tmp)) for name in SERIES]
    print("\nMASE (m = 24) over the 100 daily origins of the validation months\n")
    rules_table = [
        [
            row["series"],
            *(f"{row['methods_after'][m]:.3f}" for m in (NETWORK, "mstl", NETWORK_AND_MSTL)),
            *(f"{row['rules'][m]['after_mase']:.3f}" for m in (NETWORK, NETWORK_AND_MSTL)),
        ]
        for row in rows
    ]
    rules_headers = ["network", "MSTL", "mean", "rule: network incumbent", "rule: mean incumbent"]
    print(markdown_table(["series", *rules_headers], "lrrrrr", rules_table))
    print("\nMSTL reading the last 16 weeks or the whole history (MASE; seconds per fit)\n")
    history_table = [
        [
            row["series"],
            history,
            f"{scores['mstl']:.3f}",
            f"{scores['mean']:.3f}",
            f"{scores['seconds_per_fit']:.2f}",
        ]
        for row in rows
        for history, scores in row["mstl_history"].items()
    ]
    print(
        markdown_table(
            ["series", "history", "MSTL", "mean with the network", "s per fit"],
            "llrrr",
            history_table,
        )
    )
    write_result(args.out, {"horizon": HORIZON, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
