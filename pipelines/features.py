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
import pyarrow as pa
import pyarrow.parquet as pq

from creditrisk.atomic import atomic_path
from creditrisk.contract import TABLES
from creditrisk.features.batches import CompiledBatches, OrderedWriter, batches
from creditrisk.features.build import FeaturePlan, build_features
from creditrisk.features.history import History, repayment_history
from creditrisk.features.labels import as_of_frame
from pipelines.support.artifacts import FeaturesDir
from pipelines.support.files import reset_dir, write_json
from pipelines.support.params import Params, load_params
from pipelines.support.settings import feature_settings
from pipelines.support.snapshot_features import connect_engine
from pipelines.support.stage import cli

log = logging.getLogger("pipelines.features")


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
    with atomic_path(target.table) as tmp:
        plan = _compute(con, tables, todo, params, tmp)
    write_json(plan.dictionary(), target.dictionary)
    write_json(_summary(target, p.engine, plan), report)


def _compute(
    con: Any, tables: dict[str, Any], todo: list[pd.DataFrame], params: Params, path: Path
) -> FeaturePlan:
    """Every batch of snapshot dates, written in order to ``path``; the features' plan."""
    p = params.features
    compiled = CompiledBatches(con, todo[0]) if p.engine == "duckdb" else None
    history = _history(con, tables, params) if len(todo) > 1 and compiled else None

    settings = feature_settings(params)

    def plan_for(dates: Any) -> FeaturePlan:
        return build_features(tables, as_of_dates=dates, settings=settings, history=history)

    plan = plan_for(compiled.dates if compiled else ibis.memtable(todo[0]))
    if compiled:
        compiled.compile(plan.rows)
    writer = OrderedWriter(path)
    try:
        for i, batch in enumerate(todo):
            _log_plan(plan, p.engine, len(batch), i, len(todo))
            if compiled:
                writer.submit(compiled.run(batch))
                continue
            table = plan_for(ibis.memtable(batch)).rows  # Spark: one plan per batch
            writer.submit(pa.Table.from_batches(list(table.to_pyarrow_batches())))
    finally:
        writer.close()
    return plan


def _history(con: Any, tables: dict[str, Any], params: Params) -> History | None:
    """The as_of-independent parts of the repayment history, stored once for all batches."""
    return repayment_history(
        tables,
        dpd_threshold_days=params.labels.dpd_threshold_days,
        end_date=params.data.end_date,
        store=lambda name, expr: con.create_table(f"history_{name}", expr, temp=True),
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
