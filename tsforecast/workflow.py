"""Train and predict end to end: data -> windows -> compiled training -> metrics -> model directory.

The CLI calls these two functions and only formats what they return.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import artifacts, transforms
from .artifacts import ModelArtifact, Scaler
from . import models
from .baselines import seasonal_naive
from .config import Config, TrainConfig
from .data import Panel, load_panel, read_table
from .errors import ConfigError, DataError
from .features import calendar_names, device_matrix, layout, static_levels
from .metrics import mase_scale, point_metrics
from .models import build_model, count_params
from .strategies import require_supported
from .panel import numeric_column, parse_time
from .train import (
    EpochRecord,
    Params,
    build_programs,
    fit,
    make_loss,
    make_mesh,
    make_optimizer,
    replicate,
)
from .intervals import (
    conformal_bounds,
    interval_columns,
    pinball_loss,
    quantile_index,
    quantile_levels,
    resolve_levels,
    validation_interval_metrics,
)
from .windows import (
    Framing,
    WindowSplit,
    default_val_size,
    rows_needed,
    scale_rows,
    seasonal_naive_source,
    split_windows,
    standardise,
    typical_length,
)

log = logging.getLogger(__name__)


def default_lookback(season: int, shortest: int, horizon: int) -> int:
    """Seven seasons (a week, when the season is a day of hourly or half-hourly data: the
    weekly pattern is then inside every window), else two, whichever first fits in 336 steps;
    never under 96. On short data the longest whole number of seasons that leaves room for
    training and validation."""
    preferred = max([96] + [k * season for k in (7, 2) if k * season <= 336][:1])
    candidates = [preferred] + [season * k for k in range(preferred // season, 0, -1)]
    for lookback in candidates:
        if shortest >= rows_needed(lookback, horizon, default_val_size(shortest, horizon)):
            return lookback
    return preferred  # too short for any: split_windows reports how many rows are needed


def seasonal_naive_windows(
    series: np.ndarray, starts: np.ndarray, lookback: int, horizon: int, season: int
) -> np.ndarray:
    """Seasonal-naive forecasts <float>[n, horizon] for windows starting at local `starts`:
    each step repeats the value one (or more) seasons before it, from inside the lookback."""
    source = starts[:, None] + seasonal_naive_source(lookback, horizon, season)[None, :]
    return series[np.clip(source, 0, None)]


def validation_metrics(
    panel: Panel,
    split_val: dict[int, np.ndarray],
    preds: dict[int, np.ndarray],
    lookback: int,
    horizon: int,
    season: int,
    train_part: np.ndarray,
) -> tuple[dict[str, dict[str, float]], pd.DataFrame]:
    """Per-series point metrics of the model and of seasonal naive on the validation windows,
    and their means over series (as M4 does). MASE is scaled by the in-sample seasonal-naive error.
    Returns (means, one row per series and method)."""
    rows = []
    for i, starts in split_val.items():
        series = panel.series(i).astype(np.float64)
        targets = series[(starts[:, None] + lookback + np.arange(horizon)[None, :])]
        scale = mase_scale(series[: train_part[i]], season)
        naive = seasonal_naive_windows(series, starts, lookback, horizon, season)
        rows.append(
            {
                "unique_id": panel.ids[i],
                "method": "model",
                **point_metrics(targets, preds[i], scale),
            }
        )
        rows.append(
            {
                "unique_id": panel.ids[i],
                "method": "seasonal_naive",
                **point_metrics(targets, naive, scale),
            }
        )
    by_series = pd.DataFrame(rows)
    keys = ["mae", "rmse", "smape", "mase"]
    means = {
        method: {key: float(np.nanmean(group[key])) for key in keys}
        for method, group in by_series.groupby("method", sort=False)
    }
    return means, by_series


def initial_params(
    model, lookback: int, cfg: TrainConfig, width: int = 1, n_future: int = 0, horizon: int = 1
) -> Params:
    """Fresh parameters from `cfg.seed`; for an ensemble, one set per member from seeds
    seed, seed + 1, ... stacked on a leading member axis."""
    members = [
        models.init_params(model, lookback, width, cfg.seed + k, n_future, horizon)
        for k in range(cfg.ensemble)
    ]
    if cfg.ensemble == 1:
        return members[0]
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *members)


def interval_metrics(
    panel: Panel,
    split: WindowSplit,
    local_starts: dict[int, np.ndarray],
    targets: np.ndarray,
    val_preds: np.ndarray,
    quantile_preds: np.ndarray | None,
    std: np.ndarray,
    config: Config,
    season: int,
) -> dict:
    """metrics.json's "intervals": the model's intervals and seasonal naive with conformal ones,
    per level, on the validation windows (targets and point forecasts <float>[n_val, H] in
    the model's units (see tsforecast.transforms), and [n_val, H, Q] quantiles from a quantile
    model), scored in the original units of `panel`."""
    lookback, horizon = config.window.lookback, config.window.horizon
    transform = config.data.transform
    trained = list(local_starts)  # the series with validation windows, in window order
    shape = (len(trained), split.val_size, horizon)
    naive = transforms.forward(
        transform,
        np.stack(
            [
                seasonal_naive_windows(
                    panel.series(i).astype(np.float64), local_starts[i], lookback, horizon, season
                )
                for i in trained
            ]
        ),
    )
    scales = np.asarray(
        [mase_scale(panel.series(i)[: split.train_part[i]], season) for i in trained]
    )
    std = std[trained]
    levels = config.intervals.levels
    bounds = None
    if quantile_preds is not None:
        bounds = {}
        for level in levels:
            lo, hi = quantile_index(levels, level)
            bounds[level] = (
                quantile_preds[..., lo].reshape(shape),
                quantile_preds[..., hi].reshape(shape),
            )
    scored = validation_interval_metrics(
        targets.reshape(shape),
        {"model": val_preds.reshape(shape), "seasonal_naive": naive},
        std,
        scales,
        levels,
        bounds,
        lambda x: transforms.inverse(transform, x),
    )
    return {"method": config.intervals.method, **scored}


@dataclass(frozen=True)
class TrainOutcome:
    artifact: ModelArtifact
    stopped_early: bool
    best_epoch: int


def _framing(config: Config) -> Framing:
    season = config.data.season_length or 1
    if season > config.window.lookback:
        if config.model.residual == "seasonal":
            raise ConfigError(
                f"--residual seasonal needs --lookback of at least the season length {season}, "
                f"got {config.window.lookback}; use a longer --lookback or --residual none"
            )
        # A window shorter than a season still blends in its last value (naive).
        season = 1
    return Framing(config.model.normalize, config.model.residual, season)


def _calendar(config: Config, freq: str) -> tuple[str, ...]:
    return calendar_names(freq) if config.data.calendar else ()


def train_model(
    config: Config,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    init_params: Params | None = None,
) -> TrainOutcome:
    """Read the data in `config`, train, and return the finished artifact (not yet saved).

    init_params: start from these parameters (a previous fit of the same model, a warm start)
    instead of a fresh initialisation from the seed; a ConfigError if their shapes differ.
    """
    panel, data_cfg = load_panel(config.data)
    data_cfg = dataclasses.replace(
        data_cfg, transform=transforms.resolve(data_cfg.transform, panel.values)
    )
    modelled = transforms.transform_panel(data_cfg.transform, panel)
    horizon = config.window.horizon
    typical = typical_length(panel.offsets)
    lookback = config.window.lookback or default_lookback(data_cfg.season_length, typical, horizon)
    split = split_windows(
        panel.offsets, lookback, horizon, config.window.val_size, panel.ids, data_cfg.strict
    )
    skipped = int((~split.usable).sum())
    if skipped:
        log.warning(
            "%d of %d series have fewer than the %d rows training needs (lookback + 2 x horizon + validation - 1) "
            "and are left out of training (--strict refuses them)",
            skipped,
            len(panel.ids),
            rows_needed(lookback, horizon, split.val_size),
        )
    config = dataclasses.replace(
        config,
        data=data_cfg,
        window=dataclasses.replace(config.window, lookback=lookback, val_size=split.val_size),
    )
    framing = _framing(config)
    numeric = np.column_stack([modelled.values, panel.covariate_matrix()])
    scaled, mean, std = standardise(numeric, panel.offsets, split.train_part)
    levels = static_levels(panel)
    features = layout(
        data_cfg.covariates, data_cfg.future_covariates, _calendar(config, panel.freq), levels
    )
    matrix = device_matrix(panel, scaled, _calendar(config, panel.freq), levels)

    require_supported(config.model.strategy, features.width, framing.active)
    quantiles = (
        quantile_levels(config.intervals.levels) if config.intervals.method == "quantile" else ()
    )
    model = build_model(config.model, horizon, len(quantiles), len(features.future), framing.season)
    loss = pinball_loss(quantiles) if quantiles else make_loss(config.train.loss)
    fresh = initial_params(
        model, lookback, config.train, features.width, len(features.future), horizon
    )
    params = fresh if init_params is None else _matching_params(init_params, fresh)
    tx = make_optimizer(config.train)
    mesh = make_mesh(config.train.batch_size)
    programs = build_programs(
        model,
        tx,
        loss,
        lookback,
        horizon,
        config.train.batch_size,
        mesh,
        future=features.future,
        framing=framing,
        epoch_windows=config.train.epoch_windows,
        ensemble=config.train.ensemble,
        strategy=config.model.strategy,
    )
    params, values, train_starts, val_starts = replicate(
        mesh, params, matrix, split.train_starts, split.val_starts
    )
    log.info(
        "%d training and %d validation windows on %d device(s)",
        len(split.train_starts),
        len(split.val_starts),
        mesh.size,
    )

    result = fit(programs, params, tx, values, train_starts, val_starts, config.train, on_epoch)

    # Validation forecasts and targets in the model's units (transformed, not standardised).
    raw = np.asarray(programs.predict(result.params, values, val_starts), dtype=np.float64)
    val_std, val_mean = std[split.val_series, :1], mean[split.val_series, :1]
    point = raw[..., len(quantiles) // 2] if quantiles else raw
    val_preds = point * val_std + val_mean
    trained = np.flatnonzero(split.usable)
    local_starts = {i: split.val_starts[split.val_series == i] - panel.offsets[i] for i in trained}
    original = transforms.inverse(data_cfg.transform, val_preds)
    preds = {i: original[split.val_series == i] for i in trained}
    metrics, by_series = validation_metrics(
        panel, local_starts, preds, lookback, horizon, data_cfg.season_length, split.train_part
    )
    metrics["best_epoch"] = result.best_epoch
    metrics["validation_windows"] = int(len(split.val_starts))
    metrics["series"] = int(len(trained))
    metrics["skipped_series"] = skipped
    targets = modelled.values[split.val_starts[:, None] + lookback + np.arange(horizon)].astype(
        np.float64
    )
    quantile_preds = raw * val_std[..., None] + val_mean[..., None] if quantiles else None
    metrics["intervals"] = interval_metrics(
        panel,
        split,
        local_starts,
        targets,
        val_preds,
        quantile_preds,
        std[:, 0],
        config,
        data_cfg.season_length,
    )
    scores = None if quantiles else np.abs(val_preds - targets) / val_std

    history = pd.DataFrame([dataclasses.asdict(r) for r in result.history])
    info = {
        "data_summary": {
            "series": len(panel.ids),
            "rows": int(len(panel.values)),
            "last_timestamp": str(max(panel.last_timestamp(i) for i in range(len(panel.ids)))),
            "skipped_series": [panel.ids[i] for i in np.flatnonzero(~split.usable)[:100]],
        },
        "features": list(features.names),
        "future_features": list(features.future),
        "static_levels": levels,
        "n_params": count_params(result.params),
        "train_windows": int(len(split.train_starts)),
        "devices": [str(d) for d in mesh.devices.flat],
    }
    scaler = Scaler(
        panel.ids, mean[:, 0], std[:, 0], data_cfg.numeric_covariates, mean[:, 1:], std[:, 1:]
    )
    artifact = ModelArtifact(
        config, result.params, scaler, history, metrics, info, scores, by_series
    )
    return TrainOutcome(artifact, result.stopped_early, result.best_epoch)


def _matching_params(given: Params, fresh: Params) -> Params:
    """`given` cast to the fresh initialisation's dtypes, or a ConfigError if the architectures differ."""
    if jax.tree_util.tree_map(np.shape, given) != jax.tree_util.tree_map(np.shape, fresh):
        raise ConfigError(
            "the starting weights do not fit this model (the model options changed the architecture); "
            "use the same model options or train from scratch"
        )
    return jax.tree_util.tree_map(lambda g, f: jnp.asarray(g, f.dtype), given, fresh)


def read_future(path: str, artifact: ModelArtifact, panel: Panel) -> np.ndarray:
    """The future-known covariates of the `horizon` steps after each series of the panel, from a
    file with the training file's id and time columns: <float32>[n_series * horizon, k]. Every
    series must have every step; the error names the ids and timestamps that are missing."""
    cfg, horizon = artifact.config.data, artifact.config.window.horizon
    df = read_table(path)
    df.columns = [str(c) for c in df.columns]
    multi = not cfg.wide and cfg.id_col is not None
    for column in (cfg.time_col, *((cfg.id_col,) if multi else ()), *cfg.future_covariates):
        if column not in df.columns:
            raise DataError(
                f"--future file {path} has no column {column!r}; the columns are: {', '.join(df.columns)}"
            )
    time = parse_time(df, cfg.time_col)
    keys = pd.DataFrame(
        {
            "id": df[cfg.id_col].astype("string").fillna("").to_numpy(object)
            if multi
            else panel.ids[0],
            "ds": time.asi8,
        }
    )
    values = np.column_stack(
        [
            numeric_column(
                df, name, "future covariate", time, keys["id"].to_numpy() if multi else None
            )
            for name in cfg.future_covariates
        ]
    )
    keys = keys.assign(row=np.arange(len(df))).drop_duplicates(["id", "ds"], keep="last")
    wanted = pd.DataFrame(
        {
            "id": np.repeat(np.asarray(panel.ids, dtype=object), horizon),
            "ds": np.concatenate(
                [
                    panel.future_timestamps(i, horizon).as_unit("ns").asi8
                    for i in range(len(panel.ids))
                ]
            ),
        }
    )
    found = wanted.merge(keys, on=["id", "ds"], how="left")["row"].to_numpy()
    missing = np.isnan(found)
    if not missing.any():
        picked = values[found.astype(np.int64)]
        missing = np.isnan(picked).any(axis=1)
    if missing.any():
        ids = list(dict.fromkeys(wanted["id"][missing]))
        first = int(np.argmax(missing))
        tz = panel.starts[0].tz
        raise DataError(
            f"--future file {path} lacks the future covariates of {int(missing.sum())} of the {len(wanted)} forecast steps: "
            f"series {', '.join(map(repr, ids[:5]))}{' ...' if len(ids) > 5 else ''}, first at "
            f"{pd.Timestamp(int(wanted['ds'][first]), tz=tz)} ({horizon} steps after each series' last timestamp needed)"
        )
    return picked.astype(np.float32)


def _extended(panel: Panel, horizon: int, future: np.ndarray, n_past: int) -> Panel:
    """The panel with `horizon` rows appended to every series for the future-known features:
    target and past covariates 0 (never read), future covariates from `future`."""
    lengths = panel.lengths + horizon
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    old_rows = np.arange(len(panel.values)) + np.repeat(
        offsets[:-1] - panel.offsets[:-1], panel.lengths
    )
    new_rows = np.setdiff1d(np.arange(int(offsets[-1])), old_rows)
    values = np.zeros(int(offsets[-1]), np.float32)
    values[old_rows] = panel.values
    covariates = np.zeros((int(offsets[-1]), panel.covariate_matrix().shape[1]), np.float32)
    covariates[old_rows] = panel.covariate_matrix()
    covariates[new_rows, n_past:] = future
    return dataclasses.replace(panel, values=values, offsets=offsets, covariates=covariates)


def _subpanel(panel: Panel, picks: np.ndarray) -> Panel:
    """The series at positions `picks` (ids may repeat, as origins of one series do)."""
    rows = np.concatenate([np.arange(panel.offsets[i], panel.offsets[i + 1]) for i in picks])
    lengths = panel.lengths[picks]
    return dataclasses.replace(
        panel,
        ids=tuple(panel.ids[i] for i in picks),
        values=panel.values[rows],
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        starts=tuple(panel.starts[i] for i in picks),
        covariates=None if panel.covariates is None else panel.covariates[rows],
        static=tuple(panel.static[i] for i in picks) if panel.static else (),
    )


def _quantiles(artifact: ModelArtifact) -> tuple[float, ...]:
    intervals = artifact.config.intervals
    return quantile_levels(intervals.levels) if intervals.method == "quantile" else ()


def predict_at(
    artifact: ModelArtifact, panel: Panel, mean: np.ndarray, std: np.ndarray, starts: np.ndarray
) -> np.ndarray:
    """The model's raw (standardised) forecasts from the windows at `starts` (offsets into
    `panel`, whose series are standardised with `mean`, `std` <float>[n_series, features]):
    <float64>[n, horizon], or [n, horizon, quantiles] for a quantile model."""
    config = artifact.config
    lookback, horizon = config.window.lookback, config.window.horizon
    numeric = np.column_stack([panel.values, panel.covariate_matrix()])
    scaled = scale_rows(numeric, panel.offsets, mean, std)
    matrix = device_matrix(
        panel, scaled, _calendar(config, panel.freq), artifact.info.get("static_levels", {})
    )
    future_cols = tuple(artifact.info.get("future_features", ()))
    framing = _framing(config)
    model = build_model(
        config.model, horizon, len(_quantiles(artifact)), len(future_cols), framing.season
    )
    mesh = make_mesh(1)
    programs = build_programs(
        model,
        make_optimizer(config.train),
        make_loss(config.train.loss),
        lookback,
        horizon,
        1,
        mesh,
        future=future_cols,
        framing=framing,
        ensemble=config.train.ensemble,
        strategy=config.model.strategy,
    )
    # Onto this program's one device: an artifact fresh from training holds its parameters on
    # every device of the training mesh.
    (params,) = replicate(mesh, artifact.params)
    return np.asarray(
        programs.predict(params, jnp.asarray(matrix), jnp.asarray(starts, dtype=np.int32)),
        dtype=np.float64,
    )


def score_on_validation(artifact: ModelArtifact, run: ModelArtifact) -> dict[str, dict[str, float]]:
    """Point metrics of `artifact` (an earlier model) on exactly the validation windows of the
    training run that produced `run`: the same targets, the same MASE scale, each model reading
    its own lookback before the first target. This makes champion and challenger comparable."""
    mine, theirs = artifact.config.window, run.config.window
    if mine.horizon != theirs.horizon:
        raise ConfigError(f"cannot compare models with horizon {mine.horizon} and {theirs.horizon}")
    panel, data_cfg = load_panel(run.config.data)
    split = split_windows(
        panel.offsets, theirs.lookback, theirs.horizon, theirs.val_size, panel.ids
    )
    own_starts = split.val_starts + theirs.lookback - mine.lookback
    if (own_starts < panel.offsets[split.val_series]).any():
        raise DataError(
            f"the validation windows start too early for a model with lookback {mine.lookback}"
        )
    transform = artifact.config.data.transform
    modelled = transforms.transform_panel(transform, panel)
    mean, std, _ = artifact.scaler.for_panel(modelled)
    raw = predict_at(artifact, modelled, mean, std, own_starts)
    quantiles = _quantiles(artifact)
    raw = raw[..., len(quantiles) // 2] if quantiles else raw
    series = split.val_series
    val_preds = transforms.inverse(
        transform, raw * std[series, 0][:, None] + mean[series, 0][:, None]
    )
    used = np.unique(series)
    local_starts = {i: split.val_starts[series == i] - panel.offsets[i] for i in used}
    preds = {i: val_preds[series == i] for i in used}
    means, _ = validation_metrics(
        panel,
        local_starts,
        preds,
        theirs.lookback,
        theirs.horizon,
        data_cfg.season_length,
        split.train_part,
    )
    return means


def forecast(
    artifact: ModelArtifact,
    panel: Panel,
    levels: tuple[float, ...] = (),
    future_path: str | None = None,
) -> pd.DataFrame:
    """The next `horizon` steps after the end of each series: rows `unique_id, ds, y_hat, method`
    in the original units, and `y_hat-lo-<level>, y_hat-hi-<level>` for each of `levels`
    (percent). In a panel, series with fewer rows than the lookback get seasonal naive (method
    `seasonal_naive`, no interval) unless the model was trained with --strict; the others the model."""
    config = artifact.config
    lookback, horizon, season = (
        config.window.lookback,
        config.window.horizon,
        config.data.season_length or 1,
    )
    scores = artifact.conformal_scores
    levels = resolve_levels(levels, config.intervals, None if scores is None else scores.shape[0])
    short = panel.lengths < lookback
    # Only a panel's output has the `method` column that flags a seasonal-naive forecast.
    if short.any() and (config.data.strict or config.data.id_col is None):
        i = int(np.argmax(short))
        raise DataError(
            f"series {panel.ids[i]!r} has {int(panel.lengths[i])} rows; the model needs the last {lookback} to forecast"
        )
    # One frame per series, in the panel's order.
    frames: list[pd.DataFrame | None] = [
        pd.DataFrame(
            {
                "unique_id": panel.ids[i],
                "ds": panel.future_timestamps(i, horizon),
                "y_hat": seasonal_naive(panel.series(i), horizon, season),
                "method": "seasonal_naive",
            }
        )
        if is_short
        else None
        for i, is_short in enumerate(short)
    ]
    if short.all():
        return pd.concat(frames, ignore_index=True)
    modelled = np.flatnonzero(~short)
    if short.any():
        panel = _subpanel(panel, modelled)
    future = (
        read_future(future_path, artifact, panel)
        if config.data.future_covariates and future_path
        else None
    )
    if config.data.future_covariates and future is None:
        raise DataError(
            f"the model uses future covariates ({', '.join(config.data.future_covariates)}); give their values for the "
            f"{horizon} steps after each series with --future FILE"
        )
    transform = config.data.transform
    inputs = transforms.transform_panel(transform, panel)
    mean, std, known = artifact.scaler.for_panel(inputs)
    if not known.all():
        log.info(
            "%d series not seen in training: standardised with their own history",
            int((~known).sum()),
        )
    future_cols = tuple(artifact.info.get("future_features", ()))
    if future_cols:
        if future is None:  # calendar features only
            future = np.zeros((len(panel.ids) * horizon, 0), np.float32)
        inputs = _extended(inputs, horizon, future, len(config.data.covariates))
    starts = (inputs.offsets[1:] - lookback - (horizon if future_cols else 0)).astype(np.int32)
    raw = predict_at(artifact, inputs, mean, std, starts)
    trained_levels = config.intervals.levels
    quantiles = _quantiles(artifact)
    mean, std = mean[:, 0], std[:, 0]
    if quantiles:
        raw = raw * std[:, None, None] + mean[:, None, None]
        preds = raw[..., len(quantiles) // 2]
    else:
        preds = raw * std[:, None] + mean[:, None]
    columns = {"y_hat": preds}
    for level in levels:
        if quantiles:
            lo_index, hi_index = quantile_index(trained_levels, level)
            lo, hi = raw[..., lo_index], raw[..., hi_index]
        else:
            lo, hi = conformal_bounds(preds, scores, std, level)
        columns.update(zip(interval_columns(level), (lo, hi)))
    columns = {name: transforms.inverse(transform, values) for name, values in columns.items()}
    for i, (row, series_id) in enumerate(zip(modelled, panel.ids)):
        frames[row] = pd.DataFrame(
            {
                "unique_id": series_id,
                "ds": panel.future_timestamps(i, horizon),
                **{k: v[i] for k, v in columns.items()},
                "method": "model",
            }
        )
    return pd.concat(frames, ignore_index=True)


def load_for_prediction(artifact: ModelArtifact, path: str | None) -> Panel:
    """Read the data to forecast from (by default the training file) with the training schema."""
    saved = artifact.config.data
    panel, _ = load_panel(dataclasses.replace(saved, path=path or saved.path))
    return panel


def predict(
    model_dir: str,
    data_path: str | None = None,
    levels: tuple[float, ...] = (),
    ids: tuple[str, ...] = (),
    future_path: str | None = None,
) -> tuple[ModelArtifact, Panel, pd.DataFrame]:
    """Load the model, read the data (only the series `ids` when given), forecast them all in one call."""
    artifact = artifacts.load(model_dir)
    # Bad levels are reported before the data is read: they are the cheaper mistake to fix.
    scores = artifact.conformal_scores
    resolve_levels(levels, artifact.config.intervals, None if scores is None else scores.shape[0])
    panel = load_for_prediction(artifact, data_path)
    if ids:
        panel = panel.select(list(dict.fromkeys(ids)))
    return artifact, panel, forecast(artifact, panel, levels, future_path)
