"""Forecasts from a trained model: one `Forecaster` turns a panel and window starts into
forecasts in the original units; `forecast` makes the next `horizon` steps of every series,
with intervals, as `tsforecast predict` writes them.

Every consumer of a model's forecasts goes through `Forecaster.forecast`: training's validation
scores, the registry's champion scoring, `predict` and `backtest`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np
import pandas as pd
from jax.sharding import Mesh

from . import serving, transforms
from .artifacts import ModelArtifact, Scaler
from .baselines import seasonal_naive
from .config import Config
from .data import FutureTable, Panel
from .errors import DataError
from .features import FeatureLayout, device_matrix, known_columns
from .intervals import (
    conformal_bounds,
    interval_columns,
    quantile_index,
    quantile_levels,
    recent_spread,
    resolve_levels,
    seasonal_naive_bounds,
)
from .network import Params, build_predict, chunk_size
from .placement import local_mesh, replicate
from .serving import WindowForecasts
from .windows import scale_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceInputs:
    """A panel as the network reads it: the device matrix <float32>[total, features] on a
    forecaster's devices, the offsets of its series, each series' standardisation of the
    target in the model's units, `mean` and `std` <float64>[n_series], and the target in the
    model's units on the host, `history` <float>[total] (for the recent spread)."""

    values: jax.Array
    offsets: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    history: np.ndarray


@dataclass(frozen=True)
class Forecaster:
    """A trained model ready to forecast: its config, parameters (on the devices of `mesh`),
    scaler, feature layout, compiled forecasting program, conformal scores, and the method it
    serves at each horizon step (empty: the network at every step)."""

    config: Config
    params: Params
    scaler: Scaler
    features: FeatureLayout
    predict: Callable
    mesh: Mesh
    conformal_scores: np.ndarray | None = None
    served: tuple[str, ...] = ()
    # As forecasts of this many windows, from inputs of at least this many rows (0: as they
    # come): see `padded_like`.
    windows_like: int = 0
    rows_like: int = 0

    def padded_like(self, windows: int, rows: int) -> Forecaster:
        """This forecaster, computing windows in batches the size a forecast of `windows`
        windows has, from device inputs padded to at least `rows` rows: a panel forecast a
        chunk at a time then gets the whole panel's bits (a matrix product sums in an order
        that depends on the batch's size), and its chunks share one compiled program."""
        return dataclasses.replace(self, windows_like=windows, rows_like=rows)

    @classmethod
    def of(cls, artifact: ModelArtifact) -> Forecaster:
        """The forecaster of a saved (or freshly trained) model, on this process's first device:
        in a multi-host run each process forecasts by itself."""
        mesh = local_mesh()
        config = artifact.config
        predict = build_predict(config, artifact.features.future, len(quantiles_of(config)), mesh)
        # Onto this program's one device through the host: an artifact fresh from training
        # holds its parameters on every device of the training mesh, which may span hosts.
        (params,) = replicate(mesh, jax.tree_util.tree_map(np.asarray, artifact.params))
        return cls(
            config,
            params,
            artifact.scaler,
            artifact.features,
            predict,
            mesh,
            artifact.conformal_scores,
            artifact.served,
        )

    @property
    def quantiles(self) -> tuple[float, ...]:
        return quantiles_of(self.config)

    def inputs(self, panel: Panel, future: np.ndarray | None = None) -> DeviceInputs:
        """`panel` (original units) as the network reads it: transformed, standardised with the
        saved scaler (a series the model did not see in training with its own history), with
        calendar and static features, on this forecaster's devices. With `future`
        <float32>[n_series * horizon, k] (the future-known covariates of the steps after each
        series' end; k may be 0 for calendar features only) `horizon` rows are appended to
        every series, so windows may reach past the end of the data, as forecasts of the
        future do."""
        config = self.config
        modelled = transforms.transform_panel(config.data.transform, panel)
        mean, std, known = self.scaler.for_panel(modelled)
        if not known.all():
            log.info(
                "%d series not seen in training: standardised with their own history",
                int((~known).sum()),
            )
        if future is not None:
            modelled = _extended(
                modelled, config.window.horizon, future, len(config.data.covariates)
            )
        numeric = np.column_stack([modelled.values, modelled.covariate_matrix()])
        scaled = scale_rows(numeric, modelled.offsets, mean, std)
        calendar = known_columns(config.data, panel.freq)
        matrix = device_matrix(
            modelled, scaled, calendar, self.features.static_levels, config.data.holidays
        )
        if len(matrix) < self.rows_like:
            # Rows no window reaches: they only give every chunk's program one shape.
            matrix = np.pad(matrix, ((0, self.rows_like - len(matrix)), (0, 0)))
        (values,) = replicate(self.mesh, matrix)
        return DeviceInputs(values, modelled.offsets, mean[:, 0], std[:, 0], modelled.values)

    def forecast(
        self,
        panel: Panel,
        series: np.ndarray,
        starts: np.ndarray,
        future: np.ndarray | None = None,
    ) -> WindowForecasts:
        """The served forecasts of the windows whose first input row is row `starts[j]`
        (counted from the series' start) of series `series[j]` of `panel` (original units);
        `future` as for `inputs`."""
        network = self.forecast_inputs(self.inputs(panel, future), series, starts)
        if not self.served:
            return network
        with_mstl = not set(self.served).isdisjoint(serving.SERVED_WITH_MSTL)
        forecasts = serving.candidates(
            panel, series, starts, self.config, network.original(), with_mstl
        )
        modelled = serving.in_model_units(network.transform, forecasts)
        return serving.serve(network, self.served, modelled)

    def forecast_inputs(
        self, inputs: DeviceInputs, series: np.ndarray, starts: np.ndarray
    ) -> WindowForecasts:
        """The network's forecasts (`forecast` before serving) from inputs already on the
        devices (training has them)."""
        rows = (inputs.offsets[series] + starts).astype(np.int32)
        padded = rows
        if self.windows_like:
            block = chunk_size(self.windows_like, self.mesh.devices.size)
            padded = np.pad(rows, (0, -len(rows) % block))  # windows from row 0, dropped below
        (flat,) = replicate(self.mesh, padded)
        raw = self.predict(self.params, inputs.values, flat)
        raw = np.asarray(raw, dtype=np.float64)[: len(rows)]
        mean, std = inputs.mean[series], inputs.std[series]
        config = self.config
        spread = std
        if config.intervals.spread == "recent":
            spread = recent_spread(
                inputs.history, rows, config.window.lookback, config.data.season, std
            )
        quantiles = None
        if self.quantiles:
            quantiles = raw * std[:, None, None] + mean[:, None, None]
            point = quantiles[..., len(self.quantiles) // 2]
        else:
            point = raw * std[:, None] + mean[:, None]
        return WindowForecasts(point, quantiles, spread, config.data.transform)


def quantiles_of(config: Config) -> tuple[float, ...]:
    """The quantile levels a model's head outputs; () for a point (conformal) model."""
    intervals = config.intervals
    return quantile_levels(intervals.levels) if intervals.method == "quantile" else ()


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


def forecast(
    forecaster: Forecaster,
    panel: Panel,
    levels: tuple[float, ...] = (),
    future: FutureTable | None = None,
    multipliers: dict[float, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The next `horizon` steps after the end of each series: rows `unique_id, ds, y_hat, method`
    in the original units, and `y_hat-lo-<level>, y_hat-hi-<level>` for each of `levels`
    (percent). `method` says what made each row: `model` (the network) or, at the horizon steps
    where training chose it on validation (tsforecast.serving), `seasonal_naive[_<period>]`,
    `mstl` or `model+mstl`; the network where the chosen one gave no finite value. In a panel,
    series with fewer rows than the lookback get seasonal naive (method `seasonal_naive`, with
    its textbook interval) unless the model was trained with --strict. Where a series was never
    negative, nothing it is forecast is either. `future`: the future-known
    covariates, for a model trained with them. `multipliers`: per level (percent), how much
    wider (above 1) or narrower than calibrated its interval is at each horizon step,
    `<float>[horizon]`, in the model's units around the point forecast
    (tsforecast.recalibration); not for the series given seasonal naive."""
    config = forecaster.config
    if config.data.id_col is None and len(panel.ids) > 1:
        # Its forecast has no id column to tell the series apart.
        raise DataError(
            f"the model was trained on one series (no id column) and the data holds "
            f"{len(panel.ids)}: {', '.join(map(repr, panel.ids[:5]))}"
            f"{' ...' if len(panel.ids) > 5 else ''}; forecast them with a model trained on "
            "them (long or wide layout)"
        )
    lookback, horizon = config.window.lookback, config.window.horizon
    season = config.data.season
    scores = forecaster.conformal_scores
    levels = resolve_levels(levels, config.intervals, None if scores is None else scores.shape[0])
    short = panel.lengths < lookback
    # Only a panel's output has the `method` column that flags a seasonal-naive forecast.
    if short.any() and (config.data.strict or config.data.id_col is None):
        i = int(np.argmax(short))
        raise DataError(
            f"series {panel.ids[i]!r} has {int(panel.lengths[i])} rows; the model needs the last "
            f"{lookback} to forecast"
        )
    # One frame per series, in the panel's order.
    frames: list[pd.DataFrame | None] = [
        _short_forecast(panel, i, horizon, season, levels) if is_short else None
        for i, is_short in enumerate(short)
    ]
    if short.all():
        return in_column_order(frames, levels)
    modelled = np.flatnonzero(~short)
    if short.any():
        panel = panel.take(modelled)
    if config.data.future_covariates and future is None:
        raise DataError(
            f"the model uses future covariates ({', '.join(config.data.future_covariates)}); "
            f"give their values for the {horizon} steps after each series with --future FILE"
        )
    steps = None
    if forecaster.features.future:
        steps = (
            future.after(panel, horizon)
            if config.data.future_covariates
            else np.zeros((len(panel.ids) * horizon, 0), np.float32)  # calendar features only
        )
    everyone = np.arange(len(panel.ids))
    result = forecaster.forecast(panel, everyone, panel.lengths - lookback, steps)
    columns = {"y_hat": result.point}
    for level in levels:
        if result.quantiles is not None:
            lo_index, hi_index = quantile_index(config.intervals.levels, level)
            lo, hi = result.quantiles[..., lo_index], result.quantiles[..., hi_index]
        else:
            lo, hi = conformal_bounds(result.point, scores, result.spread, level)
        if multipliers and level in multipliers:
            from .recalibration import rescale  # here: the rest of this module never needs it

            lo, hi = rescale(result.point, lo, hi, multipliers[level])
        columns.update(zip(interval_columns(level), (lo, hi), strict=True))
    columns = {name: result.original(values) for name, values in columns.items()}
    for i, (row, series_id) in enumerate(zip(modelled, panel.ids, strict=True)):
        frames[row] = pd.DataFrame(
            {
                "unique_id": series_id,
                "ds": panel.future_timestamps(i, horizon),
                **_floored(panel.series(i), {k: v[i] for k, v in columns.items()}),
                "method": [result.method(i, step) for step in range(horizon)],
            }
        )
    return in_column_order(frames, levels)


def _floored(history: np.ndarray, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A forecast's columns, at least 0 where the series was never negative: a count or a load
    cannot go below it, and an additive component (MSTL's) or a symmetric interval can."""
    if history.size and history.min() >= 0:
        return {name: np.maximum(values, 0.0) for name, values in columns.items()}
    return columns


def _short_forecast(
    panel: Panel, i: int, horizon: int, season: int, levels: tuple[float, ...]
) -> pd.DataFrame:
    """Series `i`'s forecast when it is too short for the network: seasonal naive, with its own
    interval (`seasonal_naive_bounds`)."""
    history = panel.series(i).astype(np.float64)
    point = seasonal_naive(history, horizon, season)
    columns = {"y_hat": point}
    for level in levels:
        bounds = seasonal_naive_bounds(history, point, season, level)
        columns.update(zip(interval_columns(level), bounds, strict=True))
    return pd.DataFrame(
        {
            "unique_id": panel.ids[i],
            "ds": panel.future_timestamps(i, horizon),
            **_floored(history, columns),
            "method": "seasonal_naive",
        }
    )


def in_column_order(frames: list[pd.DataFrame], levels: tuple[float, ...]) -> pd.DataFrame:
    """The series' frames as one forecast, `unique_id, ds, y_hat`, the bounds of every level,
    `method`: the same columns whichever series come first and whether any is long enough for
    the network."""
    bounds = [name for level in levels for name in interval_columns(level)]
    columns = ["unique_id", "ds", "y_hat", *bounds, "method"]
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)
