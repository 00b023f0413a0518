"""The Python API: the pipeline `tsforecast train`, `predict`, `backtest` and `evaluate` run
(the commands parse their options and call it), on pandas DataFrames in the long
`unique_id, ds, y` layout (or one series `ds, y`, or wide) or on files, for notebooks, Airflow
or Prefect tasks and test harnesses.

    model = tsforecast.train(df, horizon=24)  # or tsforecast.train("data.csv", ...)
    forecast = model.predict(level=[80, 95])
    model.save("models/load")
    tsforecast.load("models/load").predict(newer_df)
    result = tsforecast.backtest(df, windows=3, horizon=24)  # .forecasts, .evaluation.summary
    scores = tsforecast.evaluate(forecast, actuals_df, train=df).summary  # a row per method

Keyword names are the CLI's option names (`--season-length` is `season_length`), checked and
converted by the same option definitions, so a value the CLI refuses is refused here with the
same message, as a ConfigError. Errors are the typed ones of `tsforecast.errors`; nothing exits.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click
import pandas as pd

from . import artifacts, evaluation, training
from .artifacts import ModelArtifact
from .backtesting import BacktestConfig, BacktestResult, run_backtest
from .config import Config, DataConfig
from .data import Panel, as_source, load_panel
from .errors import ConfigError
from .options import build_config, config_options, flag_names, options_file
from .predicting import check_levels, forecast_columns, forecast_panel, read_for_model
from .runtime import test_pause
from .training import TrainOutcome


@click.command()
@config_options
def config_command(**options: Any) -> None:
    """The options `tsforecast train` builds its Config from (but DATA), as one click command
    whose parameters check and convert the API's keywords."""


def _options(given: dict[str, Any]) -> dict[str, Any]:
    """Every option of `tsforecast train` with its default, the `given` ones in their place,
    each converted and checked as the CLI does."""
    if "config" in given:
        # What `--config FILE` does: the file's options, under the ones given.
        given = options_file(given["config"]) | {k: v for k, v in given.items() if k != "config"}
    # By the option's name on the command line (`--model` is `model`, though click passes it
    # as `model_name`).
    by_name = {param.name: param for param in config_command.params}
    params = {name: by_name[param] for name, param in flag_names(config_command).items()}
    del params["config"]
    unknown = sorted(given.keys() - params.keys())
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)}; the options are those of `tsforecast "
            "train --help`, with _ for -, e.g. season_length"
        )
    # The defaults as the CLI resolves them with no option given.
    context = config_command.make_context("train", [])
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


Data = pd.DataFrame | str | os.PathLike
"""What the API reads: a frame in memory, or the path of a CSV or Parquet file ("-": standard
input), as DATA names one on the command line."""


def _frame_or_path(data: Data) -> tuple[pd.DataFrame | None, str | None]:
    source = as_source(data)
    return (source, None) if isinstance(source, pd.DataFrame) else (None, source)


def read(cfg: DataConfig, frame: pd.DataFrame | None = None, fill: bool = True):
    """(panel, config with its columns resolved) of `frame`, or else of the file `cfg.path`
    names: the one read of the data a command makes. With `fill` False the gaps --fill repairs
    stay NaN (see `Panel.filled`)."""
    read_data = load_panel(cfg, fill, frame)
    test_pause("read")
    return read_data


@dataclasses.dataclass(frozen=True)
class Model:
    """A trained model: `artifact` is what a model directory holds; `panel` the data it was
    trained on, which `predict` forecasts from when given no other; `training` how the
    training went (early stopping, best epoch), for a model trained in this process."""

    artifact: ModelArtifact
    panel: Panel | None = None
    training: TrainOutcome | None = None

    @classmethod
    def trained(cls, panel: Panel, config: Config, on_epoch: Callable | None = None) -> Model:
        """The model `training.train` trains on a panel read already (config resolved with it)."""
        outcome = training.train(panel, config, on_epoch=on_epoch)
        return cls(outcome.artifact, panel, outcome)

    @property
    def metrics(self) -> dict:
        """metrics.json: the validation table, the serving decision, the interval scores."""
        return self.artifact.metrics

    def predict(
        self,
        data: Data | None = None,
        level: Iterable[float] = (),
        future: Data | None = None,
        ids: Iterable[str] = (),
    ) -> pd.DataFrame:
        """The next `horizon` steps after each series of `data` (default: the training data),
        with the columns `tsforecast predict` writes: `unique_id` (for a panel), `ds`,
        `y_hat`, `y_hat-lo-<level>`/`y_hat-hi-<level>` per level, `method`. `future`: the
        future covariates' values over the horizon, as `--future` takes them."""
        _, frame = self.forecast(data, level, future, ids)
        return forecast_columns(self.artifact, frame)

    def forecast(
        self,
        data: Data | None = None,
        level: Iterable[float] = (),
        future: Data | None = None,
        ids: Iterable[str] = (),
        multipliers: dict | None = None,
        **reading: str | None,
    ) -> tuple[Panel, pd.DataFrame]:
        """`predict` with what it was made from, as `tsforecast predict` writes, plots and logs
        it: (the series forecast, every column of the forecast). `data` and `future` are read
        with the model's schema (`reading`: `encoding=` and `date_format=` in place of the
        model's); `data` defaults to the training data of a model trained in this process, else
        the file the model was trained on. `multipliers`: the recalibration of the intervals
        (`forecast.forecast`)."""
        levels = tuple(float(x) for x in level)
        # Bad levels are reported before the data is read: they are the cheaper mistake to fix.
        check_levels(self.artifact, levels)
        data = None if data is None else as_source(data)
        future = None if future is None else as_source(future)
        # A model trained in this process forecasts from its training data unless given other.
        trained_on = self.panel if data is None else None
        panel, table = read_for_model(self.artifact, data, future, reading, trained_on)
        return forecast_panel(self.artifact, panel, levels, tuple(ids), table, multipliers)

    def save(self, path: str | Path) -> Path:
        """Write the model directory (what `tsforecast predict --model` reads), atomically."""
        return artifacts.save(self.artifact, path)


def train(data: Data, **options: Any) -> Model:
    """Train on `data` as `tsforecast train` trains on a file with the same options."""
    frame, path = _frame_or_path(data)
    return train_with(build_config({**_options(options), "data": path}), frame)


def tune(
    data: Data,
    *,
    trials: int = 16,
    population: int = 4,
    time_budget: float | None = None,
    study: str | os.PathLike | None = None,
    lock_timeout: float = 60.0,
    **options: Any,
):
    """Search the settings `options` do not give on `data`'s validation windows, as `tsforecast
    tune` does (`time_budget` in seconds; `study`: an SQLite file that a later call resumes).
    Returns the trials and the choice (tsforecast.tune.TuneResult);
    `tsforecast.train(data, **result.options)` trains it."""
    from .tune import search

    frame, path = _frame_or_path(data)
    given = dict(options)
    if "config" in given:
        given = options_file(given.pop("config")) | given
    converted = _options(given)
    params = flag_names(config_command)
    config = build_config({**converted, "data": path})
    panel, data_cfg = read(config.data, frame)
    return search(
        panel,
        dataclasses.replace(config, data=data_cfg),
        {name: converted[params[name]] for name in given},
        trials=trials,
        population=population,
        time_budget=time_budget,
        study_path=None if study is None else str(study),
        lock_timeout=lock_timeout,
    )


def train_with(
    config: Config, frame: pd.DataFrame | None = None, on_epoch: Callable | None = None
) -> Model:
    """`train` with the Config built already, as `tsforecast train` builds it from its options:
    on `frame`, or else on the file `config.data.path` names. `on_epoch(record)` after every
    epoch (the CLI's progress bar)."""
    panel, data_cfg = read(config.data, frame)
    return Model.trained(panel, dataclasses.replace(config, data=data_cfg), on_epoch)


def load(path: str | Path) -> Model:
    """A model directory written by `tsforecast train` or `Model.save`."""
    return Model(artifacts.load(path))


def backtest(
    data: Data,
    windows: int = BacktestConfig.windows,
    step: int | None = None,
    refit: str = BacktestConfig.refit,
    baselines: Iterable[str] = (),
    **options: Any,
) -> BacktestResult:
    """`tsforecast backtest` on `data`: train (once, or at each cutoff with refit="each") and
    forecast from `windows` cutoffs `step` steps apart (default: the horizon), beside the
    seasonal naives, Naive2 and the statsforecast `baselines` ("mstl", "ets", "theta").
    `.forecasts` is backtest_forecasts.csv, `.evaluation.summary` the metrics table and
    `.evaluation.by_window` the scores of every series and cutoff. `options` as for `train`."""
    given = _options(options)
    frame, path = _frame_or_path(data)
    config = build_config({**given, "data": path})
    # Interval columns only for the levels asked for (`level=`), as the CLI writes them.
    plan = BacktestConfig(windows, step, refit, tuple(baselines), given["levels"])
    return backtest_with(config, plan, frame)


def backtest_with(
    config: Config,
    plan: BacktestConfig,
    frame: pd.DataFrame | None = None,
    on_epoch: Callable | None = None,
) -> BacktestResult:
    """`backtest` with the Config and the plan built already, as `tsforecast backtest` builds
    them from its options: on `frame`, or else on the file `config.data.path` names.
    `on_epoch(cutoff, record)` after every epoch of every training."""
    # Unfilled: each cutoff's panel is filled from its own past (see run_backtest).
    observed, data_cfg = read(config.data, frame, fill=False)
    config = dataclasses.replace(config, data=data_cfg)
    return run_backtest(observed, config, plan, on_epoch=on_epoch)


# `tsforecast evaluate`, on frames or files (see evaluation.evaluate_sources).
evaluate = evaluation.evaluate_sources
