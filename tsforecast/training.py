"""Train a model on a panel: windows, the compiled trainer, validation metrics, the artifact.

`train` takes a validated panel and a config and returns the finished artifact (not yet saved);
`score_on_validation` scores any model on the validation windows of a training run, which is
how the registry compares a champion with its challenger.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import classical, serving, transforms
from .artifacts import ModelArtifact, Scaler, TrainingSummary
from .config import Config
from .data import Panel
from .errors import ConfigError, DataError
from .features import FeatureLayout, device_matrix, known_columns, layout, static_levels
from .forecast import DeviceInputs, Forecaster, quantiles_of
from .intervals import quantile_index, validation_interval_metrics
from .metrics import forecast_scores, mean_defined
from .models import count_params
from .network import Params
from .panel import is_sub_daily
from .serving import NETWORK, ValidationWindows, WindowForecasts, naive_name
from .strategies import require_supported
from .trainer import EpochRecord, FitResult, Trainer, build_trainer
from .windows import (
    WindowSplit,
    default_val_size,
    rows_needed,
    split_windows,
    standardise,
    typical_length,
)

log = logging.getLogger(__name__)


def default_lookback(seasons: tuple[int, ...], shortest: int, horizon: int) -> int:
    """The longest seasonal period, so that the blend reads every period inside each window,
    when it is longer than the usual: seven primary seasons (a week of hourly or half-hourly
    data), else two, whichever first fits in 336 steps, never under 96. Where the data is too
    short for that, the usual; on shorter data still the longest whole number of primary
    seasons that leaves room for training and validation."""
    season = seasons[0]
    usual = max([96] + [k * season for k in (7, 2) if k * season <= 336][:1])
    candidates = [max(usual, *seasons), usual]
    candidates += [season * k for k in range(usual // season, 0, -1)]
    for lookback in candidates:
        if shortest >= rows_needed(lookback, horizon, default_val_size(shortest, horizon)):
            return lookback
    return usual  # too short for any: split_windows reports how many rows are needed


def default_chunk(freq: str, seasons: tuple[int, ...], config: Config) -> int:
    """Values per recurrent step when --chunk is not given: for sub-daily data read directly, a
    primary season (a day: 24 hourly, 288 five-minutely) per step, as ES-adRNN and the seed's
    TimeDistributed CNN-LSTM do, so that a week-long lookback takes 7 sequential steps instead
    of thousands (docs/defaults.md has the validation evidence); else a value per step: a
    recursive model feeds its forecasts back one value at a time, forking forecasts after every
    value, and conv-lstm already shortens the sequence by pooling its convolutions (on chunks
    its LSTM would be left a step or two)."""
    model = config.model
    reads_values = model.strategy == "direct" and not config.train.forking
    chunked = reads_values and model.name != "conv-lstm" and is_sub_daily(freq)
    return seasons[0] if chunked and seasons[0] > 1 else 1


def validation_metrics(
    panel: Panel, windows: ValidationWindows, forecasts: dict[str, np.ndarray]
) -> tuple[dict[str, dict[str, float]], pd.DataFrame]:
    """Per-series point metrics of each method's forecasts of the validation `windows`
    (`forecasts`: {method: <float>[n_val, horizon]} in the original units, in the windows'
    order) and their means over series (as M4 does). Returns (means, one row per series and
    method)."""
    rows = []
    for i in np.unique(windows.series):
        mine = windows.series == i
        scale = float(windows.scales[mine][0])
        for method, forecast in forecasts.items():
            rows.append(
                {
                    "unique_id": panel.ids[i],
                    "method": method,
                    **forecast_scores(windows.targets[mine], forecast[mine], scale),
                }
            )
    by_series = pd.DataFrame(rows)
    keys = ["mae", "rmse", "smape", "mase"]
    means = {
        method: {key: float(mean_defined(group[key])) for key in keys}
        for method, group in by_series.groupby("method", sort=False)
    }
    return means, by_series


def interval_metrics(
    windows: ValidationWindows,
    targets: np.ndarray,
    points: dict[str, np.ndarray],
    served: WindowForecasts,
    config: Config,
) -> dict:
    """metrics.json's "intervals": conformal intervals around each of `points` ({method:
    <float>[n_val, H]} in the model's units, like `targets`, the windows' targets in the
    model's units), except that the served forecasts of a quantile model keep their own
    quantiles, per level, on the validation windows, scored in the original units, each
    conformal radius a multiple of its window's `served.spread`."""
    split, horizon = windows.split, config.window.horizon
    trained = np.flatnonzero(split.usable)  # the series with validation windows, in window order
    shape = (len(trained), split.val_count, horizon)
    levels = config.intervals.levels
    bounds = None
    if served.quantiles is not None:
        bounds = {}
        for level in levels:
            lo, hi = quantile_index(levels, level)
            bounds[level] = (
                served.quantiles[..., lo].reshape(shape),
                served.quantiles[..., hi].reshape(shape),
            )
    scored = validation_interval_metrics(
        targets.reshape(shape),
        {name: point.reshape(shape) for name, point in points.items()},
        served.spread.reshape(shape[:2]),
        windows.scales.reshape(shape[:2])[:, 0],
        levels,
        bounds,
        served.original,
    )
    return {"method": config.intervals.method, **scored}


@dataclass(frozen=True)
class TrainOutcome:
    artifact: ModelArtifact
    stopped_early: bool
    best_epoch: int
    # The served forecast's validation MASE (as the table scores it) on the earlier and the
    # later half of the scored windows, the serving rule's halves: what `tune` chooses and
    # confirms on.
    served_halves: tuple[float, float] = (float("nan"), float("nan"))


def resolve(panel: Panel, config: Config) -> tuple[Config, WindowSplit]:
    """The config with the transform, lookback and validation size that training uses, and the
    window split they give."""
    data_cfg = dataclasses.replace(
        config.data, transform=transforms.resolve(config.data.transform, panel.values)
    )
    horizon = config.window.horizon
    lookback = config.window.lookback or default_lookback(
        data_cfg.season_length, typical_length(panel.offsets), horizon
    )
    split = split_windows(
        panel.offsets, lookback, horizon, config.window.val_size, panel.ids, data_cfg.strict
    )
    window = dataclasses.replace(config.window, lookback=lookback, val_size=split.val_size)
    model = dataclasses.replace(
        config.model,
        chunk=config.model.chunk or default_chunk(panel.freq, data_cfg.season_length, config),
    )
    return dataclasses.replace(config, data=data_cfg, window=window, model=model), split


@dataclass(frozen=True)
class Prepared:
    """A training run up to its fit: the resolved config, the window split, the standardised
    series placed on the trainer's mesh, and the trainer. A population (tsforecast.population)
    fits several members on one of these and finishes each."""

    panel: Panel
    config: Config
    split: WindowSplit
    modelled: Panel
    mean: np.ndarray
    std: np.ndarray
    features: FeatureLayout
    trainer: Trainer
    params: Params
    values: jax.Array
    train_starts: jax.Array
    val_starts: jax.Array


def prepare(panel: Panel, config: Config, init_params: Params | None = None) -> Prepared:
    """Everything `train` does before its fit (see there)."""
    config, split = resolve(panel, config)
    data_cfg, lookback, horizon = config.data, config.window.lookback, config.window.horizon
    skipped = int((~split.usable).sum())
    if skipped:
        log.warning(
            "%d of %d series have fewer than the %d rows training needs (lookback + 2 x horizon "
            "+ validation - 1) and are left out of training (--strict refuses them)",
            skipped,
            len(panel.ids),
            rows_needed(lookback, horizon, split.val_size),
        )
    modelled = transforms.transform_panel(data_cfg.transform, panel)
    numeric = np.column_stack([modelled.values, panel.covariate_matrix()])
    scaled, mean, std = standardise(numeric, panel.offsets, split.train_part)
    calendar = known_columns(data_cfg, panel.freq)
    levels = static_levels(panel)
    features = layout(data_cfg.covariates, data_cfg.future_covariates, calendar, levels)
    matrix = device_matrix(panel, scaled, calendar, levels, data_cfg.holidays)

    trainer = build_trainer(config, features.future, quantiles_of(config))
    require_supported(config.model.strategy, features.width, trainer.network.framing.active)
    framing = trainer.network.framing
    if config.train.forking and framing.first_fork == lookback - 1:
        log.warning(
            "--forking trains one fork per window, as without it: --residual %s reads %d steps "
            "back and the lookback is %d; use a longer --lookback",
            config.model.residual,
            framing.first_fork + 1,
            lookback,
        )
    fresh = trainer.initial_params(features.width)
    params = fresh if init_params is None else _matching_params(init_params, fresh)
    params, values, train_starts, val_starts = trainer.place(
        params, matrix, split.train_starts, split.val_starts
    )
    log.info(
        "%d training and %d validation windows on %d device(s)",
        len(split.train_starts),
        len(split.val_starts),
        trainer.mesh.size,
    )
    return Prepared(
        panel,
        config,
        split,
        modelled,
        mean,
        std,
        features,
        trainer,
        params,
        values,
        train_starts,
        val_starts,
    )


def train(
    panel: Panel,
    config: Config,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    init_params: Params | None = None,
) -> TrainOutcome:
    """Train on `panel` (validated, with `config.data` as `data.load_panel` resolved it) and
    return the finished artifact (not yet saved).

    init_params: start from these parameters (a previous fit of the same model, a warm start)
    instead of a fresh initialisation from the seed; a ConfigError if their shapes differ.
    """
    run = prepare(panel, config, init_params)
    result = run.trainer.fit(run.params, run.values, run.train_starts, run.val_starts, on_epoch)
    return finish(run, run.config, result)


def finish(run: Prepared, config: Config, result: FitResult) -> TrainOutcome:
    """The artifact of `run` fitted to `result`: its validation table, the serving decision,
    the interval calibration. `config` is `run.config` with, for a population member, that
    member's optimiser settings (they change no program)."""
    panel, split, modelled, mean, std = run.panel, run.split, run.modelled, run.mean, run.std
    data_cfg, lookback, horizon = config.data, config.window.lookback, config.window.horizon
    trainer, features, values = run.trainer, run.features, run.values
    quantiles = quantiles_of(config)
    skipped = int((~split.usable).sum())

    scaler = Scaler(
        panel.ids, mean[:, 0], std[:, 0], data_cfg.numeric_covariates, mean[:, 1:], std[:, 1:]
    )
    # Scored by the training program itself, on the training mesh and the device matrix it
    # trained on.
    forecaster = Forecaster(config, result.params, scaler, features, trainer.predict, trainer.mesh)
    inputs = DeviceInputs(values, panel.offsets, mean[:, 0], std[:, 0], modelled.values)
    windows = ValidationWindows.of(panel, split, lookback, horizon, data_cfg.season)
    network = forecaster.forecast_inputs(inputs, windows.series, windows.starts)
    served, naive, decision, decided = serving.on_validation(panel, windows, network, config)
    forecasts = {NETWORK: network.original(), "served": served.original(), **naive}
    metrics, by_series = validation_metrics(
        panel,
        serving.take(windows, decided),
        {name: forecast[decided] for name, forecast in forecasts.items()},
    )
    metrics["serving"] = decision
    trained = np.flatnonzero(split.usable)
    metrics["best_epoch"] = result.best_epoch
    metrics["validation_windows"] = int(len(split.val_starts))
    metrics["scored_windows"] = int(decided.sum())
    metrics["series"] = int(len(trained))
    metrics["skipped_series"] = skipped
    modelled_targets = serving.targets_of(modelled, split.val_starts, lookback, horizon)
    primary = naive_name(data_cfg.season, data_cfg.season)
    metrics["intervals"] = interval_metrics(
        windows,
        modelled_targets,
        {
            "served": served.point,
            primary: transforms.forward(data_cfg.transform, naive[primary]),
        },
        served,
        config,
    )
    # float32, as the model directory stores them: a model in memory (the Python API's) serves
    # the intervals it serves once saved and loaded.
    scores = (
        None
        if quantiles
        else (np.abs(served.point - modelled_targets) / served.spread[:, None]).astype(np.float32)
    )

    history = pd.DataFrame([dataclasses.asdict(r) for r in result.history])
    summary = TrainingSummary(
        data_summary={
            "series": len(panel.ids),
            "rows": int(len(panel.values)),
            "last_timestamp": str(max(panel.last_timestamp(i) for i in range(len(panel.ids)))),
            "skipped_series": [panel.ids[i] for i in np.flatnonzero(~split.usable)[:100]],
        },
        n_params=count_params(result.params),
        train_windows=int(len(split.train_starts)),
        devices=tuple(str(d) for d in trainer.mesh.devices.flat),
    )
    artifact = ModelArtifact(
        config,
        result.params,
        scaler,
        features,
        history,
        metrics,
        summary,
        scores,
        by_series,
        served=tuple(decision["steps"]),
    )
    served_errors = serving.scaled_errors(
        {"served": served.original()}, windows.targets, windows.scales
    )["served"]
    halves = tuple(
        serving.table_mase(served_errors[decided & part], windows.series[decided & part])
        if (decided & part).any()
        else float("nan")
        for part in (windows.earlier, ~windows.earlier)
    )
    return TrainOutcome(artifact, result.stopped_early, result.best_epoch, halves)


def _matching_params(given: Params, fresh: Params) -> Params:
    """`given` cast to the fresh initialisation's dtypes, or a ConfigError if the architectures
    differ."""
    if jax.tree_util.tree_map(np.shape, given) != jax.tree_util.tree_map(np.shape, fresh):
        raise ConfigError(
            "the starting weights do not fit this model (the model options changed the "
            "architecture); use the same model options or train from scratch"
        )
    return jax.tree_util.tree_map(lambda g, f: jnp.asarray(g, f.dtype), given, fresh)


def score_on_validation(
    artifact: ModelArtifact, run: ModelArtifact, panel: Panel
) -> dict[str, dict[str, float]]:
    """Point metrics of `artifact` (an earlier model) on exactly the validation windows of the
    training run that produced `run` from `panel`: the same targets, the same MASE scale, each
    model reading its own lookback before the first target and serving what it serves. This
    makes champion and challenger comparable. Returns {"served": {metric: value}}."""
    mine, theirs = artifact.config.window, run.config.window
    if mine.horizon != theirs.horizon:
        raise ConfigError(f"cannot compare models with horizon {mine.horizon} and {theirs.horizon}")
    split = split_windows(
        panel.offsets, theirs.lookback, theirs.horizon, theirs.val_size, panel.ids
    )
    own_starts = split.val_starts + theirs.lookback - mine.lookback
    if (own_starts < panel.offsets[split.val_series]).any():
        raise DataError(
            f"the validation windows start too early for a model with lookback {mine.lookback}"
        )
    windows = ValidationWindows.of(
        panel, split, theirs.lookback, theirs.horizon, run.config.data.season
    )
    # The run's own table scored only the windows MSTL was fitted at when MSTL was weighed.
    scored = np.ones(len(windows.series), dtype=bool)
    if "without_mstl" not in run.metrics["serving"]:
        scored = classical.fitted_at_origin(
            panel,
            windows.series,
            windows.starts,
            theirs.lookback,
            theirs.horizon,
            run.config.data.season_length,
        )
    windows = serving.take(windows, scored)
    series = windows.series
    starts = own_starts[scored] - panel.offsets[series]
    val = Forecaster.of(artifact).forecast(panel, series, starts)
    means, _ = validation_metrics(panel, windows, {"served": val.original()})
    return means
