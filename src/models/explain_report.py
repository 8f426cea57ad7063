"""The explain stage's work: SHAP explanations of the exported scorer's model on the test
period, checked for additivity, with global importance and reason-code frequency."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import creditrisk.records as records
from creditrisk.models import explain as ex
from creditrisk.models.scorer import Scorer


class AdditivityError(RuntimeError):
    """SHAP contributions plus the expected value do not add up to the model's margin."""


@dataclass(frozen=True)
class ExplainSummary:
    """``reports/explain/summary.json``."""

    additivity_max_error: float
    pred_contrib_max_difference: float
    expected_value: float
    additivity_tolerance: float
    rows_explained: int
    rows_scored: int
    outcomes: dict[str, int]
    top_features: tuple[str, ...]
    shap_trend_against_declared_direction: tuple[str, ...]
    model_version: str
    # Recourse (data/explain/recourse.parquet): the declined or limited test decisions,
    # how many were searched (a seeded sample of explain.recourse_rows beyond that) and
    # how many got a change reaching a better grade.
    recourse_declined_or_limited: int = 0
    recourse_searched: int = 0
    recourse_found: int = 0

    def to_dict(self) -> dict[str, Any]:
        return records.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExplainSummary:
        return records.from_dict(cls, data)


@dataclass(frozen=True)
class Explained:
    """The summary, importance and reason-frequency tables, the scored test decisions,
    and the explained rows (matrix and SHAP values) the figures are drawn from."""

    summary: ExplainSummary
    importance: pd.DataFrame
    frequency: pd.DataFrame
    decisions: pd.DataFrame
    explanation: ex.Explanation
    matrix: np.ndarray


def explained_rows(n: int, *, max_rows: int, seed: int) -> np.ndarray:
    """Which of a period's ``n`` rows are explained: all, or beyond ``max_rows`` the
    seeded sample ``DataFrame.sample(n=max_rows, random_state=seed)`` draws (the same
    positions, so a period read in batches explains the rows a whole read would)."""
    keep = np.zeros(n, dtype=bool)
    if n <= max_rows:
        keep[:] = True
    else:
        keep[np.random.RandomState(seed).choice(n, size=max_rows, replace=False)] = True
    return keep


def explain_test_period(
    explained: pd.DataFrame,
    test: Iterable[pd.DataFrame],
    scorer: Scorer,
    dictionary: Mapping[str, Mapping[str, Any]],
    *,
    tolerance: float,
) -> Explained:
    """Explain the rows ``explained`` (all the test period's, or its sample from
    :func:`explained_rows`, in file order) and score every row of ``test`` (the period in
    batches, each scored once).

    Raises:
        ValueError: the test period is empty.
        AdditivityError: contributions plus the expected value miss the margin, or
            shap's TreeExplainer and LightGBM's ``pred_contrib`` disagree, by more than
            ``tolerance`` log-odds.
    """
    parts = []
    for batch in test:
        part = scorer.score(batch.reset_index(drop=True))
        part.insert(1, "as_of", batch["as_of"].to_numpy())
        part.insert(2, "default", batch["default"].to_numpy())
        parts.append(part)
    scored = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if scored.empty or explained.empty:
        raise ValueError("the test period holds no rows to explain")
    X = scorer.matrix(explained)
    features = list(scorer.spec.features)
    explanation = ex.shap_explanation(scorer.booster, X, features=features)
    margin = np.asarray(scorer.booster.predict(X, raw_score=True))
    contrib = np.asarray(scorer.booster.predict(X, pred_contrib=True))
    error, vs_contrib = _check_additivity(explanation, margin, contrib, tolerance)
    importance = ex.global_importance(explanation, dictionary)
    observed = dict(zip(features, ex.observed_direction(explanation, X), strict=True))
    importance["direction_observed"] = importance["feature"].map(observed)
    outcomes = ex.decision_outcome(scored["credit_limit"], scored["limit_policy"])
    summary = ExplainSummary(
        additivity_max_error=error,
        pred_contrib_max_difference=vs_contrib,
        expected_value=explanation.expected_value,
        additivity_tolerance=tolerance,
        rows_explained=len(X),
        rows_scored=len(scored),
        outcomes={str(k): int(v) for k, v in outcomes.value_counts().sort_index().items()},
        top_features=tuple(importance["feature"].head(10)),
        shap_trend_against_declared_direction=tuple(contradicted(importance)),
        model_version=scorer.model_version,
    )
    frequency = ex.reason_frequency(scored, k=scorer.policy.reasons)
    return Explained(summary, importance, frequency, scored, explanation, X)


def _check_additivity(
    explanation: ex.Explanation, margin: np.ndarray, contrib: np.ndarray, tolerance: float
) -> tuple[float, float]:
    error = ex.additivity_error(explanation, margin)
    vs_contrib = float(np.max(np.abs(explanation.values - contrib[:, :-1]))) if len(margin) else 0.0
    if error > tolerance or vs_contrib > tolerance:
        raise AdditivityError(
            f"SHAP values do not add up: max |sum + expected value - margin| = {error:.3g}, "
            f"max |TreeExplainer - pred_contrib| = {vs_contrib:.3g} log-odds "
            f"(tolerance {tolerance:g}); the reason codes cannot be trusted"
        )
    return error, vs_contrib


def contradicted(importance: pd.DataFrame) -> list[str]:
    """Features whose SHAP values trend (rank correlation with the value) against their
    declared direction. Interactions can cause this even where the model is monotone in
    the feature; it is a prompt to look at the dependence plot, not a proof."""
    declared = importance["direction_declared"]
    observed = importance["direction_observed"]
    bad = (declared != 0) & (observed != 0) & (declared != observed)
    return [str(f) for f in importance.loc[bad, "feature"]]
