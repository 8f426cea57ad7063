"""Stage ingest: bring the source tables (synthetic or a folder of exports) into data/raw/.

Usage: python -m pipelines.ingest --source data/synthetic/raw --out data/raw
           --report reports/ingest.json [--events data/events]

``--source`` is ``data.source`` (dvc.yaml fills it in from params.yaml, and lists the folder
as a dependency, so a changed export is never ignored).

With ``--events``, the rows posted to the decision service (``creditrisk serve``) since
are appended to the export's tables: each stored event the export does not hold (by its
key) and dated on or before ``data.end_date``; later ones wait in the store for the export
that covers their date (:mod:`creditrisk.service.events`). ``reports/ingest.json`` counts
them per table.

CSV columns are read as text, so that a malformed value reaches validate intact and is
quarantined with its original spelling rather than silently turned into a null here.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd

from creditrisk.contract import TABLES, ContractError, Kind, check_table_set
from creditrisk.ingest import derive_columns, infer_numbers, map_columns
from creditrisk.service.events import EVENT_TABLES, STORE_FILE, EventStore, for_export
from creditrisk.settings_check import Severity
from pipelines.support.check import find_source_file, read_source, run_checks
from pipelines.support.files import reset_dir, write_json, write_table
from pipelines.support.params import DataParams, Params, load_params
from pipelines.support.stage import cli

log = logging.getLogger("pipelines.ingest")


def main(source: Path, out: Path, report: Path, events: Path | None = None) -> None:
    params = load_params()
    p, folder = params.data, source
    if Path(p.source).resolve() != source.resolve():
        raise ContractError(f"--source {source} is not data.source ({p.source}) of params.yaml")
    _check(params, folder)
    found = {t: find_source_file(folder, t, p.files) for t in TABLES}
    present = {t: f for t, f in found.items() if f is not None}
    check_table_set(set(present))
    reset_dir(out)
    summary: dict[str, object] = {"source": "synthetic" if p.is_synthetic else str(folder)}
    for table, path in present.items():
        rows = _ingest_table(table, path, out / f"{table}.parquet", p)
        log.info("ingested %s from %s", table, path)
        summary[table] = {"file": path.name, "rows": rows}
    absent = [t for t in TABLES if t not in present]
    if absent:
        log.warning(
            "tables absent from the source: %s (features needing them are left out)", absent
        )
    summary["absent_tables"] = absent
    if events is not None:
        summary["events"] = _append_events(events, out, params)
    write_json(summary, report)


def _append_events(events: Path, out: Path, params: Params) -> dict[str, dict[str, int]]:
    """The decision service's stored events that the export lacks, appended to its
    tables in data/raw (validate then checks them like every other row)."""
    path = events / STORE_FILE
    if not path.exists():
        return {}
    tables = {t: out / f"{t}.parquet" for t in EVENT_TABLES}
    export = {t: pd.read_parquet(p) for t, p in tables.items() if p.exists()}
    additions, counts = for_export(EventStore(path), export, end_date=params.data.end_date)
    for table, rows in additions.items():
        if rows.empty:
            continue
        raw = export.get(table)
        merged = rows if raw is None else pd.concat([raw, _like(rows, raw)], ignore_index=True)
        write_table(merged, tables[table])
        log.info("%s: %d event(s) from the decision service appended", table, len(rows))
    for table, c in counts.items():
        if c["waiting_after_end_date"]:
            log.info(
                "%s: %d event(s) dated after data.end_date wait for a later export",
                table,
                c["waiting_after_end_date"],
            )
    return counts


def _like(rows: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """Event rows in the export's column types: as text where the export is text (a CSV
    read as text), else as they are."""
    out = rows.copy()
    for column in out.columns:
        if column in raw.columns and not (
            pd.api.types.is_numeric_dtype(raw[column])
            or pd.api.types.is_datetime64_any_dtype(raw[column])
        ):
            values = out[column]
            if pd.api.types.is_datetime64_any_dtype(values):
                text = values.dt.strftime("%Y-%m-%d %H:%M:%S")
            else:
                text = values.astype(object).map(str)
            out[column] = text.where(values.notna(), None).astype(object)
    return out


def _check(params: Params, folder: Path) -> None:
    """The settings check (python -m pipelines.support.check) first: every error at once."""
    # The errors only: rules left out are reported by the stages that apply them.
    problems = run_checks(params, folder, with_rules=False).problems
    for p in problems:
        if p.severity is Severity.WARNING:
            log.warning("%s", p)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        raise ContractError(
            f"{len(errors)} problem(s) with the source or its settings (python -m "
            "pipelines.support.check lists them with the tables):\n"
            + "\n".join(f"  {i}. {p}" for i, p in enumerate(errors, start=1))
        )


def _ingest_table(table: str, path: Path, target: Path, p: DataParams) -> int | None:
    """Copy or convert one source file onto the contract; its row count when converted."""
    mapping = p.columns.get(table, {})
    derive, select = p.derive.get(table, {}), p.select.get(table)
    if path.suffix == ".parquet" and not (mapping or derive or select):
        # Already in the contract's shape: copy, and let validate read (or reject) it.
        shutil.copyfile(path, target)
        return None
    frame = derive_columns(map_columns(read_source(path), table, mapping), table, derive)
    if path.suffix == ".csv":
        ids = {c for c, k in TABLES[table].typed_columns.items() if k == Kind.ID}
        frame = infer_numbers(frame, keep_text=ids)
    if select:
        missing = [c for c in select if c not in frame.columns]
        if missing:
            raise ContractError(
                f"table '{table}': data.select keeps {missing}, which it does not have"
            )
        frame = frame[select]
    write_table(frame, target)
    return len(frame)


if __name__ == "__main__":
    cli(main)
