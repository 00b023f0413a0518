"""The device matrix: target, covariates, calendar and static features as columns of one
<float32>[total, features] array on the panel's rows, with the target as feature 0.

Which columns the model also sees over the horizon (future-known covariates and calendar
features) is recorded in a `FeatureLayout`, saved with the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .data import Panel
from .errors import DataError
from .panel import segment_ranges


@dataclass(frozen=True)
class FeatureLayout:
    """Column names of the device matrix, the indices of the future-known ones, and the
    categories of each static column seen in training (the one-hot vocabulary)."""

    names: tuple[str, ...] = ("y",)
    future: tuple[int, ...] = ()
    static_levels: dict[str, list[str]] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return len(self.names)


def _step(freq: str) -> pd.Timedelta:
    """The typical duration of one step (a calendar month is about 30 days)."""
    grid = pd.date_range("2001-01-01", periods=3, freq=freq)
    return pd.Timedelta(int(np.median(np.diff(grid.as_unit("ns").asi8))), unit="ns")


def calendar_names(freq: str) -> tuple[str, ...]:
    """The cycles a step of this frequency can resolve, each as a sine/cosine pair: hour of day
    below a day, day of week and of month at a day or finer, month of year below a year."""
    step = _step(freq)
    cycles = []
    if step < pd.Timedelta(days=1):
        cycles.append("hour_of_day")
    if step <= pd.Timedelta(days=1):
        cycles += ["day_of_week", "day_of_month"]
    if step < pd.Timedelta(days=360):
        cycles.append("month_of_year")
    if not cycles:
        raise DataError(f"--calendar has no cycle to describe at frequency {freq}; drop it")
    return tuple(f"{cycle}_{part}" for cycle in cycles for part in ("sin", "cos"))


def calendar_features(timestamps: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """<float32>[n, 2 * cycles]: each cycle's phase in [0, 1) as (sin 2πφ, cos 2πφ), in UTC
    for timestamps with a zone. Day of month runs over the days of that month, so the 31st of
    January and the 28th of February both sit just before a new cycle."""
    ts = timestamps.tz_convert("UTC") if timestamps.tz is not None else timestamps
    phases = {
        "hour_of_day": (ts.hour + ts.minute / 60 + ts.second / 3600) / 24,
        "day_of_week": ts.day_of_week / 7,
        "day_of_month": (ts.day - 1) / ts.days_in_month,
        "month_of_year": (ts.month - 1) / 12,
    }
    columns = []
    for name in calendar_names(freq)[::2]:
        phase = 2 * np.pi * np.asarray(phases[name.removesuffix("_sin")], dtype=np.float64)
        columns += [np.sin(phase), np.cos(phase)]
    return np.column_stack(columns).astype(np.float32)


def row_timestamps(panel: Panel) -> pd.DatetimeIndex:
    """The timestamp of every row of the panel, vectorised for fixed-duration steps."""
    offset = pd.tseries.frequencies.to_offset(panel.freq)
    lengths = panel.lengths
    tz = panel.starts[0].tz if panel.starts else None
    try:
        step = pd.Timedelta(offset).value
    except ValueError:
        return pd.DatetimeIndex(
            np.concatenate([panel.timestamps(i).as_unit("ns").asi8 for i in range(len(panel.ids))])
        ).tz_localize("UTC" if tz is not None else None)
    starts = np.asarray([pd.Timestamp(s).as_unit("ns").value for s in panel.starts], dtype=np.int64)
    within = segment_ranges(np.zeros(len(lengths), np.int64), lengths)
    index = pd.DatetimeIndex(np.repeat(starts, lengths) + within * step)
    return index.tz_localize("UTC") if tz is not None else index


def static_levels(panel: Panel) -> dict[str, list[str]]:
    """The categories of each static column seen in training: the one-hot vocabulary."""
    return {
        name: sorted({row[k] for row in panel.static}) for k, name in enumerate(panel.static_names)
    }


def layout(
    covariates: tuple[str, ...],
    future_covariates: tuple[str, ...],
    calendar: tuple[str, ...],
    levels: dict[str, list[str]],
) -> FeatureLayout:
    names = ("y", *covariates, *future_covariates, *calendar)
    names += tuple(f"{column}={level}" for column, values in levels.items() for level in values)
    first_future = 1 + len(covariates)
    future = tuple(range(first_future, first_future + len(future_covariates) + len(calendar)))
    return FeatureLayout(names, future, levels)


def device_matrix(
    panel: Panel, scaled: np.ndarray, calendar: tuple[str, ...], levels: dict[str, list[str]]
) -> np.ndarray:
    """<float32>[total, features]: the standardised target and numeric covariates `scaled`
    (<float32>[total, 1 + k]), calendar features, then the one-hot static columns (a category
    unseen in training is all zeros)."""
    parts = [scaled]
    if calendar:
        parts.append(calendar_features(row_timestamps(panel), panel.freq))
    if levels:
        hot = []
        for k, values in enumerate(levels.values()):
            per_series = np.asarray(
                [[row[k] == level for level in values] for row in panel.static], dtype=np.float32
            )
            hot.append(np.repeat(per_series.reshape(len(panel.ids), -1), panel.lengths, axis=0))
        parts.append(np.concatenate(hot, axis=1))
    return np.concatenate(parts, axis=1).astype(np.float32)
