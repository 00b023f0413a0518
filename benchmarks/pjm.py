"""PJM hourly load, cron-style: train once with the defaults on the three years before a stretch
of 8 weeks, then forecast from every midnight of those weeks without retraining, as a nightly
`predict` does; beside it MSTL refitted at each origin and seasonal naive a day and a week back.

Each series alone (a user with one region's file) and, with --panel, the seven as one panel.
Phases: `validation` (the 8 weeks a year, 52 weeks, before the test weeks, with only the data
before them: where the serving rule is chosen) and `test` (the 8 weeks before the last week of
each file, so that every origin's 168 steps are in the data); `holidays`, also validation: the 8
weeks from the Monday on or before 14 November (Thanksgiving, Christmas, New Year) of the
latest year whose weeks end before the validation weeks. Besides what tsforecast serves,
each candidate serving rule is replayed from the same validation windows of training (`rules`),
and the 90% interval's coverage is recorded, as served (calibrated on the validation windows) and
recalibrated from the actuals as `predict --registry` would by each origin: the misses of the
intervals served at the earlier origins whose targets had arrived, replayed with the library's
own `recalibration.replay` and applied with `rescale` (`_recalibrated` keys, and
`_recalibrated_one_eta` with eta undivided at the steps that arrive late; `_after_day_14`: the
origins from which two weeks of actuals had been logged; with --panel each series by its own
misses, where the library pools the series of a panel).

The files are read as published: the duplicated autumn hour averaged, rows sorted, missing hours
interpolated (the tool itself refuses duplicates until it has an option for them).

    python benchmarks/pjm.py --phases validation --horizons 24 \
        --out benchmarks/results/pjm-validation-24.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd
from common import markdown_table, run_cli, stamp, write_result

from tsforecast import artifacts, classical, recalibration, serving, transforms
from tsforecast.data import load_panel
from tsforecast.forecast import Forecaster
from tsforecast.intervals import conformal_bounds
from tsforecast.metrics import mase_scale
from tsforecast.serving import NETWORK, NETWORK_AND_MSTL, ValidationWindows
from tsforecast.windows import split_windows

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PJM_DATA", REPO.parent / "shared" / "data" / "pjm"))
REGIONS = ("AEP", "COMED", "DAYTON", "DEOK", "FE", "PJME", "PJM_Load")
WEEKS, YEARS, DAY = 8, 3, 24
LEVEL = 90.0
SETTLE = 14  # origins (days) of logged actuals before recalibration is judged


def read(region: str) -> pd.Series:
    frame = pd.read_csv(DATA / f"{region}_hourly.csv")
    frame.columns = ["ds", "y"]
    frame["ds"] = pd.to_datetime(frame["ds"])
    series = frame.groupby("ds")["y"].mean().sort_index()
    return series.asfreq("h").interpolate(limit_direction="both")


def stretch(series: pd.Series, phase: str) -> pd.Timestamp:
    """The first origin (a midnight) of the phase's 8 weeks."""
    last = series.index[-1].normalize() - pd.Timedelta(days=7)
    test = last - pd.Timedelta(weeks=WEEKS)
    validation = test - pd.Timedelta(weeks=52)
    if phase != "holidays":
        return validation if phase == "validation" else test
    # The latest Thanksgiving-to-New-Year weeks that end before the validation weeks begin.
    year = validation.year
    while True:
        monday = pd.Timestamp(year, 11, 14) - pd.Timedelta(
            days=pd.Timestamp(year, 11, 14).dayofweek
        )
        if monday + pd.Timedelta(weeks=WEEKS) <= validation:
            return monday
        year -= 1


def halves(errors, earlier, incumbent, series, stat, guard: bool) -> tuple[str, ...]:
    """The per-step rule on both halves against `incumbent`, with the per-window statistic
    `stat` (np.nanmean: tsforecast's; np.nanmedian: robust to a few unusual windows), with or
    without the check against every candidate alone."""
    horizon = errors[NETWORK].shape[1]
    steps = serving.halves_choice(errors, earlier, incumbent, stat)
    if guard:
        overall = {name: float(stat(e)) for name, e in errors.items()}
        best = min(overall, key=overall.get)
        chosen = np.stack([errors[s][:, h] for h, s in enumerate(steps)], axis=1)
        if float(stat(chosen)) > overall[best]:
            steps = [best] * horizon
    return tuple(steps)


def best_single(errors, earlier, incumbent, series) -> tuple[str, ...]:
    """The best candidate over the validation windows, at every step."""
    overall = {name: serving.table_mase(e, series) for name, e in errors.items()}
    return (min(overall, key=overall.get),) * errors[NETWORK].shape[1]


def recent_third(errors, earlier, incumbent, series) -> tuple[str, ...]:
    """The best single candidate over the latest third of each series' validation windows."""
    recent = np.zeros(len(series), dtype=bool)
    for i in np.unique(series):
        mine = np.flatnonzero(series == i)
        recent[mine[-max(1, len(mine) // 3) :]] = True
    picked = {name: e[recent] for name, e in errors.items()}
    return best_single(picked, earlier[recent], incumbent, series[recent])


TSFORECAST = "halves + check against each alone (tsforecast)"
RULES = {
    "halves (before)": lambda *a: halves(*a, np.nanmean, guard=False),
    TSFORECAST: lambda *a: serving.choose(*a)[0],
    "median halves + check": lambda *a: halves(*a, np.nanmedian, guard=True),
    "best single": best_single,
    "best single, latest third": recent_third,
}


def candidates_at(forecaster, panel, series, starts, with_mstl: bool, fresh_fits: bool):
    """Every candidate's forecasts (original units) of the windows, and the network's
    WindowForecasts; `fresh_fits`: MSTL fitted at each window's own origin."""
    config = forecaster.config
    network = forecaster.forecast(panel, series, starts)
    result = serving.candidates(panel, series, starts, config, network.original(), False)
    if with_mstl:
        lookback, horizon = config.window.lookback, config.window.horizon
        seasons = config.data.season_length
        if fresh_fits:
            mstl = np.stack(
                [
                    classical.mstl_windows(
                        panel, series[j : j + 1], starts[j : j + 1], lookback, horizon, seasons
                    )[0]
                    for j in range(len(series))
                ]
            )
        else:
            mstl = classical.mstl_windows(panel, series, starts, lookback, horizon, seasons)
        result[serving.MSTL] = mstl
        result[NETWORK_AND_MSTL] = (network.original() + mstl) / 2
    return result, network


def served_values(steps, forecasts, transform: str) -> np.ndarray:
    """The forecasts of per-step picks `steps`, with serving's fallback to the network."""
    modelled = serving.in_model_units(transform, forecasts)
    picked = np.stack([modelled[name][:, h] for h, name in enumerate(steps)], axis=1)
    picked = np.where(np.isnan(picked), modelled[NETWORK], picked)
    return transforms.inverse(transform, picked)


def score_at_origins(model: Path, full_csv: Path, origins: dict[str, list[int]]) -> list[dict]:
    """One trained model (`model`) scored at `origins` ({series id: positions in the full
    data}) and its rules replayed from its own validation windows."""
    artifact = artifacts.load(model)
    config = artifact.config
    lookback, horizon = config.window.lookback, config.window.horizon
    forecaster = dataclasses.replace(Forecaster.of(artifact), served=())
    train_panel, _ = load_panel(config.data)
    panel, _ = load_panel(dataclasses.replace(config.data, path=str(full_csv)))
    with_mstl = any(
        name in serving.SERVED_WITH_MSTL for name in artifact.metrics["serving"]["candidates"]
    )
    incumbent = NETWORK_AND_MSTL if with_mstl else NETWORK

    split = split_windows(
        train_panel.offsets, lookback, horizon, config.window.val_size, train_panel.ids
    )
    windows = ValidationWindows.of(train_panel, split, lookback, horizon, config.data.season)
    weighed = (
        classical.fitted_at_origin(
            train_panel,
            windows.series,
            windows.starts,
            lookback,
            horizon,
            config.data.season_length,
        )
        if with_mstl
        else np.ones(len(windows.series), dtype=bool)
    )
    val, _ = candidates_at(
        forecaster, train_panel, windows.series, windows.starts, with_mstl, fresh_fits=False
    )
    transform = config.data.transform
    modelled = serving.in_model_units(transform, val)
    served_as = {
        name: np.where(np.isnan(modelled[name]), val[NETWORK], f) for name, f in val.items()
    }
    errors = serving.scaled_errors(served_as, windows.targets, windows.scales)
    decide = [{name: e[weighed] for name, e in errors.items()}, windows.earlier[weighed]]
    rules = {
        name: rule(*decide, incumbent, windows.series[weighed]) for name, rule in RULES.items()
    }
    replayed = rules[TSFORECAST]
    matches = replayed == (artifact.served or (NETWORK,) * horizon)

    rows = []
    for i, sid in enumerate(panel.ids):
        at = np.asarray(origins[sid])
        series = np.full(len(at), i)
        after, network = candidates_at(
            forecaster, panel, series, at - lookback, with_mstl, fresh_fits=True
        )
        history = panel.series(i).astype(np.float64)
        actual = history[at[:, None] + np.arange(horizon)]
        scale = mase_scale(history[: at[0]], DAY)

        def mase(forecast, actual=actual, scale=scale) -> float:
            return float(np.mean(np.abs(forecast - actual)) / scale)

        row = {"series": sid, "origins": len(at), "mase": {}, "rules": {}}
        row["replay_matches_training"] = matches
        for name, forecast in after.items():
            row["mase"][name] = mase(forecast)
        for name, steps in rules.items():
            row["rules"][name] = {
                "mase": mase(served_values(steps, after, transform)),
                "steps": {m: steps.count(m) for m in sorted(set(steps))},
            }
        served_steps = artifact.served or (NETWORK,) * horizon
        point = serving.in_model_units(
            transform, {"s": served_values(served_steps, after, transform)}
        )["s"]
        calibrated = conformal_bounds(point, artifact.conformal_scores, network.spread, LEVEL)
        row["served"] = mase(transforms.inverse(transform, point))
        bounds = {"": calibrated}
        for suffix, eta in (
            ("_recalibrated", recalibration.step_etas(recalibration.ETA, horizon, DAY)),
            ("_recalibrated_one_eta", recalibration.ETA),
        ):
            bounds[suffix] = recalibrated(point, calibrated, at, actual, transform, eta)
        for suffix, (lo, hi) in bounds.items():
            lo = np.maximum(transforms.inverse(transform, lo), 0.0)
            hi = transforms.inverse(transform, hi)
            inside = (actual >= lo) & (actual <= hi)
            width = (hi - lo) / scale
            row[f"coverage_90{suffix}"] = float(np.mean(inside))
            row[f"width_90{suffix}"] = float(np.mean(width))
            row[f"coverage_90{suffix}_after_day_14"] = float(np.mean(inside[SETTLE:]))
            row[f"width_90{suffix}_after_day_14"] = float(np.mean(width[SETTLE:]))
        rows.append(row)
    return rows


def recalibrated(point, bounds, at, actual, transform: str, eta):
    """The calibrated `bounds` (model units, <float>[T, H] each, origins `at` in time order)
    recalibrated at each origin as `predict --registry` recalibrates from its log: the misses
    of the intervals served (recalibrated) at the earlier origins whose targets precede it,
    replayed at `eta` (per step or one for all)."""
    horizon = point.shape[1]
    served = (np.empty_like(bounds[0]), np.empty_like(bounds[1]))
    outside = np.zeros(point.shape, dtype=bool)
    for t in range(len(at)):
        arrived = at[:t, None] + np.arange(horizon) < at[t]
        missed = np.where(arrived, outside[:t], np.nan)
        multiplier = np.exp(recalibration.replay(missed, LEVEL, eta))
        lo, hi = recalibration.rescale(point[t], bounds[0][t], bounds[1][t], multiplier)
        served[0][t], served[1][t] = lo, hi
        low = np.maximum(transforms.inverse(transform, lo), 0.0)
        outside[t] = (actual[t] < low) | (actual[t] > transforms.inverse(transform, hi))
    return served


def train(csv: Path, model: Path, horizon: int, options: tuple[str, ...]) -> float:
    return run_cli(
        "train", str(csv), "--horizon", str(horizon), *options, "--out", str(model), "--quiet"
    ).wall_s


def one_series(phase: str, horizon: int, region: str, tmp: Path, options: tuple[str, ...]) -> dict:
    """One region's file alone: train on its three years before the phase's weeks, score."""
    series = read(region)
    start = stretch(series, phase)
    history = series[start - pd.Timedelta(days=365 * YEARS) : start - pd.Timedelta(hours=1)]
    full = series[history.index[0] : start + pd.Timedelta(weeks=WEEKS, hours=horizon)]
    at = [int(full.index.get_loc(start + pd.Timedelta(days=d))) for d in range(7 * WEEKS)]
    csv, full_csv = tmp / f"{region}-{phase}.csv", tmp / f"{region}-{phase}-full.csv"
    history.rename("y").reset_index().to_csv(csv, index=False)
    full.rename("y").reset_index().to_csv(full_csv, index=False)
    model = tmp / f"{region}-{phase}-{horizon}"
    seconds = train(csv, model, horizon, options)
    (row,) = score_at_origins(model, full_csv, {"y": at})
    row = {
        **row,
        "series": region,
        "phase": phase,
        "horizon": horizon,
        "seconds": round(seconds, 1),
    }
    print(json.dumps(row), flush=True)
    return row


def panel_of_all(
    phase: str, horizon: int, regions: list[str], tmp: Path, options: tuple[str, ...]
) -> list[dict]:
    """The regions as one panel (long layout), trained once."""
    frames, full_frames, origins = [], [], {}
    for region in regions:
        series = read(region)
        start = stretch(series, phase)
        history = series[start - pd.Timedelta(days=365 * YEARS) : start - pd.Timedelta(hours=1)]
        full = series[history.index[0] : start + pd.Timedelta(weeks=WEEKS, hours=horizon)]
        origins[region] = [
            int(full.index.get_loc(start + pd.Timedelta(days=d))) for d in range(7 * WEEKS)
        ]
        frames.append(history.rename("y").reset_index().assign(unique_id=region))
        full_frames.append(full.rename("y").reset_index().assign(unique_id=region))
    csv, full_csv = tmp / f"panel-{phase}.csv", tmp / f"panel-{phase}-full.csv"
    pd.concat(frames)[["unique_id", "ds", "y"]].to_csv(csv, index=False)
    pd.concat(full_frames)[["unique_id", "ds", "y"]].to_csv(full_csv, index=False)
    model = tmp / f"panel-{phase}-{horizon}"
    seconds = train(csv, model, horizon, options)
    rows = []
    for row in score_at_origins(model, full_csv, origins):
        rows.append(
            {**row, "phase": phase, "horizon": horizon, "panel": True, "seconds": round(seconds, 1)}
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict]) -> None:
    headers = [
        "series",
        "phase",
        "h",
        "served",
        "network",
        "MSTL",
        "naive day",
        "naive week",
        "90% coverage",
        "from day 14",
        "recalibrated",
        "width change",
    ]
    cells = []
    for row in rows:
        m = row["mase"]
        before = row["width_90_after_day_14"]
        after = row["width_90_recalibrated_after_day_14"]
        cells.append(
            [
                row["series"] + (" (panel)" if row.get("panel") else ""),
                row["phase"],
                row["horizon"],
                f"{row['served']:.3f}",
                f"{m[NETWORK]:.3f}",
                f"{m.get('mstl', float('nan')):.3f}",
                f"{m['seasonal_naive']:.3f}",
                f"{m['seasonal_naive_168']:.3f}",
                f"{100 * row['coverage_90']:.1f}%",
                f"{100 * row['coverage_90_after_day_14']:.1f}%",
                f"{100 * row['coverage_90_recalibrated_after_day_14']:.1f}%",
                f"{100 * (after / before - 1):+.1f}%",
            ]
        )
    print("\n" + markdown_table(headers, "llrrrrrrrrrr", cells))
    print("\nRules replayed (mean MASE over the rows above):")
    for name in RULES:
        print(f"- {name}: {np.mean([row['rules'][name]['mase'] for row in rows]):.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", default="validation,test")
    parser.add_argument("--horizons", default="24,168")
    parser.add_argument("--regions", default=",".join(REGIONS))
    parser.add_argument("--panel", action="store_true", help="the regions as one panel")
    parser.add_argument(
        "--jobs", type=int, default=1, help="series at once (a training holds about one core)"
    )
    parser.add_argument(
        "--train-options",
        default="",
        help="more `tsforecast train` options, space-separated (e.g. '--holidays US')",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    options = tuple(args.train_options.split())
    regions = args.regions.split(",")
    runs = [
        (phase, horizon)
        for phase in args.phases.split(",")
        for horizon in map(int, args.horizons.split(","))
    ]
    rows, began = [], stamp()  # the code as it was when the run began

    def save(more: list[dict]) -> None:
        # After every run, so that a long benchmark cut off keeps the runs that finished.
        rows.extend(more)
        write_result(args.out, {"weeks": WEEKS, "years": YEARS, "rows": rows}, began)

    with tempfile.TemporaryDirectory() as tmp:
        if args.panel:
            for phase, horizon in runs:
                save(panel_of_all(phase, horizon, regions, Path(tmp), options))
        else:
            context = multiprocessing.get_context("spawn")  # JAX does not survive a fork
            with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
                # Region by region, so that a run cut off holds both phases of its first regions.
                jobs = [
                    pool.submit(one_series, phase, horizon, region, Path(tmp), options)
                    for region in regions
                    for phase, horizon in runs
                ]
                for job in as_completed(jobs):
                    save([job.result()])
    table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
