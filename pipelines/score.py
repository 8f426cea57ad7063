"""Stage score: a snapshot of raw history scored end to end (features, then the scorer).

Features are computed as of ``score.as_of`` (default: the day after the data's end, so
every event in the data is used) by the same Ibis expressions as the features stage, and
scored by the exported pyfunc model (the champion), exactly as a downstream system would
load it. Limit freezes active at that date in the action store (``--actions``, written by
the monitor stage and the ``creditrisk limits`` command) set ``credit_limit`` to 0, with
``limit_policy`` naming the freeze. With ``--decision-log``, every decision is appended to
that log (the scorer is wrapped in
:class:`creditrisk.governance.decision_log.LoggingScorer`), and log files older than
``retention.decision_log_days`` are removed.

Usage: python -m pipelines.score --validated data/validated --scorer data/scorer
           --actions data/actions --out data/scores --report reports/score.json
           [--decision-log data/decision_log]
"""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from creditrisk.governance import decision_log as dl
from creditrisk.governance.decision_log import DecisionModel, LoggingScorer
from creditrisk.models.inputs import conform_inputs
from creditrisk.models.output import is_frozen
from creditrisk.models.pyfunc import scorer_artifacts, scorer_lineage
from creditrisk.models.recourse import WithRecourse, levers
from creditrisk.models.scorer import Scorer
from creditrisk.monitoring.actions import FrozenLimits
from pipelines.support.action_store import active_freezes
from pipelines.support.artifacts import scores_file
from pipelines.support.files import reset_dir, write_json, write_table
from pipelines.support.params import load_params
from pipelines.support.secrets import pseudonym_key
from pipelines.support.snapshot_features import Decided, scored_snapshot
from pipelines.support.stage import cli

log = logging.getLogger("pipelines.score")
CHUNK_ROWS = 50_000


def main(
    validated: Path,
    scorer: Path,
    actions: Path,
    out: Path,
    report: Path,
    decision_log: Path | None = None,
) -> None:
    params = load_params()
    as_of = params.score.as_of or params.data.end_date + timedelta(days=1)
    snap = scored_snapshot(validated, params, [as_of], scorer=scorer)
    features, n_customers = snap.features, snap.customers
    log.info("features as of %s for %d of %d customers", as_of, len(features), n_customers)
    pyfunc = mlflow.pyfunc.load_model(str(scorer))
    rows = conform_inputs(features, pyfunc.metadata.get_input_schema()).drop(
        columns=["default", "label_complete"]
    )
    # On Spark the decisions were made on the executors (spark_udf); freezes, recourse
    # and the decision log are applied to them here, as to the pyfunc model's own.
    decided = pyfunc if snap.decisions is None else Decided(snap.decisions)
    frozen = FrozenLimits(decided, active_freezes(actions, params.monitor.store_url, as_of))
    model: DecisionModel = _with_recourse(frozen, pyfunc, scorer, rows)
    if decision_log is None:
        rows = rows.drop(columns=["as_of"])  # the log records as_of; the model needs none
    else:
        model = _logging(pyfunc, model, scorer, decision_log, reasons=params.policy.reasons)
    scores = _score_in_chunks(model, rows)
    scores.insert(1, "as_of", pd.Timestamp(as_of))
    reset_dir(out)
    write_table(scores, scores_file(out))
    logged = model.logged if isinstance(model, LoggingScorer) else 0
    summary = _summary(scores, as_of=str(as_of), customers=n_customers, logged=logged)
    summary["decided_on"] = "local" if snap.decisions is None else "spark"
    write_json(summary, report)
    if decision_log is not None:
        _retention(decision_log, params.retention.decision_log_days)
    log.info("scores: %d rows, %d logged, %d limits frozen", len(scores), logged, frozen.applied)


def _with_recourse(
    model: DecisionModel, pyfunc: Any, scorer: Path, rows: pd.DataFrame
) -> WithRecourse:
    """Recourse for declined and limited decisions, over grids from this snapshot (searched
    with the loaded model's own scorer)."""
    direct: Scorer = pyfunc.unwrap_python_model().scorer
    dictionary = json.loads(Path(scorer_artifacts(scorer)["dictionary"]).read_text())
    return WithRecourse(model, direct, levers(direct, dictionary, rows))


def _retention(decision_log: Path, days: int) -> None:
    removed = dl.apply_retention(decision_log, before=date.today() - timedelta(days=days))
    if removed:
        log.info("decision log: %d record(s) older than %d days removed", removed, days)


def _logging(
    pyfunc: Any, model: DecisionModel, scorer: Path, decision_log: Path, *, reasons: int
) -> LoggingScorer:
    """The scorer wrapped so that every decision is appended to the decision log."""
    schema = pyfunc.metadata.get_input_schema()
    return LoggingScorer(
        model,
        log=decision_log,
        key=pseudonym_key(),
        lineage=scorer_lineage(scorer),
        features=[c.name for c in schema.inputs if c.name != "customer_id"],
        reasons=reasons,
    )


def _score_in_chunks(model: DecisionModel, rows: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for first in range(0, len(rows), CHUNK_ROWS):
        parts.append(model.predict(rows.iloc[first : first + CHUNK_ROWS]))
        log.info("scored %d / %d rows", min(first + CHUNK_ROWS, len(rows)), len(rows))
    return pd.concat(parts, ignore_index=True) if parts else model.predict(rows.head(0))


def _summary(scores: pd.DataFrame, *, as_of: str, customers: int, logged: int) -> dict[str, Any]:
    def counts(column: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in scores[column].value_counts().items() if k}

    return {
        "as_of": as_of,
        "rows": len(scores),
        "decisions_logged": logged,
        "customers_in_data": customers,
        "model_version": str(scores["model_version"].iloc[0]) if len(scores) else None,
        "mean_pd": float(scores["pd"].mean()) if len(scores) else None,
        "total_credit_limit": float(scores["credit_limit"].sum()),
        "frozen_limits": int(is_frozen(scores["limit_policy"]).sum()),
        "grades": dict(sorted(counts("grade").items())),
        "limit_policy": counts("limit_policy"),
        "rating_rules": counts("rating_rule"),
        "with_recourse": int(scores["recourse_changes"].notna().sum())
        if "recourse_changes" in scores
        else 0,
    }


if __name__ == "__main__":
    cli(main)
