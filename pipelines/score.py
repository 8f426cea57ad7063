"""Stage score: a snapshot of raw history scored end to end (features, then the scorer).

Features are computed as of ``score.as_of`` (default: the day after the data's end, so
every event in the data is used) by the same Ibis expressions as the features stage, and
scored by the exported pyfunc model, exactly as a downstream system would load it.

Usage: python -m pipelines.score --validated data/validated --scorer data/scorer
           --out data/scores --report reports/score.json
"""

from __future__ import annotations

import argparse
import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import ibis
import mlflow.pyfunc
import pandas as pd
from creditrisk.contract import TABLES
from creditrisk.features.build import build_features
from creditrisk.features.engine import connect
from creditrisk.features.labels import as_of_frame

from pipelines.common import reset_dir, setup_logging, write_json, write_table
from pipelines.params import load_params

log = logging.getLogger("pipelines.score")
CHUNK_ROWS = 50_000


def main(validated: Path, scorer: Path, out: Path, report: Path) -> None:
    params = load_params()
    p = params.features
    as_of = params.score.as_of or params.data.end_date + timedelta(days=1)
    started = time.perf_counter()
    con = connect(
        p.engine,
        duckdb_config=p.duckdb.model_dump(),
        spark_master=p.spark.master,
        spark_conf=p.spark.conf,
    )
    # Labels are not needed to score: outcomes, when present, do not set the snapshot.
    present = [t for t in TABLES if t != "outcomes" and (validated / f"{t}.parquet").exists()]
    tables = {t: con.read_parquet(str(validated / f"{t}.parquet")) for t in present}
    plan = build_features(
        tables,
        as_of_dates=ibis.memtable(as_of_frame([as_of], horizon_months=1)),
        windows=p.windows_days,
        static=p.static,
        protected=p.protected,
        dpd_threshold_days=params.labels.dpd_threshold_days,
        end_date=params.data.end_date,
    )
    features = plan.table.to_pandas()
    n_customers = int(tables["customers"].count().to_pyarrow().as_py())
    log.info(
        "features as of %s for %d customers (%d of %d customers: the others were created "
        "later or are already in default) in %.1f s",
        as_of,
        len(features),
        len(features),
        n_customers,
        time.perf_counter() - started,
    )
    model = mlflow.pyfunc.load_model(str(scorer))
    features = _conform(features, model.metadata.get_input_schema())
    parts = []
    for first in range(0, len(features), CHUNK_ROWS):
        chunk = features.iloc[first : first + CHUNK_ROWS]
        parts.append(model.predict(chunk.drop(columns=["as_of", "default", "label_complete"])))
        log.info("scored %d / %d rows", min(first + CHUNK_ROWS, len(features)), len(features))
    scores = pd.concat(parts, ignore_index=True) if parts else model.predict(features.head(0))
    scores.insert(1, "as_of", pd.Timestamp(as_of))
    reset_dir(out)
    write_table(scores, out / "scores.parquet")
    summary = {
        "as_of": str(as_of),
        "rows": len(scores),
        "customers_in_data": n_customers,
        "model_version": str(scores["model_version"].iloc[0]) if len(scores) else None,
        "mean_pd": float(scores["pd"].mean()) if len(scores) else None,
        "total_credit_limit": float(scores["credit_limit"].sum()),
        "grades": {str(k): int(v) for k, v in scores["grade"].value_counts().sort_index().items()},
        "limit_policy": {str(k): int(v) for k, v in scores["limit_policy"].value_counts().items()},
        "rating_rules": {
            str(k): int(v) for k, v in scores["rating_rule"].value_counts().items() if k
        },
    }
    write_json(summary, report)
    log.info("scores written: %d rows, grades %s", len(scores), summary["grades"])


def _conform(frame: pd.DataFrame, schema: Any) -> pd.DataFrame:
    """Cast numeric feature columns to the scorer's declared types (the engines may return
    a count as float or a ratio as integer; the values are the same)."""
    casts = {}
    for col in schema.inputs:
        if col.name not in frame.columns:
            continue
        kind = str(col.type)
        if kind in ("long", "DataType.long") and frame[col.name].notna().all():
            casts[col.name] = "int64"
        elif kind in ("double", "DataType.double"):
            casts[col.name] = "float64"
    return frame.astype(casts)


if __name__ == "__main__":
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("validated", "scorer", "out", "report"):
        parser.add_argument(f"--{flag}", type=Path, required=True)
    a = parser.parse_args()
    main(a.validated, a.scorer, a.out, a.report)
