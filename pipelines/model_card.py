"""Stage model_card: the model card (Markdown and HTML) and the fairness comparison.

Gathers the run's facts (evaluate and explain reports, the exported scorer's policy, the
MLflow run, ``dvc.lock`` hashes), compares decisions across groups of the protected
attributes, and writes ``reports/model_card.md``, ``reports/model_card.html``,
``reports/fairness.csv`` and ``reports/fairness.json`` (DVC metrics).

Usage: python -m pipelines.model_card --reports reports --decisions data/explain
           --customers data/validated/customers.parquet --dictionary data/features/dictionary.json
           --scorer data/candidate --models data/models --out reports/model_card.md
           --fairness reports/fairness.json
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pyarrow.parquet as pq

from creditrisk.atomic import atomic_path
from creditrisk.models.evaluation import EvaluationReport
from creditrisk.models.explain_report import ExplainSummary
from creditrisk.models.export import ExportReport
from creditrisk.models.fairness import (
    FairnessThresholds,
    fairness_summary,
    fairness_tables,
    groupings_for,
)
from creditrisk.models.policy import Policy
from creditrisk.models.pyfunc import scorer_artifacts
from creditrisk.monitoring.report import MonitorReport
from creditrisk.reports.model_card import (
    ModelCardFacts,
    example_decision,
    render_model_card,
    to_html,
)
from creditrisk.reports.strategy_report import StrategySummary
from pipelines.support import tracking
from pipelines.support.artifacts import ModelsDir, ReportsDir, decisions_file, read_json
from pipelines.support.files import write_json
from pipelines.support.loaders import read_spec
from pipelines.support.params import Params, load_params
from pipelines.support.secrets import pseudonym_key
from pipelines.support.stage import cli

log = logging.getLogger("pipelines.model_card")

# The card's figures: (name in the card, report folder, figure name).
FIGURES = (
    *((n, "evaluate", n) for n in ("roc", "ks", "gains", "calibration", "psi", "psi_by_month")),
    ("importance", "explain", "importance"),
    ("beeswarm", "explain", "beeswarm"),
    *((n, "strategy", n) for n in ("cutoffs", "vintage", "roll_rates")),
)


def main(
    reports: Path,
    decisions: Path,
    customers: Path,
    dictionary: Path,
    scorer: Path,
    models: Path,
    out: Path,
    fairness: Path,
) -> None:
    params = load_params()
    scored = pd.read_parquet(decisions_file(decisions))
    attributes = _protected_attributes(customers, params)
    groupings = groupings_for(
        attributes, params.features.protected, params.model_card.fairness.attributes
    )
    groups = fairness_tables(scored, attributes, groupings, thresholds=_thresholds(params))
    facts = _facts(params, reports, scored, groups, dictionary, scorer, models, out)
    text = render_model_card(facts)
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    html = out.with_suffix(".html")
    with atomic_path(html) as tmp:
        tmp.write_text(to_html(text, title=f"Model card {facts.model['name']}"))
    table, summary = fairness_summary(groups)
    table.to_csv(fairness.with_suffix(".csv"), index=False)
    write_json(summary.to_dict(), fairness)
    with tracking.resume_run(ModelsDir(models).run_file):
        for path in (out, html, fairness):
            mlflow.log_artifact(str(path), artifact_path="reports")
        mlflow.log_metric("fairness.groups_flagged", summary.groups_flagged)
    log.info("model card %s (%s); %d fairness flag(s)", out, html, summary.groups_flagged)


def _facts(
    params: Params,
    reports: Path,
    scored: pd.DataFrame,
    fairness: dict[str, pd.DataFrame],
    dictionary: Path,
    scorer: Path,
    models: Path,
    out: Path,
) -> ModelCardFacts:
    """Everything the card states, read from this run's reports and artifacts."""
    r = ReportsDir(reports)
    export = ExportReport.from_dict(read_json(r.export))
    card = params.model_card
    return ModelCardFacts(
        model=_model(export),
        purpose=card.purpose,
        intended_use=card.intended_use,
        limitations=card.limitations,
        lineage={k.removeprefix("dvc."): v for k, v in tracking.dvc_lock_hashes().items()},
        split=read_json(r.split),
        validation=read_json(r.validation),
        labels=params.labels.model_dump(),
        dictionary=read_json(dictionary),
        model_features=read_spec(ModelsDir(models)).features,
        metrics=EvaluationReport.from_dict(read_json(r.metrics)),
        calibration_method=params.calibrate.method,
        calibration_table=pd.read_csv(r.evaluate.table("calibration")),
        grade_table=pd.read_csv(r.evaluate.table("pd_bands")),
        psi_table=pd.read_csv(r.evaluate.table("psi")),
        policy=Policy.from_dict(read_json(Path(scorer_artifacts(scorer)["policy"]))),
        importance=pd.read_csv(r.explain.importance),
        reason_frequency=pd.read_csv(r.explain.reason_frequency),
        explain_summary=ExplainSummary.from_dict(read_json(r.explain.summary)),
        fairness=fairness,
        fairness_thresholds=card.fairness.model_dump(exclude={"attributes"}),
        example=example_decision(scored, reasons=params.policy.reasons, key=pseudonym_key()),
        figures=_figures(r, out),
        promotion=export.promotion,
        champion_version=export.champion_version,
        monitor=_monitor(r.monitor),
        strategy=StrategySummary.from_dict(read_json(r.strategy.summary)),
        cutoffs=pd.read_csv(r.strategy.cutoffs),
        strategy_grades=pd.read_csv(r.strategy.grades),
        training_sample=read_json(r.train).get("sample"),
    )


def _model(export: ExportReport) -> dict[str, Any]:
    return {
        "name": export.model_name,
        "version": export.model_version,
        "alias": export.alias,
        "run_id": export.run_id,
        "git_commit": tracking.git_commit(),
        "created": tracking.git_commit_date(),
    }


def _figures(r: ReportsDir, out: Path) -> dict[str, str]:
    """The figures that exist, as paths relative to the card."""
    folders = {"evaluate": r.evaluate.figure, "explain": r.explain.figure}
    figure = {**folders, "strategy": r.strategy.figure}
    paths = {name: figure[folder](fig) for name, folder, fig in FIGURES}
    return {n: os.path.relpath(p, out.parent) for n, p in paths.items() if p.exists()}


def _monitor(path: Path) -> MonitorReport | None:
    """The latest monitoring run's report, when the monitor stage has run."""
    return MonitorReport.from_dict(read_json(path)) if path.exists() else None


def _protected_attributes(customers: Path, params: Params) -> pd.DataFrame:
    """customer_id and the protected attributes (features.protected) that the customers
    table holds (the others are named in a warning)."""
    wanted = list(params.features.protected)
    present = set(pq.read_schema(customers).names)
    missing = [a for a in wanted if a not in present]
    if missing:
        log.warning("protected attribute(s) %s not in %s: left out of fairness", missing, customers)
    return pd.read_parquet(customers, columns=["customer_id", *(a for a in wanted if a in present)])


def _thresholds(params: Params) -> FairnessThresholds:
    p = params.model_card.fairness
    return FairnessThresholds(
        approval_ratio_min=p.approval_ratio_min,
        limit_ratio_min=p.limit_ratio_min,
        auc_gap_max=p.auc_gap_max,
        min_group_size=p.min_group_size,
    )


if __name__ == "__main__":
    cli(main)
