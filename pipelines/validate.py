"""Stage validate: Great Expectations suites on data/raw, quarantine, reconciliation, Data Docs.

Usage: python -m pipelines.validate --raw data/raw --out data/validated
           --quarantine data/quarantine --reports reports/validation

Rows failing a row-level rule go to <quarantine>/<table>.parquet with the reason; the rest
continue in <out>/<table>.parquet. A table that cannot be used at all stops the stage with
an error naming the table, the column and example rows.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from creditrisk.contract import TABLES, ContractError, check_table_set
from creditrisk.validation.errors import TableValidationError
from creditrisk.validation.suite import TableResult, validate_table

from pipelines.common import reset_dir, setup_logging, write_json, write_table
from pipelines.params import load_params

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
    p = params.validate_
    present = {t for t in TABLES if (raw / f"{t}.parquet").exists()}
    check_table_set(present)
    results: dict[str, TableResult] = {}
    kept: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory(prefix="gx-") as gx_root:
        context = _context(Path(gx_root))
        for table in (t for t in TABLES if t in present):
            frame = _read(raw, table)
            log.info("validating %s (%s rows)", table, f"{len(frame):,}")
            result = validate_table(
                context,
                frame,
                TABLES[table],
                parents=kept,
                end_date=params.data.end_date,
                max_quarantine_share=p.max_quarantine_share,
                n_examples=p.n_examples,
            )
            results[table] = result
            kept[table] = result.kept
        context.build_data_docs()
        docs = reports / "data_docs"
        if docs.exists():
            shutil.rmtree(docs)
        site = Path(gx_root) / "gx" / "uncommitted" / "data_docs" / "local_site"
        shutil.copytree(site, docs)

    reset_dir(out)
    reset_dir(quarantine)
    for table, result in results.items():
        write_table(result.kept, out / f"{table}.parquet")
        write_table(result.quarantined, quarantine / f"{table}.parquet")
    summary = _summary(results, params.data.end_date, sorted(set(TABLES) - present))
    write_json(summary, reports / "summary.json")
    log.info(
        "kept %s of %s rows; quarantined %s; Data Docs in %s",
        f"{summary['rows_kept']:,}",
        f"{summary['rows_in']:,}",
        f"{summary['rows_quarantined']:,}",
        reports / "data_docs" / "index.html",
    )


def _summary(results: dict[str, TableResult], end_date: object, absent: list[str]) -> dict:
    tables = {t: r.summary() for t, r in results.items()}
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
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quarantine", type=Path, required=True)
    parser.add_argument("--reports", type=Path, required=True)
    args = parser.parse_args()
    try:
        main(args.raw, args.out, args.quarantine, args.reports)
    except (TableValidationError, ContractError) as exc:
        log.error("validation stopped the pipeline:\n%s", exc)
        sys.exit(1)
