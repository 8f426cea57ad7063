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

from creditrisk.contract import TABLES, check_table_set
from creditrisk.validation.errors import TableValidationError
from creditrisk.validation.suite import validate_table
from pipelines.support.files import atomic_dirs, write_json, write_table
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


def _read(raw: Path, table: str) -> pd.DataFrame:
    path = raw / f"{table}.parquet"
    try:
        return pd.read_parquet(path)
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
    p = params.validate_
    summaries: dict[str, dict[str, Any]] = {}
    parents: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory(prefix="gx-") as gx_root:
        context = _context(Path(gx_root))
        for table in (t for t in TABLES if t in present):
            frame = _read(raw, table)
            log.info("validating %s (%s rows)", table, f"{len(frame):,}")
            result = validate_table(
                context,
                frame,
                TABLES[table],
                parents=parents,
                end_date=params.data.end_date,
                max_quarantine_share=p.max_quarantine_share,
                n_examples=p.n_examples,
            )
            del frame
            write_table(result.kept, folders[0] / f"{table}.parquet")
            write_table(result.quarantined, folders[1] / f"{table}.parquet")
            summaries[table] = result.summary()
            if table in PARENT_COLUMNS:
                parents[table] = result.kept[PARENT_COLUMNS[table]]
            del result
        context.build_data_docs()
        if docs.exists():
            shutil.rmtree(docs)
        shutil.copytree(Path(gx_root) / "gx" / "uncommitted" / "data_docs" / "local_site", docs)
    return summaries


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
