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
import os
import time
from datetime import timedelta
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
from creditrisk.governance import decision_log as dlog
from creditrisk.models.pyfunc import DECISION_LOG_ENV, scorer_lineage

from pipelines.common import pseudonym_key, reset_dir, setup_logging, write_json, write_table
from pipelines.params import load_params
from pipelines.snapshots import conform, snapshot_features

log = logging.getLogger("pipelines.score")
CHUNK_ROWS = 50_000


def main(
    validated: Path, scorer: Path, out: Path, report: Path, decision_log: Path | None = None
) -> None:
    params = load_params()
    as_of = params.score.as_of or params.data.end_date + timedelta(days=1)
    started = time.perf_counter()
    features, n_customers = snapshot_features(validated, params, [as_of])
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
    features = conform(features, model.metadata.get_input_schema())
    # This stage logs its decisions itself; the pyfunc scorer must not log them again.
    os.environ.pop(DECISION_LOG_ENV, None)
    parts = []
    for first in range(0, len(features), CHUNK_ROWS):
        chunk = features.iloc[first : first + CHUNK_ROWS]
        parts.append(model.predict(chunk.drop(columns=["as_of", "default", "label_complete"])))
        log.info("scored %d / %d rows", min(first + CHUNK_ROWS, len(features)), len(features))
    scores = pd.concat(parts, ignore_index=True) if parts else model.predict(features.head(0))
    scores.insert(1, "as_of", pd.Timestamp(as_of))
    reset_dir(out)
    write_table(scores, out / "scores.parquet")
    logged = 0
    if decision_log is not None and len(scores):
        records = dlog.decision_records(
            features,
            scores,
            features=[
                c.name for c in model.metadata.get_input_schema().inputs if c.name != "customer_id"
            ],
            lineage=scorer_lineage(scorer),
            key=pseudonym_key(),
            reasons=params.policy.reasons,
        )
        path = dlog.append(decision_log, records)
        logged = len(records)
        log.info("decision log: %d records appended to %s", logged, path)
    summary = {
        "as_of": str(as_of),
        "rows": len(scores),
        "decisions_logged": logged,
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


if __name__ == "__main__":
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("validated", "scorer", "out", "report"):
        parser.add_argument(f"--{flag}", type=Path, required=True)
    parser.add_argument("--decision-log", type=Path, help="append-only decision log folder")
    a = parser.parse_args()
    main(a.validated, a.scorer, a.out, a.report, a.decision_log)
