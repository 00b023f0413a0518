"""The device matrix: target, covariates, calendar and static features as columns of one
<float32>[total, features] array on the panel's rows, with the target as feature 0.

Which columns the model also sees over the horizon (future-known covariates and calendar
features) is recorded in a `FeatureLayout`, saved with the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import DataConfig
from .data import Panel
from .errors import ConfigError, DataError
from .panel import segment_ranges

# Public holidays as the network sees them: whether the day is one, and how many days it is
# from the nearest (negative before it, clipped at a week and divided by it), so that the days
# around a holiday are told apart from ordinary ones.
HOLIDAY_NAMES = ("holiday", "holiday_distance")
HOLIDAY_REACH_DAYS = 7


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


def holiday_dates(spec: str, years: range) -> np.ndarray:
    """<datetime64[D]>[n], sorted: the public holidays of `spec` (an ISO 3166 country code,
    optionally with a subdivision: US, GB, US-CA, AU-VIC) in `years`, from the `holidays`
    package."""
    import holidays  # about a second to import; only a model with --holidays needs it

    country, _, subdiv = spec.partition("-")
    try:
        calendar = holidays.country_holidays(country, subdiv=subdiv or None, years=years)
    except NotImplementedError:
        if country in holidays.list_supported_countries():
            known = ", ".join(holidays.list_supported_countries()[country][:12])
            raise ConfigError(
                f"--holidays {spec!r}: {country} has no subdivision {subdiv!r}; "
                f"its subdivisions include {known}"
            ) from None
        raise ConfigError(
            f"--holidays {spec!r}: no such country in the holidays package; give an ISO 3166 "
            "code such as US, GB or DE, or one with a subdivision such as US-CA"
        ) from None
    return np.asarray(sorted(calendar), dtype="datetime64[D]")


def holiday_features(timestamps: pd.DatetimeIndex, spec: str) -> np.ndarray:
    """<float32>[n, 2], the HOLIDAY_NAMES columns of `timestamps` (local times: a zoned index
    is read in its own zone) for the holidays of `spec` (see `holiday_dates`)."""
    days = timestamps.tz_localize(None) if timestamps.tz is not None else timestamps
    days = days.to_numpy().astype("datetime64[D]")
    if len(days) == 0:
        return np.zeros((0, len(HOLIDAY_NAMES)), np.float32)
    first, last = pd.Timestamp(days.min()).year, pd.Timestamp(days.max()).year
    dates = holiday_dates(spec, range(first - 1, last + 2))
    if len(dates) == 0:  # nothing within a year: every day is far from a holiday
        return np.column_stack([np.zeros(len(days)), np.ones(len(days))]).astype(np.float32)
    after = np.searchsorted(dates, days)  # the first holiday on or after each day
    since = (days - dates[np.maximum(after - 1, 0)]).astype(np.int64)
    until = (days - dates[np.minimum(after, len(dates) - 1)]).astype(np.int64)
    nearest = np.where(np.abs(since) <= np.abs(until), since, until)
    reach = HOLIDAY_REACH_DAYS
    distance = np.clip(nearest, -reach, reach) / reach
    return np.column_stack([nearest == 0, distance]).astype(np.float32)


def known_columns(data_cfg: DataConfig, freq: str) -> tuple[str, ...]:
    """The calendar columns of a model (`--calendar` cycles, then `--holidays`), all known in
    advance."""
    names = calendar_names(freq) if data_cfg.calendar else ()
    if data_cfg.holidays:
        if _step(freq) > pd.Timedelta(days=1):
            raise ConfigError(
                f"--holidays needs daily or finer data; this data's steps are {freq}; drop "
                "--holidays or give holiday columns with --future-covariates"
            )
        names += HOLIDAY_NAMES
    return names


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
    panel: Panel,
    scaled: np.ndarray,
    calendar: tuple[str, ...],
    levels: dict[str, list[str]],
    holidays: str | None = None,
) -> np.ndarray:
    """<float32>[total, features]: the standardised target and numeric covariates `scaled`
    (<float32>[total, 1 + k]), the `calendar` columns (`known_columns`; the holiday ones of
    `holidays`), then the one-hot static columns (a category unseen in training is all
    zeros)."""
    parts = [scaled]
    if calendar:
        stamps = row_timestamps(panel)
        if set(calendar) - set(HOLIDAY_NAMES):  # the --calendar cycles
            parts.append(calendar_features(stamps, panel.freq))
        if HOLIDAY_NAMES[0] in calendar:
            zone = panel.starts[0].tz
            local = stamps if zone is None else stamps.tz_convert(zone)
            parts.append(holiday_features(local, holidays))
    if levels:
        hot = []
        for k, values in enumerate(levels.values()):
            per_series = np.asarray(
                [[row[k] == level for level in values] for row in panel.static], dtype=np.float32
            )
            hot.append(np.repeat(per_series.reshape(len(panel.ids), -1), panel.lengths, axis=0))
        parts.append(np.concatenate(hot, axis=1))
    return np.concatenate(parts, axis=1).astype(np.float32)
