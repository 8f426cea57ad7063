"""File helpers of the stages: atomic writes of files, folders, tables and JSON."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from creditrisk.atomic import atomic_path


@contextmanager
def atomic_dirs(*finals: Path) -> Iterator[tuple[Path, ...]]:
    """Yield empty sibling folders; they replace ``finals`` only if the block succeeds,
    so a failed run leaves the previous outputs intact."""
    temps = []
    for final in finals:
        final.parent.mkdir(parents=True, exist_ok=True)
        temps.append(Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent)))
    try:
        yield tuple(temps)
    except BaseException:
        for t in temps:
            shutil.rmtree(t, ignore_errors=True)
        raise
    for final, tmp in zip(finals, temps, strict=True):
        old = final.with_name(f".{final.name}.old")
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write a frame as Parquet, atomically."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_json(obj: Any, path: Path) -> None:
    """Write JSON (sorted keys, stable for diffs), atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def reset_dir(path: Path) -> Path:
    """Empty (or create) an output folder."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def write_row_subsets(source: Path, labels: np.ndarray, outs: dict[str, Path]) -> None:
    """Write the rows of the Parquet file ``source`` whose ``labels`` (one per row, in file
    order) equal each key of ``outs`` to that key's file, atomically, one row group at a
    time: memory holds one row group, never the table (the row order is kept)."""
    reader = pq.ParquetFile(source)
    if len(labels) != reader.metadata.num_rows:
        raise ValueError(f"{source}: {reader.metadata.num_rows} rows, {len(labels)} labels")
    schema = _as_pandas_reads(reader)
    with contextlib.ExitStack() as stack:
        writers = {
            name: stack.enter_context(
                pq.ParquetWriter(stack.enter_context(atomic_path(path)), schema)
            )
            for name, path in outs.items()
        }
        start = 0
        for group in range(reader.num_row_groups):
            table = reader.read_row_group(group)
            part = labels[start : start + table.num_rows]
            start += table.num_rows
            for name, writer in writers.items():
                writer.write_table(table.filter(pa.array(part == name)).cast(schema))


def read_rows(source: Path, keep: np.ndarray, columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of the Parquet file ``source`` where ``keep`` (one flag per row, in file
    order) is true, read one row group at a time: only the kept rows are ever held whole,
    as Arrow, then converted to pandas once, with the types a whole-table read gives."""
    reader = pq.ParquetFile(source)
    if len(keep) != reader.metadata.num_rows:
        raise ValueError(f"{source}: {reader.metadata.num_rows} rows, {len(keep)} flags")
    schema = _pandas_schema(reader, columns)
    parts, start = [], 0
    for group in range(reader.num_row_groups):
        n = reader.metadata.row_group(group).num_rows
        flags = keep[start : start + n]
        start += n
        if flags.any():
            parts.append(reader.read_row_group(group, columns=columns).filter(pa.array(flags)))
    table = pa.concat_tables(parts).cast(schema) if parts else schema.empty_table()
    frame: pd.DataFrame = table.to_pandas()
    return frame


def iter_frames(
    source: Path, batch_rows: int, columns: list[str] | None = None
) -> Iterator[tuple[int, pd.DataFrame]]:
    """The Parquet file ``source`` in frames of about ``batch_rows`` rows (whole row
    groups), each with the position of its first row and the column types a whole-table
    read gives, so a batch's frame equals those rows of ``pd.read_parquet`` (of
    ``columns``, when given)."""
    reader = pq.ParquetFile(source)
    schema = _pandas_schema(reader, columns)
    groups: list[int] = []
    start = rows = 0
    for group in range(reader.num_row_groups):
        n = reader.metadata.row_group(group).num_rows
        if n:  # empty row groups (a subset written group by group has them) are skipped
            groups.append(group)
            rows += n
        if groups and (rows >= batch_rows or group == reader.num_row_groups - 1):
            frame = reader.read_row_groups(groups, columns=columns).cast(schema).to_pandas()
            yield start, frame
            start, groups, rows = start + rows, [], 0
    if start == 0 and not rows:  # no rows at all: one empty frame with the columns
        yield 0, schema.empty_table().to_pandas()


def _pandas_schema(reader: pq.ParquetFile, columns: list[str] | None) -> pa.Schema:
    """:func:`_as_pandas_reads` of ``columns`` (all when None), in that order."""
    schema = _as_pandas_reads(reader)
    if columns is None:
        return schema
    return pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)


def _as_pandas_reads(reader: pq.ParquetFile) -> pa.Schema:
    """The file's schema with the integer columns that hold a null anywhere as float64:
    the types the whole table has when read into pandas, so a subset keeps them whether
    or not its own rows hold a null."""
    meta, schema = reader.metadata, reader.schema_arrow
    nulls = {
        meta.schema.column(i).name
        for g in range(meta.num_row_groups)
        if meta.row_group(g).num_rows  # an empty group holds no null
        for i in range(meta.num_columns)
        if (stats := meta.row_group(g).column(i).statistics) is None
        or not stats.has_null_count
        or stats.null_count > 0
    }
    for i, field in enumerate(schema):
        if pa.types.is_integer(field.type) and field.name in nulls:
            schema = schema.set(i, field.with_type(pa.float64()))
    return schema


class ParquetAppender:
    """Append frames with one schema to a Parquet file, for outputs larger than memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def append(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, table.schema)
        else:
            table = table.cast(self._writer.schema)
        self._writer.write_table(table)
        self.rows += len(frame)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
