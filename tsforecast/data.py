"""Read a CSV or Parquet file into a validated panel: every series on one regular time grid.

A single series is a panel of one. Series are stored once, back to back, in one flat float32
array with offsets, which is what the window gather on the device indexes into.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .config import DataConfig
from .errors import DataError

log = logging.getLogger(__name__)

TIME_COL_NAMES = ("ds", "date", "time", "timestamp", "datetime")
ID_COL_NAMES = ("unique_id", "id", "series", "item_id")


@dataclass(frozen=True)
class Panel:
    """Series on a regular grid, concatenated.

    values: <float32>[total_length], series i is values[offsets[i]:offsets[i + 1]].
    starts: first timestamp of each series; freq: a pandas offset alias.
    """

    ids: tuple[str, ...]
    values: np.ndarray
    offsets: np.ndarray
    starts: tuple[pd.Timestamp, ...]
    freq: str

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def series(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def timestamps(self, i: int) -> pd.DatetimeIndex:
        return pd.date_range(self.starts[i], periods=int(self.lengths[i]), freq=self.freq)

    def last_timestamp(self, i: int) -> pd.Timestamp:
        return self.starts[i] + (int(self.lengths[i]) - 1) * pd.tseries.frequencies.to_offset(self.freq)

    def future_timestamps(self, i: int, horizon: int) -> pd.DatetimeIndex:
        offset = pd.tseries.frequencies.to_offset(self.freq)
        return pd.date_range(self.last_timestamp(i) + offset, periods=horizon, freq=self.freq)

    def select(self, ids: list[str]) -> Panel:
        """The sub-panel of the named series, in the order given."""
        index = {name: i for i, name in enumerate(self.ids)}
        missing = [name for name in ids if name not in index]
        if missing:
            raise DataError(f"unknown series id(s): {', '.join(missing[:5])}")
        picks = [index[name] for name in ids]
        parts = [self.series(i) for i in picks]
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        return Panel(
            ids=tuple(ids),
            values=np.concatenate(parts).astype(np.float32),
            offsets=offsets,
            starts=tuple(self.starts[i] for i in picks),
            freq=self.freq,
        )


def read_table(path: str) -> pd.DataFrame:
    """Read a CSV (pyarrow engine) or Parquet file; any failure becomes a DataError."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"no such file: {path}")
    try:
        if file.suffix.lower() == ".parquet":
            return pd.read_parquet(file)
        try:
            return pd.read_csv(file, engine="pyarrow")
        except (ValueError, TypeError):
            # The pyarrow engine rejects some valid CSVs (ragged quoting, odd encodings);
            # the C engine is slower but more forgiving.
            return pd.read_csv(file)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty") from None
    except Exception as exc:  # noqa: BLE001 - any reader failure is bad input, reported in one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read {path} as a table: {reason}") from None


def _pick_column(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {c.lower(): c for c in columns}
    for name in wanted:
        if name in lowered:
            return lowered[name]
    return None


def _require_column(df: pd.DataFrame, name: str, option: str) -> None:
    if name not in df.columns:
        raise DataError(f"{option} column {name!r} not found; the columns are: {', '.join(map(str, df.columns))}")


def _parses_as_time(column: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(column):
        return True
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return False
    sample = column.dropna().head(50)
    if sample.empty:
        return False
    return bool(pd.to_datetime(sample.astype(str), errors="coerce", format="mixed").notna().all())


def resolve_schema(df: pd.DataFrame, cfg: DataConfig) -> DataConfig:
    """Fill in the time, id and target columns that were not given, or explain why it can't."""
    columns = [str(c) for c in df.columns]
    df.columns = columns

    time_col = cfg.time_col
    if time_col is not None:
        _require_column(df, time_col, "--time-col")
    else:
        time_col = _pick_column(columns, TIME_COL_NAMES)
        if time_col is None:
            time_col = next((c for c in columns if _parses_as_time(df[c])), None)
        if time_col is None:
            raise DataError(
                f"no time column found (looked for {', '.join(TIME_COL_NAMES)} or a column of dates); "
                f"the columns are: {', '.join(columns)}; name one with --time-col"
            )

    id_col = cfg.id_col
    if id_col is not None:
        _require_column(df, id_col, "--id-col")
    else:
        id_col = _pick_column([c for c in columns if c != time_col], ID_COL_NAMES)

    target = cfg.target
    if target is not None:
        _require_column(df, target, "--target")
    else:
        rest = [c for c in columns if c not in (time_col, id_col)]
        if "y" in rest:
            target = "y"
        else:
            numeric = [c for c in rest if pd.api.types.is_numeric_dtype(df[c])]
            if len(numeric) == 1:
                target = numeric[0]
            elif not numeric:
                raise DataError(f"no numeric target column found among: {', '.join(rest) or '(none)'}; name one with --target")
            else:
                raise DataError(f"several numeric columns ({', '.join(numeric)}); choose the target with --target")
    if target in (time_col, id_col):
        raise DataError(f"--target {target!r} is also the time or id column")
    return dataclasses.replace(cfg, time_col=time_col, id_col=id_col, target=target)


def _where(ts: pd.Timestamp, series_id: str | None) -> str:
    return f"{ts}" if series_id is None else f"{ts} (series {series_id!r})"


def _first_offence(frame: pd.DataFrame, mask: np.ndarray, time_col: str, id_col: str | None) -> str:
    row = frame.loc[mask].iloc[0]
    return _where(row[time_col], None if id_col is None else str(row[id_col]))


def infer_freq(timestamps: pd.DatetimeIndex) -> str | None:
    """The pandas alias of a sorted, unique index, tolerating gaps when the step is a fixed duration."""
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
    yearly = {"W": 52, "M": 12, "MS": 12, "ME": 12, "BM": 12, "BMS": 12, "BME": 12, "Q": 4, "QS": 4, "QE": 4}
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


def _parse_time(frame: pd.DataFrame, time_col: str) -> pd.Series:
    raw = frame[time_col]
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
    else:
        parsed = pd.to_datetime(raw.astype("string"), errors="coerce", format="mixed")
    bad = parsed.isna() & raw.notna() | raw.isna()
    if bad.any():
        first = raw[bad].iloc[0]
        raise DataError(
            f"time column {time_col!r} has {int(bad.sum())} values that are not timestamps, first: {str(first)!r}"
        )
    return parsed


def _parse_target(frame: pd.DataFrame, cfg: DataConfig) -> pd.Series:
    raw = frame[cfg.target]
    values = raw if pd.api.types.is_numeric_dtype(raw) else pd.to_numeric(raw, errors="coerce")
    non_numeric = values.isna() & raw.notna()
    if non_numeric.any():
        first = frame.loc[non_numeric].iloc[0]
        raise DataError(
            f"target column {cfg.target!r} has {int(non_numeric.sum())} non-numeric values, "
            f"first {str(first[cfg.target])!r} at {_where(first[cfg.time_col], _id_of(first, cfg))}"
        )
    return values.astype(np.float64)


def _id_of(row: pd.Series, cfg: DataConfig) -> str | None:
    return None if cfg.id_col is None else str(row[cfg.id_col])


def to_panel(df: pd.DataFrame, cfg: DataConfig) -> tuple[Panel, DataConfig]:
    """Validate and regularise a frame with resolved columns; returns the panel and the config
    with the frequency and season length filled in."""
    frame = pd.DataFrame({cfg.time_col: _parse_time(df, cfg.time_col)})
    frame[cfg.target] = _parse_target(df.assign(**{cfg.time_col: frame[cfg.time_col]}), cfg)
    id_col = cfg.id_col
    if id_col is not None:
        frame[id_col] = df[id_col].astype("string").fillna("")
    else:
        id_col = "__id__"
        frame[id_col] = cfg.target
    if frame.empty:
        raise DataError(f"{cfg.path or 'the data'} has no rows")
    frame = frame.sort_values([id_col, cfg.time_col], kind="stable").reset_index(drop=True)
    shown_id = None if cfg.id_col is None else id_col

    dup = frame.duplicated([id_col, cfg.time_col], keep="first").to_numpy()
    if dup.any():
        raise DataError(
            f"{int(dup.sum())} duplicated timestamps, first at {_first_offence(frame, dup, cfg.time_col, shown_id)}; "
            "aggregate them before training"
        )

    freq = cfg.freq
    if freq is None:
        first_id = frame[id_col].iloc[0]
        longest = frame[id_col].value_counts().idxmax() if frame[id_col].nunique() > 1 else first_id
        freq = infer_freq(pd.DatetimeIndex(frame.loc[frame[id_col] == longest, cfg.time_col]))
        if freq is None:
            raise DataError("cannot infer the frequency of the time column; pass it with --freq (e.g. h, D, W, MS)")
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        raise DataError(f"--freq {freq!r} is not a pandas frequency (e.g. h, 15min, D, W, MS)") from None

    ids, starts, parts = [], [], []
    for series_id, group in frame.groupby(id_col, sort=False):
        ts = pd.DatetimeIndex(group[cfg.time_col])
        grid = pd.date_range(ts[0], ts[-1], freq=offset)
        where_id = None if cfg.id_col is None else str(series_id)
        off_grid = ~ts.isin(grid)
        if off_grid.any():
            raise DataError(
                f"{int(off_grid.sum())} timestamps are off the {offset.freqstr} grid, first at "
                f"{_where(ts[off_grid][0], where_id)}; check --freq"
            )
        values = pd.Series(group[cfg.target].to_numpy(), index=ts).reindex(grid)
        missing_rows = len(grid) - len(ts)
        if missing_rows and cfg.fill == "none":
            first_gap = grid[~grid.isin(ts)][0]
            raise DataError(
                f"{missing_rows} missing timestamps in the {offset.freqstr} grid, first at "
                f"{_where(first_gap, where_id)}; repair with --fill interpolate or --fill ffill"
            )
        nan = values.isna().to_numpy()
        if nan.any():
            if cfg.fill == "none":
                raise DataError(
                    f"{int(nan.sum())} missing target values, first at {_where(grid[nan][0], where_id)}; "
                    "repair with --fill interpolate or --fill ffill"
                )
            values = values.interpolate(limit_direction="both") if cfg.fill == "interpolate" else values.ffill().bfill()
            if values.isna().any():
                raise DataError(f"series {where_id or cfg.target!r} has no values to fill from")
        ids.append(str(series_id))
        starts.append(grid[0])
        parts.append(values.to_numpy(np.float32))

    offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    panel = Panel(tuple(ids), np.concatenate(parts), offsets, tuple(starts), offset.freqstr)
    season = cfg.season_length or season_length_for(panel.freq)
    return panel, dataclasses.replace(cfg, freq=panel.freq, season_length=season)


def load_panel(cfg: DataConfig) -> tuple[Panel, DataConfig]:
    """Read, resolve the columns, validate; returns the panel and the fully resolved config."""
    df = read_table(cfg.path)
    if df.shape[1] < 2:
        raise DataError(f"{cfg.path} needs a time column and a target column, found {df.shape[1]} column(s)")
    resolved = resolve_schema(df, cfg)
    return to_panel(df, resolved)
