"""Stage features: point-in-time features and labels per (customer, as_of), and the dictionary.

Usage: python -m pipelines.features --validated data/validated --out data/features
           --report reports/features.json
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pyarrow.parquet as pq

from creditrisk.contract import TABLES
from creditrisk.features.build import FeaturePlan, build_features
from creditrisk.features.labels import as_of_frame
from creditrisk.features.repayments import installments
from pipelines.artifacts import FeaturesDir
from pipelines.common import atomic_path, reset_dir, write_json
from pipelines.params import load_params
from pipelines.snapshots import connect_engine
from pipelines.stage import cli

log = logging.getLogger("pipelines.features")
ROW_GROUP = 100_000


def _write(con: Any, table: Any, path: Path, engine: str) -> None:
    """Stream one batch's result to Parquet without holding it in memory."""
    if engine == "duckdb":
        con.to_parquet(table, path)  # DuckDB's COPY streams straight to the file
        return
    writer: pq.ParquetWriter | None = None
    for batch in table.to_pyarrow_batches(chunk_size=500_000):
        if writer is None:
            writer = pq.ParquetWriter(path, batch.schema)
        writer.write_batch(batch)
    if writer is not None:
        writer.close()


def _concat(parts: list[Path], path: Path) -> None:
    """The batches' files as one Parquet file, in order, in row groups of a fixed size
    (so the same data gives the same bytes whatever the engine's own chunking)."""
    writer: pq.ParquetWriter | None = None
    for part in parts:
        table = pq.read_table(part)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table.cast(writer.schema), row_group_size=ROW_GROUP)
        part.unlink()
    if writer is not None:
        writer.close()


def batches(dates: pd.DataFrame, *, customers: int, max_rows: int) -> list[pd.DataFrame]:
    """Snapshot dates in batches of at most ``max_rows`` snapshots (customers x dates):
    memory stays bounded however many dates and customers there are."""
    per = max(1, max_rows // max(customers, 1))
    return [dates.iloc[i : i + per] for i in range(0, len(dates), per)]


def main(validated: Path, out: Path, report: Path) -> None:
    params = load_params()
    p = params.features
    con = connect_engine(p)
    present = [t for t in TABLES if (validated / f"{t}.parquet").exists()]
    tables = {
        t: con.read_parquet(str(validated / f"{t}.parquet"), table_name=f"raw_{t}") for t in present
    }
    dates = as_of_frame(p.as_of_dates(), horizon_months=params.labels.horizon_months)
    customers = int(tables["customers"].count().to_pyarrow().as_py())
    todo = (
        [dates]
        if "outcomes" in tables
        else batches(dates, customers=customers, max_rows=p.max_snapshots_per_batch)
    )
    target = FeaturesDir(out)
    reset_dir(out)
    condensed = _condensed(con, tables) if len(todo) > 1 and p.engine == "duckdb" else None
    parts = []
    for i, batch in enumerate(todo):
        plan = build_features(
            tables,
            as_of_dates=ibis.memtable(batch),
            windows=p.windows_days,
            static=p.static,
            protected=p.protected,
            dpd_threshold_days=params.labels.dpd_threshold_days,
            end_date=params.data.end_date,
            condensed=condensed,
            static_reasons={k: (v.direction, v.reason) for k, v in p.static_reasons.items()},
        )
        _log_plan(plan, p.engine, len(batch), i, len(todo))
        parts.append(out / f".part-{i:04d}.parquet")
        _write(con, plan.table, parts[-1], p.engine)
    with atomic_path(target.table) as tmp:
        _concat(parts, tmp)
    write_json(plan.dictionary(), target.dictionary)
    write_json(_summary(target, p.engine, plan), report)


def _condensed(con: Any, tables: dict[str, Any]) -> Any:
    """The installments' condensed payment history, stored once for all batches."""
    if "repayments" not in tables:
        return None
    return con.create_table(
        "condensed_installments",
        installments(tables["loans"], tables["repayments"]),
        temp=True,
    )


def _log_plan(plan: FeaturePlan, engine: str, dates: int, i: int, total: int) -> None:
    if i == 0 and plan.unavailable:
        log.warning(
            "%d features left out, their tables are absent: %s",
            len(plan.unavailable),
            sorted({f.source for f in plan.unavailable}),
        )
    log.info(
        "batch %d/%d: %d features on %s for %d as_of dates",
        i + 1,
        total,
        len(plan.available),
        engine,
        dates,
    )


def _summary(target: FeaturesDir, engine: str, plan: FeaturePlan) -> dict[str, Any]:
    """``reports/features.json``: rows, features, labelled rows and their default rate."""
    labelled = pq.read_table(target.table, columns=["default", "label_complete"]).to_pandas()
    done = labelled[labelled["label_complete"]]
    summary = {
        "engine": engine,
        "rows": len(labelled),
        "features": len(plan.available),
        "features_unavailable": len(plan.unavailable),
        "labelled_rows": len(done),
        "default_rate": round(float(done["default"].mean()), 6) if len(done) else None,
    }
    log.info("features done: %s", summary)
    return summary


if __name__ == "__main__":
    cli(main)
