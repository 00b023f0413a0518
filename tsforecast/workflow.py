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
from .config import Config, DataConfig
from .data import Panel, load_panel
from .errors import DataError
from .metrics import mase_scale, point_metrics
from .models import build_model, count_params, init_params
from .strategies import require_supported
from .train import EpochRecord, build_programs, fit, make_loss, make_mesh, make_optimizer, replicate
from .windows import default_val_size, rows_needed, split_windows, standardise

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


@dataclass(frozen=True)
class TrainOutcome:
    artifact: ModelArtifact
    stopped_early: bool
    best_epoch: int


def train_model(config: Config, on_epoch: Callable[[EpochRecord], None] | None = None) -> TrainOutcome:
    """Read the data in `config`, train, and return the finished artifact (not yet saved)."""
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
    model = build_model(config.model, horizon)
    params = init_params(model, lookback, inputs.shape[1], config.train.seed)
    tx = make_optimizer(config.train)
    mesh = make_mesh(config.train.batch_size)
    programs = build_programs(
        model, tx, make_loss(config.train.loss), lookback, horizon, config.train.batch_size, mesh, config.model.strategy
    )
    params, values, train_starts, val_starts = replicate(mesh, params, inputs, split.train_starts, split.val_starts)
    log.info("%d training and %d validation windows on %d device(s)", len(split.train_starts), len(split.val_starts), mesh.size)

    result = fit(programs, params, tx, values, train_starts, val_starts, config.train, on_epoch)

    val_preds = np.asarray(programs.predict(result.params, values, val_starts), dtype=np.float64)
    val_preds = val_preds * std[split.val_series, None] + mean[split.val_series, None]
    local_starts = {i: split.val_starts[split.val_series == i] - panel.offsets[i] for i in range(len(panel.ids))}
    preds = {i: val_preds[split.val_series == i] for i in range(len(panel.ids))}
    metrics = validation_metrics(panel, local_starts, preds, lookback, horizon, data_cfg.season_length, split.train_part)
    metrics["best_epoch"] = result.best_epoch
    metrics["validation_windows"] = int(len(split.val_starts))

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
    artifact = ModelArtifact(config, result.params, Scaler(panel.ids, mean, std), history, metrics, info)
    return TrainOutcome(artifact, result.stopped_early, result.best_epoch)


def forecast(artifact: ModelArtifact, panel: Panel) -> pd.DataFrame:
    """The next `horizon` steps after the end of each series: rows `unique_id, ds, y_hat` in the
    original units."""
    lookback, horizon = artifact.config.window.lookback, artifact.config.window.horizon
    short = [(series_id, int(n)) for series_id, n in zip(panel.ids, panel.lengths) if n < lookback]
    if short:
        series_id, n = short[0]
        raise DataError(f"series {series_id!r} has {n} rows; the model needs the last {lookback} to forecast")
    mean, std = artifact.scaler.lookup(panel.ids)
    scaled = np.concatenate(
        [(panel.series(i) - mean[i]) / std[i] for i in range(len(panel.ids))]
    ).astype(np.float32)
    model = build_model(artifact.config.model, horizon)
    mesh = make_mesh(1)
    programs = build_programs(
        model, make_optimizer(artifact.config.train), make_loss(artifact.config.train.loss), lookback, horizon, 1, mesh,
        artifact.config.model.strategy,
    )
    starts = (panel.offsets[1:] - lookback).astype(np.int32)
    params = jax.tree_util.tree_map(jnp.asarray, artifact.params)
    preds = np.asarray(programs.predict(params, jnp.asarray(scaled[:, None]), jnp.asarray(starts)), dtype=np.float64)
    preds = preds * std[:, None] + mean[:, None]
    frames = [
        pd.DataFrame({"unique_id": series_id, "ds": panel.future_timestamps(i, horizon), "y_hat": preds[i]})
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


def predict(model_dir: str, data_path: str | None = None) -> tuple[ModelArtifact, Panel, pd.DataFrame]:
    artifact = artifacts.load(model_dir)
    panel = load_for_prediction(artifact, data_path)
    return artifact, panel, forecast(artifact, panel)
