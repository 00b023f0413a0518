"""Read a column of timestamps written as text with one format for the whole column.

pandas' `format="mixed"` guesses every value on its own: `31/01/2015` reads day-first and
`01/02/2015` a row later month-first, so a daily series comes out scrambled and is then refused
for gaps it does not have. Here the whole column is read one way: as ISO 8601 (any of its
variants: unambiguous), else with the one format that fits every value. A column that two
formats fit with different dates, or that no single format fits, is refused and the message says
to give the format (`--date-format`, a strftime format such as `%d/%m/%Y`).

Values are parsed once per distinct value: a long table repeats each timestamp once per series.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from .errors import DataError

__all__ = ["candidate_formats", "parse_timestamps"]

# How many distinct values formats are guessed from: one format must fit them all anyway, and a
# few values past the first catch a column whose first day is ambiguous and a later one is not.
GUESSED_FROM = 20
# `1/2/15`: pandas guesses no format for a two-digit year, so the year is widened to guess.
# A two-digit year may read this far into the future (forecast horizons, --future files).
YEARS_AHEAD = 10
_TWO_DIGIT_YEAR = re.compile(r"^(\d{1,2}([/.-])\d{1,2}\2)(\d{2})(?!\d)")
# dateutil reads `2015-01-02` with dayfirst as 1 February: nobody writes year, day, month.
_YEAR_DAY_MONTH = re.compile(r"%[Yy]\W?%d\W?%m")


@dataclass(frozen=True)
class _Rows:
    """Which distinct value each row holds (`codes`, -1 for an empty cell), for messages that
    count rows and name the first; the first row is row `first`."""

    codes: np.ndarray
    first: int

    def count(self, which: np.ndarray) -> int:
        """How many rows hold one of the distinct values `which` marks."""
        return int(which[self.codes[self.codes >= 0]].sum())

    def of(self, k: int) -> int:
        """The row where distinct value `k` first appears."""
        return int(np.argmax(self.codes == k)) + self.first


def parse_timestamps(
    raw: pd.Series, column: str, date_format: str | None = None, first_row: int = 1
) -> pd.DatetimeIndex:
    """The timestamps of `raw` (text, dates or datetimes) at nanosecond resolution; values with
    a UTC offset are converted to UTC. Text is read with `date_format` (strftime) when given,
    else with the one format inferred for the column. Errors name the column (`column`) and the
    row, the first row of `raw` being row `first_row`."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = pd.DatetimeIndex(raw)
    else:
        codes, uniques = pd.factorize(raw)
        rows = _Rows(codes, first_row)
        text = pd.Index(uniques.astype(str)).str.strip()
        if date_format is not None:
            read = _read(text, format=date_format)
            _refuse_unmatched(read, text, rows, column, date_format)
        else:
            read = _infer(text, rows, column)
        parsed = read.take(codes, allow_fill=True, fill_value=pd.NaT)
    empty = np.asarray(parsed.isna())
    if empty.any():
        raise DataError(
            f"time column {column!r} has {int(empty.sum())} empty values, first at row "
            f"{int(np.argmax(empty)) + first_row}"
        )
    if parsed.tz is not None:
        parsed = parsed.tz_convert("UTC")
    return parsed.as_unit("ns")


def candidate_formats(values) -> list[str]:
    """The strftime formats pandas guesses for `values`, read month-first and day-first; the
    year-day-month readings left out."""
    found: list[str] = []
    for value in values:
        for fmt in _guesses(str(value)):
            if fmt not in found and not _YEAR_DAY_MONTH.search(fmt):
                found.append(fmt)
    return found


def _guesses(value: str) -> list[str]:
    widened = _TWO_DIGIT_YEAR.sub(r"\g<1>20\3", value, count=1)
    formats = []
    with warnings.catch_warnings():
        # pandas warns when a day-first format is guessed without dayfirst: that is the point.
        warnings.simplefilter("ignore", UserWarning)
        for dayfirst in (False, True):
            fmt = guess_datetime_format(widened, dayfirst=dayfirst)
            if fmt is not None:
                formats.append(fmt if widened == value else fmt.replace("%Y", "%y", 1))
    return formats


def _read(text: pd.Index, **how) -> pd.DatetimeIndex:
    """`text` parsed as `how` says, NaT where a value does not fit. Mixed UTC offsets are only
    comparable in UTC, so they are read in UTC (pandas would give objects, or raise)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (UserWarning, FutureWarning))
        try:
            parsed = pd.to_datetime(text, errors="coerce", **how)
        except ValueError:
            parsed = None
        if not isinstance(parsed, pd.DatetimeIndex):
            try:
                parsed = pd.to_datetime(text, errors="coerce", utc=True, **how)
            except ValueError as exc:  # errors="coerce" leaves only the format to blame
                raise DataError(
                    f"--date-format {how.get('format')!r} cannot be read: {exc}; write it as "
                    "strftime, e.g. %d/%m/%Y or %m/%d/%Y %H:%M"
                ) from None
    if "%y" in (how.get("format") or ""):
        parsed = _in_the_past(parsed)
    return parsed


def _in_the_past(parsed: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Two-digit years read by `%y` (00-68 as 20xx) that land more than YEARS_AHEAD years from
    now are a century earlier: `58` in `29.03.58` is 1958, not 2058; `30` stays 2030."""
    limit = pd.Timestamp.now(tz=parsed.tz).year + YEARS_AHEAD
    late = np.asarray(parsed.year > limit)
    if not late.any():
        return parsed
    shifted = parsed[late] - pd.DateOffset(years=100)
    return parsed.where(~late, shifted)


def _infer(text: pd.Index, rows: _Rows, column: str) -> pd.DatetimeIndex:
    """The distinct values `text` read with the one format that fits all of them."""
    readings = {"ISO 8601": _read(text, format="ISO8601")}
    if readings["ISO 8601"].notna().all():
        return readings["ISO 8601"]
    for fmt in candidate_formats(text[:GUESSED_FROM]):
        readings[fmt] = _read(text, format=fmt)
    complete = _distinct({f: r for f, r in readings.items() if r.notna().all()})
    if len(complete) == 1:
        return next(iter(complete.values()))
    if len(complete) > 1:
        raise DataError(_ambiguous(column, text, complete))
    if len(readings) == 1:
        # No format could be guessed: dateutil value by value, as before, but only where
        # reading day-first or month-first makes no difference.
        return _dateutil(text, rows, column)
    best = max(readings, key=lambda f: int(readings[f].notna().sum()))
    misfits = np.asarray(readings[best].isna())
    _refuse_non_dates(text, rows, misfits, column)
    fits, first = int(np.argmax(~misfits)), int(np.argmax(misfits))
    raise DataError(
        f"time column {column!r} mixes date formats: {rows.count(misfits)} values do not read "
        f"as {best} like {text[fits]!r} does, first {text[first]!r} at row {rows.of(first)}; "
        "make the column consistent or give its format with --date-format"
    )


def _dateutil(text: pd.Index, rows: _Rows, column: str) -> pd.DatetimeIndex:
    month_first = _read(text, format="mixed")
    _refuse_non_dates(text, rows, np.asarray(month_first.isna()), column)
    day_first = _read(text, format="mixed", dayfirst=True)
    # A value that starts with its year is year, month, day, whatever dateutil's dayfirst makes
    # of it.
    differ = np.asarray(month_first != day_first) & ~np.asarray(text.str.match(r"\d{4}\D"))
    if differ.any():
        raise DataError(
            _ambiguous(column, text, {"day-first": day_first, "month-first": month_first}, differ)
        )
    return month_first


def _distinct(readings: dict[str, pd.DatetimeIndex]) -> dict[str, pd.DatetimeIndex]:
    """One format per different result: `%m/%d/%Y` and `%d/%m/%Y` agree on `01/01/2015`."""
    kept: dict[str, pd.DatetimeIndex] = {}
    for fmt, reading in readings.items():
        if not any(reading.equals(other) for other in kept.values()):
            kept[fmt] = reading
    return kept


def _ambiguous(
    column: str,
    text: pd.Index,
    readings: dict[str, pd.DatetimeIndex],
    differ: np.ndarray | None = None,
) -> str:
    """The message for a column that two readings fit; the example is the first value they read
    differently (among `differ`, when given)."""
    (a, first), (b, second) = list(readings.items())[:2]
    k = int(np.argmax(np.asarray(first != second) if differ is None else differ))
    # dateutil's readings have no format to offer: the pair written like the value stands in.
    offered = (a, b) if "%" in a else _day_and_month_first(str(text[k]))
    return (
        f"time column {column!r} reads as {a} or as {b}, with different dates: {text[k]!r} is "
        f"{_shown(first[k])} or {_shown(second[k])}; say which with --date-format, e.g. "
        f"--date-format {offered[0]!r} or {offered[1]!r}"
    )


_NUMERIC_DATE = re.compile(r"^\s*\d{1,2}([/.-])\d{1,2}\1(\d{2}|\d{4})(?!\d)(.*)$")
_CLOCK = re.compile(r"^\s+\d{1,2}:\d{2}(:\d{2})?(\s*[AaPp][Mm])?\s*$")


def _day_and_month_first(value: str) -> tuple[str, str]:
    """The day-first and month-first formats that read `value` (`03/29/1958 12:00 AM`: '%d/%m/%Y
    %I:%M %p' and '%m/%d/%Y %I:%M %p'), with its separator, year width and clock, so that the
    one a user picks reads the column; the plain pair where the value is written otherwise."""
    date = _NUMERIC_DATE.match(value)
    clock = _CLOCK.match(date.group(3)) if date and date.group(3) else None
    if date is None or (date.group(3) and clock is None):
        return "%d/%m/%Y", "%m/%d/%Y"
    sep, year = date.group(1), "%Y" if len(date.group(2)) == 4 else "%y"
    time = ""
    if clock is not None:
        time = " %I:%M" if clock.group(2) else " %H:%M"
        time += (":%S" if clock.group(1) else "") + (" %p" if clock.group(2) else "")
    return f"%d{sep}%m{sep}{year}{time}", f"%m{sep}%d{sep}{year}{time}"


def _shown(ts: pd.Timestamp) -> str:
    return str(ts.date()) if ts == ts.normalize() and ts.tz is None else str(ts)


def _refuse_unmatched(
    read: pd.DatetimeIndex, text: pd.Index, rows: _Rows, column: str, date_format: str
) -> None:
    misfits = np.asarray(read.isna())
    if misfits.any():
        first = int(np.argmax(misfits))
        raise DataError(
            f"time column {column!r} has {rows.count(misfits)} values that do not match "
            f"--date-format {date_format!r}, first {text[first]!r} at row {rows.of(first)}"
        )


def _refuse_non_dates(text: pd.Index, rows: _Rows, misfits: np.ndarray, column: str) -> None:
    """Refuse the values among `misfits` that are no date in any format."""
    if not misfits.any():
        return
    unreadable = misfits.copy()
    unreadable[misfits] = np.asarray(_read(text[misfits], format="mixed").isna())
    if unreadable.any():
        raise DataError(
            f"time column {column!r} has {rows.count(unreadable)} values that are not "
            f"timestamps, first: {text[int(np.argmax(unreadable))]!r}"
        )
