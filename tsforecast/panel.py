"""Validate and regularise a long table into a panel: every series on one regular time grid.

A single series is a panel of one. Series are stored once, back to back, in one flat float32
array with offsets, which is what the window gather on the device indexes into. Every step is
vectorised over rows (no Python loop over series), so millions of rows take seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import DataConfig
from .dates import parse_timestamps
from .errors import DataError, GapError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Panel:
    """Series on a regular grid, concatenated.

    values: <float32>[total_length], series i is values[offsets[i]:offsets[i + 1]].
    covariates: <float32>[total_length, k], the numeric covariate columns `covariate_names`
    on the same rows. static: per-series constants, one tuple of strings per `static_names`.
    starts: first timestamp of each series; freq: a pandas offset alias.
    """

    ids: tuple[str, ...]
    values: np.ndarray
    offsets: np.ndarray
    starts: tuple[pd.Timestamp, ...]
    freq: str
    covariates: np.ndarray | None = None
    covariate_names: tuple[str, ...] = ()
    static: tuple[tuple[str, ...], ...] = ()
    static_names: tuple[str, ...] = ()

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def series(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def timestamps(self, i: int) -> pd.DatetimeIndex:
        return pd.date_range(self.starts[i], periods=int(self.lengths[i]), freq=self.freq)

    def last_timestamp(self, i: int) -> pd.Timestamp:
        return self.starts[i] + (int(self.lengths[i]) - 1) * pd.tseries.frequencies.to_offset(
            self.freq
        )

    def future_timestamps(self, i: int, horizon: int) -> pd.DatetimeIndex:
        offset = pd.tseries.frequencies.to_offset(self.freq)
        return pd.date_range(self.last_timestamp(i) + offset, periods=horizon, freq=self.freq)

    def covariate_matrix(self) -> np.ndarray:
        """<float32>[total_length, k]; k may be 0."""
        if self.covariates is None:
            return np.zeros((len(self.values), 0), np.float32)
        return self.covariates

    def select(self, ids: list[str]) -> Panel:
        """The sub-panel of the named series, in the order given."""
        index = {name: i for i, name in enumerate(self.ids)}
        missing = [name for name in ids if name not in index]
        if missing:
            raise DataError(f"unknown series id(s): {', '.join(missing[:5])}")
        return self.take(np.asarray([index[name] for name in ids], dtype=np.int64))

    def take(self, picks: np.ndarray) -> Panel:
        """The series at positions `picks`, in that order (a series may repeat)."""
        picks = np.asarray(picks, dtype=np.int64)
        rows = segment_ranges(self.offsets[picks], self.lengths[picks])
        return self._rows(rows, self.lengths[picks], picks)

    def until(self, keep: np.ndarray) -> Panel:
        """Every series cut after its first `keep[i]` rows (a backtest's view at a cutoff)."""
        keep = np.asarray(keep, dtype=np.int64)
        if (keep < 1).any() or (keep > self.lengths).any():
            raise DataError("a cut must keep between 1 row and the whole of every series")
        return self._rows(segment_ranges(self.offsets[:-1], keep), keep, np.arange(len(self.ids)))

    def _rows(self, rows: np.ndarray, lengths: np.ndarray, picks: np.ndarray) -> Panel:
        return Panel(
            ids=tuple(self.ids[i] for i in picks),
            values=self.values[rows],
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            starts=tuple(self.starts[i] for i in picks),
            freq=self.freq,
            covariates=None if self.covariates is None else self.covariates[rows],
            covariate_names=self.covariate_names,
            static=tuple(self.static[i] for i in picks) if self.static else (),
            static_names=self.static_names,
        )

    def to_frame(self) -> pd.DataFrame:
        """The target as a long table `unique_id, ds, y` (float64), series after series."""
        return pd.concat(
            [
                pd.DataFrame(
                    {
                        "unique_id": sid,
                        "ds": self.timestamps(i),
                        "y": self.series(i).astype(np.float64),
                    }
                )
                for i, sid in enumerate(self.ids)
            ],
            ignore_index=True,
        )

    def filled(self, method: str) -> Panel:
        """The panel with its missing values (NaN, from `to_panel(..., fill=False)`) filled per
        series by `method` (see --fill); itself when nothing is missing."""
        if method == "none":
            return self
        columns = np.column_stack([self.values, self.covariate_matrix()]).astype(np.float64)
        if not np.isnan(columns).any():
            return self
        columns = filled_columns(columns, self.offsets, method, self.ids)
        return dataclasses.replace(
            self,
            values=columns[:, 0].astype(np.float32),
            covariates=columns[:, 1:].astype(np.float32) if self.covariates is not None else None,
        )


def segment_ranges(firsts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Indices firsts[0]..firsts[0]+counts[0]-1, firsts[1].., concatenated, without a loop."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(np.asarray(firsts, dtype=np.int64), counts) + within


def _where(ts: pd.Timestamp, series_id: str | None) -> str:
    return f"{ts}" if series_id is None else f"{ts} (series {series_id!r})"


def infer_freq(timestamps: pd.DatetimeIndex) -> str | None:
    """The pandas alias of a sorted, unique index, tolerating gaps when the step is a fixed
    duration."""
    if len(timestamps) < 3:
        return None
    with warnings.catch_warnings():
        # pandas 3.1 warns that infer_freq will return an offset instead of a string; freqstr
        # reads either, so the warning is only noise.
        warnings.simplefilter("ignore", DeprecationWarning)
        freq = pd.infer_freq(timestamps)
    if freq is not None:
        return pd.tseries.frequencies.to_offset(freq).freqstr
    # asi8 counts in the index's own unit (seconds when the CSV reader parsed the column), so
    # convert to nanoseconds before reading the steps as a Timedelta.
    steps = np.diff(timestamps.as_unit("ns").asi8)
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[np.argmax(counts)])
    # Gaps are fine (they are reported later), but every step must be a whole number of the most
    # common one, else the data has no single frequency.
    if step <= 0 or np.any(steps % step):
        return None
    delta = pd.Timedelta(step, unit="ns")
    # A Timedelta reads back as hours ("24h", "168h"); name whole days and weeks as pd.infer_freq
    # would without the gaps, so the season length (7 daily, 52 weekly) and messages match.
    if delta == pd.Timedelta(weeks=1):
        return f"W-{timestamps[0].day_name()[:3].upper()}"
    if delta >= pd.Timedelta(days=1) and delta % pd.Timedelta(days=1) == pd.Timedelta(0):
        return "D" if delta.days == 1 else f"{delta.days}D"
    return pd.tseries.frequencies.to_offset(delta).freqstr


def season_length_for(freq: str) -> int:
    """The usual seasonal period: a day for sub-daily data, else the calendar cycle of the unit."""
    offset = pd.tseries.frequencies.to_offset(freq)
    name = offset.rule_code.upper()  # `name` is deprecated in pandas 3.1; same code
    yearly = {
        "W": 52,
        "M": 12,
        "MS": 12,
        "ME": 12,
        "BM": 12,
        "BMS": 12,
        "BME": 12,
        "Q": 4,
        "QS": 4,
        "QE": 4,
    }
    for prefix, season in yearly.items():
        if name == prefix or name.startswith(prefix + "-"):
            return season
    if name in ("A", "AS", "Y", "YS", "YE") or name.startswith(("A-", "Y-", "YE-", "YS-", "AS-")):
        return 1
    if name in ("B", "C"):
        return 5
    try:
        step = pd.Timedelta(offset)
    except ValueError:
        return 1
    if step >= pd.Timedelta(days=1):
        return 7 if step == pd.Timedelta(days=1) else 1
    return max(1, int(round(pd.Timedelta(days=1) / step)))


def is_sub_daily(freq: str) -> bool:
    """Whether steps of `freq` are shorter than a day (calendar units never are)."""
    try:
        return pd.Timedelta(pd.tseries.frequencies.to_offset(freq)) < pd.Timedelta(days=1)
    except ValueError:
        return False


def seasons_for(freq: str, length: int) -> tuple[int, ...]:
    """The seasonal periods worth modelling for data of `freq` whose series are typically
    `length` steps long, the primary (`season_length_for`) first: sub-daily data has a daily and
    a weekly cycle (24 and 168 hourly, 48 and 336 half-hourly), daily data a weekly one and a
    yearly one. A longer period counts only when the series hold two full cycles of it: one
    cycle gives seasonal naive a single past value per phase, and nothing to learn a share
    from."""
    primary = season_length_for(freq)
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    except ValueError:  # calendar units (months, quarters, business days): one cycle
        return (primary,)
    if step < pd.Timedelta(days=1) and primary > 1:
        longer = 7 * primary
    elif step == pd.Timedelta(days=1):
        longer = 365
    else:
        return (primary,)
    return (primary, longer) if length >= 2 * longer else (primary,)


def parse_time(
    frame: pd.DataFrame, time_col: str, date_format: str | None = None, first_row: int = 1
) -> pd.DatetimeIndex:
    """Timestamps at nanosecond resolution, text read with one format for the whole column
    (`date_format`, else inferred: see `tsforecast.dates`; errors count the frame's rows from
    `first_row`); ones with a UTC offset are converted to UTC, so a panel has one DST-free
    clock."""
    return parse_timestamps(frame[time_col], time_col, date_format, first_row)


def numeric_column(
    frame: pd.DataFrame, column: str, what: str, time: pd.DatetimeIndex, ids
) -> np.ndarray:
    """`frame[column]` as float64 (NaN where empty), or a DataError naming the first value that
    is not a number or beyond float32 and its row's time and series (`ids[row]`; None: one
    series)."""
    raw = values = frame[column]
    if not pd.api.types.is_numeric_dtype(raw):
        values = pd.to_numeric(raw, errors="coerce")
        non_numeric = (values.isna() & raw.notna()).to_numpy()
        if non_numeric.any():
            row = int(np.argmax(non_numeric))
            raise DataError(
                f"{what} column {column!r} has {int(non_numeric.sum())} non-numeric values, "
                f"first {str(raw.iloc[row])!r} at "
                f"{_where(time[row], None if ids is None else str(ids[row]))}"
            )
    # A float64 column is its own numbers, missing ones NaN already: no copy of it.
    numbers = (
        values.to_numpy()
        if values.dtype == np.float64
        else values.to_numpy(np.float64, na_value=np.nan)
    )
    # Panels hold float32: a larger value would become infinite there, and training NaN. The
    # extremes first, without a copy of the column.
    largest = np.finfo(np.float32).max
    if max(np.fmax.reduce(numbers, initial=-np.inf), -np.fmin.reduce(numbers, initial=np.inf)) > (
        largest
    ):
        too_large = np.abs(numbers) > largest
        row = int(np.argmax(too_large))
        raise DataError(
            f"{what} column {column!r} has {int(too_large.sum())} values that are infinite or "
            f"beyond float32 (about 3.4e38), first {str(raw.iloc[row])!r} at "
            f"{_where(time[row], None if ids is None else str(ids[row]))}; remove or rescale them"
        )
    return numbers


def _fill(values: np.ndarray, offsets: np.ndarray, method: str) -> np.ndarray:
    """Fill NaNs of every column within each series, never across series: linear interpolation
    (constant beyond the ends) or the last value before (the first after at the start).
    values: <float64>[total, k]. Columns of a series with no value at all stay NaN."""
    total = values.shape[0]
    lengths = np.diff(offsets)
    first = np.repeat(offsets[:-1], lengths)
    last = np.repeat(offsets[1:] - 1, lengths)
    rows = np.arange(total)
    out = values.copy()
    for k in range(values.shape[1]):
        column = values[:, k]
        valid = ~np.isnan(column)
        if valid.all():
            continue
        prev = np.maximum.accumulate(np.where(valid, rows, -1))
        nxt = np.minimum.accumulate(np.where(valid, rows, total)[::-1])[::-1]
        has_prev, has_next = prev >= first, nxt <= last
        prev_value = column[np.clip(prev, 0, total - 1)]
        next_value = column[np.clip(nxt, 0, total - 1)]
        if method == "interpolate":
            share = np.where(has_prev & has_next, (rows - prev) / np.maximum(nxt - prev, 1), 0.0)
            filled = np.where(
                has_prev,
                prev_value + share * np.where(has_next, next_value - prev_value, 0.0),
                next_value,
            )
        else:
            filled = np.where(has_prev, prev_value, next_value)
        out[:, k] = np.where(valid, column, np.where(has_prev | has_next, filled, np.nan))
    return out


def _grid_positions(
    ns: np.ndarray,
    codes: np.ndarray,
    firsts: np.ndarray,
    offset: pd.DateOffset,
    names: np.ndarray,
    shown: bool,
    tz,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's step number within its series' grid, and each series' first grid timestamp in ns.
    Rows are sorted by (series, time); `firsts` is the first row of each series."""
    try:
        step = pd.Timedelta(offset).value
    except ValueError:
        step = None
    if step is not None and step > 0:
        # A fixed-duration step: every series keeps its own phase (one may start at :30).
        relative = ns - ns[firsts][codes]
        off = relative % step != 0
        positions = relative // step
        starts = ns[firsts]
    else:
        # Calendar steps (months, business days): positions in one grid covering all series.
        lo, hi = pd.Timestamp(ns.min(), tz=tz), pd.Timestamp(ns.max(), tz=tz)
        grid = pd.date_range(offset.rollback(lo), hi, freq=offset).as_unit("ns").asi8
        where = np.clip(np.searchsorted(grid, ns), 0, len(grid) - 1)
        off = grid[where] != ns
        absolute = where.astype(np.int64)
        positions = absolute - absolute[firsts][codes]
        starts = grid[absolute[firsts]]
    if off.any():
        row = int(np.argmax(off))
        raise DataError(
            f"{int(off.sum())} timestamps are off the {offset.freqstr} grid, first at "
            f"{_where(pd.Timestamp(ns[row], tz=tz), names[codes[row]] if shown else None)}; "
            "check --freq"
        )
    return positions, starts


def _on_a_complete_grid(ns: np.ndarray, codes: np.ndarray, offset) -> bool:
    """Whether rows sorted by (series, time) step by exactly `offset`, a fixed duration, within
    every series: as most files come."""
    try:
        step = pd.Timedelta(offset).value
    except ValueError:
        return False
    return _every_neighbour(
        lambda code, at, next_code, next_at: np.all((next_at - at == step) | (next_code != code)),
        codes,
        ns,
    )


def _every_neighbour(test, codes: np.ndarray, ns: np.ndarray, rows: int = 1 << 20) -> bool:
    """Whether `test(code, at, next_code, next_at)` holds for every row and the next, taken
    a slice of `rows` at a time: comparisons of whole columns would cost bytes a row."""
    for begin in range(0, len(ns) - 1, rows):
        end = min(begin + rows, len(ns) - 1)
        if not test(
            codes[begin:end], ns[begin:end], codes[begin + 1 : end + 1], ns[begin + 1 : end + 1]
        ):
            return False
    return True


class _RowIds:
    """Each row's series id, looked up when a message names one (a column of the ids of every
    row would cost eight bytes a row)."""

    def __init__(self, codes: np.ndarray, names: np.ndarray):
        self.codes, self.names = codes, names

    def __getitem__(self, row: int) -> str:
        return self.names[self.codes[row]]


def series_codes(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(<int32>[rows] each row's series, <object>[series] the ids as text, sorted): as
    `pd.factorize` of the ids as text (an empty cell is the id ""), but a categorical column's
    ids are made text once per category, not once per row."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        text = pd.Series(ids.cat.categories).astype("string")
        codes = ids.cat.codes.to_numpy()
        # An empty cell (code -1) reads as "", which may also be a category.
        named, names = pd.factorize(pd.concat([text, pd.Series([""], dtype="string")]), sort=True)
        codes = named.astype(np.int32)[np.where(codes < 0, len(text), codes)]
        used = np.zeros(len(names), bool)
        used[codes] = True
        renumbered = (np.cumsum(used) - 1).astype(np.int32)
        codes, names = renumbered[codes], np.asarray(names)[used]
    else:
        codes, names = pd.factorize(ids.astype("string").fillna(""), sort=True)
    return codes.astype(np.int32, copy=False), np.asarray([str(n) for n in names], dtype=object)


def _check_series_steps(
    ns: np.ndarray, codes: np.ndarray, firsts: np.ndarray, offset, names, shown: bool
) -> None:
    """A series whose every step is a multiple of more than the panel's step has another frequency
    (daily among hourly series), which filling would only paper over."""
    try:
        step = pd.Timedelta(offset).value
    except ValueError:
        return
    if len(firsts) < 2 or len(ns) < 2:
        return
    gaps = np.diff(ns)
    same = codes[1:] == codes[:-1]
    smallest = np.full(len(firsts), np.iinfo(np.int64).max)
    np.minimum.at(smallest, codes[1:][same], gaps[same])
    other = (smallest != np.iinfo(np.int64).max) & (smallest > step)
    if other.any():
        i = int(np.argmax(other))
        theirs = infer_freq(pd.DatetimeIndex(ns[firsts[i]] + np.arange(3) * smallest[i]))
        raise DataError(
            f"series {names[i]!r} is at frequency {theirs}, the panel at {offset.freqstr}; "
            "frequencies must not differ between series (resample it, or pass --freq)"
        )


def _statics(
    frame: pd.DataFrame,
    order: np.ndarray,
    cfg: DataConfig,
    codes: np.ndarray,
    firsts: np.ndarray,
    names: np.ndarray,
) -> tuple[tuple[str, ...], ...]:
    if not cfg.static:
        return ()
    columns = []
    for name in cfg.static:
        text = frame[name].astype("string").fillna("").to_numpy(object)[order]
        varies = text != text[firsts][codes]
        if varies.any():
            raise DataError(
                f"--static column {name!r} changes within series "
                f"{names[codes[int(np.argmax(varies))]]!r}; it must be constant per series"
            )
        columns.append(text[firsts])
    return tuple(tuple(str(col[i]) for col in columns) for i in range(len(firsts)))


def to_panel(df: pd.DataFrame, cfg: DataConfig, fill: bool = True) -> tuple[Panel, DataConfig]:
    """Validate and regularise a long frame with resolved columns (see `data.to_long`); returns
    the panel and the config with the frequency and season length filled in. With `fill` False
    the gaps that `cfg.fill` would repair stay NaN (see `Panel.filled`)."""
    if df.empty:
        raise DataError(f"{cfg.path or 'the data'} has no rows")
    shown = cfg.id_col is not None
    time = parse_time(df, cfg.time_col, cfg.date_format)
    if shown:
        codes, names = series_codes(df[cfg.id_col])
    else:
        codes, names = np.zeros(len(df), np.int32), np.asarray([cfg.target])
    ns = time.asi8
    row_ids = _RowIds(codes, names) if shown else None
    y = numeric_column(df, cfg.target, "target", time, row_ids)
    covariates = [
        numeric_column(df, name, "covariate", time, row_ids) for name in cfg.numeric_covariates
    ]
    in_order = _every_neighbour(
        lambda code, at, next_code, next_at: np.all(
            (next_code > code) | ((next_code == code) & (next_at >= at))
        ),
        codes,
        ns,
    )
    # Files are usually sorted by series and time already; sorting 10 million rows costs seconds.
    order = np.arange(len(ns)) if in_order else np.lexsort((ns, codes))
    if not in_order:
        ns, codes, time = ns[order], codes[order], time[order]
        y, covariates = y[order], [c[order] for c in covariates]
        row_ids = _RowIds(codes, names) if shown else None
    time_sorted = time

    same = np.concatenate([[False], (codes[1:] == codes[:-1]) & (ns[1:] == ns[:-1])])
    if same.any() and cfg.duplicates == "error":
        row = int(np.argmax(same))
        raise DataError(
            f"{int(same.sum())} duplicated timestamps, "
            f"first at {_where(time_sorted[row], row_ids[row] if shown else None)}; "
            "combine them with --duplicates mean (or sum, first, last)"
        )
    if same.any():
        log.info("%d duplicated timestamps combined by --duplicates %s", same.sum(), cfg.duplicates)
        kept = np.flatnonzero(~same)
        combined = _combined(np.column_stack([y, *covariates]), kept, cfg.duplicates)
        y, covariates = combined[:, 0], list(combined[:, 1:].T)
        ns, codes, time, order = ns[kept], codes[kept], time[kept], order[kept]
        row_ids = _RowIds(codes, names) if shown else None
        time_sorted = time
    del same

    firsts = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]]))
    counts = np.diff(np.concatenate([firsts, [len(ns)]]))
    freq = cfg.freq
    if freq is None:
        longest = int(np.argmax(counts))
        freq = infer_freq(
            pd.DatetimeIndex(time_sorted[firsts[longest] : firsts[longest] + counts[longest]])
        )
        if freq is None:
            raise DataError(
                "cannot infer the frequency of the time column; "
                "pass it with --freq (e.g. h, D, W, MS)"
            )
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        raise DataError(
            f"--freq {freq!r} is not a pandas frequency (e.g. h, 15min, D, W, MS)"
        ) from None
    if _on_a_complete_grid(ns, codes, offset):
        # Each series steps exactly once per period from its first row: the rows are the
        # panel's as they are, with nothing to place, and nothing off the grid or missing.
        lengths, start_ns, rows = counts, ns[firsts], None
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        columns = np.column_stack([y, *covariates]) if covariates else y[:, None]
    else:
        if cfg.freq is None:
            _check_series_steps(ns, codes, firsts, offset, names, shown)
        positions, start_ns = _grid_positions(ns, codes, firsts, offset, names, shown, time.tz)
        lengths = positions[firsts + counts - 1] + 1
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        columns = np.full((int(offsets[-1]), 1 + len(covariates)), np.nan)
        rows = offsets[codes] + positions
        del positions
        columns[rows] = np.column_stack([y, *covariates])
    del y, covariates

    missing = lengths - counts
    if missing.any() and cfg.freq is not None:
        # A frequency given (--freq, or the model's at predict) that the data does not have:
        # neither its missing steps nor filling them make sense.
        k = int(np.argmax(counts))
        own = infer_freq(pd.DatetimeIndex(time_sorted[firsts[k] : firsts[k] + counts[k]]))
        if own is not None and pd.tseries.frequencies.to_offset(own) != offset:
            series = f" of series {str(names[k])!r}" if shown else ""
            raise DataError(
                f"the timestamps{series} are {own} apart, but the frequency is "
                f"{offset.freqstr} (--freq, or the model's): is this the file you meant?"
            )
    if missing.any() and cfg.fill == "none":
        i = int(np.argmax(missing > 0))
        gap = int(np.argmax(~_present(rows, offsets[i], lengths[i])))
        at = pd.Timestamp(start_ns[i], tz=time.tz) + gap * offset
        raise GapError(
            f"{int(missing.sum())} missing timestamps in the {offset.freqstr} grid, first at "
            f"{_where(at, names[i] if shown else None)}"
        )
    nan = np.isnan(columns)
    if nan.any():
        if cfg.fill == "none":
            k = int(np.argmax(nan.any(axis=0)))
            row = int(np.argmax(nan[:, k]))
            i = int(np.searchsorted(offsets, row, side="right") - 1)
            what = (
                "target values"
                if k == 0
                else f"values of covariate {cfg.numeric_covariates[k - 1]!r}"
            )
            at = pd.Timestamp(start_ns[i], tz=time.tz) + int(row - offsets[i]) * offset
            raise GapError(
                f"{int(nan[:, k].sum())} missing {what}, "
                f"first at {_where(at, names[i] if shown else None)}"
            )
        if fill:
            ids = tuple(str(n) for n in names) if shown else (cfg.target,)
            columns = filled_columns(columns, offsets, cfg.fill, ids)

    panel = Panel(
        ids=tuple(str(n) for n in names),
        values=columns[:, 0].astype(np.float32),
        offsets=offsets,
        starts=tuple(pd.Timestamp(int(s), tz=time.tz) for s in start_ns),
        freq=offset.freqstr,
        covariates=columns[:, 1:].astype(np.float32) if cfg.numeric_covariates else None,
        covariate_names=cfg.numeric_covariates,
        static=_statics(df, order, cfg, codes, firsts, names),
        static_names=cfg.static,
    )
    seasons = cfg.season_length or seasons_for(panel.freq, int(np.median(panel.lengths)))
    return panel, dataclasses.replace(cfg, freq=panel.freq, season_length=seasons)


def _combined(columns: np.ndarray, firsts: np.ndarray, rule: str) -> np.ndarray:
    """One row per run of rows at one timestamp (runs start at `firsts`), by `rule`: the mean
    or sum of the values present (NaN where none is), or the first or last row's."""
    if rule in ("first", "last"):
        ends = np.append(firsts[1:], len(columns)) - 1
        return columns[firsts if rule == "first" else ends]
    present = ~np.isnan(columns)
    sums = np.add.reduceat(np.where(present, columns, 0.0), firsts, axis=0)
    counts = np.add.reduceat(present, firsts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        combined = sums / counts if rule == "mean" else sums
    return np.where(counts > 0, combined, np.nan)


def filled_columns(columns: np.ndarray, offsets: np.ndarray, method: str, ids) -> np.ndarray:
    """`_fill`, refusing a series with a column that has no value at all."""
    columns = _fill(columns, offsets, method)
    empty = np.isnan(columns)
    if empty.any():
        row = int(np.argmax(empty.any(axis=1)))
        i = int(np.searchsorted(offsets, row, side="right") - 1)
        raise DataError(f"series {ids[i]!r} has no values to fill from")
    return columns


def _present(rows: np.ndarray, first: int, length: int) -> np.ndarray:
    """Which of the `length` grid rows from `first` hold an observation."""
    mask = np.zeros(length, bool)
    inside = rows[(rows >= first) & (rows < first + length)] - first
    mask[inside] = True
    return mask
