"""Stage explain: SHAP explanations of the exported scorer's model on the test period.

Writes under ``reports/explain/``: global importance (mean |SHAP|) as a table and a plot, a
beeswarm summary, dependence plots of the top features, how often each reason code appears
among declined or limited customers, and ``summary.json`` with the additivity check
(contributions + expected value = margin). The scored test decisions go to
``data/explain/decisions.parquet`` for the model card. Everything is logged to the MLflow
run of this pipeline run.

Usage: python -m pipelines.explain --scorer data/scorer --split data/split
           --dictionary data/features/dictionary.json --models data/models
           --out reports/explain --decisions data/explain
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from creditrisk.models import explain as ex
from creditrisk.models.pyfunc import load_scorer_folder

from pipelines import tracking
from pipelines.common import reset_dir, setup_logging, write_json, write_table
from pipelines.params import ExplainParams, load_params

log = logging.getLogger("pipelines.explain")


class AdditivityError(RuntimeError):
    """SHAP contributions plus the expected value do not add up to the model's margin."""


def main(
    scorer_dir: Path, split: Path, dictionary: Path, models: Path, out: Path, decisions: Path
) -> None:
    params = load_params()
    e = params.explain
    scorer = load_scorer_folder(scorer_dir)
    glossary = json.loads(dictionary.read_text())
    test = pd.read_parquet(split / "test.parquet")
    if test.empty:
        raise ValueError(f"{split / 'test.parquet'}: the test period holds no rows to explain")
    sample = test.sample(n=e.max_rows, random_state=e.seed) if len(test) > e.max_rows else test
    sample = sample.sort_index()
    log.info("explaining %d of %d test rows with shap.TreeExplainer", len(sample), len(test))

    X = scorer.matrix(sample)
    features = list(scorer.spec.features)
    explanation = ex.shap_explanation(scorer.booster, X, features=features)
    margin = np.asarray(scorer.booster.predict(X, raw_score=True))
    contrib = np.asarray(scorer.booster.predict(X, pred_contrib=True))
    summary = _checks(explanation, margin, contrib, e)

    importance = ex.global_importance(explanation, glossary)
    observed = dict(zip(features, ex.observed_direction(explanation, X), strict=True))
    importance["direction_observed"] = importance["feature"].map(observed)
    scored = scorer.score(test)
    scored.insert(1, "as_of", test["as_of"].to_numpy())
    scored.insert(2, "default", test["default"].to_numpy())
    frequency = ex.reason_frequency(scored, k=scorer.policy.reasons)

    reset_dir(out)
    importance.to_csv(out / "importance.csv", index=False)
    frequency.to_csv(out / "reason_frequency.csv", index=False)
    figures = _figures(explanation, X, importance, frequency, e)
    for name, fig in figures.items():
        fig.savefig(out / f"{name}.png", dpi=110, bbox_inches="tight")
    outcomes = ex.decision_outcome(scored["credit_limit"], scored["limit_policy"])
    summary.update(
        rows_explained=len(sample),
        rows_scored=len(scored),
        outcomes={k: int(v) for k, v in outcomes.value_counts().sort_index().items()},
        top_features=importance["feature"].head(10).tolist(),
        shap_trend_against_declared_direction=_contradicted(importance),
        model_version=scorer.model_version,
    )
    write_json(summary, out / "summary.json")
    reset_dir(decisions)
    write_table(scored, decisions / "decisions.parquet")

    with tracking.resume_run(models / tracking.RUN_FILE):
        tracking.log_settings(tracking.flatten("explain", e.model_dump()))
        tracking.log_numeric_metrics(
            {
                "explain.additivity_max_error": summary["additivity_max_error"],
                "explain.pred_contrib_max_difference": summary["pred_contrib_max_difference"],
            }
        )
        mlflow.log_artifacts(str(out), artifact_path="reports/explain")
    for fig in figures.values():
        plt.close(fig)
    log.info(
        "top features: %s; additivity error %.2e log-odds",
        ", ".join(summary["top_features"][:5]),
        summary["additivity_max_error"],
    )


def _checks(
    explanation: ex.Explanation, margin: np.ndarray, contrib: np.ndarray, e: ExplainParams
) -> dict[str, Any]:
    """Additivity of the SHAP values, and agreement with the scorer's own ``pred_contrib``.

    Raises:
        AdditivityError: either difference is above the tolerance.
    """
    error = ex.additivity_error(explanation, margin)
    vs_contrib = float(np.max(np.abs(explanation.values - contrib[:, :-1]))) if len(margin) else 0.0
    if error > e.additivity_tolerance or vs_contrib > e.additivity_tolerance:
        raise AdditivityError(
            f"SHAP values do not add up: max |sum + expected value - margin| = {error:.3g}, "
            f"max |TreeExplainer - pred_contrib| = {vs_contrib:.3g} log-odds "
            f"(tolerance {e.additivity_tolerance:g}); the reason codes cannot be trusted"
        )
    return {
        "additivity_max_error": error,
        "pred_contrib_max_difference": vs_contrib,
        "expected_value": explanation.expected_value,
        "additivity_tolerance": e.additivity_tolerance,
    }


def _contradicted(importance: pd.DataFrame) -> list[str]:
    """Features whose SHAP values trend (rank correlation with the value) against their
    declared direction. Interactions can cause this even where the model is monotone in
    the feature; it is a prompt to look at the dependence plot, not a proof."""
    declared = importance["direction_declared"]
    observed = importance["direction_observed"]
    bad = (declared != 0) & (observed != 0) & (declared != observed)
    return importance.loc[bad, "feature"].tolist()


def _figures(
    explanation: ex.Explanation,
    matrix: np.ndarray,
    importance: pd.DataFrame,
    frequency: pd.DataFrame,
    e: ExplainParams,
) -> dict[str, Any]:
    import shap

    rng = np.random.default_rng(e.seed)
    n = len(matrix)
    rows = np.sort(rng.choice(n, size=min(n, e.plot_rows), replace=False))
    shown = pd.DataFrame(matrix[rows], columns=list(explanation.features))
    values = explanation.values[rows]
    figures: dict[str, Any] = {"importance": _importance_figure(importance)}

    plt.figure()  # shap draws on the current figure
    shap.summary_plot(values, shown, max_display=20, show=False, plot_size=(8, 8))
    fig = plt.gcf()
    fig.suptitle("SHAP values per feature, test period (each dot is a customer)", y=1.0)
    figures["beeswarm"] = fig
    for name in importance["feature"].head(e.dependence_top):
        fig, ax = plt.subplots(figsize=(6, 4))
        shap.dependence_plot(name, values, shown, interaction_index=None, ax=ax, show=False)
        ax.set_title(f"{name}: value against its contribution to the log-odds")
        figures[f"dependence_{name}"] = fig
    figures["reason_frequency"] = _reason_figure(frequency)
    return figures


def _importance_figure(importance: pd.DataFrame, top: int = 20) -> Any:
    head = importance.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(head) + 1.2))
    ax.barh(head["feature"], head["mean_abs_shap"], color="#3b6ea8")
    ax.set(xlabel="mean |SHAP value| (log-odds)", title="Global importance, test period")
    fig.tight_layout()
    return fig


def _reason_figure(frequency: pd.DataFrame, top: int = 12) -> Any:
    part = frequency[frequency["outcome"] == "declined_or_limited"].head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.35 * max(len(part), 1) + 1.4))
    ax.barh(part["reason_text"], part["share"], color="#a83b3b")
    customers = int(part["customers"].iloc[0]) if len(part) else 0
    ax.set(
        xlabel="share of declined or limited customers with this reason",
        title=f"Reason codes of declined or limited customers (n = {customers:,})",
    )
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    setup_logging()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scorer", type=Path, required=True)
    ap.add_argument("--split", type=Path, required=True)
    ap.add_argument("--dictionary", type=Path, required=True)
    ap.add_argument("--models", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--decisions", type=Path, required=True)
    a = ap.parse_args()
    main(a.scorer, a.split, a.dictionary, a.models, a.out, a.decisions)
