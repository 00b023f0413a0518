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

from . import artifacts
from .artifacts import ModelArtifact, Scaler
from .config import Config, DataConfig, TrainConfig
from .data import Panel, load_panel
from .errors import DataError
from .metrics import mase_scale, point_metrics
from . import models
from .models import build_model, count_params
from .strategies import require_supported
from .train import EpochRecord, Params, build_programs, fit, make_loss, make_mesh, make_optimizer, replicate
from .intervals import (
    conformal_bounds, interval_columns, pinball_loss, quantile_index, quantile_levels, resolve_levels,
    validation_interval_metrics,
)
from .windows import WindowSplit, default_val_size, rows_needed, split_windows, standardise

log = logging.getLogger(__name__)


def default_lookback(season: int, shortest: int, horizon: int) -> int:
    """96 steps (or two seasons when that is longer and still modest); on short data the
    longest whole number of seasons that leaves room for training and validation."""
    preferred = max(96, 2 * season) if 2 * season <= 336 else 96
    candidates = [preferred] + [season * k for k in range(preferred // season, 0, -1)]
    for lookback in candidates:
        if shortest >= rows_needed(lookback, horizon, default_val_size(shortest, horizon)):
            return lookback
    return preferred  # too short for any: split_windows reports how many rows are needed


def seasonal_naive_windows(series: np.ndarray, starts: np.ndarray, lookback: int, horizon: int, season: int) -> np.ndarray:
    """Seasonal-naive forecasts <float>[n, horizon] for windows starting at local `starts`:
    each step repeats the value one (or more) seasons before it, from inside the lookback."""
    steps = np.arange(horizon)
    first_target = starts[:, None] + lookback
    source = first_target + steps[None, :] - season * (steps[None, :] // season + 1)
    return series[np.clip(source, 0, None)]


def validation_metrics(
    panel: Panel, split_val: dict[int, np.ndarray], preds: dict[int, np.ndarray], lookback: int, horizon: int,
    season: int, train_part: np.ndarray,
) -> dict[str, dict[str, float]]:
    """Per-series point metrics of the model and of seasonal naive on the validation windows,
    averaged over series (as M4 does). MASE is scaled by the in-sample seasonal-naive error."""
    per_method: dict[str, list[dict[str, float]]] = {"model": [], "seasonal_naive": []}
    for i, starts in split_val.items():
        series = panel.series(i).astype(np.float64)
        targets = series[(starts[:, None] + lookback + np.arange(horizon)[None, :])]
        scale = mase_scale(series[: train_part[i]], season)
        per_method["model"].append(point_metrics(targets, preds[i], scale))
        per_method["seasonal_naive"].append(
            point_metrics(targets, seasonal_naive_windows(series, starts, lookback, horizon, season), scale)
        )
    return {
        method: {key: float(np.nanmean([row[key] for row in rows])) for key in rows[0]}
        for method, rows in per_method.items()
    }


def initial_params(model, lookback: int, cfg: TrainConfig) -> Params:
    """Fresh parameters from `cfg.seed`; for an ensemble, one set per member from seeds
    seed, seed + 1, ... stacked on a leading member axis."""
    members = [models.init_params(model, lookback, 1, cfg.seed + k) for k in range(cfg.ensemble)]
    if cfg.ensemble == 1:
        return members[0]
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *members)


def interval_metrics(
    panel: Panel, split: WindowSplit, local_starts: dict[int, np.ndarray], targets: np.ndarray, val_preds: np.ndarray,
    quantile_preds: np.ndarray | None, std: np.ndarray, config: Config, season: int,
) -> dict:
    """metrics.json's "intervals": the model's intervals and seasonal naive with conformal ones,
    per level, on the validation windows (targets and point forecasts <float>[n_val, H] in
    original units, and [n_val, H, Q] quantiles from a quantile model)."""
    lookback, horizon = config.window.lookback, config.window.horizon
    n_series = len(panel.ids)
    shape = (n_series, split.val_size, horizon)
    naive = np.stack([
        seasonal_naive_windows(panel.series(i).astype(np.float64), local_starts[i], lookback, horizon, season)
        for i in range(n_series)
    ])
    scales = np.asarray([mase_scale(panel.series(i)[: split.train_part[i]], season) for i in range(n_series)])
    levels = config.intervals.levels
    bounds = None
    if quantile_preds is not None:
        bounds = {}
        for level in levels:
            lo, hi = quantile_index(levels, level)
            bounds[level] = (quantile_preds[..., lo].reshape(shape), quantile_preds[..., hi].reshape(shape))
    scored = validation_interval_metrics(
        targets.reshape(shape), {"model": val_preds.reshape(shape), "seasonal_naive": naive}, std, scales, levels,
        bounds,
    )
    return {"method": config.intervals.method, **scored}


@dataclass(frozen=True)
class TrainOutcome:
    artifact: ModelArtifact
    stopped_early: bool
    best_epoch: int


def train_model(
    config: Config, on_epoch: Callable[[EpochRecord], None] | None = None, init_params: Params | None = None
) -> TrainOutcome:
    """Read the data in `config`, train, and return the finished artifact (not yet saved).

    init_params: start from these parameters (a previous fit of the same model) instead of a
    fresh initialisation from the seed.
    """
    panel, data_cfg = load_panel(config.data)
    horizon = config.window.horizon
    lookback = config.window.lookback or default_lookback(data_cfg.season_length, int(panel.lengths.min()), horizon)
    split = split_windows(panel.offsets, lookback, horizon, config.window.val_size)
    config = dataclasses.replace(
        config,
        data=data_cfg,
        window=dataclasses.replace(config.window, lookback=lookback, val_size=split.val_size),
    )
    scaled, mean, std = standardise(panel.values, panel.offsets, split.train_part)

    inputs = scaled[:, None]
    require_supported(config.model.strategy, inputs.shape[1])
    quantiles = quantile_levels(config.intervals.levels) if config.intervals.method == "quantile" else ()
    model = build_model(config.model, horizon, len(quantiles))
    loss = pinball_loss(quantiles) if quantiles else make_loss(config.train.loss)
    params = init_params if init_params is not None else initial_params(model, lookback, config.train)
    tx = make_optimizer(config.train)
    mesh = make_mesh(config.train.batch_size)
    programs = build_programs(
        model, tx, loss, lookback, horizon, config.train.batch_size, mesh, config.train.ensemble, config.model.strategy
    )
    params, values, train_starts, val_starts = replicate(mesh, params, inputs, split.train_starts, split.val_starts)
    log.info("%d training and %d validation windows on %d device(s)", len(split.train_starts), len(split.val_starts), mesh.size)

    result = fit(programs, params, tx, values, train_starts, val_starts, config.train, on_epoch)

    raw = np.asarray(programs.predict(result.params, values, val_starts), dtype=np.float64)
    val_std, val_mean = std[split.val_series, None], mean[split.val_series, None]
    point = raw[..., len(quantiles) // 2] if quantiles else raw
    val_preds = point * val_std + val_mean
    local_starts = {i: split.val_starts[split.val_series == i] - panel.offsets[i] for i in range(len(panel.ids))}
    preds = {i: val_preds[split.val_series == i] for i in range(len(panel.ids))}
    metrics = validation_metrics(panel, local_starts, preds, lookback, horizon, data_cfg.season_length, split.train_part)
    metrics["best_epoch"] = result.best_epoch
    metrics["validation_windows"] = int(len(split.val_starts))
    targets = panel.values[split.val_starts[:, None] + lookback + np.arange(horizon)].astype(np.float64)
    quantile_preds = raw * val_std[..., None] + val_mean[..., None] if quantiles else None
    metrics["intervals"] = interval_metrics(
        panel, split, local_starts, targets, val_preds, quantile_preds, std, config, data_cfg.season_length
    )
    scores = None if quantiles else np.abs(val_preds - targets) / val_std

    history = pd.DataFrame([dataclasses.asdict(r) for r in result.history])
    info = {
        "data_summary": {
            "series": len(panel.ids),
            "rows": int(len(panel.values)),
            "last_timestamp": str(max(panel.last_timestamp(i) for i in range(len(panel.ids)))),
        },
        "n_params": count_params(result.params),
        "train_windows": int(len(split.train_starts)),
        "devices": [str(d) for d in mesh.devices.flat],
    }
    artifact = ModelArtifact(config, result.params, Scaler(panel.ids, mean, std), history, metrics, info, scores)
    return TrainOutcome(artifact, result.stopped_early, result.best_epoch)


def forecast(artifact: ModelArtifact, panel: Panel, levels: tuple[float, ...] = ()) -> pd.DataFrame:
    """The next `horizon` steps after the end of each series: rows `unique_id, ds, y_hat` in the
    original units, and `y_hat-lo-<level>, y_hat-hi-<level>` for each of `levels` (percent)."""
    lookback, horizon = artifact.config.window.lookback, artifact.config.window.horizon
    scores = artifact.conformal_scores
    levels = resolve_levels(levels, artifact.config.intervals, None if scores is None else scores.shape[0])
    short = [(series_id, int(n)) for series_id, n in zip(panel.ids, panel.lengths) if n < lookback]
    if short:
        series_id, n = short[0]
        raise DataError(f"series {series_id!r} has {n} rows; the model needs the last {lookback} to forecast")
    mean, std = artifact.scaler.lookup(panel.ids)
    scaled = np.concatenate(
        [(panel.series(i) - mean[i]) / std[i] for i in range(len(panel.ids))]
    ).astype(np.float32)
    trained_levels = artifact.config.intervals.levels
    quantiles = quantile_levels(trained_levels) if artifact.config.intervals.method == "quantile" else ()
    model = build_model(artifact.config.model, horizon, len(quantiles))
    mesh = make_mesh(1)
    programs = build_programs(
        model, make_optimizer(artifact.config.train), make_loss(artifact.config.train.loss), lookback, horizon, 1, mesh,
        artifact.config.train.ensemble, artifact.config.model.strategy,
    )
    starts = (panel.offsets[1:] - lookback).astype(np.int32)
    # Onto this program's one device: an artifact fresh from training holds its parameters on
    # every device of the training mesh.
    (params,) = replicate(mesh, artifact.params)
    raw = np.asarray(programs.predict(params, jnp.asarray(scaled[:, None]), jnp.asarray(starts)), dtype=np.float64)
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
    frames = [
        pd.DataFrame(
            {"unique_id": series_id, "ds": panel.future_timestamps(i, horizon), **{k: v[i] for k, v in columns.items()}}
        )
        for i, series_id in enumerate(panel.ids)
    ]
    return pd.concat(frames, ignore_index=True)


def load_for_prediction(artifact: ModelArtifact, path: str | None) -> Panel:
    """Read the data to forecast from (by default the training file) with the training schema."""
    saved = artifact.config.data
    cfg = DataConfig(
        path=path or saved.path,
        time_col=saved.time_col,
        target=saved.target,
        id_col=saved.id_col,
        freq=saved.freq,
        fill=saved.fill,
        season_length=saved.season_length,
    )
    panel, _ = load_panel(cfg)
    return panel


def predict(
    model_dir: str, data_path: str | None = None, levels: tuple[float, ...] = ()
) -> tuple[ModelArtifact, Panel, pd.DataFrame]:
    artifact = artifacts.load(model_dir)
    # Bad levels are reported before the data is read: they are the cheaper mistake to fix.
    scores = artifact.conformal_scores
    resolve_levels(levels, artifact.config.intervals, None if scores is None else scores.shape[0])
    panel = load_for_prediction(artifact, data_path)
    return artifact, panel, forecast(artifact, panel, levels)
