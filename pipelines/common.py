"""Shared I/O for the stages: logging, atomic writes of tables and JSON."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def setup_logging(level: int = logging.INFO) -> None:
    """Log lines a newcomer can read: time, stage module, message."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    # Great Expectations logs every config save at INFO; keep its warnings only.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; it replaces ``path`` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


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


PSEUDONYM_KEY_ENV = "CREDITRISK_PSEUDONYM_KEY"
PSEUDONYM_KEY_FILE = Path.home() / ".config" / "creditrisk" / "pseudonym.key"


def pseudonym_key() -> bytes:
    """The secret key for customer pseudonyms: ``$CREDITRISK_PSEUDONYM_KEY`` (text), else a
    random key kept in ``~/.config/creditrisk/pseudonym.key`` (created on first use, owner
    read-only), so pseudonyms agree across runs on one machine. Never a file in the repo."""
    log = logging.getLogger("pipelines.common")
    value = os.environ.get(PSEUDONYM_KEY_ENV)
    if value:
        return value.encode("utf-8")
    if not PSEUDONYM_KEY_FILE.exists():
        PSEUDONYM_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(PSEUDONYM_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(32).hex())
        log.warning(
            "%s is not set: created a random pseudonymisation key in %s. Set the variable "
            "(from your secret store) to keep pseudonyms stable across machines.",
            PSEUDONYM_KEY_ENV,
            PSEUDONYM_KEY_FILE,
        )
    return PSEUDONYM_KEY_FILE.read_text().strip().encode("utf-8")
