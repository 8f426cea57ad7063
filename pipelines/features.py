"""Stage features: point-in-time features and labels per (customer, as_of), and the dictionary.

Usage: python -m pipelines.features --validated data/validated --out data/features
           --report reports/features.json
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import ibis
import pyarrow.parquet as pq
from creditrisk.contract import TABLES
from creditrisk.features.build import FeatureConfigError, build_features
from creditrisk.features.engine import connect
from creditrisk.features.labels import as_of_frame

from pipelines.common import atomic_path, reset_dir, setup_logging, write_json
from pipelines.params import load_params

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
    started = time.perf_counter()
    con = connect(
        p.engine,
        duckdb_config=p.duckdb.model_dump(),
        spark_master=p.spark.master,
        spark_conf=p.spark.conf,
    )
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
    reset_dir(out)
    with atomic_path(out / "features.parquet") as tmp:
        _write(con, plan.table, tmp, p.engine)
    rows = pq.ParquetFile(out / "features.parquet").metadata.num_rows
    write_json(plan.dictionary(), out / "dictionary.json")
    labelled = pq.read_table(
        out / "features.parquet", columns=["default", "label_complete"]
    ).to_pandas()
    done = labelled[labelled["label_complete"]]
    summary = {
        "engine": p.engine,
        "rows": rows,
        "features": len(plan.available),
        "features_unavailable": len(plan.unavailable),
        "labelled_rows": len(done),
        "default_rate": round(float(done["default"].mean()), 6) if len(done) else None,
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json({k: v for k, v in summary.items() if k != "seconds"}, report)
    log.info("features done: %s", summary)


if __name__ == "__main__":
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validated", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    try:
        main(args.validated, args.out, args.report)
    except FeatureConfigError as exc:
        log.error("features stopped the pipeline: %s", exc)
        sys.exit(1)
