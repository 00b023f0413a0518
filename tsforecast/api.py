"""The Python API: the pipeline `tsforecast train` and `predict` run, on pandas DataFrames in the
long `unique_id, ds, y` layout (or one series `ds, y`, or wide), for notebooks, Airflow or
Prefect tasks and test harnesses.

    model = tsforecast.train(df, horizon=24)
    forecast = model.predict(level=[80, 95])
    model.save("models/load")
    tsforecast.load("models/load").predict(newer_df)
    result = tsforecast.backtest(df, windows=3, horizon=24)  # .forecasts, .evaluation.summary
    scores = tsforecast.evaluate(forecast, actuals_df, train=df)  # one row per method

Keyword names are the CLI's option names (`--season-length` is `season_length`), checked and
converted by the same option definitions, so a value the CLI refuses is refused here with the
same message, as a ConfigError. Errors are the typed ones of `tsforecast.errors`; nothing exits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
import pandas as pd

from . import artifacts, evaluation, training
from .artifacts import ModelArtifact
from .backtesting import BacktestConfig, BacktestResult, run_backtest
from .config import DataConfig
from .data import Panel, frame_panel, future_table
from .errors import ConfigError
from .options import build_config, config_options
from .predicting import check_levels, forecast_columns, forecast_panel


@click.command()
@config_options
def _train_command(**options: Any) -> None:
    """The options `tsforecast train` builds its Config from (but DATA), as one click command
    whose parameters check and convert the API's keywords."""


def _options(given: dict[str, Any]) -> dict[str, Any]:
    """Every option of `tsforecast train` with its default, the `given` ones in their place,
    each converted and checked as the CLI does."""
    # By the option's name on the command line (`--model` is `model`, though click passes it
    # as `model_name`).
    params = {
        flag[2:].replace("-", "_"): param
        for param in _train_command.params
        for flag in param.opts
        if flag.startswith("--")
    }
    unknown = sorted(given.keys() - params.keys())
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)}; the options are those of `tsforecast "
            "train --help`, with _ for -, e.g. season_length"
        )
    # The defaults as the CLI resolves them with no option given.
    context = _train_command.make_context("train", [])
    options = dict(context.params)
    for name, raw in given.items():
        param = params[name]
        if param.multiple and isinstance(raw, str | int | float):
            raw = (raw,)
        try:
            options[param.name] = param.process_value(context, raw)
        except click.BadParameter as error:
            raise ConfigError(f"{name}={raw!r}: {error.message}") from None
    return options


@dataclasses.dataclass(frozen=True)
class Model:
    """A trained model: `artifact` is what a model directory holds; `panel` the data it was
    trained on, which `predict` forecasts from when given no other."""

    artifact: ModelArtifact
    panel: Panel | None = None

    @property
    def metrics(self) -> dict:
        """metrics.json: the validation table, the serving decision, the interval scores."""
        return self.artifact.metrics

    def predict(
        self,
        df: pd.DataFrame | None = None,
        level: Iterable[float] = (),
        future: pd.DataFrame | None = None,
        ids: Iterable[str] = (),
    ) -> pd.DataFrame:
        """The next `horizon` steps after each series of `df` (default: the training data),
        with the columns `tsforecast predict` writes: `unique_id` (for a panel), `ds`,
        `y_hat`, `y_hat-lo-<level>`/`y_hat-hi-<level>` per level, `method`. `future`: the
        future covariates' values over the horizon, as `--future` takes them."""
        levels = tuple(float(x) for x in level)
        config = self.artifact.config
        check_levels(self.artifact, levels)
        if df is None and self.panel is None:
            raise ConfigError("this model was loaded from disk: give predict the data, df=...")
        panel = self.panel if df is None else frame_panel(df.copy(), config.data)[0]
        table = None
        if future is not None and config.data.future_covariates:
            table = future_table(future.copy(), config.data)
        _, frame = forecast_panel(self.artifact, panel, levels, tuple(ids), table)
        return forecast_columns(self.artifact, frame)

    def save(self, path: str | Path) -> Path:
        """Write the model directory (what `tsforecast predict --model` reads), atomically."""
        return artifacts.save(self.artifact, path)


def train(df: pd.DataFrame, **options: Any) -> Model:
    """Train on `df` as `tsforecast train` trains on a file with the same options."""
    config = build_config({**_options(options), "data": None})
    panel, data_cfg = frame_panel(df.copy(), config.data)
    outcome = training.train(panel, dataclasses.replace(config, data=data_cfg))
    return Model(outcome.artifact, panel)


def load(path: str | Path) -> Model:
    """A model directory written by `tsforecast train` or `Model.save`."""
    return Model(artifacts.load(path))


def backtest(
    df: pd.DataFrame,
    windows: int = BacktestConfig.windows,
    step: int | None = None,
    refit: str = BacktestConfig.refit,
    baselines: Iterable[str] = (),
    **options: Any,
) -> BacktestResult:
    """`tsforecast backtest` on `df`: train (once, or at each cutoff with refit="each") and
    forecast from `windows` cutoffs `step` steps apart (default: the horizon), beside the
    seasonal naives, Naive2 and the statsforecast `baselines` ("mstl", "ets", "theta").
    `.forecasts` is backtest_forecasts.csv, `.evaluation.summary` the metrics table and
    `.evaluation.by_window` the scores of every series and cutoff. `options` as for `train`."""
    given = _options(options)
    config = build_config({**given, "data": None})
    # Unfilled: each cutoff's panel is filled from its own past, as the CLI's backtest does.
    observed, data_cfg = frame_panel(df.copy(), config.data, fill=False)
    # Interval columns only for the levels asked for (`level=`), as the CLI writes them.
    plan = BacktestConfig(windows, step, refit, tuple(baselines), given["levels"])
    return run_backtest(observed, dataclasses.replace(config, data=data_cfg), plan)


def evaluate(
    forecasts: pd.DataFrame,
    actuals: pd.DataFrame,
    season_length: int | None = None,
    train: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """`tsforecast evaluate`: the scores of every method of `forecasts` (the columns `predict`
    or `backtest` give: `[unique_id,] [cutoff,] ds, y_hat, ...`) against `actuals`, with MASE
    and MSIS scaled by `train` (default: the actuals), one row per method. The actuals and the
    history are read as `train` reads its data (layouts, column names; gaps left missing);
    `season_length` defaults to the frequency's."""
    observed = {"actuals": actuals, "train": train}
    frames = {}
    for name, frame in observed.items():
        if frame is not None:
            panel, _ = frame_panel(frame.copy(), DataConfig(), fill=False)
            frames[name] = panel.to_frame()
    forecasts = forecasts.copy()
    if "unique_id" not in forecasts.columns:
        forecasts["unique_id"] = None
    forecasts["ds"] = pd.to_datetime(forecasts["ds"])
    scored = evaluation.evaluate_frames(
        forecasts, frames["actuals"], frames.get("train"), season_length
    )
    return scored.summary
