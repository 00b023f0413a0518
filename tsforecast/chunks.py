"""Reading a long-layout CSV or Parquet file a few series at a time, for files larger than
memory: one pass over the id column counts each series' rows and plans chunks of whole series,
a second pass spills each chunk's rows to its own temporary Arrow file, and each chunk is then
read back as the table `data.read_table` would have given for those rows.

A file the streaming readers cannot read exactly as `read_table` does (a column whose type
changes after the first block, undecodable text, repeated column names, an id column that is
not there) is not chunked: `plan` returns None and the caller reads it whole, which reports
any problem as usual.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .config import STDIN, DataConfig
from .data import (
    ARROW_COMPRESSIONS,
    NULL_TEXT,
    PANDAS_COMPRESSIONS,
    CsvBlocks,
    return_freed_memory,
)
from .errors import DataError
from .panel import series_codes

PARQUET_BATCH = 65_536
# The fewest bytes a CSV row `id,time,value` can take: a smaller file cannot hold more rows
# than a chunk, so it is read whole without counting its rows first.
MIN_ROW_BYTES = 8


@dataclass(frozen=True)
class ChunkPlan:
    """How a file is read in chunks: the series ids of each chunk, in output order, each chunk
    of at most `rows_per_chunk` rows (or one longer series)."""

    path: str
    groups: tuple[tuple[str, ...], ...]
    columns: tuple[str, ...]
    rows_per_chunk: int


def split(sizes: Iterable[tuple[str, int]], rows_per_chunk: int) -> list[tuple[str, ...]]:
    """Consecutive groups of the (id, rows) `sizes`, in their order, each of at most
    `rows_per_chunk` rows; a series is never split, so one longer than that is a group alone."""
    groups: list[tuple[str, ...]] = []
    current: list[str] = []
    rows = 0
    for series_id, count in sizes:
        if current and rows + count > rows_per_chunk:
            groups.append(tuple(current))
            current, rows = [], 0
        current.append(series_id)
        rows += count
    if current:
        groups.append(tuple(current))
    return groups


def plan(cfg: DataConfig, rows_per_chunk: int, ids: Iterable[str] = ()) -> ChunkPlan | None:
    """The chunks of the long-layout file `cfg.path`, in the panel's order (sorted ids) or,
    with `ids`, in the order given (duplicates dropped; an id not in the file is a DataError, as
    `Panel.select` raises it); None when the file is better read whole: standard input, a
    wide table, at most `rows_per_chunk` rows, or one the streaming readers cannot read as
    `data.read_table` does."""
    path = cfg.path
    if rows_per_chunk <= 0 or path in (STDIN, "") or cfg.wide or cfg.id_col is None:
        return None
    if Path(path).suffix.lower() in PANDAS_COMPRESSIONS:  # arrow cannot open them
        return None
    parquet = Path(path).suffix.lower() == ".parquet"
    if not parquet and _plain_csv(path) and os.path.getsize(path) < rows_per_chunk * MIN_ROW_BYTES:
        return None
    try:
        counted = _count_rows(path, cfg, parquet)
    except (pa.ArrowException, OSError, ValueError):
        return None
    if counted is None:
        return None
    sizes, columns = counted
    if sum(sizes.values()) <= rows_per_chunk:
        return None
    if ids:
        wanted = list(dict.fromkeys(map(str, ids)))
        missing = [name for name in wanted if name not in sizes]
        if missing:
            raise DataError(f"unknown series id(s): {', '.join(missing[:5])}")
        order = [(name, sizes[name]) for name in wanted]
    else:
        order = sorted(sizes.items())
    return ChunkPlan(path, tuple(split(order, rows_per_chunk)), columns, rows_per_chunk)


def _plain_csv(path: str) -> bool:
    """Whether the bytes on disk are the CSV text itself (not compressed)."""
    return Path(path).suffix.lower() not in (*ARROW_COMPRESSIONS, *PANDAS_COMPRESSIONS)


def _series(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(each row's code, the ids as text, sorted) of a block's id column, named as
    `panel.to_panel` names series; the ids are made text once per distinct id."""
    return series_codes(column.dictionary_encode().to_pandas())


def _csv_options(cfg: DataConfig, columns: list[str] | None = None):
    """The pyarrow CSV convert options that read as pandas' pyarrow engine does, with the id
    column as text (`007` stays `007`, as `data.as_written` keeps it) and the numeric columns
    as float64, so that no type guessed from the first block is contradicted later."""
    numeric = (cfg.target, *cfg.numeric_covariates)
    types = {cfg.id_col: pa.string(), **{name: pa.float64() for name in numeric if name}}
    if columns is not None:
        types = {name: kind for name, kind in types.items() if name in columns}
    return pacsv.ConvertOptions(
        column_types=types,
        null_values=NULL_TEXT,
        strings_can_be_null=True,
        include_columns=None if columns is not None else [cfg.id_col],
    )


def _count_rows(
    path: str, cfg: DataConfig, parquet: bool
) -> tuple[Counter, tuple[str, ...]] | None:
    """(rows per series id, the file's columns), or None when the file is read whole."""
    sizes: Counter = Counter()
    if parquet:
        source = pq.ParquetFile(path)
        schema = source.schema_arrow
        columns = schema.names
        if cfg.id_col not in columns or len(set(columns)) != len(columns):
            return None
        kind = schema.field(cfg.id_col).type
        batches = source.iter_batches(batch_size=PARQUET_BATCH, columns=[cfg.id_col])
        for batch in batches:
            column = batch.column(0)
            # A numeric id with a missing one is a float column in pandas, so its ids would
            # read `7.0` in a whole read and `7` in a batch without the missing one.
            if column.null_count and not (
                pa.types.is_string(kind) or pa.types.is_large_string(kind)
            ):
                return None
            sizes.update(_counted(column))
        return sizes, tuple(columns)
    with CsvBlocks(path, cfg.encoding, pacsv.ConvertOptions()) as header:
        columns = header.schema.names
    if cfg.id_col not in columns or len(set(columns)) != len(columns):
        return None
    with CsvBlocks(path, cfg.encoding, _csv_options(cfg)) as blocks:
        for batch in blocks:
            sizes.update(_counted(batch.column(0)))
    return sizes, tuple(columns)


def _counted(column: pa.Array) -> dict[str, int]:
    codes, names = _series(column)
    counts = np.bincount(codes, minlength=len(names))
    return dict(zip(names.tolist(), counts.tolist(), strict=True))


def spill(plan_: ChunkPlan, cfg: DataConfig, directory: Path) -> list[Path] | None:
    """Each chunk's rows (file order kept) in an Arrow stream file of its own in `directory`,
    from one pass over the file; None when a value contradicts the type the first block gave
    its column (the file is then read whole, which reports it as usual)."""
    chunk_of = {name: k for k, group in enumerate(plan_.groups) for name in group}
    paths = [directory / f"chunk-{k}.arrow" for k in range(len(plan_.groups))]
    writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
    schema = None
    if Path(plan_.path).suffix.lower() == ".parquet":
        # With its pandas metadata the chunks come back as pandas.read_parquet reads the file.
        schema = pq.ParquetFile(plan_.path).schema_arrow
    try:
        for batch in _batches(plan_, cfg):
            if schema is None:
                schema = batch.schema
            codes, names = _series(batch.column(cfg.id_col))
            # -1: a series that --id leaves out.
            chunk = np.asarray([chunk_of.get(name, -1) for name in names], np.int64)[codes]
            for k in np.unique(chunk[chunk >= 0]).tolist():
                if k not in writers:
                    writers[k] = pa.ipc.new_stream(str(paths[k]), schema)
                rows = batch.filter(pa.array(chunk == k))
                writers[k].write_batch(rows.replace_schema_metadata(schema.metadata))
    except pa.ArrowException:
        return None
    finally:
        for writer in writers.values():
            writer.close()
    return paths


def frames(spills: list[Path]) -> Iterator[pd.DataFrame]:
    """The spilled chunks as `data.read_table` reads tables, one after the other, each file
    removed once read."""
    for path in spills:
        with pa.OSFile(str(path), "rb") as handle:
            table = pa.ipc.open_stream(handle).read_all()
        path.unlink()
        # Text columns as categoricals, as the compact read makes them (a code per row).
        for position, field in enumerate(table.schema):
            if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
                coded = table.column(position).dictionary_encode()
                table = table.set_column(position, field.name, coded)
        frame = table.to_pandas()
        del table
        return_freed_memory()
        yield frame


def _batches(plan_: ChunkPlan, cfg: DataConfig) -> Iterator[pa.RecordBatch]:
    if Path(plan_.path).suffix.lower() == ".parquet":
        yield from pq.ParquetFile(plan_.path).iter_batches(batch_size=PARQUET_BATCH)
        return
    with CsvBlocks(plan_.path, cfg.encoding, _csv_options(cfg, list(plan_.columns))) as blocks:
        yield from blocks
