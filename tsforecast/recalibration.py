"""Prediction intervals that recalibrate from the actuals: each interval level's width at each
horizon step follows how often the served intervals missed.

`predict --registry` logs the forecasts it serves (tsforecast.forecast_log). Once a logged
target's actual is in DATA, the served interval either held it or missed it. Per level and
horizon step, the intervals of the served version are widened after misses and narrowed after
hits by online quantile tracking on a log multiplier of their half-widths,

    log s  <-  clip(log s + eta * (missed - alpha)),        alpha = 1 - level / 100,

stable where the intervals miss at rate alpha: a miss raises it by eta (1 - alpha), a hit lowers
it by eta alpha. A step whose actual arrives only after later origins have been forecast (step
150 of a weekly horizon forecast every day) takes eta divided by how many origins it lags
(`step_etas`): its news arrives late, and a tracker moving at full speed on late news keeps
widening for the origins still pending after the misses have stopped.

This is adaptive conformal inference (Gibbs & Candes 2021) written as the quantile tracker of
conformal PID control (Angelopoulos, Candes & Tibshirani 2023), on the multiplier of the
conformal (or quantile) half-widths rather than on the miss level. `missed` is, for each
forecast origin in time order, the share of the series forecast from that origin whose actual
fell outside the served interval (one update per origin and step: the series of a panel forecast
from one origin share its day, and are not independent observations).

The state is replayed from the whole log at every `predict --registry` (`fit`): a pure function
of the log and DATA, so nothing can be lost or need migrating; it counts only the served
version's forecasts (a new version starts from its own validation calibration) and only
targets whose actual DATA holds (a step counts once its actual arrives, the next origin
included). `rescale` applies it in the model's units (log units for a log model, so the bounds
stay positive), around the point forecast, for conformal and quantile intervals alike.

References: Gibbs & Candes (2021), "Adaptive Conformal Inference Under Distribution Shift",
NeurIPS; Angelopoulos, Candes & Tibshirani (2023), "Conformal PID Control for Time Series
Prediction", NeurIPS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .data import Panel
from .forecast_log import ForecastLog
from .intervals import level_name
from .monitor import match

# Chosen on validation stretches only (docs/intervals.md, "Recalibration from the actuals").
ETA = 0.15
# The multiplier stays within these: a run of misses after a break cannot make the intervals
# useless, nor a calm month shrink them to nothing.
BOUNDS = (0.5, 3.0)


def step_etas(eta: float, horizon: int, spacing: float) -> np.ndarray:
    """`<float64>[H]`: `eta` for each horizon step, divided by the number of origins forecast
    before its actual arrives when consecutive origins are `spacing` steps apart (1 for every
    step of a daily forecast issued daily)."""
    return eta / np.maximum(1.0, np.ceil(np.arange(1, horizon + 1) / max(spacing, 1.0)))


def origin_spacing(origins: pd.DatetimeIndex, freq: str) -> float:
    """The median number of `freq` steps between consecutive `origins` (sorted); infinite with
    fewer than two, where no step lags another origin."""
    if len(origins) < 2:
        return math.inf
    grid = pd.date_range(origins[0], origins[-1], freq=freq)
    return float(np.median(np.diff(grid.searchsorted(origins))))


def replay(
    missed: np.ndarray,
    level: float,
    eta: float | np.ndarray = ETA,
    bounds: tuple[float, float] = BOUNDS,
) -> np.ndarray:
    """The log multiplier of each horizon step, `<float64>[H]`, after tracking the misses
    `missed` `<float>[T, H]` (per origin in time order and step, the share of intervals that
    missed; NaN where no actual has arrived, which leaves the step as it was), from 0, with
    `eta` one rate or one per step (`step_etas`).

    References: Angelopoulos, Candes & Tibshirani (2023), sec. 2.1 (quantile tracking)."""
    if not 0 < level < 100:
        raise ValueError(f"level must be in (0, 100) percent, got level = {level}")
    if np.any(np.asarray(eta) <= 0):
        raise ValueError(f"eta must be positive, got eta = {eta}")
    if not 0 < bounds[0] <= 1 <= bounds[1]:
        raise ValueError(f"bounds must hold 1 and be positive, got bounds = {bounds}")
    alpha = 1.0 - level / 100.0
    low, high = math.log(bounds[0]), math.log(bounds[1])
    state = np.zeros(np.shape(missed)[1])
    for row in np.asarray(missed, dtype=np.float64):
        arrived = np.isfinite(row)
        moved = np.clip(state + eta * (np.where(arrived, row, alpha) - alpha), low, high)
        state = np.where(arrived, moved, state)
    return state


def rescale(
    point: np.ndarray, lo: np.ndarray, hi: np.ndarray, multiplier: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds `<float>[..., H]` around `point` with their distances from it multiplied by
    `multiplier` `<float>[H]`, in the model's units."""
    return point + multiplier * (lo - point), point + multiplier * (hi - point)


@dataclass(frozen=True)
class Outcomes:
    """One level's served intervals against their actuals, per forecast origin in time order:
    `origins` (T of them); `missed` `<float64>[T, H]` the share of the intervals of that
    origin and step that missed (NaN where no actual has arrived); `targets` `<int>[T, H]` how
    many actuals that share is of; `until` the latest target counted."""

    origins: pd.DatetimeIndex
    missed: np.ndarray
    targets: np.ndarray
    until: pd.Timestamp | None


def outcomes(forecast_log: ForecastLog, observed: Panel, lookback: int) -> dict[str, Outcomes]:
    """Per interval level of the log (its name, "90"): what its served intervals did, from
    the forecasts in `forecast_log` (one version's) whose series had at least `lookback` rows
    (shorter ones get seasonal naive's interval, which is not recalibrated) and the actuals in
    `observed` (DATA with gaps as NaN). A series forecast twice from one origin counts once, as
    its last issue served it."""
    matched = match(forecast_log, observed)
    horizon = forecast_log.newest.horizon
    keys = pd.DataFrame.from_records(matched.records, columns=["unique_id", "origin"])
    kept = (matched.series >= 0) & (matched.history >= lookback)
    kept &= ~keys.duplicated(keep="last").to_numpy()
    order, origins = pd.factorize(pd.DatetimeIndex(keys["origin"])[kept], sort=True)
    y = matched.y[kept]
    rows = forecast_log.rows
    # Each kept target's row in the log, for its timestamp.
    at = np.flatnonzero(kept)[:, None] * horizon + np.arange(horizon)
    ds = pd.DatetimeIndex(rows["ds"])
    result = {}
    levels = sorted({lv for h in forecast_log.headers.values() for lv in h.levels}, key=float)
    for level in levels:
        lo, hi = (
            rows[f"y_hat-{side}-{level}"].to_numpy(np.float64).reshape(-1, horizon)[kept]
            for side in ("lo", "hi")
        )
        counted = np.isfinite(y) & np.isfinite(lo) & np.isfinite(hi)
        outside = counted & ((y < lo) | (y > hi))
        missed = np.zeros((len(origins), horizon))
        targets = np.zeros((len(origins), horizon), dtype=np.int64)
        np.add.at(missed, order, outside)
        np.add.at(targets, order, counted)
        share = np.where(targets > 0, missed / np.maximum(targets, 1), np.nan)
        until = ds[at[counted]].max() if counted.any() else None
        result[level] = Outcomes(pd.DatetimeIndex(origins), share, targets, until)
    return result


@dataclass(frozen=True)
class LevelState:
    """One level's recalibration: `multipliers` `<float64>[H]` of the half-widths per step,
    the `origins` and `targets` it was fitted on and the share of those targets its served
    intervals held (`coverage`; NaN before any)."""

    multipliers: np.ndarray
    origins: int
    targets: int
    coverage: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "multipliers": [round(float(m), 6) for m in self.multipliers],
            "origins": self.origins,
            "targets": self.targets,
            "coverage": self.coverage,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LevelState:
        coverage = raw.get("coverage")
        return cls(
            np.asarray(raw["multipliers"], dtype=np.float64),
            int(raw["origins"]),
            int(raw["targets"]),
            math.nan if coverage is None else float(coverage),
        )


@dataclass(frozen=True)
class State:
    """The recalibration of version `version`'s intervals, per level name ("90"), from the
    actuals DATA held up to `data_until`, with the tracker's `eta` and multiplier `bounds`.
    A level it has nothing for keeps the calibration's width."""

    version: str
    levels: dict[str, LevelState]
    data_until: str | None
    eta: float = ETA
    bounds: tuple[float, float] = BOUNDS

    def multipliers(self, levels: Iterable[float]) -> dict[float, np.ndarray]:
        """For each of `levels` (percent) that has a state, its multipliers per step."""
        found = {level: self.levels.get(level_name(level)) for level in levels}
        return {level: state.multipliers for level, state in found.items() if state is not None}

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "data_until": self.data_until,
            "eta": self.eta,
            "bounds": list(self.bounds),
            "levels": {name: state.to_dict() for name, state in self.levels.items()},
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> State:
        return cls(
            str(raw["version"]),
            {name: LevelState.from_dict(s) for name, s in raw.get("levels", {}).items()},
            raw.get("data_until"),
            float(raw.get("eta", ETA)),
            tuple(raw.get("bounds", BOUNDS)),
        )

    def describe(self) -> str:
        """One line: per level the mean multiplier over the steps (and their range), the
        origins and the coverage it was fitted on."""
        if not self.levels:
            return f"version {self.version}: no actual of its logged intervals in DATA yet"
        parts = []
        for name, state in self.levels.items():
            m = state.multipliers
            covered = "-" if math.isnan(state.coverage) else f"{100 * state.coverage:.1f}%"
            parts.append(
                f"{name}% x{m.mean():.3g} (steps {m.min():.3g}-{m.max():.3g}; {state.origins} "
                f"origins, {state.targets} targets, served coverage {covered})"
            )
        return f"version {self.version}: " + "; ".join(parts)


def fit(
    forecast_log: ForecastLog | None,
    observed: Panel | None,
    version: str,
    lookback: int,
    eta: float = ETA,
    bounds: tuple[float, float] = BOUNDS,
) -> State:
    """The recalibration of `version`'s intervals: `replay` of the outcomes (`outcomes`) of
    its logged forecasts against the actuals in `observed` (DATA with gaps as NaN; None only
    with no log), at `eta` per step for the spacing of the logged origins (`step_etas`). Its
    intervals stay as calibrated (no level) while it has no logged forecast whose actual has
    arrived."""
    mine = forecast_log.of_version(version) if forecast_log is not None else None
    if mine is None:
        return State(version, {}, None, eta, bounds)
    levels, until = {}, []
    for name, done in outcomes(mine, observed, lookback).items():
        counted = int(done.targets.sum())
        if counted == 0:
            continue
        held = float(np.nansum((1.0 - done.missed) * done.targets)) / counted
        etas = step_etas(eta, done.missed.shape[1], origin_spacing(done.origins, observed.freq))
        levels[name] = LevelState(
            np.exp(replay(done.missed, float(name), etas, bounds)),
            int((done.targets.sum(axis=1) > 0).sum()),
            counted,
            held,
        )
        until.append(done.until)
    data_until = str(max(until)) if until else None
    return State(version, levels, data_until, eta, bounds)
