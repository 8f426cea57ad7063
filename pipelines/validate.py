"""Stage validate: Great Expectations suites on data/raw, quarantine, reconciliation, Data Docs.

Usage: python -m pipelines.validate --raw data/raw --out data/validated
           --quarantine data/quarantine --reports reports/validation

Rows failing a row-level rule go to <quarantine>/<table>.parquet with the reason; the rest
continue in <out>/<table>.parquet. A table that cannot be used at all stops the stage with
an error naming the table, the column and example rows.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from creditrisk.contract import TABLES, check_table_set
from creditrisk.validation.errors import TableValidationError
from creditrisk.validation.rules import key_unique
from creditrisk.validation.suite import merged_summaries, validate_table
from pipelines.support.files import (
    ParquetAppender,
    atomic_dirs,
    iter_frames,
    write_json,
)
from pipelines.support.params import Params, load_params
from pipelines.support.stage import cli

log = logging.getLogger("pipelines.validate")


def _context(root: Path) -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=root)
    context.enable_analytics(False)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.save()
    return context


def _read(raw: Path, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    path = raw / f"{table}.parquet"
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception as exc:  # any reader failure means the same thing to the user
        raise TableValidationError(table, f"cannot read {path}: {exc}") from exc


def main(raw: Path, out: Path, quarantine: Path, reports: Path) -> None:
    params = load_params()
    present = {t for t in TABLES if (raw / f"{t}.parquet").exists()}
    check_table_set(present)
    with atomic_dirs(out, quarantine) as folders:
        tables = _validate_tables(raw, present, reports / "data_docs", params, folders)
    summary = _summary(tables, params.data.end_date, sorted(set(TABLES) - present))
    write_json(summary, reports / "summary.json")
    log.info(
        "kept %s of %s rows; quarantined %s; Data Docs in %s",
        f"{summary['rows_kept']:,}",
        f"{summary['rows_in']:,}",
        f"{summary['rows_quarantined']:,}",
        reports / "data_docs" / "index.html",
    )


# What later tables check of a kept table (rules.add_helper_columns): only these columns
# are held after it is written, not the table.
PARENT_COLUMNS = {"customers": ["customer_id"], "loans": ["loan_id", "opened_at", "n_installments"]}


def _validate_tables(
    raw: Path, present: set[str], docs: Path, params: Params, folders: tuple[Path, ...]
) -> dict[str, dict[str, Any]]:
    """Each present table through its suite, parents first (a quarantined customer takes
    its purchases and loans along), written to ``folders`` (kept, quarantined) as soon as
    it passes, so memory holds one table at a time; the Data Docs site is copied to
    ``docs``. Returns each table's summary."""
    summaries: dict[str, dict[str, Any]] = {}
    parents: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory(prefix="gx-") as gx_root:
        context = _context(Path(gx_root))
        for table in (t for t in TABLES if t in present):
            path = raw / f"{table}.parquet"
            summaries[table], kept = _validate_one(context, path, table, parents, params, folders)
            if kept is not None:
                parents[table] = kept
        context.build_data_docs()
        if docs.exists():
            shutil.rmtree(docs)
        shutil.copytree(Path(gx_root) / "gx" / "uncommitted" / "data_docs" / "local_site", docs)
    return summaries


def _validate_one(
    context: Any,
    path: Path,
    table: str,
    parents: dict[str, pd.DataFrame],
    params: Params,
    folders: tuple[Path, ...],
) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """One table through its suite, written to ``folders`` (kept, quarantined); its
    summary and the columns later tables check of it.

    A table larger than validate.batch_rows goes in batches of whole row groups: its key
    is checked for duplicates over the whole table first (the key columns alone), then
    each batch runs the suite and is appended to the outputs. A batch with more than
    validate.max_quarantine_share failing rows stops the table (so the whole never has
    more). Memory holds one batch, the keys and the parent columns."""
    p, spec = params.validate_, TABLES[table]
    n = _rows(path, table)
    batched = n > p.batch_rows
    log.info("validating %s (%s rows%s)", table, f"{n:,}", ", in batches" if batched else "")
    unique, keys = None, list(spec.key)  # a missing key column: the suite names it
    if batched and keys and set(keys) <= set(pq.ParquetFile(path).schema_arrow.names):
        unique = key_unique(_read(path.parent, table, columns=keys), spec)
    batches = iter_frames(path, p.batch_rows) if batched else [(0, _read(path.parent, table))]
    kept_out, quarantine_out = (ParquetAppender(f / f"{table}.parquet") for f in folders)
    summaries, parent_parts = [], []
    for k, (first, frame) in enumerate(batches, start=1):
        result = validate_table(
            context,
            frame,
            spec,
            parents=parents,
            end_date=params.data.end_date,
            max_quarantine_share=p.max_quarantine_share,
            n_examples=p.n_examples,
            first_row=first,
            unique=None if unique is None else unique[first : first + len(frame)],
            batch=f"{table}_batch_{k}" if batched else None,
        )
        kept_out.append(result.kept)
        quarantine_out.append(result.quarantined)
        summaries.append(result.summary())
        if table in PARENT_COLUMNS:
            parent_parts.append(result.kept[PARENT_COLUMNS[table]])
        if batched:
            log.info("%s: batch %d, rows %s-%s", table, k, f"{first:,}", f"{first + len(frame):,}")
    kept_out.close()
    quarantine_out.close()
    parents_kept = pd.concat(parent_parts, ignore_index=True) if parent_parts else None
    return (merged_summaries(summaries) if batched else summaries[0]), parents_kept


def _rows(path: Path, table: str) -> int:
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception as exc:  # any reader failure means the same thing to the user
        raise TableValidationError(table, f"cannot read {path}: {exc}") from exc


def _summary(
    tables: dict[str, dict[str, Any]], end_date: object, absent: list[str]
) -> dict[str, Any]:
    rows_in = sum(s["rows_in"] for s in tables.values())
    rows_kept = sum(s["rows_kept"] for s in tables.values())
    rows_q = sum(s["rows_quarantined"] for s in tables.values())
    return {
        "tables": tables,
        "rows_in": rows_in,
        "rows_kept": rows_kept,
        "rows_quarantined": rows_q,
        "reconciled": rows_in == rows_kept + rows_q
        and all(s["reconciled"] for s in tables.values()),
        "end_date": str(end_date),
        "absent_tables": absent,
    }


if __name__ == "__main__":
    cli(main)
