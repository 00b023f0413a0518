"""Rolling-origin evaluation: train as `tsforecast train` would at each cutoff, forecast the next
horizon, and score the model next to naive, seasonal naive and Naive2 on the same windows.

The data a model sees at a cutoff is the panel cut in memory at that cutoff (every row after it
dropped, gaps filled only from what is left), trained on and forecast from through the ordinary
training and forecasting code, so a forecast can never see its own targets and backtests
exercise exactly the code users run.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import training
from .atomic import replaceable, staged_dir
from .baselines import naive, naive2, seasonal_naive
from .classical import EXTRA_BASELINES, statsforecast_model, statsforecast_module
from .config import REFITS, Config
from .data import FutureTable, Panel
from .errors import ConfigError, DataError
from .evaluation import Evaluation, evaluate, write_summary
from .forecast import Forecaster, forecast
from .serving import naive_name
from .trainer import EpochRecord

log = logging.getLogger(__name__)

NEEDS_EXTRA = "--baselines mstl,ets,theta"


def baseline_names(seasons: tuple[int, ...]) -> tuple[str, ...]:
    """The baselines every backtest scores: naive, seasonal naive at each period, Naive2."""
    return ("naive", *(naive_name(m, seasons[0]) for m in seasons), "naive2")


@dataclass(frozen=True)
class BacktestConfig:
    """K cutoffs `step` steps apart, the last one a horizon before each series' end; `levels`
    adds the model's prediction intervals at those levels (percent) to the forecasts."""

    windows: int = 3
    step: int | None = None
    refit: str = "once"
    extra_baselines: tuple[str, ...] = ()
    levels: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.windows < 1:
            raise ConfigError(f"--windows must be at least 1, got {self.windows}")
        if self.step is not None and self.step < 1:
            raise ConfigError(f"--step must be at least 1, got {self.step}")
        if self.refit not in REFITS:
            raise ConfigError(f"--refit must be one of {', '.join(REFITS)}, got {self.refit!r}")
        unknown = [name for name in self.extra_baselines if name not in EXTRA_BASELINES]
        if unknown:
            raise ConfigError(
                f"--baselines: unknown {', '.join(unknown)}; choose from "
                f"{', '.join(EXTRA_BASELINES)}"
            )


@dataclass(frozen=True)
class BacktestResult:
    forecasts: pd.DataFrame
    evaluation: Evaluation
    cutoffs: int


def cutoff_positions(lengths: np.ndarray, horizon: int, windows: int, step: int) -> np.ndarray:
    """<int>[n_series, windows]: how many leading values of each series each cutoff keeps."""
    back = horizon + step * np.arange(windows - 1, -1, -1)
    return lengths[:, None] - back[None, :]


def recorded_future(
    panel: Panel, actuals: pd.DataFrame, names: tuple[str, ...], data: str
) -> FutureTable | None:
    """The future-known covariates `names` as the data records them (the last columns of the
    panel's covariate matrix, on the rows of `actuals`, `panel.to_frame()`): what a --future
    file would have held at each cutoff, since a backtest's cutoffs all lie a horizon or more
    before the end of each series."""
    if not names:
        return None
    keys = pd.DataFrame(
        {
            "id": actuals["unique_id"].to_numpy(object),
            "ds": pd.DatetimeIndex(actuals["ds"]).as_unit("ns").asi8,
            "row": np.arange(len(actuals)),
        }
    )
    values = panel.covariate_matrix()[:, -len(names) :].astype(np.float64)
    return FutureTable(data, keys, values, has_ids=True)


def baseline_forecasts(
    panel: Panel, positions: np.ndarray, horizon: int, seasons: tuple[int, ...]
) -> pd.DataFrame:
    """`baseline_names(seasons)` at every (series, cutoff) from the values before it; Naive2
    at the primary period."""
    frames = []
    for i, sid in enumerate(panel.ids):
        series = panel.series(i).astype(np.float64)
        stamps = panel.timestamps(i)
        for position in positions[i]:
            past = series[:position]
            frames.append(
                pd.DataFrame(
                    {
                        "unique_id": sid,
                        "cutoff": stamps[position - 1],
                        "ds": stamps[position : position + horizon],
                        "naive": naive(past, horizon),
                        **{
                            naive_name(m, seasons[0]): seasonal_naive(past, horizon, m)
                            for m in seasons
                        },
                        "naive2": naive2(past, horizon, seasons[0]),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def statsforecast_forecasts(
    names: tuple[str, ...], cut_panels: list[Panel], horizon: int, seasons: tuple[int, ...]
) -> pd.DataFrame:
    """The statsforecast baselines `names` at every cutoff."""
    statsforecast = statsforecast_module(NEEDS_EXTRA)

    frames = []
    for panel in cut_panels:
        history = panel.to_frame()
        shortest = int(panel.lengths.min())
        models = [statsforecast_model(name, seasons, shortest) for name in names]
        # On a short history statsforecast's numerics divide by zero (ETS by its residual
        # degrees of freedom, 0 when the history holds as many points as a seasonal model has
        # parameters) and still forecast; numpy's warning would reach the user's terminal.
        with np.errstate(all="ignore"):
            result = statsforecast.StatsForecast(models=models, freq=panel.freq, n_jobs=1).forecast(
                df=history, h=horizon
            )
        result = result.reset_index() if "unique_id" not in result.columns else result
        result["unique_id"] = result["unique_id"].astype(str)
        result["cutoff"] = result["unique_id"].map(
            {sid: panel.last_timestamp(i) for i, sid in enumerate(panel.ids)}
        )
        frames.append(result[["unique_id", "cutoff", "ds", *names]])
    return pd.concat(frames, ignore_index=True)


def run_backtest(
    observed: Panel,
    config: Config,
    options: BacktestConfig,
    on_epoch: Callable[[int, EpochRecord], None] | None = None,
) -> BacktestResult:
    """Train and forecast at every cutoff; return the forecasts of every method and their scores.

    observed: the data as `data.read_panel` gives it (with `config.data` as it resolved it):
    on the grid, with the gaps that --fill repairs still missing, so that each cut is filled from
    its own past only. on_epoch(cutoff_index, record) reports training progress.
    """
    seasons = config.data.season_length
    if options.extra_baselines:
        statsforecast_module(NEEDS_EXTRA)  # fail before training, not after
        if "mstl" in options.extra_baselines and seasons[0] < 2:
            raise ConfigError(
                "--baselines mstl needs a seasonal period above 1 and this data's is 1; "
                "leave mstl out or give --season-length"
            )
    fill = config.data.fill
    panel = observed.filled(fill)
    horizon = config.window.horizon
    step = options.step or horizon
    positions = cutoff_positions(panel.lengths, horizon, options.windows, step)
    if positions.min() < 2:
        shortest = int(panel.lengths.min())
        raise DataError(
            f"{options.windows} windows {step} steps apart with horizon {horizon} need more than "
            f"{horizon + step * (options.windows - 1) + 1} rows per series, the shortest has "
            f"{shortest}"
        )
    actuals = panel.to_frame()
    future = recorded_future(panel, actuals, config.data.future_covariates, config.data.path)
    model_rows, cut_panels, artifact, forecaster = [], [], None, None
    for k in range(options.windows):
        cut = observed.until(positions[:, k]).filled(fill)
        if artifact is None or options.refit == "each":
            log.info("training at cutoff %d of %d", k + 1, options.windows)
            report = (lambda record, k=k: on_epoch(k, record)) if on_epoch else None
            cut_config, previous = config, None
            if artifact is not None:
                # Later cutoffs have more data, which could change the default lookback.
                window = dataclasses.replace(
                    config.window, lookback=artifact.config.window.lookback
                )
                cut_config = dataclasses.replace(config, window=window)
                previous = artifact.params
            artifact = training.train(cut, cut_config, report, init_params=previous).artifact
            forecaster = Forecaster.of(artifact)
        cut_panels.append(cut)
        frame = forecast(forecaster, cut, options.levels, future)
        frame["cutoff"] = frame["unique_id"].map(
            {sid: cut.last_timestamp(i) for i, sid in enumerate(cut.ids)}
        )
        model_rows.append(frame)
    if options.extra_baselines:
        extras = statsforecast_forecasts(options.extra_baselines, cut_panels, horizon, seasons)

    forecasts = pd.concat(model_rows, ignore_index=True)
    forecasts = forecasts.merge(
        baseline_forecasts(panel, positions, horizon, seasons),
        on=["unique_id", "cutoff", "ds"],
        how="left",
    )
    if options.extra_baselines:
        forecasts = forecasts.merge(extras, on=["unique_id", "cutoff", "ds"], how="left")
    forecasts = forecasts.merge(actuals, on=["unique_id", "ds"], how="left")
    intervals = [c for c in model_rows[0].columns if c.startswith("y_hat-")]
    columns = [
        "unique_id",
        "cutoff",
        "ds",
        "y",
        "y_hat",
        *intervals,
        *baseline_names(seasons),
        *options.extra_baselines,
    ]
    forecasts = (
        forecasts[columns]
        .sort_values(["unique_id", "cutoff", "ds"], kind="stable")
        .reset_index(drop=True)
    )
    return BacktestResult(
        forecasts, evaluate(forecasts, actuals, seasons[0], actuals), options.windows
    )


FORECASTS_FILE = "backtest_forecasts.csv"


def check_out(out: str | Path) -> Path:
    """The absolute output path, refused when it is a directory holding anything but an earlier
    backtest: replacing it would delete its contents."""
    return replaceable(
        out, lambda path: (path / FORECASTS_FILE).is_file(), "a backtest", "backtest", ConfigError
    )


def write_results(result: BacktestResult, out: str | Path) -> Path:
    """backtest_forecasts.csv, backtest_metrics.csv/.json and backtest_by_window.csv, swapped into
    `out` in one step like a model directory."""
    target = check_out(out)
    with staged_dir(target) as staging:
        # Full precision, so that `tsforecast evaluate` on this file reproduces the scores.
        result.forecasts.to_csv(staging / FORECASTS_FILE, index=False)
        write_summary(result.evaluation.summary, staging / "backtest_metrics.csv")
        write_summary(result.evaluation.summary, staging / "backtest_metrics.json")
        result.evaluation.by_window.to_csv(staging / "backtest_by_window.csv", index=False)
    return target
