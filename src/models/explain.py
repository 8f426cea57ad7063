"""SHAP explanations of the model: values, additivity, global importance, reason frequency.

SHAP values come from ``shap.TreeExplainer`` on the LightGBM booster, in the units of the
raw margin (log-odds before calibration), the same units as the scorer's ``pred_contrib``
reasons. Contributions plus the expected value equal the margin exactly (up to float
rounding): :func:`additivity_error` measures it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

# Limit policies that mean "the customer's risk set this limit", as opposed to income or
# the product's maximum: a customer limited by one of them was limited because of risk.
RISK_LIMITS = frozenset({"model:expected_loss_budget", "formula:grade_base"})


@dataclass(frozen=True)
class Explanation:
    """SHAP values of rows of a model matrix.

    Attributes:
        values: (rows, features) contributions to the raw margin.
        expected_value: the margin of the average training row (the SHAP base value).
        features: column names of ``values``.
    """

    values: np.ndarray
    expected_value: float
    features: tuple[str, ...]

    def frame(self, index: pd.Index | None = None) -> pd.DataFrame:
        return pd.DataFrame(self.values, columns=list(self.features), index=index)


def shap_explanation(
    booster: lgb.Booster, X: np.ndarray, *, features: Sequence[str]
) -> Explanation:
    """SHAP values of ``X`` (the float matrix the booster was trained on) by TreeExplainer."""
    import shap  # imported here: shap is slow to import and only this module needs it

    explainer = shap.TreeExplainer(booster)
    with warnings.catch_warnings():
        # shap notes that LightGBM binary output changed shape across versions; handled below.
        warnings.filterwarnings("ignore", message="LightGBM binary classifier", module="shap")
        values = np.asarray(explainer.shap_values(X), dtype="float64")
    if values.ndim == 3:  # some shap versions return one slice per class
        values = values[..., -1]
    expected = np.ravel(explainer.expected_value)[-1]
    return Explanation(values=values, expected_value=float(expected), features=tuple(features))


def additivity_error(explanation: Explanation, margin: np.ndarray) -> float:
    """Largest |contributions + expected value - margin| over the rows (log-odds)."""
    total = explanation.values.sum(axis=1) + explanation.expected_value
    return float(np.max(np.abs(total - margin))) if len(margin) else 0.0


def global_importance(
    explanation: Explanation, dictionary: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """Mean |SHAP| per feature, largest first, with its share of the total and the
    dictionary's description, declared direction and reason text.

    ``direction_observed`` is the sign of the correlation between a feature's value and its
    SHAP value (+1: higher values raise risk), to compare with the declared direction.
    """
    values = explanation.values
    mean_abs = np.abs(values).mean(axis=0) if len(values) else np.zeros(len(explanation.features))
    total = mean_abs.sum()
    rows = []
    for j, name in enumerate(explanation.features):
        entry = dictionary.get(name, {})
        rows.append(
            {
                "feature": name,
                "mean_abs_shap": float(mean_abs[j]),
                "share": float(mean_abs[j] / total) if total > 0 else 0.0,
                "mean_shap": float(values[:, j].mean()) if len(values) else 0.0,
                "direction_declared": int(entry.get("direction", 0)),
                "description": entry.get("description", ""),
                "reason": entry.get("reason", name),
            }
        )
    table = pd.DataFrame(rows).sort_values(
        ["mean_abs_shap", "feature"], ascending=[False, True], kind="stable"
    )
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table.reset_index(drop=True)


def observed_direction(explanation: Explanation, X: np.ndarray) -> np.ndarray:
    """Per feature, the sign (+1/-1/0) of the Spearman-like rank correlation between the
    feature's value and its SHAP value over the rows where the value is known."""
    signs = np.zeros(X.shape[1], dtype=int)
    for j in range(X.shape[1]):
        x, s = X[:, j], explanation.values[:, j]
        known = ~np.isnan(x)
        if known.sum() < 3 or np.ptp(x[known]) == 0 or np.ptp(s[known]) == 0:
            continue
        xr = pd.Series(x[known]).rank().to_numpy()
        sr = pd.Series(s[known]).rank().to_numpy()
        r = np.corrcoef(xr, sr)[0, 1]
        signs[j] = int(np.sign(np.round(r, 6)))
    return signs


def decision_outcome(credit_limit: pd.Series, limit_policy: pd.Series) -> pd.Series:
    """``declined`` (no limit), ``limited`` (the limit was set by the risk budget of the
    grade) or ``approved`` (the limit was set by income or the product maximum)."""
    outcome = np.where(
        credit_limit.to_numpy(dtype="float64") <= 0,
        "declined",
        np.where(limit_policy.isin(RISK_LIMITS).to_numpy(), "limited", "approved"),
    )
    return pd.Series(outcome, index=credit_limit.index, name="outcome")


def reason_frequency(decisions: pd.DataFrame, *, k: int) -> pd.DataFrame:
    """How often each reason code appears, per decision outcome.

    Args:
        decisions: scorer output (``credit_limit``, ``limit_policy``, ``reason_1..k``,
            ``reason_text_1..k``).
        k: the number of reason columns.

    Returns:
        One row per (outcome, reason): customers in the outcome, customers with the reason
        first, customers with it among their k reasons, and that as a share of the outcome.
        Outcomes: ``declined``, ``limited``, ``declined_or_limited``, ``all``.
    """
    outcome = decision_outcome(decisions["credit_limit"], decisions["limit_policy"])
    groups = {
        "declined": outcome == "declined",
        "limited": outcome == "limited",
        "declined_or_limited": outcome.isin(["declined", "limited"]),
        "all": pd.Series(True, index=decisions.index),
    }
    texts: dict[str, str] = {}
    for i in range(1, k + 1):
        pairs = decisions[[f"reason_{i}", f"reason_text_{i}"]].dropna()
        texts.update(zip(pairs.iloc[:, 0], pairs.iloc[:, 1], strict=True))
    rows = []
    for name, mask in groups.items():
        part = decisions[mask.to_numpy()]
        n = len(part)
        if n == 0:
            continue
        first = part["reason_1"].value_counts()
        anywhere = pd.concat([part[f"reason_{i}"] for i in range(1, k + 1)]).value_counts()
        for code, count in anywhere.items():
            rows.append(
                {
                    "outcome": name,
                    "customers": n,
                    "reason": code,
                    "reason_text": texts.get(str(code), str(code)),
                    "first_reason": int(first.get(code, 0)),
                    "among_reasons": int(count),
                    "share": float(count / n),
                }
            )
    columns = [
        "outcome",
        "customers",
        "reason",
        "reason_text",
        "first_reason",
        "among_reasons",
        "share",
    ]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(
        ["outcome", "among_reasons", "reason"], ascending=[True, False, True], kind="stable"
    ).reset_index(drop=True)
