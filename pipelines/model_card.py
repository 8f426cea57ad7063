"""Stage model_card: the model card (Markdown and HTML) and the fairness comparison.

Gathers the run's facts (evaluate and explain reports, the exported scorer's policy, the
MLflow run, ``dvc.lock`` hashes), compares decisions across groups of the protected
attributes, and writes ``reports/model_card.md``, ``reports/model_card.html``,
``reports/fairness.csv`` and ``reports/fairness.json`` (DVC metrics).

Usage: python -m pipelines.model_card --reports reports --decisions data/explain
           --customers data/validated/customers.parquet --dictionary data/features/dictionary.json
           --scorer data/scorer --models data/models --out reports/model_card.md
           --fairness reports/fairness.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pyarrow.parquet as pq
from creditrisk.governance.pseudonym import pseudonym
from creditrisk.models.fairness import FairnessThresholds, age_at, band, group_outcomes
from creditrisk.models.policy import Policy
from creditrisk.reports.model_card import ModelCardFacts, render_model_card, to_html

from pipelines import tracking
from pipelines.common import atomic_path, pseudonym_key, setup_logging, write_json
from pipelines.params import FairnessParams, Params, load_params

log = logging.getLogger("pipelines.model_card")

FIGURES = {
    "roc": "evaluate/roc.png",
    "ks": "evaluate/ks.png",
    "gains": "evaluate/gains.png",
    "calibration": "evaluate/calibration.png",
    "psi": "evaluate/psi.png",
    "psi_by_month": "evaluate/psi_by_month.png",
    "importance": "explain/importance.png",
    "beeswarm": "explain/beeswarm.png",
}


def main(
    reports: Path,
    decisions: Path,
    customers: Path,
    dictionary: Path,
    scorer: Path,
    models: Path,
    out: Path,
    fairness_metrics: Path,
) -> None:
    params = load_params()
    card = params.model_card
    scored = pd.read_parquet(decisions / "decisions.parquet")
    fairness = _fairness(scored, customers, card.fairness)
    export = json.loads((reports / "export.json").read_text())
    facts = ModelCardFacts(
        model={
            "name": export["model_name"],
            "version": export["model_version"],
            "alias": export["alias"],
            "run_id": export["run_id"],
            "git_commit": tracking.git_commit(),
            "created": datetime.now(UTC).strftime("%Y-%m-%d"),
        },
        purpose=card.purpose,
        intended_use=card.intended_use,
        limitations=card.limitations,
        lineage=_lineage(),
        split=_read(reports / "split.json"),
        validation=_read(reports / "validation/summary.json"),
        labels=params.labels.model_dump(),
        dictionary=_read(dictionary),
        model_features=_read(models / "features.json")["features"],
        metrics=_read(reports / "metrics.json"),
        calibration_method=params.calibrate.method,
        calibration_table=pd.read_csv(reports / "evaluate/calibration.csv"),
        grade_table=pd.read_csv(reports / "evaluate/grades.csv"),
        psi_table=pd.read_csv(reports / "evaluate/psi.csv"),
        policy=Policy.from_dict(_read(scorer / "artifacts/policy.json")),
        importance=pd.read_csv(reports / "explain/importance.csv"),
        reason_frequency=pd.read_csv(reports / "explain/reason_frequency.csv"),
        explain_summary=_read(reports / "explain/summary.json"),
        fairness=fairness,
        fairness_thresholds=card.fairness.model_dump(exclude={"attributes"}),
        example=_example(scored, params),
        figures=_figures(reports, out.parent),
    )
    text = render_model_card(facts)
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    html = out.with_suffix(".html")
    with atomic_path(html) as tmp:
        tmp.write_text(to_html(text, title=f"Model card {export['model_name']}"))
    table = pd.concat(fairness.values(), ignore_index=True) if fairness else pd.DataFrame()
    table.to_csv(fairness_metrics.with_suffix(".csv"), index=False)
    flagged = table[~table["flags"].isin(["", "too_small_to_judge"])] if len(table) else table
    write_json(
        {
            "groups_flagged": len(flagged),
            "flags": [f"{r.attribute}={r.group}: {r.flags}" for r in flagged.itertuples()],
            "attributes": {
                a: {
                    str(r["group"]): {k: r[k] for k in ("n", "approval_rate", "mean_limit", "auc")}
                    for r in t.to_dict("records")
                }
                for a, t in fairness.items()
            },
        },
        fairness_metrics,
    )
    with tracking.resume_run(models / tracking.RUN_FILE):
        mlflow.log_artifact(str(out), artifact_path="reports")
        mlflow.log_artifact(str(html), artifact_path="reports")
        mlflow.log_artifact(str(fairness_metrics), artifact_path="reports")
        mlflow.log_metric("fairness.groups_flagged", len(flagged))
    log.info("model card %s (%s); %d fairness flag(s)", out, html, len(flagged))


def _read(path: Path) -> Any:
    return json.loads(path.read_text())


def _lineage() -> dict[str, str]:
    """``dvc.lock`` hashes of the data, without the ``dvc.`` tag prefix."""
    return {k.removeprefix("dvc."): v for k, v in tracking.dvc_lock_hashes().items()}


def _figures(reports: Path, card_dir: Path) -> dict[str, str]:
    return {
        name: os.path.relpath(reports / rel, card_dir)
        for name, rel in FIGURES.items()
        if (reports / rel).exists()
    }


def _fairness(scored: pd.DataFrame, customers: Path, p: FairnessParams) -> dict[str, pd.DataFrame]:
    """Per protected attribute, outcomes by group of the test-period decisions."""
    if not p.attributes:
        return {}
    wanted = ["customer_id", *p.attributes]
    present = set(pq.read_schema(customers).names)
    attrs = pd.read_parquet(customers, columns=[c for c in wanted if c in present])
    missing = [a for a in p.attributes if a not in attrs.columns]
    if missing:
        log.warning("protected attribute(s) %s not in %s: left out of fairness", missing, customers)
    frame = scored.merge(attrs, on="customer_id", how="left", validate="many_to_one")
    thresholds = FairnessThresholds(
        approval_ratio_min=p.approval_ratio_min,
        limit_ratio_min=p.limit_ratio_min,
        auc_gap_max=p.auc_gap_max,
        min_group_size=p.min_group_size,
    )
    out = {}
    for name, spec in p.attributes.items():
        if name not in frame.columns:
            continue
        if spec.kind == "birth_year":
            frame[f"{name}_group"] = band(age_at(frame[name], frame["as_of"]), spec.bands)
            label = f"age at as_of (from {name})"
        elif spec.kind == "numeric":
            frame[f"{name}_group"] = band(frame[name], spec.bands)
            label = name
        else:
            frame[f"{name}_group"] = frame[name].astype("string").fillna("unknown")
            label = name
        table = group_outcomes(frame, group=f"{name}_group", thresholds=thresholds)
        table["attribute"] = label
        out[label] = table
    return out


def _example(scored: pd.DataFrame, params: Params) -> dict[str, Any]:
    """One limited customer with reasons (the riskiest such), pseudonymised."""
    k = params.policy.reasons
    with_reason = scored[scored["reason_1"].notna() & (scored["credit_limit"] > 0)]
    pool = with_reason if len(with_reason) else scored
    row = pool.sort_values(["pd", "customer_id"], ascending=[False, True]).iloc[0]
    reasons = [
        (row[f"reason_{i}"], row[f"reason_text_{i}"])
        for i in range(1, k + 1)
        if pd.notna(row[f"reason_{i}"])
    ]
    return {
        "pseudonym": pseudonym(row["customer_id"], pseudonym_key()),
        "as_of": pd.Timestamp(row["as_of"]).date().isoformat(),
        "pd": float(row["pd"]),
        "score": float(row["score"]),
        "grade": row["grade"],
        "rating_rule": row["rating_rule"] or "",
        "credit_limit": float(row["credit_limit"]),
        "limit_policy": row["limit_policy"],
        "model_version": row["model_version"],
        "reasons": reasons,
    }


if __name__ == "__main__":
    setup_logging()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=Path, required=True)
    ap.add_argument("--decisions", type=Path, required=True)
    ap.add_argument("--customers", type=Path, required=True)
    ap.add_argument("--dictionary", type=Path, required=True)
    ap.add_argument("--scorer", type=Path, required=True)
    ap.add_argument("--models", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--fairness", type=Path, required=True)
    a = ap.parse_args()
    main(a.reports, a.decisions, a.customers, a.dictionary, a.scorer, a.models, a.out, a.fairness)
