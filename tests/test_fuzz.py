"""Fuzzing: generated files and option values for `train`, `predict`, `backtest` and `evaluate`.

Hypothesis writes CSV (and some Parquet) files: random column names (default ones, others,
repeated ones), layouts (one series, long panels, wide tables), values (floats, integers, text,
booleans, empty, huge), dates in many formats (ISO, day-first, month-first, with times and UTC
offsets, epoch numbers, garbage), gaps, duplicated and shuffled rows, missing cells, encodings
(UTF-8 with or without BOM, Latin-1, cp1252, UTF-16, gzip) and sizes from 0 rows to a few
hundred; then option values, existing columns or not. The one property: exit 0 with a valid
output (the files parse and hold the rows and timestamps the data calls for), or exit 2 with one
line on stderr and nothing written at the output path. Never a traceback, never exit 1 (the
CLI's "internal error"), never a warning a user would see (each is made an error).

What "valid" means is checked against what the generator wrote, not against tsforecast: the last
timestamp of every series is read back from each value's text with the strftime format it was
written in (UTC for offsets), so a date read the wrong way round exits 0 with the wrong
forecast timestamps and fails.

Profiles: `make test` runs a short, derandomised one (`fuzz-ci`); TSFORECAST_FUZZ=long (`make
fuzz`) runs `fuzz-long`, over 2,000 examples. Training is kept cheap: tiny networks, one epoch,
sizes and options drawn from small sets so that compiled programs are reused.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import math
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import invoke
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tsforecast import artifacts
from tsforecast.config import DataConfig
from tsforecast.data import load_panel, read_future
from tsforecast.errors import Terminated
from tsforecast.evaluation import evaluate
from tsforecast.serving import choose, scaled_errors

settings.register_profile(
    "fuzz-ci",
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz-long",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LONG = os.environ.get("TSFORECAST_FUZZ") == "long"
PROFILE = "fuzz-long" if LONG else "fuzz-ci"
# Examples per command: training ones cost a second or more, evaluate's a few milliseconds.
EXAMPLES = (
    {"train": 500, "predict": 700, "backtest": 250, "evaluate": 800}
    if LONG
    else {"train": 5, "predict": 10, "backtest": 2, "evaluate": 25}
)


def fuzzed(command: str) -> settings:
    return settings(settings.get_profile(PROFILE), max_examples=EXAMPLES[command])


CHEAP = ("--epochs", "1", "--hidden", "4", "--ensemble", "1", "--batch-size", "16")
# The short profile draws the single model's horizon, lookback and length (below), so that a file
# it trains on like that model reuses the programs compiled for it.
HORIZONS = (2, 4) if LONG else (4,)
LOOKBACKS = (4, 8) if LONG else (8,)

# --- the outcome ---------------------------------------------------------------------------------


PROGRESS = re.compile(r"^(cutoff \d+: )?epoch \d+: ")


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` and the bytes of its files, to see that nothing changed."""
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
        for path in sorted(folder.rglob("*"))
    }


class StoppedBySigterm(KeyboardInterrupt):
    """Stops Hypothesis and pytest at once, as Ctrl-C does, with their reports so far."""


# Warnings Python does not show a user by default; every other one would reach the terminal.
HIDDEN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def run_example(*args: object):
    """`invoke` with every warning a user would see made an error (so the run exits 1 naming
    it), except for a SIGTERM sent to pytest while the CLI runs in it. The CLI turns that into
    exit 143, as a cron run's should; here it is someone stopping the fuzzing run, not an
    outcome of the example. Judged as one, it failed, Hypothesis replayed the example, it
    passed, and the run went on to report a flaky failure."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for category in HIDDEN_WARNINGS:
            warnings.simplefilter("ignore", category)
        result = invoke(*args)
    if result.exit_code == Terminated.exit_code:
        raise StoppedBySigterm("a SIGTERM was sent to pytest: the fuzzing run stops, no finding")
    return result


def refused_or_ok(result, folder: Path, before: dict[str, bytes | None]) -> bool:
    """True on exit 0; on exit 2 checks the one error line and that `folder`, where every output
    of the run goes, is as it was; any other exit fails with what the run printed."""
    assert "Traceback" not in result.output, result.output
    if result.exit_code == 0:
        event("exit 0")
        return True
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    # Without -q, the epochs trained before a refusal (too few windows for a --level) show.
    *progress, error = result.stderr.splitlines() or [""]
    assert error.startswith("tsforecast: error: "), result.stderr
    assert all(PROGRESS.match(line) for line in progress), result.stderr
    # The statistics (pytest --hypothesis-show-statistics) count the refusals by their start.
    event("exit 2: " + " ".join(re.sub(r"'[^']*'|/\S+|\d+", "…", error).split()[2:6]))
    assert snapshot(folder) == before, "a refused run wrote into the output folder"
    return False


def utc_naive(values) -> pd.Series:
    """Timestamps as UTC without a zone, so that zoned and naive columns compare."""
    parsed = pd.to_datetime(pd.Series(values), utc=True)
    return parsed.dt.tz_localize(None)


# --- the files -----------------------------------------------------------------------------------

FREQS = ("h", "30min", "D", "W-SUN", "MS", "YS")  # yearly: period 1, no MSTL
# Rows per series: too few to train on, or enough; from small sets, so that the programs
# compiled for a size are reused (the short profile trains on one size, the single model's).
TOO_SHORT = (0, 1, 2, 5)
ENOUGH = (30, 64, 200) if LONG else (64,)


@dataclass(frozen=True)
class Dates:
    """How a time column is written: `write` turns grid timestamps (naive, read as UTC by the
    zoned writers) into text; `fmt` reads that text back right (None: ISO 8601 or a zone);
    `known` False where no reading is right (epoch numbers, garbage)."""

    name: str
    write: Callable[[pd.DatetimeIndex], list[str]]
    fmt: str | None = None
    known: bool = True

    def read_back(self, text: list[str], grid: pd.DatetimeIndex) -> pd.Series:
        """What the text says: read with its format (which may drop the time or the century),
        else the grid it was written from."""
        if self.fmt is not None:
            return utc_naive(pd.to_datetime(pd.Series(text), format=self.fmt))
        return pd.Series(grid)


def strftime(fmt: str) -> Dates:
    return Dates(fmt, lambda stamps: list(stamps.strftime(fmt)), fmt)


def zoned(zone: str) -> Dates:
    return Dates(
        f"zone {zone}",
        lambda stamps: [ts.isoformat() for ts in stamps.tz_localize("UTC").tz_convert(zone)],
    )


ISO = strftime("%Y-%m-%d %H:%M:%S")
DATES = (
    strftime("%Y-%m-%dT%H:%M:%S"),
    strftime("%Y-%m-%d"),
    strftime("%Y/%m/%d %H:%M"),
    strftime("%Y%m%d"),
    strftime("%d/%m/%Y"),
    strftime("%d/%m/%Y %H:%M"),
    strftime("%d.%m.%Y %H:%M:%S"),
    strftime("%d-%m-%y"),
    strftime("%m/%d/%Y"),
    strftime("%m/%d/%Y %I:%M %p"),
    strftime("%m-%d-%Y %H:%M"),
    strftime("%d %b %Y %H:%M"),
    strftime("%b %d, %Y"),
    zoned("+05:30"),
    zoned("Europe/Paris"),
    zoned("America/New_York"),
    Dates("Z", lambda stamps: list(stamps.strftime("%Y-%m-%dT%H:%M:%SZ"))),
    Dates(
        "mixed",
        lambda stamps: [
            ts.strftime("%Y-%m-%d %H:%M") if k % 2 else ts.strftime("%d/%m/%Y %H:%M")
            for k, ts in enumerate(stamps)
        ],
    ),
)
BAD_DATES = (
    Dates("epoch s", lambda stamps: [str(v) for v in stamps.as_unit("s").asi8], known=False),
    Dates("epoch ms", lambda stamps: [str(v) for v in stamps.as_unit("ms").asi8], known=False),
    Dates("garbage", lambda stamps: [f"day {k}" for k in range(len(stamps))], known=False),
    Dates("numbers", lambda stamps: [str(k) for k in range(len(stamps))], known=False),
)
DATE_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d %H:%M:%S", "%Q", "day")

TIME_NAMES = ("ds", "ds", "date", "timestamp", "Time", "when", "Datum", "日付", "")
TARGET_NAMES = ("y", "y", "value", "sales", "Umsatz €", "1", " y")
ID_NAMES = ("unique_id", "unique_id", "id", "series", "store")
ID_VALUES = ("a", "b", "c", "store 1", "café", "01", "2", "", "x,y")
VALUES = ("float", "float", "int", "negative", "constant", "zero", "huge", "overflow", "tiny")
VALUES += ("bool", "text", "comma", "empty", "inf")
# The kinds whose every cell a reader takes for a number (a bool column is numeric too).
NUMBERS = ("float", "int", "negative", "constant", "zero", "huge", "overflow", "tiny", "bool")
NUMBERS += ("inf",)
EXTRAS = ("note", "temp", "flag")
ENCODINGS = ("utf-8", "utf-8", "utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16")
NA_TEXT = ("", "", "NA", "NaN", "null", "-")


DAYS = ("2024-01-01", "2024-03-30 22:00", "2023-12-25", "2015-02-01")


@dataclass
class Table:
    """A generated data file, and what reading it right gives: the timestamps of each series'
    rows (`stamps`, UTC-naive), None when no reading is right (see Dates.known)."""

    path: Path
    layout: str  # single, long or wide
    freq: str
    time_col: str
    target: str
    id_col: str | None
    ids: tuple[str, ...]
    dates: Dates
    encoding: str
    stamps: dict[str, list[pd.Timestamp]] | None
    extra: str | None = None
    values: str = "float"  # the kind of values (series_values), for the reports of failures
    # One series beside an extra column: the last timestamp of each of the two read as the
    # series of a wide table, and whether the layout rules make the file that when no option
    # says otherwise (its target is not `y` and a reader takes both columns for numbers other
    # than true/false; None where the generator cannot tell how the reader types them).
    as_wide: dict[str, pd.Timestamp] | None = None
    wide_unasked: bool | None = False

    @property
    def lasts(self) -> dict[str, pd.Timestamp] | None:
        return None if self.stamps is None else {s: max(v) for s, v in self.stamps.items()}


def series_values(kind: str, n: int, rng: np.random.Generator) -> list[object]:
    """`n` cells of one series: numbers, or the text a spreadsheet would hold."""
    noise = rng.normal(0.0, 1.0, n)
    level = {"negative": -50.0, "huge": 1e30, "tiny": 1e-30, "overflow": 1e39}.get(kind, 100.0)
    numbers = level + abs(level) * 0.05 * noise
    if kind == "int":
        return [int(v) for v in np.round(numbers)]
    if kind == "constant":
        return [7.5] * n
    if kind == "zero":
        return [0] * n
    if kind == "bool":
        return [bool(v > 0) for v in noise]
    if kind == "text":
        return [f"{v:.2f}" if k % 7 else "n/a" for k, v in enumerate(numbers)]
    if kind == "comma":
        return [f"{v:.2f}".replace(".", ",") for v in numbers]
    if kind == "empty":
        return [None] * n
    if kind == "inf":
        return [float("inf") if k == n // 2 else float(v) for k, v in enumerate(numbers)]
    return [
        float(f"{v:.4g}") if kind in ("huge", "tiny", "overflow") else round(float(v), 3)
        for v in numbers
    ]


@st.composite
def tables(
    draw,
    folder: Path,
    layout: str | None = None,
    freq: str | None = None,
    names: tuple[str, str, str] | None = None,
    ids: tuple[str, ...] | None = None,
    covariate: str | None = None,
    enough: tuple[int, ...] = ENOUGH,
) -> Table:
    """A data file in `folder`; the arguments fix what a model expects, the rest is drawn."""
    folder.mkdir(parents=True, exist_ok=True)
    layout = layout or draw(st.sampled_from(("single", "single", "long", "wide")))
    freq = freq or draw(st.sampled_from(FREQS))
    time_col, target, id_col = names or (
        draw(rarely("ds", *TIME_NAMES, share=0.3)),
        draw(rarely("y", *TARGET_NAMES, share=0.3)),
        draw(rarely("unique_id", *ID_NAMES, share=0.3)),
    )
    if layout == "single":
        ids, id_col = (target,), None
    elif ids is None:
        ids = tuple(draw(st.lists(st.sampled_from(ID_VALUES), min_size=2, max_size=3, unique=True)))
    dates = draw(rarely(draw(rarely(ISO, *DATES, share=0.6)), *BAD_DATES, share=0.04))
    lengths = [draw(rarely(draw(st.sampled_from(enough)), *TOO_SHORT, share=0.1)) for _ in ids]
    shifts = [draw(st.sampled_from((0, 0, 1, 3))) for _ in ids]
    kind = draw(rarely("float", *VALUES, share=0.15))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    start = pd.Timestamp(draw(st.sampled_from(DAYS)))
    span = max(n + shift for n, shift in zip(lengths, shifts, strict=True))
    grid = pd.date_range(start, periods=span + 1, freq=freq)
    extra = None if layout == "wide" else draw(maybe(*EXTRAS, share=0.1))

    # Rows of the long layout: [id, position on the grid, value, covariate, extra column].
    rows = []
    for sid, n, shift in zip(ids, lengths, shifts, strict=True):
        values = series_values(kind, n, rng)
        for k in range(n):
            other = {"note": f"n{k}", "temp": round(float(rng.normal()), 2), "flag": k % 2 == 0}
            rows.append(
                [sid, shift + k, values[k], round(float(rng.normal(10, 2)), 2), other.get(extra)]
            )
    rows = perturbed(draw, rows, rng)
    text = dates.write(grid)
    header, cells, positions = layout_cells(layout, rows, text, (time_col, target, id_col), ids)
    for name, column in ((covariate, 3), (extra, 4)):
        if name and layout != "wide":
            header.append(name)
            for line, row in zip(cells, rows, strict=True):
                line.append(row[column])
    if draw(rarely(False, True, share=0.03)):
        header[-1] = header[0]  # a column name written twice
    if layout != "wide" and cells and draw(rarely(False, True, share=0.04)):
        k = int(rng.integers(len(cells)))
        cells[k][int(layout == "long")] = None
        positions[k] = None  # an empty time cell

    stamps = None
    if dates.known:
        read = dates.read_back(text, grid)
        stamps = {}
        for line, position in zip(cells, positions, strict=True):
            if position is None:
                continue
            if layout == "wide":
                present = [sid for sid, cell in zip(ids, line[1:], strict=True) if holds(cell)]
            else:
                present = [line[0] if layout == "long" else target]
            for sid in present:
                stamps.setdefault(str(sid), []).append(read[position])
    times = [None if p is None else read[p] for p in positions] if dates.known else None
    path, encoding, na = write_table(draw, folder, header, cells, times, int(layout == "long"))
    table = Table(
        path, layout, freq, time_col, target, id_col, ids, dates, encoding, stamps, extra, kind
    )
    if layout == "single" and extra is not None and dates.known:
        table = read_as_wide(table, cells, positions, read, na)
    return table


def read_as_wide(table: Table, cells: list[list], positions: list, read: pd.Series, na) -> Table:
    """`table`, a series beside an extra column, with what reading it as a wide table gives."""
    timed = [(line, p) for line, p in zip(cells, positions, strict=True) if p is not None]
    columns = {table.target: [read[p] for line, p in timed if holds(line[1])]}
    columns[table.extra] = [read[p] for _, p in timed]
    # "-" is no empty cell to a reader: it makes the column text. A true/false column is never
    # a series unless named (docs/data.md), so a `flag` beside the series keeps it one series.
    numbers = table.values in NUMBERS and table.values != "bool" and na != "-"
    return dataclasses.replace(
        table,
        as_wide={name: max(times) for name, times in columns.items() if times},
        wide_unasked=table.target != "y" and table.extra == "temp" and (numbers or None),
    )


def holds(cell) -> bool:
    """Whether a reader takes a cell for a value: `n/a` (series_values' text) is one of pandas'
    empty cells, and a wide table's series ends at its last value."""
    return cell is not None and cell != "n/a"


def perturbed(draw, rows: list[list], rng: np.random.Generator) -> list[list]:
    """Gaps, empty cells, duplicated rows and another row order, each drawn or not."""
    for _ in range(draw(rarely(0, 1, 3, share=0.08))):
        if rows:
            del rows[int(rng.integers(len(rows)))]
    for _ in range(draw(rarely(0, 1, 4, share=0.08))):
        if rows:
            rows[int(rng.integers(len(rows)))][2] = None
    for _ in range(draw(rarely(0, 1, share=0.04))):
        if rows:
            rows.append(list(rows[int(rng.integers(len(rows)))]))
    order = draw(rarely("sorted", "shuffled", "reversed", share=0.2))
    if order == "shuffled":
        rows = [rows[k] for k in rng.permutation(len(rows))]
    elif order == "reversed":
        rows = rows[::-1]
    return rows


def layout_cells(layout, rows, text, names, ids):
    """The header, the cells of every line (None: an empty cell) and each line's position on
    the grid."""
    time_col, target, id_col = names
    if layout == "wide":
        positions = sorted({r[1] for r in rows})
        by_cell = {(r[0], r[1]): r[2] for r in rows}
        cells = [[text[p], *(by_cell.get((s, p)) for s in ids)] for p in positions]
        return [time_col, *ids], cells, positions
    if layout == "single":
        return [time_col, target], [[text[r[1]], r[2]] for r in rows], [r[1] for r in rows]
    return (
        [id_col, time_col, target],
        [[r[0], text[r[1]], r[2]] for r in rows],
        [r[1] for r in rows],
    )


def write_table(
    draw, folder: Path, header: list[str], cells: list[list], times: list | None, time_at: int
) -> tuple[Path, str, str | None]:
    """Write the table as Parquet (its time column as text, or as timestamps when `times` gives
    them) or as (compressed) CSV text in a drawn encoding; returns the path, the encoding the
    text is in and the text of an empty cell (None in Parquet)."""
    suffix = draw(rarely(".csv", ".csv.gz", ".parquet", share=0.25))
    if suffix == ".parquet" and len(set(header)) == len(header):
        frame = pd.DataFrame(cells, columns=header)
        if times is not None and draw(st.booleans()):
            frame[header[time_at]] = pd.to_datetime(pd.Series(times, dtype=object))
        try:
            frame.to_parquet(folder / "data.parquet")
            return folder / "data.parquet", "utf-8", None
        except (ValueError, TypeError, OverflowError, ArithmeticError):
            pass  # mixed types pyarrow refuses to write: the file is a CSV after all
    if suffix == ".parquet":
        suffix = ".csv"
    na = draw(rarely("", *NA_TEXT, share=0.2))
    newline = draw(rarely("\n", "\r\n", share=0.2))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(header)
    for line in cells:
        writer.writerow([na if cell is None else cell for cell in line])
    text = buffer.getvalue() + draw(rarely("", newline * 2, share=0.2))
    encoding = draw(rarely("utf-8", *ENCODINGS, share=0.15))
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        encoding, data = "utf-8", text.encode("utf-8")
    path = folder / f"data{suffix}"
    path.write_bytes(gzip.compress(data) if suffix == ".csv.gz" else data)
    return path, encoding, na


# --- the options ---------------------------------------------------------------------------------


def rarely(usual, *others, share: float = 0.03):
    """`usual`, or one of `others` with probability about `share`. Hypothesis favours the first
    and the last choice, so `usual` is both."""
    copies = max(2, round(len(others) * (1 - share) / share))
    return st.sampled_from((usual,) * (copies // 2) + others + (usual,) * (copies - copies // 2))


def maybe(*values, share: float = 0.03):
    """None (an option not given) or, with probability about `share`, one of `values`."""
    return rarely(None, *values, share=share)


def arguments(options: dict[str, object]) -> list[str]:
    """Command-line arguments: True is a flag, a tuple a repeated option, None not given."""
    args = []
    for name, value in options.items():
        if value is None or value is False:
            continue
        if value is True:
            args.append(name)
        elif isinstance(value, tuple):
            for item in value:
                args += [name, str(item)]
        else:
            args += [name, str(value)]
    return args


BAD_LEVELS = ((0,), (100,), (-5,), (99.9,), ("nan",))


@st.composite
def reading_options(draw, table: Table) -> dict[str, object]:
    """The options that say how to read a data file: right, wrong or missing."""
    return {
        "--time-col": draw(maybe(table.time_col, table.time_col, "nope", table.target)),
        "--target": draw(maybe(table.target, table.target, "nope", table.extra)),
        "--id-col": draw(maybe(table.id_col, "nope")),
        "--freq": draw(maybe(table.freq, table.freq, "h", "D", "2h", "xyz")),
        "--fill": draw(maybe("interpolate", "ffill", share=0.3)),
        "--date-format": draw(maybe(table.dates.fmt, table.dates.fmt, *DATE_FORMATS)),
        "--encoding": draw(maybe(table.encoding, table.encoding, "latin-1", "utf-16", "nope")),
        "--season-length": draw(maybe("1", "2", "4,8", "0", "x", "1000")),
        "--transform": draw(maybe("log", "none", share=0.1)),
        "--covariates": draw(maybe(table.extra, "nope")),
        "--wide": draw(maybe(True)),
        "--long": draw(maybe(True)),
        "--strict": draw(maybe(True)),
        "--calendar": draw(maybe(True)),
    }


@st.composite
def model_options(draw) -> dict[str, object]:
    """Windows, network and intervals, from small sets: each new shape compiles."""
    return {
        "--horizon": draw(rarely(draw(st.sampled_from(HORIZONS)), 0, 100_000)),
        "--lookback": draw(rarely(draw(st.sampled_from(LOOKBACKS)), None, 0)),
        "--val-size": draw(maybe(1, 3, 500)),
        "--level": draw(rarely(draw(st.sampled_from(((), (80,), (50, 95)))), *BAD_LEVELS)),
        "--interval-method": draw(maybe("quantile", share=0.05)),
        "--model": draw(maybe("gru")),
        "--strategy": draw(maybe("recursive")),
    }


def read_as_written(table: Table, options: dict[str, object]) -> bool:
    """Whether the options read the file's time column as it was written, so that its
    timestamps must come out as `table.stamps` says."""
    return (
        table.stamps is not None
        and options.get("--time-col") in (None, table.time_col)
        and options.get("--date-format") in (None, table.dates.fmt)
        and options.get("--encoding") in (None, table.encoding)
    )


def expected_lasts(table: Table, options: dict[str, object]) -> dict[str, pd.Timestamp] | None:
    """The last timestamp of each series a run with these options reads from the file (by the
    layout rules of docs/data.md), None where the generator cannot tell."""
    if not read_as_written(table, options):
        return None
    wide = options.get("--wide") and not options.get("--long")  # the later flag wins
    if wide and table.layout == "long":
        return None  # ids that read as numbers make the id column a series of its own
    named = any(options.get(name) for name in ("--target", "--covariates", "--id-col"))
    if table.as_wide is not None and not options.get("--long"):
        if wide or (table.wide_unasked and not named):
            return table.as_wide
        if table.wide_unasked is None and not named:
            return None
    if table.layout == "single" and options.get("--target"):
        return {options["--target"]: max(table.lasts.values())}  # a series is named by its column
    return table.lasts


def out_path(draw, folder: Path, name: str) -> Path:
    """Where a run is told to write: a new path, a new folder's, or one in the way (an existing
    file, or a folder holding something else)."""
    where = draw(rarely("new", "nested", "file", "folder", share=0.06))
    path = folder / "deeper" / "still" / name if where == "nested" else folder / name
    if where == "file":
        path.write_text("not yours\n")
    elif where == "folder":
        path.mkdir()
        (path / "keep.txt").write_text("keep me\n")
    return path


def forecast_frame(text: str) -> pd.DataFrame:
    frame = pd.read_csv(io.StringIO(text), dtype={"unique_id": str})
    if "unique_id" in frame.columns:
        frame["unique_id"] = frame["unique_id"].fillna("")
    frame["ds"] = utc_naive(frame["ds"])
    return frame


def expected_steps(last: pd.Timestamp, freq: str, horizon: int) -> list[pd.Timestamp]:
    return list(pd.date_range(last, periods=horizon + 1, freq=freq)[1:])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def example_folder(workspace: Path) -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(dir=workspace)


# --- train ---------------------------------------------------------------------------------------


@pytest.mark.slow
@fuzzed("train")
@given(data=st.data())
def test_train_writes_a_model_or_refuses_in_one_line(workspace, data):
    with example_folder(workspace) as tmp:
        table = data.draw(tables(Path(tmp) / "in"), label="table")
        options = {**data.draw(reading_options(table)), **data.draw(model_options())}
        options["-q"] = data.draw(st.booleans())
        folder = Path(tmp) / "out"
        folder.mkdir()
        out = out_path(data.draw, folder, "model")
        before = snapshot(folder)
        result = run_example("train", table.path, *CHEAP, *arguments(options), "--out", out)
        if refused_or_ok(result, folder, before):
            check_model(out, table, options)


def check_model(out: Path, table: Table, options: dict[str, object]) -> None:
    """The model directory is complete and loads; it saw the series and the last timestamp the
    file holds."""
    artifact = artifacts.load(out)
    for name in ("config.json", "params.msgpack", "scaler.csv", "metrics.json", "history.csv"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    # The validation table: MAE and RMSE are defined for every forecast (MASE may not be).
    for method in ("model", "served"):
        assert math.isfinite(metrics[method]["mae"]), metrics
        assert math.isfinite(metrics[method]["rmse"]), metrics
    assert artifact.config.window.horizon == options["--horizon"]
    summary = artifact.summary.data_summary
    lasts = expected_lasts(table, options)
    if lasts is not None:
        assert summary["series"] == len(lasts)
        assert utc_naive([summary["last_timestamp"]])[0] == max(lasts.values())


# --- predict -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    directory: Path
    layout: str
    freq: str
    names: tuple[str, str, str | None]
    ids: tuple[str, ...]
    horizon: int
    covariate: str | None = None


@pytest.fixture(scope="module")
def models(workspace) -> dict[str, Model]:
    """Models trained once: one hourly series (its shape is the short profile's), and in the long
    profile a daily panel of three with a future covariate (a compilation of its own)."""
    folder = workspace / "models"
    folder.mkdir()
    hours = pd.date_range("2024-01-01", periods=64, freq="h")
    single = pd.DataFrame({"ds": hours, "y": 100 + 5 * np.sin(np.arange(64) / 4)})
    single.to_csv(folder / "single.csv", index=False)
    days = pd.date_range("2024-01-01", periods=40, freq="D")
    panel = pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": sid,
                    "ds": days[k:],
                    "y": 50 * (k + 1) + np.cos(np.arange(40 - k)),
                    "price": 10 + np.arange(40 - k) % 3,
                }
            )
            for k, sid in enumerate(("a", "b", "c"))
        ]
    )
    panel.to_csv(folder / "panel.csv", index=False)
    trained = {
        "single": Model(folder / "single", "single", "h", ("ds", "y", None), ("y",), 4),
        "panel": Model(
            folder / "panel", "long", "D", ("ds", "y", "unique_id"), ("a", "b", "c"), 2, "price"
        ),
    }
    if not LONG:
        del trained["panel"]
    for name, model in trained.items():
        extra = ("--future-covariates", model.covariate) if model.covariate else ()
        if LONG:
            # Calibration windows for most levels (the default leaves too few for 95%); the short
            # profile keeps the default, the shape its trainings share.
            extra += ("--val-size", 20 if name == "single" else 10)
        result = invoke(
            "train",
            folder / f"{name}.csv",
            *CHEAP,
            "--lookback",
            8,
            "--horizon",
            model.horizon,
            *extra,
            "-q",
            "--out",
            model.directory,
        )
        assert result.exit_code == 0, result.output
    return trained


@st.composite
def future_file(draw, folder: Path, model: Model, table: Table) -> Path:
    """The future covariate of the horizon after each series of `table`: complete, or with a
    step, a value or the column missing."""
    time_col, _, id_col = model.names
    lasts = table.lasts or {sid: pd.Timestamp("2024-03-01") for sid in model.ids}
    rows = []
    for sid, last in lasts.items():
        steps = pd.DatetimeIndex(expected_steps(last, model.freq, model.horizon))
        for stamp, text in zip(steps, table.dates.write(steps), strict=True):
            rows.append([sid, text, round(10 + stamp.day % 3 + 0.5, 2)])
    fault = draw(rarely(None, "step", "value", "column", "ids", share=0.2))
    if fault == "step" and rows:
        del rows[draw(st.integers(0, len(rows) - 1))]
    elif fault == "value" and rows:
        rows[draw(st.integers(0, len(rows) - 1))][2] = None
    header = [id_col, time_col, "price" if fault != "column" else "cost"]
    if fault == "ids":
        header, rows = header[1:], [row[1:] for row in rows]
    path = folder / "future.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([header, *rows])
    path.write_bytes(buffer.getvalue().encode(table.encoding))
    return path


@pytest.mark.slow
@fuzzed("predict")
@given(data=st.data())
def test_predict_forecasts_the_horizon_or_refuses_in_one_line(workspace, models, data):
    with example_folder(workspace) as tmp:
        model = models[data.draw(st.sampled_from(sorted(models)), label="model")]
        inputs = Path(tmp) / "in"
        if data.draw(rarely(True, False, share=0.15), label="the model's schema"):
            ids = data.draw(rarely(model.ids, model.ids[:1], (*model.ids, "new"), share=0.2))
            table = data.draw(
                tables(inputs, model.layout, model.freq, model.names, ids, model.covariate)
            )
        else:
            table = data.draw(tables(inputs), label="table")
        folder = Path(tmp) / "out"
        folder.mkdir()
        options = {
            "--level": data.draw(rarely(draw_one(data, ((), (80,), (50, 95))), *BAD_LEVELS)),
            "--id": data.draw(maybe(model.ids[:1], model.ids[::-1], ("zz",), model.ids[:1] * 2)),
            "--date-format": data.draw(maybe(table.dates.fmt, *DATE_FORMATS)),
            "--encoding": data.draw(maybe(table.encoding, "latin-1", "nope")),
            "--plot": data.draw(maybe(folder / "forecast.png")),
            "--future": (
                data.draw(future_file(inputs, model, table))
                if model.covariate and data.draw(rarely(True, False, share=0.1))
                else None
            ),
            "--out": data.draw(maybe(out_path(data.draw, folder, "forecast.csv"), share=0.5)),
        }
        before = snapshot(folder)
        result = run_example("predict", table.path, "--model", model.directory, *arguments(options))
        if refused_or_ok(result, folder, before):
            out = options["--out"]
            check_forecast(out.read_text() if out else result.stdout, model, table, options)


def draw_one(data, values):
    return data.draw(st.sampled_from(values))


def check_forecast(text: str, model: Model, table: Table, options: dict[str, object]) -> None:
    """The forecast parses, holds `horizon` steps per series, every value and bound finite with
    the bounds around the point, at the timestamps after each series' last."""
    frame = forecast_frame(text)
    assert np.isfinite(frame["y_hat"]).all(), frame
    for level in options["--level"]:
        lo, hi = frame[f"y_hat-lo-{float(level):g}"], frame[f"y_hat-hi-{float(level):g}"]
        assert np.isfinite(lo).all() and np.isfinite(hi).all(), frame
        assert (lo <= frame["y_hat"]).all() and (frame["y_hat"] <= hi).all(), frame
    ids = (
        frame["unique_id"] if "unique_id" in frame.columns else pd.Series(model.ids[0], frame.index)
    )
    assert (ids.value_counts() == model.horizon).all(), frame
    if not read_as_written(table, options):
        return
    wanted = list(dict.fromkeys(options["--id"] or table.lasts))
    assert sorted(ids.unique()) == sorted(wanted)
    for sid in wanted:
        steps = list(frame.loc[ids == sid, "ds"])
        assert steps == expected_steps(table.lasts[sid], model.freq, model.horizon), (sid, frame)


# --- backtest ------------------------------------------------------------------------------------

# statsforecast compiles its models with numba on first use (tens of seconds): the short profile
# asks only for names it refuses.
BASELINES = ("bogus", "mstl", "ets,theta") if LONG else ("bogus",)
WINDOWS = (1, 2, 3) if LONG else (1,)


@pytest.mark.slow
@fuzzed("backtest")
@given(data=st.data())
def test_backtest_scores_every_cutoff_or_refuses_in_one_line(workspace, data):
    with example_folder(workspace) as tmp:
        # The short profile's one cutoff, a horizon before the end, leaves the single model's
        # length to train on.
        enough = ENOUGH if LONG else (ENOUGH[0] + HORIZONS[0],)
        table = data.draw(tables(Path(tmp) / "in", enough=enough), label="table")
        options = {**data.draw(reading_options(table)), **data.draw(model_options())}
        options.update(
            {
                "--windows": data.draw(rarely(draw_one(data, WINDOWS), 0, 50)),
                "--step": data.draw(maybe(1, 3, share=0.2)),
                "--refit": data.draw(maybe("each", share=0.1)),
                "--baselines": data.draw(maybe(*BASELINES)),
                # A backtest's models have few calibration windows: most levels need more.
                "--level": data.draw(rarely((), (80,), *BAD_LEVELS, share=0.2)),
                "-q": data.draw(st.booleans()),
            }
        )
        folder = Path(tmp) / "out"
        folder.mkdir()
        out = out_path(data.draw, folder, "backtest")
        before = snapshot(folder)
        result = run_example("backtest", table.path, *CHEAP, *arguments(options), "--out", out)
        if refused_or_ok(result, folder, before):
            check_backtest(out, table, options)


def check_backtest(out: Path, table: Table, options: dict[str, object]) -> None:
    """Every series has `windows` cutoffs of `horizon` steps each, the last ending at its last
    timestamp, and the metrics tables parse."""
    forecasts = pd.read_csv(out / "backtest_forecasts.csv", dtype={"unique_id": str})
    forecasts["unique_id"] = forecasts["unique_id"].fillna("")
    windows, horizon = options["--windows"], options["--horizon"]
    per_window = forecasts.groupby(["unique_id", "cutoff"]).size()
    assert (per_window == horizon).all(), per_window
    assert (forecasts.groupby("unique_id")["cutoff"].nunique() == windows).all()
    bounds = [c for c in forecasts.columns if c.startswith("y_hat")]
    assert np.isfinite(forecasts[bounds].to_numpy(dtype=float)).all(), forecasts
    metrics = pd.read_csv(out / "backtest_metrics.csv", index_col=0)
    assert "model" in metrics.index
    assert "model" in json.loads((out / "backtest_metrics.json").read_text())
    by_window = pd.read_csv(out / "backtest_by_window.csv")
    assert len(by_window) == len(per_window) * len(metrics.index)
    lasts = expected_lasts(table, options)
    if lasts is not None:
        ends = utc_naive(forecasts["ds"]).groupby(forecasts["unique_id"]).max()
        assert ends.to_dict() == lasts


# --- evaluate ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forecasts:
    path: Path
    ids: frozenset[str]  # the series it forecasts
    windows: int  # (series, cutoff) pairs
    methods: tuple[str, ...]  # its point forecast columns, y_hat named `model` as evaluate does


@st.composite
def forecast_files(draw, folder: Path, table: Table) -> Forecasts:
    """A forecast file for the series of `table`: the last steps of each (or steps past its
    end), with a cutoff column or not, other methods, intervals, and faults."""
    stamps = table.stamps or {
        str(sid): list(pd.date_range("2024-01-01", periods=3)) for sid in table.ids
    }
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    width = draw(st.sampled_from((1, 2, 4)))
    cutoffs = draw(rarely(0, 1, 2, share=0.3))  # 0: no cutoff column
    past_the_end = draw(rarely(0, 1, share=0.05))
    rows = []
    for sid, series in stamps.items():
        series = sorted(series)
        for c in range(max(cutoffs, 1)):
            end = len(series) - c + past_the_end
            window = series[max(0, end - width) : end]
            if past_the_end and window:
                window = window + [window[-1] + pd.tseries.frequencies.to_offset(table.freq)]
            for stamp in window:
                value = round(float(rng.normal(100, 10)), 3)
                cutoff = series[max(0, end - width - 1)] if series else stamp
                rows.append([sid, cutoff, stamp, value, value + 1.0, value - 2.0, value + 2.0])
    header = ["unique_id", "cutoff", "ds", "y_hat", "other", "y_hat-lo-80", "y_hat-hi-80"]
    frame = pd.DataFrame(rows, columns=header)
    if not cutoffs:
        frame = frame.drop(columns="cutoff")
    methods = ["model", "other"]
    fault = draw(
        rarely(None, "nan", "text", "no ds", "no hi", "duplicate", "empty", "no id", share=0.2)
    )
    if draw(rarely(False, True, share=0.3)):
        frame, methods = frame.drop(columns="other"), ["model"]
    if fault == "nan" and len(frame):
        frame.loc[frame.index[0], "y_hat"] = np.nan
    elif fault == "text" and len(frame):
        frame["y_hat"] = frame["y_hat"].astype(object)
        frame.loc[frame.index[0], "y_hat"] = "n/a"
    elif fault == "no ds":
        frame = frame.drop(columns="ds")
    elif fault == "no hi":
        frame = frame.drop(columns="y_hat-hi-80")
    elif fault == "duplicate" and len(frame):
        frame = pd.concat([frame, frame.iloc[:1]])
    elif fault == "empty":
        frame = frame.iloc[:0]
    elif fault == "no id":
        frame = frame.drop(columns="unique_id")
    path = folder / "forecasts.csv"
    frame.to_csv(path, index=False)
    keys = [c for c in ("unique_id", "cutoff") if c in frame.columns]
    windows = len(frame.drop_duplicates(keys)) if keys and len(frame) else int(len(frame) > 0)
    ids = frozenset(frame["unique_id"].astype(str)) if "unique_id" in frame.columns else frozenset()
    return Forecasts(path, ids, windows, tuple(methods))


@fuzzed("evaluate")
@given(data=st.data())
def test_evaluate_scores_or_refuses_in_one_line(workspace, data):
    with example_folder(workspace) as tmp:
        inputs = Path(tmp) / "in"
        table = data.draw(tables(inputs), label="actuals")
        forecasts = data.draw(forecast_files(inputs, table), label="forecasts")
        history = data.draw(maybe(table.path, share=0.2))
        if data.draw(rarely(False, True, share=0.1)):
            history = data.draw(tables(Path(tmp) / "history"), label="history").path
        folder = Path(tmp) / "out"
        folder.mkdir()
        out = data.draw(
            maybe("scores.csv", "scores.json", "scores.txt", "deeper/scores.csv", share=0.5)
        )
        options = {
            "--train": history,
            "--season-length": data.draw(maybe(1, 2, 24, 0, share=0.1)),
            "--time-col": data.draw(maybe(table.time_col, "nope")),
            "--target": data.draw(maybe(table.target, "nope")),
            "--id-col": data.draw(maybe(table.id_col, "nope")),
            "--date-format": data.draw(maybe(table.dates.fmt, *DATE_FORMATS)),
            "--encoding": data.draw(maybe(table.encoding, "latin-1", "nope")),
            "--out": out and folder / out,
            "--by-window": data.draw(maybe(folder / "windows.csv", share=0.5)),
        }
        before = snapshot(folder)
        result = run_example("evaluate", forecasts.path, table.path, *arguments(options))
        if refused_or_ok(result, folder, before):
            check_scores(result.stdout, forecasts, options)


def check_scores(stdout: str, forecasts: Forecasts, options: dict[str, object]) -> None:
    """The table is printed and written; every forecast window has its row per method."""
    assert "model" in stdout
    out = options["--out"]
    if out is not None:
        if out.suffix == ".json":
            methods = set(json.loads(out.read_text()))
        else:
            methods = set(pd.read_csv(out, index_col=0).index)
        assert set(forecasts.methods) <= methods <= {*forecasts.methods, "naive2"}
    if options["--by-window"] is not None:
        by_window = pd.read_csv(options["--by-window"], dtype={"unique_id": str})
        model = by_window[by_window["method"] == "model"]
        assert len(model) == forecasts.windows
        if forecasts.ids:
            assert set(model["unique_id"].fillna("")) == forecasts.ids


# --- what fuzzing found, each case as a plain test -----------------------------------------------

ERROR = "tsforecast: error: "


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("\n".join([*lines, ""]))
    return path


def test_evaluate_reads_wide_actuals(tmp_path):
    # A wide ACTUALS file (one column per series) failed with "internal error: KeyError: 'y'".
    actuals = write_lines(
        tmp_path / "actuals.csv",
        "ds,a,b",
        "2024-01-01 00:00,10,20",
        "2024-01-01 01:00,12,21",
        "2024-01-01 02:00,14,23",
        "2024-01-01 03:00,13,22",
    )
    forecasts = write_lines(
        tmp_path / "fc.csv",
        "unique_id,ds,y_hat",
        "a,2024-01-01 02:00,13",
        "a,2024-01-01 03:00,13",
        "b,2024-01-01 02:00,22",
        "b,2024-01-01 03:00,24",
    )
    out = tmp_path / "scores.json"
    result = invoke("evaluate", forecasts, actuals, "--season-length", 1, "--out", out)
    assert result.exit_code == 0, result.output
    model = json.loads(out.read_text())["model"]
    # MAE: a (1 + 0) / 2, b (1 + 2) / 2. MASE scales from the values before each window: a
    # |12 - 10| = 2, b |21 - 20| = 1.
    assert model["MAE"] == pytest.approx((0.5 + 1.5) / 2)
    assert model["MASE"] == pytest.approx((0.5 / 2 + 1.5 / 1) / 2)


def test_evaluate_refuses_duplicated_actuals(tmp_path):
    # An internal error: "MergeError: Merge keys are not unique in right dataset".
    actuals = write_lines(
        tmp_path / "actuals.csv", "ds,y", "2024-01-01,1", "2024-01-02,2", "2024-01-02,3"
    )
    forecasts = write_lines(tmp_path / "fc.csv", "ds,y_hat", "2024-01-02,2")
    result = invoke("evaluate", forecasts, actuals, "--season-length", 1)
    assert result.exit_code == 2
    assert result.stderr == (
        f"{ERROR}{actuals} has 1 duplicated timestamps, first at 2024-01-02 00:00:00; aggregate "
        "them first\n"
    )


def test_evaluate_refuses_infinite_actuals(tmp_path):
    # They were scored, to NaN (and numpy warned on stderr).
    actuals = write_lines(tmp_path / "actuals.csv", "ds,y", "2024-01-01,1", "2024-01-02,inf")
    forecasts = write_lines(tmp_path / "fc.csv", "ds,y_hat", "2024-01-02,2")
    result = invoke("evaluate", forecasts, actuals, "--season-length", 1)
    assert result.exit_code == 2
    assert result.stderr == (
        f"{ERROR}{actuals}: target column 'y' has 1 values that are infinite or beyond float32 "
        "(about 3.4e38), first 'inf' at 2024-01-02 00:00:00; remove or rescale them\n"
    )


def test_evaluate_refusing_actuals_without_values_says_only_that(tmp_path):
    # Found by the long fuzz: the warning that values are missing came before the refusal.
    hours = [f"2024-01-01 {h:02d}:00:00," for h in range(24)]
    actuals = write_lines(tmp_path / "actuals.csv", "ds,y", *hours)
    forecasts = write_lines(tmp_path / "fc.csv", "ds,y_hat", "2024-01-01 05:00:00,1.0")
    result = invoke("evaluate", forecasts, actuals)
    assert result.exit_code == 2
    assert result.stderr == (
        f"{ERROR}1 forecast rows have no actual value, first: series 'y' at 2024-01-01 05:00:00\n"
    )


@pytest.mark.parametrize("empty", ["forecasts", "actuals"])
def test_evaluate_refuses_a_file_without_rows(tmp_path, empty):
    # Internal errors: "KeyError: 'MASE'" (no forecasts), "IndexError: single positional
    # indexer is out-of-bounds" (no actuals).
    files = {
        "forecasts": write_lines(tmp_path / "fc.csv", "ds,y_hat", "2024-01-02,2"),
        "actuals": write_lines(tmp_path / "actuals.csv", "ds,y", "2024-01-01,1", "2024-01-02,2"),
    }
    write_lines(files[empty], "ds,y_hat" if empty == "forecasts" else "ds,y")
    result = invoke("evaluate", files["forecasts"], files["actuals"])
    assert result.exit_code == 2
    what = "forecast rows" if empty == "forecasts" else "rows"
    assert result.stderr == f"{ERROR}{files[empty]} has no {what}\n"


def test_zoned_cutoffs_are_scored_without_a_warning(tmp_path):
    # numpy warned "no explicit representation of timezones available for np.datetime64" on
    # stderr at every backtest of zoned data.
    stamps = pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC")
    actuals = pd.DataFrame({"unique_id": "a", "ds": stamps, "y": [1.0, 2.0, 4.0, 8.0]})
    forecasts = actuals.iloc[2:].drop(columns="y").assign(y_hat=[3.0, 6.0], cutoff=stamps[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = evaluate(forecasts, actuals, 1, actuals).summary
    # The MASE scale is |2 - 1| (the history up to the cutoff); the errors 1 and 2.
    assert scores.loc["model", "MASE"] == pytest.approx(1.5)


def test_evaluate_writes_into_missing_folders(tmp_path):
    # An internal error: "OSError: Cannot save file into a non-existent directory".
    actuals = write_lines(tmp_path / "actuals.csv", "ds,y", "2024-01-01,1", "2024-01-02,2")
    forecasts = write_lines(tmp_path / "fc.csv", "ds,y_hat", "2024-01-02,3")
    out, windows = tmp_path / "new" / "scores.csv", tmp_path / "other" / "windows.csv"
    result = invoke(
        "evaluate", forecasts, actuals, "--season-length", 1, "--out", out, "--by-window", windows
    )
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out, index_col=0).loc["model", "MAE"] == pytest.approx(1.0)
    by_window = pd.read_csv(windows).set_index("method")
    # Naive2 from one value is that value: 1 against 2.
    assert by_window["MAE"].to_dict() == pytest.approx({"model": 1.0, "naive2": 1.0})


def test_ids_are_read_as_the_file_writes_them(tmp_path):
    # `007` and `7` were both read as the number 7: one series with duplicated timestamps.
    # `2` beside an empty id was the float 2.0, so predict wrote `2.0` and `--id 2` was unknown.
    rows = [f"{sid},2024-01-0{day},{day}" for sid in ("007", "7", "", "2") for day in (1, 2, 3)]
    path = write_lines(tmp_path / "data.csv", "unique_id,ds,y", *rows)
    panel, _ = load_panel(DataConfig(path=str(path)))
    assert panel.ids == ("", "007", "2", "7")
    assert list(panel.series(1)) == [1.0, 2.0, 3.0]
    future = write_lines(tmp_path / "future.csv", "unique_id,ds,price", "007,2024-01-04,5")
    keys = read_future(
        str(future), DataConfig(future_covariates=("price",), id_col="unique_id", time_col="ds")
    ).keys
    assert list(keys["id"]) == ["007"]


def test_evaluate_keeps_ids_as_written(tmp_path):
    actuals = write_lines(
        tmp_path / "actuals.csv",
        "unique_id,ds,y",
        "01,2024-01-01,1",
        "01,2024-01-02,2",
        "01,2024-01-03,4",
    )
    forecasts = write_lines(tmp_path / "fc.csv", "unique_id,ds,y_hat", "01,2024-01-03,3")
    result = invoke("evaluate", forecasts, actuals, "--by-window", tmp_path / "w.csv")
    assert result.exit_code == 0, result.output
    windows = pd.read_csv(tmp_path / "w.csv", dtype={"unique_id": str})
    assert set(windows["unique_id"]) == {"01"}


@pytest.mark.parametrize(("value", "shown"), [("inf", "inf"), ("-inf", "-inf"), ("1e39", "1e+39")])
def test_a_target_beyond_float32_is_refused_not_trained_into_nan(tmp_path, value, shown):
    # It trained to NaN and was refused as "training diverged (loss nan at epoch 1); lower --lr".
    lines = [f"2024-01-01 {h:02d}:00:00,{value if h == 5 else 100 + h}" for h in range(24)]
    path = write_lines(tmp_path / "data.csv", "ds,y", *lines)
    result = invoke("train", path, *CHEAP, "--lookback", 4, "--horizon", 2, "--out", tmp_path / "m")
    assert result.exit_code == 2
    assert result.stderr == (
        f"{ERROR}target column 'y' has 1 values that are infinite or beyond float32 (about "
        f"3.4e38), first {shown!r} at 2024-01-01 05:00:00; remove or rescale them\n"
    )
    assert not (tmp_path / "m").exists()


def test_a_date_format_pandas_cannot_read_is_refused(tmp_path):
    # An internal error: "ValueError: 'Q' is a bad directive in format '%Q'".
    path = write_lines(tmp_path / "data.csv", "ds,y", "2024-01-01,1", "2024-01-02,2")
    result = invoke("train", path, "--date-format", "%Y-%Q", "--out", tmp_path / "m")
    assert result.exit_code == 2
    assert result.stderr == (
        f"{ERROR}--date-format '%Y-%Q' cannot be read: 'Q' is a bad directive in format '%Y-%Q'; "
        "write it as strftime, e.g. %d/%m/%Y or %m/%d/%Y %H:%M\n"
    )


@pytest.mark.slow
def test_a_single_series_model_refuses_data_of_several_series(models, tmp_path):
    # It forecast both series, and wrote their rows without the ids that tell them apart.
    hours = pd.date_range("2024-01-01", periods=10, freq="h").strftime("%Y-%m-%d %H:%M:%S")
    rows = [f"{sid},{stamp},{100 + k}" for sid in ("b", "x") for k, stamp in enumerate(hours)]
    path = write_lines(tmp_path / "data.csv", "unique_id,ds,y", *rows)
    result = invoke("predict", path, "--model", models["single"].directory)
    assert result.exit_code == 2
    assert result.stderr == (
        f"{ERROR}the model was trained on one series (no id column) and the data holds 2: 'b', "
        "'x'; forecast them with a model trained on them (long or wide layout)\n"
    )


def test_a_wide_series_may_be_named_y(tmp_path):
    # `train ds,y-file --wide` failed with "internal error: ValueError: value_name (y) cannot
    # match an element in the DataFrame columns".
    path = write_lines(
        tmp_path / "data.csv", "ds,y", "2024-01-01,1", "2024-01-02,2", "2024-01-03,4"
    )
    panel, _ = load_panel(DataConfig(path=str(path), wide=True))
    assert panel.ids == ("y",)
    assert list(panel.series(0)) == [1.0, 2.0, 4.0]
    named = write_lines(tmp_path / "time.csv", "y,a,b", "2024-01-01,1,3", "2024-01-02,2,4")
    result = invoke("train", named, "--wide", "--out", tmp_path / "m")
    assert result.exit_code == 2
    assert result.stderr == (
        f"{ERROR}a wide table's time column cannot be named 'y': its long form names the series "
        "unique_id and their values y; rename it, or use --long\n"
    )


def test_a_series_beside_a_numeric_column_without_y_is_a_wide_table(tmp_path):
    # Not a bug: the fuzzer's oracle took `ds,sales,temp` for one series with an extra column,
    # where the layout rules (docs/data.md) read two series unless an option names the target.
    path = write_lines(
        tmp_path / "data.csv", "ds,sales,temp", "2024-01-01,1,7", "2024-01-02,2,8", "2024-01-03,4,"
    )
    panel, _ = load_panel(DataConfig(path=str(path)))
    assert panel.ids == ("sales", "temp")
    assert list(panel.series(1)) == [7.0, 8.0]
    panel, _ = load_panel(DataConfig(path=str(path), target="sales"))
    assert panel.ids == ("sales",)
    assert list(panel.series(0)) == [1.0, 2.0, 4.0]


def test_a_constant_series_leaves_the_serving_choice_to_the_others():
    # The network's scaled errors on the windows of a constant series were infinite (a rounding
    # error over a MASE scale of 0) where seasonal naive's were NaN, so seasonal naive served
    # every step of a panel holding one constant series.
    targets = np.array([[5.0, 5.0], [5.0, 5.0], [10.0, 12.0], [11.0, 13.0]])
    scales = np.array([0.0, 0.0, 2.0, 2.0])  # windows 0, 1: the constant series
    network = targets + np.array([[1e-12, 1e-12], [1e-12, 1e-12], [1.0, -1.0], [1.0, 1.0]])
    naive = targets + np.array([[0.0, 0.0], [0.0, 0.0], [4.0, 4.0], [-4.0, 4.0]])
    errors = scaled_errors({"model": network, "seasonal_naive": naive}, targets, scales)
    assert np.isnan(errors["model"][:2]).all() and np.isnan(errors["seasonal_naive"][:2]).all()
    steps, report = choose(errors, np.array([True, False, True, False]))
    # The other series' windows alone: the network 1 / 2 at every step, seasonal naive 4 / 2.
    assert steps == ("model", "model")
    assert report["overall_mase"] == {"model": 0.5, "seasonal_naive": 2.0}
    steps, report = choose(
        scaled_errors({"model": network, "seasonal_naive": naive}, targets, scales * 0),
        np.array([True, False, True, False]),
    )
    assert steps == ("model", "model")
    assert report["decided_on"].startswith("nothing: MASE is undefined")


@pytest.mark.slow
def test_a_constant_series_trains_without_numpy_warnings(models, tmp_path):
    # numpy's "Mean of empty slice" reached stderr, six lines of warnings and source.
    hours = pd.date_range("2024-01-01", periods=64, freq="h").strftime("%Y-%m-%d %H:%M:%S")
    path = write_lines(tmp_path / "data.csv", "ds,y", *[f"{stamp},7.5" for stamp in hours])
    # The shape of the single model (`models`), whose compiled programs it reuses.
    options = ("--lookback", 8, "--horizon", 4, "--level", 80, "-q")
    registry = tmp_path / "registry"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = invoke("train", path, *CHEAP, *options, "--registry", registry)
    assert result.exit_code == 0
    assert re.fullmatch(r"tsforecast: version \S+ is now current\n", result.stderr)
    metrics = strict_json(registry / "current" / "metrics.json")
    assert metrics["serving"]["steps"] == ["model"] * 4
    assert metrics["serving"]["decided_on"].startswith("nothing: MASE is undefined")
    # Undefined, and written as JSON's null: a bare NaN made the file unreadable to jq or a
    # JavaScript dashboard.
    assert metrics["model"]["mase"] is None
    assert metrics["model"]["mae"] >= 0
    strict_json(registry / "current" / "config.json")
    listed = invoke("registry", "list", registry)
    assert listed.exit_code == 0, listed.output
    # The undefined MASE, read back from the null, shows as the tables' "-", never "nan".
    row = next(line for line in listed.stdout.splitlines() if line.lstrip("│ ").startswith("*"))
    cells = [cell.strip() for cell in row.strip("│").split("│")]
    assert cells[5] == "-" and float(cells[6]) >= 0  # MASE undefined, sMAPE a number
    assert "nan" not in listed.stdout


def strict_json(path: Path):
    """The file parsed as RFC 8259 JSON, which has no NaN or Infinity."""

    def refuse(constant: str):
        raise AssertionError(f"{path.name} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_evaluate_says_a_constant_history_leaves_mase_undefined(tmp_path):
    # It said "no history before the forecasts: MASE and OWA need the training data (--train)"
    # of a history that was there.
    actuals = write_lines(
        tmp_path / "actuals.csv", "ds,y", "2024-01-01,5", "2024-01-02,5", "2024-01-03,6"
    )
    forecasts = write_lines(tmp_path / "fc.csv", "ds,y_hat", "2024-01-03,5")
    result = invoke("evaluate", forecasts, actuals, "--season-length", 1)
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "tsforecast: MASE and OWA are undefined: every series is constant before its forecasts "
        "(the seasonal naive error that scales them is 0)\n"
    )
