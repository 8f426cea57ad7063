"""Stage features: point-in-time features and labels per (customer, as_of), and the dictionary.

Usage: python -m pipelines.features --validated data/validated --out data/features
           --report reports/features.json
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import ibis
import pyarrow.parquet as pq

from creditrisk.contract import TABLES
from creditrisk.features.build import FeaturePlan, build_features
from creditrisk.features.labels import as_of_frame
from pipelines.artifacts import FeaturesDir
from pipelines.common import atomic_path, reset_dir, write_json
from pipelines.params import load_params
from pipelines.snapshots import connect_engine
from pipelines.stage import cli

log = logging.getLogger("pipelines.features")


def _write(con: Any, table: Any, path: Path, engine: str) -> None:
    """Stream the result to Parquet without holding it in memory."""
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


def main(validated: Path, out: Path, report: Path) -> None:
    params = load_params()
    p = params.features
    con = connect_engine(p)
    present = [t for t in TABLES if (validated / f"{t}.parquet").exists()]
    tables = {
        t: con.read_parquet(str(validated / f"{t}.parquet"), table_name=f"raw_{t}") for t in present
    }
    dates = as_of_frame(p.as_of_dates(), horizon_months=params.labels.horizon_months)
    plan = build_features(
        tables,
        as_of_dates=ibis.memtable(dates),
        windows=p.windows_days,
        static=p.static,
        protected=p.protected,
        dpd_threshold_days=params.labels.dpd_threshold_days,
        end_date=params.data.end_date,
    )
    log.info(
        "computing %d features on %s for %d as_of dates (tables: %s)",
        len(plan.available),
        p.engine,
        len(dates),
        ", ".join(present),
    )
    if plan.unavailable:
        log.warning(
            "%d features left out, their tables are absent: %s",
            len(plan.unavailable),
            sorted({f.source for f in plan.unavailable}),
        )
    target = FeaturesDir(out)
    reset_dir(out)
    with atomic_path(target.table) as tmp:
        _write(con, plan.table, tmp, p.engine)
    write_json(plan.dictionary(), target.dictionary)
    write_json(_summary(target, p.engine, plan), report)


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
