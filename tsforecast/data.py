"""Read a CSV or Parquet file, find its columns and its layout (long or wide), and hand the
long table to `tsforecast.panel` to become a validated panel."""

from __future__ import annotations

import bz2
import codecs
import dataclasses
import gzip
import io
import logging
import lzma
import os
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .config import STDIN, DataConfig
from .errors import ColumnError, ConfigError, DataError
from .panel import Panel, infer_freq, numeric_column, parse_time, season_length_for, to_panel

__all__ = [
    "FutureTable",
    "Panel",
    "as_source",
    "as_written",
    "frame_panel",
    "future_table",
    "infer_freq",
    "load_panel",
    "parse_time",
    "read_future",
    "read_table",
    "resolve_schema",
    "season_length_for",
    "to_long",
    "to_panel",
]

log = logging.getLogger(__name__)

TIME_COL_NAMES = ("ds", "date", "time", "timestamp", "datetime")
ID_COL_NAMES = ("unique_id", "id", "series", "item_id")
# The column names of a wide table once melted to the long layout.
WIDE_ID, WIDE_TARGET = "unique_id", "y"


GZIP_MAGIC, PARQUET_MAGIC = b"\x1f\x8b", b"PAR1"
_stdin: tuple[object, bytes] | None = None


def stdin_bytes() -> bytes:
    """Standard input, read to its end once per stream (every later reader of "-" in the same
    command gets the same bytes back), gunzipped when it is gzip."""
    global _stdin
    if _stdin is None or _stdin[0] is not sys.stdin:
        raw = sys.stdin.buffer.read()
        _stdin = (sys.stdin, gzip.decompress(raw) if raw[:2] == GZIP_MAGIC else raw)
    return _stdin[1]


def shown_path(path: str) -> str:
    """`path` as messages name it: standard input for "-"."""
    return "standard input" if path == STDIN else path


def _source(path: str) -> Path | io.BytesIO:
    """What pandas reads for `path`: the file, or standard input's bytes."""
    return io.BytesIO(stdin_bytes()) if path == STDIN else Path(path)


def _is_parquet(path: str) -> bool:
    if path == STDIN:
        return stdin_bytes()[:4] == PARQUET_MAGIC
    return Path(path).suffix.lower() == ".parquet"


def read_table(path: str, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a CSV (pyarrow engine; text in `encoding`) or Parquet file, or either from standard
    input (`path` "-"); any failure becomes a DataError: text that is not in `encoding` names
    the line, a repeated column name the name."""
    if path != STDIN and not Path(path).is_file():
        raise DataError(f"no such file: {path}")
    if path == STDIN and not stdin_bytes():
        raise DataError("standard input is empty: pipe a CSV or Parquet table into DATA -")
    try:
        frame, header = _read(path, encoding)
    except UnicodeDecodeError:
        raise DataError(_undecodable(path, encoding)) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty") from None
    except Exception as exc:  # noqa: BLE001 - any reader failure is bad input, reported in one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read {path} as a table: {reason}") from None
    if _holds_bytes(frame):
        raise DataError(_undecodable(path, encoding))
    repeated = sorted(str(name) for name, count in Counter(header).items() if count > 1)
    if repeated:
        raise DataError(
            f"{path} has more than one column named {', '.join(map(repr, repeated))}; "
            "give each column its own name"
        )
    return frame


def as_written(path: str, frame: pd.DataFrame, column: str, encoding: str = "utf-8") -> pd.Series:
    """`frame[column]` (as `read_table` read it from `path`) as the text the CSV file holds: the
    reader makes numbers of a column that looks numeric (`007` becomes 7, and `2` beside an
    empty cell 2.0), but an id is a name."""
    values = frame[column]
    if _is_parquet(path) or not pd.api.types.is_numeric_dtype(values):
        return values
    text = _read_compact(path, encoding, as_text=column) if path != STDIN else None
    if text is not None:
        text = text[column]
    else:
        position = list(frame.columns).index(column)
        text = pd.read_csv(_source(path), encoding=encoding, usecols=[position], dtype=str)
        text = text.iloc[:, 0]
    return text.set_axis(frame.index) if len(text) == len(frame) else values


def _read(path: str, encoding: str) -> tuple[pd.DataFrame, list]:
    """The table, and its column names as the file's header writes them."""
    if path != STDIN:
        frame = _read_compact(path, encoding)
        if frame is not None:
            return frame, list(frame.columns)
    if _is_parquet(path):
        frame = pd.read_parquet(_source(path))
        return frame, list(frame.columns)
    try:
        frame = pd.read_csv(_source(path), engine="pyarrow", encoding=encoding)
        # The pyarrow engine keeps a repeated name as it is.
        return frame, list(frame.columns)
    except (ValueError, TypeError):
        # The pyarrow engine rejects some valid CSVs (ragged quoting, odd encodings);
        # the C engine is slower but more forgiving.
        frame = pd.read_csv(_source(path), encoding=encoding)
    # The C engine renames a repeated `x` to `x.1`, which a real `x.1` column is too: only the
    # header line itself tells them apart.
    header = pd.read_csv(_source(path), encoding=encoding, header=None, nrows=1, dtype=str)
    return frame, header.iloc[0].tolist()


# Rows a compact read converts at a time: the text of one block and its columns are all it holds
# beside the columns converted so far.
BLOCK_BYTES = 4 << 20
# What pandas' pyarrow engine reads as an empty cell.
NULL_TEXT = sorted(pd._libs.parsers.STR_NA_VALUES)
# The compressed CSVs arrow reads by their suffix, as pandas does; pandas alone reads the others
# (.xz, .zip, .tar).
ARROW_COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")
PANDAS_COMPRESSIONS = (".xz", ".zip", ".tar")


def _read_compact(path: str, encoding: str, as_text: str | None = None) -> pd.DataFrame | None:
    """The file as `pd.read_csv(engine="pyarrow")` or `pd.read_parquet` read it, but held in
    about as little memory as its values need: read a block at a time, its text columns
    (ids, and times written as text) as categoricals, whose every row is a small code into the
    distinct values (a long table repeats each id and timestamp many times). None when the file
    is one that this reader does not take as those do: a column whose type changes after the
    first block, repeated column names, or any reading error; the caller then reads it the
    usual way, which also words the error. With `as_text`, that CSV column alone, as the text
    the file holds."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if Path(path).suffix.lower() in PANDAS_COMPRESSIONS:
        return None
    batches = None
    try:
        if _is_parquet(path):
            schema = pq.read_schema(path)
            # A stored index comes back as pandas' index, not as a column.
            stored = (schema.pandas_metadata or {}).get("index_columns", [])
            if any(isinstance(column, str) for column in stored):
                return None
            text = [f.name for f in schema if pa.types.is_string(f.type)]
            batches = pq.ParquetFile(
                path, read_dictionary=text, memory_map=True, pre_buffer=False
            ).iter_batches(batch_size=1 << 16, use_pandas_metadata=False)
        else:
            batches = CsvBlocks(
                path,
                encoding,
                pcsv.ConvertOptions(
                    null_values=NULL_TEXT,
                    strings_can_be_null=True,
                    auto_dict_encode=True,
                    auto_dict_max_cardinality=2**31 - 1,
                    include_columns=[as_text] if as_text else None,
                    column_types={as_text: pa.dictionary(pa.int32(), pa.string())}
                    if as_text
                    else None,
                ),
            )
            schema = batches.schema
        names = schema.names
        # Bytes are text that is not in the encoding, which the usual reader words.
        binary = [getattr(t, "value_type", t) for t in schema.types]
        if len(set(names)) != len(names) or any(map(pa.types.is_binary, binary)):
            return None
        columns = {name: _Parts() for name in names}
        categories: dict[str, dict] = {}
        for batch in batches:
            for name, column in zip(names, batch.columns, strict=True):
                if pa.types.is_dictionary(column.type):
                    columns[name].add(_global_codes(column, categories.setdefault(name, {})))
                else:
                    if pa.types.is_null(column.type):  # every cell empty: NaN, as pandas reads it
                        column = column.cast(pa.float64())
                    if pa.types.is_timestamp(column.type) and column.type.unit != "ns":
                        # As parse_timestamps would make them, without a second copy.
                        column = column.cast(pa.timestamp("ns", column.type.tz))
                    # A copy of its own, so that arrow reuses the block's memory for the next.
                    columns[name].add(column.to_pandas().copy(deep=True))
    except Exception:  # noqa: BLE001 - the usual reader reads it again and words any error
        return None
    finally:
        if isinstance(batches, CsvBlocks):
            batches.close()
        # Arrow's allocator keeps what it freed for itself; nothing else of this run reuses it.
        pa.default_memory_pool().release_unused()
    frame = {}
    for name in names:
        whole = columns.pop(name).whole()
        if name in categories:
            codes = np.zeros(0, np.int32) if whole is None else whole
            frame[name] = pd.Categorical.from_codes(codes, categories=list(categories[name]))
        else:
            frame[name] = pd.Series([]) if whole is None else whole
        del whole
    return_freed_memory()
    return pd.DataFrame(frame, copy=False)


def return_freed_memory() -> None:
    """Hand the heap's free pages back to the system (glibc's malloc_trim): the blocks a read
    freed would otherwise count towards every later peak of the process."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: its allocator decides
        pass


# A column's blocks are joined into pieces of at least this size as they are read: allocations
# this large are memory mapped of their own and go back to the system when freed, where the
# blocks' few hundred kilobytes each would stay in the allocator's heap, holding the peak up.
JOINED_BYTES = 40 << 20


class _Parts:
    """A column read a block at a time (numpy arrays or pandas Series)."""

    def __init__(self):
        self.joined: list = []
        self.recent: list = []
        self.recent_bytes = 0

    def add(self, part) -> None:
        self.recent.append(part)
        self.recent_bytes += part.nbytes
        if self.recent_bytes >= JOINED_BYTES:
            self._join()

    def _join(self) -> None:
        if self.recent:
            self.joined.append(_joined(self.recent))
            self.recent, self.recent_bytes = [], 0

    def whole(self):
        """The column, or None when the file has no rows."""
        self._join()
        parts, self.joined = self.joined, []
        return _joined(parts) if parts else None


def _joined(parts: list):
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return pd.concat(parts, ignore_index=True)


class CsvBlocks:
    """The record batches of a CSV file read by arrow's streaming reader with `convert`
    (pyarrow ConvertOptions) a BLOCK_BYTES block at a time, never more than two blocks ahead of
    the batches taken; `schema` is known on opening. Close it (or use `with`) when done."""

    def __init__(self, path: str, encoding: str, convert):
        import pyarrow.csv as pcsv

        self.paced = _Paced(path, 2 * BLOCK_BYTES)
        try:
            self.reader = pcsv.open_csv(
                self.paced.stream(),
                read_options=pcsv.ReadOptions(
                    # pyarrow transcodes any other name, "utf-8" too, through a copy of the file.
                    encoding="utf8" if codecs.lookup(encoding).name == "utf-8" else encoding,
                    block_size=BLOCK_BYTES,
                ),
                convert_options=convert,
            )
        except BaseException:
            self.paced.close()
            raise
        self.schema = self.reader.schema

    def __iter__(self):
        for batch in self.reader:
            self.paced.allow(BLOCK_BYTES)
            yield batch

    def close(self) -> None:
        self.paced.close()

    def __enter__(self) -> CsvBlocks:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Paced(io.RawIOBase):
    """A file that arrow's CSV reader reads only so far ahead of the blocks taken from it: its
    background reads would otherwise pull in the whole file (the reader has no such limit).
    Compressed files are read as they are, unpaced."""

    def __init__(self, path: str, ahead: int):
        self.path, self.read_so_far, self.allowed = path, 0, ahead
        self.turn = threading.Condition()

    def stream(self):
        import pyarrow as pa

        if Path(self.path).suffix.lower() in ARROW_COMPRESSIONS:
            return self.path
        self.file = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed with the stream
        return pa.PythonFile(self, mode="r")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        with self.turn:
            # Never forever: a reader that needs more before it yields a block gets it.
            self.turn.wait_for(lambda: self.read_so_far < self.allowed, timeout=1)
        count = self.file.readinto(buffer)
        self.read_so_far += count
        return count

    def close(self) -> None:
        if hasattr(self, "file"):
            self.file.close()
        super().close()

    def allow(self, more: int) -> None:
        """A block was taken: the reader may read `more` bytes further."""
        with self.turn:
            self.allowed += more
            self.turn.notify_all()


def _global_codes(column, seen: dict) -> np.ndarray:
    """A dictionary-encoded block's codes into `seen` (distinct value -> code, grown here in
    the order values first appear): -1 where the cell is empty."""
    values = column.dictionary.to_pylist()
    # An empty cell's index points past the block's values, at the -1 after them.
    mapping = np.asarray([seen.setdefault(v, len(seen)) for v in values] + [-1], np.int32)
    return mapping[column.indices.fill_null(len(values)).to_numpy()]


def _holds_bytes(frame: pd.DataFrame) -> bool:
    """Whether the pyarrow engine left a column as bytes: it does so with text that is not valid
    UTF-8 instead of failing."""
    for position, dtype in enumerate(frame.dtypes):
        if pd.api.types.is_object_dtype(dtype):
            column = frame.iloc[:, position]
            first = column.first_valid_index()
            if first is not None and isinstance(column[first], bytes):
                return True
    return False


# Compressed CSVs pandas reads by their suffix, and how to open them to find an undecodable line.
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def _undecodable(path: str, encoding: str) -> str:
    """The message for text that is not in `encoding`: which byte on which line of the file."""
    found = _first_undecodable_line(path, encoding)
    where = "the file has bytes" if found is None else f"line {found[0]} has the byte {found[1]}"
    return (
        f"cannot read {shown_path(path)} as a table: it is not {encoding} text ({where} that "
        f"{encoding} does not allow); give its encoding with --encoding NAME (e.g. latin-1, "
        "cp1252)"
    )


def _first_undecodable_line(path: str, encoding: str) -> tuple[int, str] | None:
    """(line number from 1, the byte as 0x..) of the first byte `encoding` cannot decode."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        opened = (
            io.BytesIO(stdin_bytes())
            if path == STDIN
            else _OPENERS.get(Path(path).suffix.lower(), open)(path, "rb")
        )
        with opened as handle:
            for number, line in enumerate(handle, 1):
                try:
                    decoder.decode(line)
                except UnicodeDecodeError as exc:
                    return number, f"0x{exc.object[exc.start]:02x}"
    except OSError:  # a compression it cannot open: the message does without the line
        return None
    return None


def _pick_column(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {c.lower(): c for c in columns}
    for name in wanted:
        if name in lowered:
            return lowered[name]
    return None


def _require_column(df: pd.DataFrame, name: str, option: str) -> None:
    if name not in df.columns:
        raise ColumnError(option, name, [str(c) for c in df.columns])


def _parses_as_time(column: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(column):
        return True
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return False
    sample = column.dropna().head(50)
    if sample.empty:
        return False
    return bool(pd.to_datetime(sample.astype(str), errors="coerce", format="mixed").notna().all())


def _looks_wide(df: pd.DataFrame, cfg: DataConfig, time_col: str, id_col: str | None) -> bool:
    if cfg.wide is not None:
        return cfg.wide
    if id_col is not None or cfg.target is not None or cfg.covariate_columns:
        return False
    rest = [c for c in df.columns if c != time_col]
    numeric = [c for c in rest if _holds_numbers(df[c])]
    return "y" not in rest and len(numeric) >= 2 and len(numeric) == len(rest)


def _holds_numbers(column: pd.Series) -> bool:
    """Whether a column can be a series when no option names it. pandas counts a column of
    true/false as numeric, but in `ds,demand,holiday` such a column is a flag beside the
    series, not a second series or the target."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def resolve_schema(df: pd.DataFrame, cfg: DataConfig) -> DataConfig:
    """Fill in the time, id and target columns that were not given, or explain why it can't.
    A wide table (one column per series) resolves to `wide=True`, id `unique_id`, target `y`:
    the names of its long form (see `to_long`)."""
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
                "no time column found "
                f"(looked for {', '.join(TIME_COL_NAMES)} or a column of dates); "
                f"the columns are: {', '.join(columns)}; name one with --time-col"
            )

    id_col = cfg.id_col
    if id_col is not None and not cfg.wide:
        _require_column(df, id_col, "--id-col")
    elif not cfg.wide:
        id_col = _pick_column([c for c in columns if c != time_col], ID_COL_NAMES)

    if _looks_wide(df, cfg, time_col, id_col):
        if time_col in (WIDE_ID, WIDE_TARGET):
            raise DataError(
                f"a wide table's time column cannot be named {time_col!r}: its long form names "
                f"the series {WIDE_ID} and their values {WIDE_TARGET}; rename it, or use --long"
            )
        if cfg.covariate_columns:
            raise DataError(
                "covariates need the long layout (unique_id, ds, y, covariates...), not --wide"
            )
        series = [c for c in columns if c != time_col]
        non_numeric = [c for c in series if not pd.api.types.is_numeric_dtype(df[c])]
        if non_numeric:
            raise DataError(
                f"wide layout: column(s) {', '.join(map(repr, non_numeric[:5]))} are not numeric; "
                "every column but the time column must be one series"
            )
        return dataclasses.replace(
            cfg, time_col=time_col, id_col=WIDE_ID, target=WIDE_TARGET, wide=True
        )

    for option, names in (
        ("--covariates", cfg.covariates),
        ("--future-covariates", cfg.future_covariates),
        ("--static", cfg.static),
    ):
        for name in names:
            _require_column(df, name, option)
    taken = {time_col, id_col, *cfg.covariate_columns}
    target = cfg.target
    if target is not None:
        _require_column(df, target, "--target")
    else:
        rest = [c for c in columns if c not in taken]
        if "y" in rest:
            target = "y"
        else:
            numeric = [c for c in rest if _holds_numbers(df[c])]
            if len(numeric) == 1:
                target = numeric[0]
            elif not numeric:
                raise DataError(
                    f"no numeric target column found among: {', '.join(rest) or '(none)'}; "
                    "name one with --target (a true/false column is read as one only when named)"
                )
            else:
                raise DataError(
                    f"several numeric columns ({', '.join(numeric)}); "
                    "choose the target with --target, or use --wide"
                )
    if target in taken:
        raise DataError(f"--target {target!r} is also the time, id or a covariate column")
    return dataclasses.replace(cfg, time_col=time_col, id_col=id_col, target=target, wide=False)


def to_long(df: pd.DataFrame, cfg: DataConfig) -> pd.DataFrame:
    """A wide table (time column + one column per series) melted to `time, unique_id, y`; the
    empty cells before a series starts and after it ends are dropped, so columns may differ in
    length. A long table is returned as it is."""
    if not cfg.wide:
        return df
    # A series may itself be named y, which pandas refuses as the name of the melted values.
    values = "\0" + WIDE_TARGET
    long = df.melt(id_vars=[cfg.time_col], var_name=WIDE_ID, value_name=values)
    long = long.rename(columns={values: WIDE_TARGET})
    present = long[WIDE_TARGET].notna()
    by_series = present.groupby(long[WIDE_ID], sort=False)
    inside = (
        by_series.cummax() & present[::-1].groupby(long[WIDE_ID][::-1], sort=False).cummax()[::-1]
    )
    return long.loc[inside.to_numpy()].reset_index(drop=True)


def as_source(data: object) -> pd.DataFrame | str:
    """What the Python API is given to read: a frame in memory as it is, or the path of a CSV
    or Parquet file ("-": standard input) as a string."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, str | os.PathLike):
        return os.fspath(data)
    raise ConfigError(
        f"the data is a {type(data).__name__}: give a pandas DataFrame or the path of a CSV or "
        "Parquet file"
    )


def load_panel(
    cfg: DataConfig, fill: bool = True, frame: pd.DataFrame | None = None
) -> tuple[Panel, DataConfig]:
    """Read, resolve the columns, validate; returns the panel and the fully resolved config.
    With `fill` False the gaps that --fill repairs stay NaN (see `Panel.filled`). With `frame`
    (a table given to the Python API) that table is read, a copy, instead of the file
    `cfg.path` names."""
    if frame is not None:
        return frame_panel(frame.copy(), dataclasses.replace(cfg, path=""), fill)
    return frame_panel(read_table(cfg.path, cfg.encoding), cfg, fill)


def frame_panel(df: pd.DataFrame, cfg: DataConfig, fill: bool = True) -> tuple[Panel, DataConfig]:
    """`load_panel` of a table already in memory, read from `cfg.path` or given to the Python
    API (`cfg.path` empty); `df` may be changed."""
    if df.shape[1] < 2:
        raise DataError(
            f"{cfg.path or 'the data'} needs a time column and a target column, found "
            f"{df.shape[1]} column(s)"
        )
    resolved = resolve_schema(df, cfg)
    if resolved.id_col is not None and not resolved.wide and cfg.path:
        df[resolved.id_col] = as_written(cfg.path, df, resolved.id_col, cfg.encoding)
    # Before a wide table is melted, so that a refused timestamp's row is the file's row.
    df, first_row = _without_empty_ends(df, resolved) if resolved.wide else (df, 1)
    df[resolved.time_col] = parse_time(df, resolved.time_col, resolved.date_format, first_row)
    return to_panel(to_long(df, resolved), resolved, fill)


def _without_empty_ends(df: pd.DataFrame, cfg: DataConfig) -> tuple[pd.DataFrame, int]:
    """A wide table without the rows before its first value and after its last, and the row
    number (from 1) of the first row kept. Melting drops those rows, whatever their time cells
    hold: spreadsheets export trailing rows of empty cells."""
    present = df.loc[:, df.columns != cfg.time_col].notna().any(axis=1).to_numpy()
    if present.all():
        return df, 1
    first, end = int(np.argmax(present)), len(present) - int(np.argmax(present[::-1]))
    return df.iloc[first:end].copy() if present.any() else df.iloc[:0].copy(), first + 1


@dataclass(frozen=True)
class FutureTable:
    """The future-known covariates of a --future file: `values` <float64>[rows, k] of the
    columns `cfg.future_covariates`, and each row's series id and timestamp (`keys`: id, ds in
    ns, row; the last of duplicated (id, ds) rows wins). A single-series file has no ids."""

    path: str
    keys: pd.DataFrame
    values: np.ndarray
    has_ids: bool

    def after(self, panel: Panel, horizon: int) -> np.ndarray:
        """The covariates of the `horizon` steps after each series of `panel`:
        <float32>[n_series * horizon, k]. Every series must have every step; the error names
        the ids and timestamps that are missing."""
        keys = self.keys if self.has_ids else self.keys.assign(id=panel.ids[0])
        wanted = pd.DataFrame(
            {
                "id": np.repeat(np.asarray(panel.ids, dtype=object), horizon),
                "ds": np.concatenate(
                    [
                        panel.future_timestamps(i, horizon).as_unit("ns").asi8
                        for i in range(len(panel.ids))
                    ]
                ),
            }
        )
        found = wanted.merge(keys, on=["id", "ds"], how="left")["row"].to_numpy()
        missing = np.isnan(found)
        if not missing.any():
            picked = self.values[found.astype(np.int64)]
            missing = np.isnan(picked).any(axis=1)
        if missing.any():
            ids = list(dict.fromkeys(wanted["id"][missing]))
            first = int(np.argmax(missing))
            at = pd.Timestamp(int(wanted["ds"][first]), tz=panel.starts[0].tz)
            raise DataError(
                f"--future file {self.path} lacks the future covariates of {int(missing.sum())} "
                f"of the {len(wanted)} forecast steps: series {', '.join(map(repr, ids[:5]))}"
                f"{' ...' if len(ids) > 5 else ''}, first at {at} ({horizon} steps after each "
                "series' last timestamp needed)"
            )
        return picked.astype(np.float32)


def read_future(path: str, cfg: DataConfig) -> FutureTable:
    """Read a --future file, which has the training file's id and time columns (`cfg`, as the
    model saved it) and its future covariates."""
    return future_table(read_table(path, cfg.encoding), cfg, path)


def future_table(df: pd.DataFrame, cfg: DataConfig, path: str = "") -> FutureTable:
    """`read_future` of a table already in memory (read from `path`, or given to the API);
    `df` may be changed."""
    df.columns = [str(c) for c in df.columns]
    has_ids = not cfg.wide and cfg.id_col is not None
    for column in (cfg.time_col, *((cfg.id_col,) if has_ids else ()), *cfg.future_covariates):
        if column not in df.columns:
            raise DataError(
                f"--future file {path or '(a data frame)'} has no column {column!r}; the "
                f"columns are: {', '.join(df.columns)}"
            )
    time = parse_time(df, cfg.time_col, cfg.date_format)
    ids = (
        (as_written(path, df, cfg.id_col, cfg.encoding) if path else df[cfg.id_col])
        .astype("string")
        .fillna("")
        .to_numpy(object)
        if has_ids
        else None
    )
    values = np.column_stack(
        [numeric_column(df, name, "future covariate", time, ids) for name in cfg.future_covariates]
    )
    keys = pd.DataFrame({"id": ids if has_ids else "", "ds": time.asi8})
    keys = keys.assign(row=np.arange(len(df))).drop_duplicates(["id", "ds"], keep="last")
    return FutureTable(path, keys, values, has_ids)
