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

from . import transforms
from .artifacts import ModelArtifact, Scaler, TrainingSummary
from .classical import NETWORK_AND_MSTL, fitted_at_origin, joins_serving
from .config import Config
from .data import Panel
from .errors import ConfigError, DataError
from .features import calendar_names, device_matrix, layout, static_levels
from .forecast import (
    NETWORK,
    DeviceInputs,
    Forecaster,
    WindowForecasts,
    naive_name,
    quantiles_of,
    serve,
    served_alternatives,
)
from .intervals import quantile_index, validation_interval_metrics
from .metrics import mase_scale, mean_defined, point_metrics
from .models import count_params
from .strategies import require_supported
from .train import EpochRecord, Params, build_trainer
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


def validation_targets(panel: Panel, split: WindowSplit, lookback: int, horizon: int) -> np.ndarray:
    """<float64>[n_val, horizon]: the values the validation windows forecast, in `panel`'s
    units."""
    rows = split.val_starts[:, None] + lookback + np.arange(horizon)[None, :]
    return panel.values[rows].astype(np.float64)


def mase_scales(panel: Panel, split: WindowSplit, season: int) -> np.ndarray:
    """<float64>[n_val]: the MASE scale (in-sample seasonal-naive error of the training part) of
    each validation window's series."""
    scales = {
        i: mase_scale(panel.series(i)[: split.train_part[i]], season)
        for i in np.unique(split.val_series)
    }
    return np.asarray([scales[i] for i in split.val_series])


def earlier_half(split: WindowSplit) -> np.ndarray:
    """<bool>[n_val]: the earlier half of every series' validation windows, where choices are
    fitted (the serving choice, conformal radii in metrics.json) to be checked on the later."""
    return np.arange(len(split.val_starts)) % split.val_size < split.val_size // 2


def scaled_errors(
    forecasts: dict[str, np.ndarray], targets: np.ndarray, scales: np.ndarray
) -> dict[str, np.ndarray]:
    """Each method's absolute errors <float64>[n_val, H] on the validation windows over their
    MASE scales (`mase_scales`). A window whose series is constant in its training part has no
    scale: its errors are undefined (NaN) for every method, not infinite for the one that missed
    the constant by a rounding error, which made seasonal naive serve every step of a panel
    holding one constant series."""
    defined = np.where(scales > 0, scales, np.nan)[:, None]
    return {name: np.abs(f - targets) / defined for name, f in forecasts.items()}


def choose_served(
    errors: dict[str, np.ndarray], earlier: np.ndarray, incumbent: str = NETWORK
) -> tuple[tuple[str, ...], dict]:
    """What a model serves at each horizon step, from scaled absolute errors <float>[n_val, H]
    on the validation windows of the network (`NETWORK`) and each alternative it can serve
    (`forecast.served_alternatives`: each seasonal naive, and where MSTL joins, MSTL and the
    mean of the network and MSTL). The `incumbent` (the network, or where MSTL joins the mean of
    the network and MSTL) serves a step unless another method's mean error is below its own on
    both the `earlier` windows and the later ones: a method that wins one half by chance seldom
    wins the other too (docs/defaults.md, "Serving against MSTL"). Of the methods that
    pass, the one with the lowest mean error over all the windows serves. The mean of two
    different forecasters is the incumbent where it can be, because on the validation months of
    ETTh1 and ETTh2 it beat the network and MSTL alike while the validation windows of training
    could not tell them apart (docs/defaults.md). Returns (method per step, how it was
    decided)."""
    horizon = errors[NETWORK].shape[1]
    everywhere = (NETWORK,) * horizon
    if not earlier.any() or earlier.all():
        return everywhere, {"decided_on": "nothing: one validation window per series is too few"}
    if np.isnan(errors[NETWORK]).all():
        return everywhere, {
            "decided_on": "nothing: MASE is undefined on every validation window (every series "
            "is constant in its training part)"
        }

    def per_step(values: np.ndarray) -> np.ndarray:  # <float>[3, H]: earlier, later, all
        return np.stack(
            [mean_defined(values[part], axis=0) for part in (earlier, ~earlier)]
            + [mean_defined(values, axis=0)]
        )

    scores = {name: per_step(values) for name, values in errors.items()}
    network = scores[NETWORK]
    steps = []
    for h in range(horizon):
        passing = [
            name
            for name, score in scores.items()
            if name != incumbent and (score[:2, h] < scores[incumbent][:2, h]).all()
        ]
        steps.append(min(passing, key=lambda name: scores[name][2, h]) if passing else incumbent)
    served = per_step(np.stack([errors[name][:, h] for h, name in enumerate(steps)], axis=1))
    halves = {
        name: {"earlier": float(mean_defined(score[0])), "later": float(mean_defined(score[1]))}
        for name, score in (("served", served), (NETWORK, network), (incumbent, scores[incumbent]))
    }
    report = {
        "decided_on": (
            f"the earlier {int(earlier.sum())} and the later {int((~earlier).sum())} "
            f"validation windows, against {incumbent}"
        ),
        "half_mase": halves,
    }
    return tuple(steps), report


def validation_metrics(
    panel: Panel,
    split: WindowSplit,
    forecasts: dict[str, np.ndarray],
    targets: np.ndarray,
    scales: np.ndarray,
) -> tuple[dict[str, dict[str, float]], pd.DataFrame]:
    """Per-series point metrics of each method's forecasts on the validation windows
    (`forecasts`: {method: <float>[n_val, horizon]} in the original units, in the order of the
    split's validation windows, like `validation_targets`) and their means over series (as M4
    does). MASE is scaled by `scales` (`mase_scales`). Returns (means, one row per series and
    method)."""
    rows = []
    for i in np.unique(split.val_series):
        mine = split.val_series == i
        for method, forecast in forecasts.items():
            rows.append(
                {
                    "unique_id": panel.ids[i],
                    "method": method,
                    **point_metrics(targets[mine], forecast[mine], float(scales[mine][0])),
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
    split: WindowSplit,
    targets: np.ndarray,
    points: dict[str, np.ndarray],
    served: WindowForecasts,
    scales: np.ndarray,
    config: Config,
) -> dict:
    """metrics.json's "intervals": conformal intervals around each of `points` ({method:
    <float>[n_val, H]} in the model's units, like `targets`), except that the served forecasts
    of a quantile model keep their own quantiles, per level, on the validation windows, scored
    in the original units, each conformal radius a multiple of its window's `served.spread`.
    scales: <float>[n_val], each window's MASE scale."""
    horizon = config.window.horizon
    trained = np.flatnonzero(split.usable)  # the series with validation windows, in window order
    shape = (len(trained), split.val_size, horizon)
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
        scales.reshape(shape[:2])[:, 0],
        levels,
        bounds,
        served.original,
    )
    return {"method": config.intervals.method, **scored}


def served_forecasts(
    panel: Panel,
    split: WindowSplit,
    network: WindowForecasts,
    targets: np.ndarray,
    scales: np.ndarray,
    config: Config,
) -> tuple[WindowForecasts, dict[str, np.ndarray], dict]:
    """What the model serves on the validation windows (see `choose_served`; the network alone
    with --no-fallback), the baselines it was weighed against in the original units (seasonal
    naive at every period, and MSTL where it joins: `classical.joins_serving`), and how the
    serving was decided (metrics.json's "serving"). targets, scales: `validation_targets` and
    `mase_scales`."""
    series, horizon = split.val_series, config.window.horizon
    starts = split.val_starts - panel.offsets[series]
    without_mstl = (
        joins_serving(len(np.unique(series)), config.window.lookback, config.data.season_length)
        if config.train.fallback
        else "--no-fallback"
    )
    if without_mstl is None:
        log.info("fitting MSTL on the validation windows (one fit per horizon of them)")
    alternatives = served_alternatives(
        panel, series, starts, config, network.original(), with_mstl=without_mstl is None
    )
    if config.train.fallback:
        errors = scaled_errors({NETWORK: network.original(), **alternatives}, targets, scales)
        incumbent, weighed = NETWORK, np.ones(len(series), dtype=bool)
        if without_mstl is None:
            # Between its fits MSTL forecasts from up to a horizon before the origin, which
            # would weigh it down unfairly: only the windows it was fitted at decide.
            incumbent = NETWORK_AND_MSTL
            weighed = fitted_at_origin(series, starts, config.window.lookback, horizon)
        steps, decision = choose_served(
            {name: e[weighed] for name, e in errors.items()},
            earlier_half(split)[weighed],
            incumbent,
        )
        decision["candidates"] = list(errors)
        if without_mstl is None:
            decision["decided_on"] += " that MSTL was fitted at"
    else:
        steps, decision = (NETWORK,) * horizon, {"decided_on": "--no-fallback"}
    if without_mstl is not None:
        decision["without_mstl"] = without_mstl
    modelled = {name: transforms.forward(network.transform, f) for name, f in alternatives.items()}
    baselines = {name: f for name, f in alternatives.items() if name != NETWORK_AND_MSTL}
    return serve(network, steps, modelled), baselines, {"steps": list(steps), **decision}


@dataclass(frozen=True)
class TrainOutcome:
    artifact: ModelArtifact
    stopped_early: bool
    best_epoch: int


def _resolved(panel: Panel, config: Config) -> tuple[Config, WindowSplit]:
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
    return dataclasses.replace(config, data=data_cfg, window=window), split


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
    config, split = _resolved(panel, config)
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
    calendar = calendar_names(panel.freq) if data_cfg.calendar else ()
    levels = static_levels(panel)
    features = layout(data_cfg.covariates, data_cfg.future_covariates, calendar, levels)
    matrix = device_matrix(panel, scaled, calendar, levels)

    quantiles = quantiles_of(config)
    trainer = build_trainer(config, features.future, quantiles)
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
    result = trainer.fit(params, values, train_starts, val_starts, on_epoch)

    scaler = Scaler(
        panel.ids, mean[:, 0], std[:, 0], data_cfg.numeric_covariates, mean[:, 1:], std[:, 1:]
    )
    # Scored by the training program itself, on the training mesh and the device matrix it
    # trained on.
    forecaster = Forecaster(config, result.params, scaler, features, trainer.predict, trainer.mesh)
    inputs = DeviceInputs(values, panel.offsets, mean[:, 0], std[:, 0], modelled.values)
    series = split.val_series
    network = forecaster.forecast_inputs(inputs, series, split.val_starts - panel.offsets[series])
    targets = validation_targets(panel, split, lookback, horizon)
    scales = mase_scales(panel, split, data_cfg.season)
    served, naive, serving = served_forecasts(panel, split, network, targets, scales, config)
    metrics, by_series = validation_metrics(
        panel,
        split,
        {NETWORK: network.original(), "served": served.original(), **naive},
        targets,
        scales,
    )
    metrics["serving"] = serving
    trained = np.flatnonzero(split.usable)
    metrics["best_epoch"] = result.best_epoch
    metrics["validation_windows"] = int(len(split.val_starts))
    metrics["series"] = int(len(trained))
    metrics["skipped_series"] = skipped
    modelled_targets = validation_targets(modelled, split, lookback, horizon)
    primary = naive_name(data_cfg.season, data_cfg.season)
    metrics["intervals"] = interval_metrics(
        split,
        modelled_targets,
        {
            "served": served.point,
            primary: transforms.forward(data_cfg.transform, naive[primary]),
        },
        served,
        scales,
        config,
    )
    scores = None if quantiles else np.abs(served.point - modelled_targets) / served.spread[:, None]

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
        served=served.steps,
    )
    return TrainOutcome(artifact, result.stopped_early, result.best_epoch)


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
    series = split.val_series
    val = Forecaster.of(artifact).forecast(panel, series, own_starts - panel.offsets[series])
    means, _ = validation_metrics(
        panel,
        split,
        {"served": val.original()},
        validation_targets(panel, split, theirs.lookback, theirs.horizon),
        mase_scales(panel, split, run.config.data.season),
    )
    return means
