"""SHAP additivity, reason frequency, fairness by group and pseudonyms, on tiny inputs
with expected values worked out by hand."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from creditrisk.governance.pseudonym import PseudonymKeyError, pseudonym, pseudonymise
from creditrisk.models import explain as ex
from creditrisk.models.fairness import FairnessThresholds, age_at, band, group_outcomes


def _booster(seed: int = 3) -> tuple[lgb.Booster, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 4))
    X[rng.random(600) < 0.1, 2] = np.nan
    y = (X[:, 0] + 0.5 * X[:, 1] * X[:, 3] + rng.normal(scale=0.5, size=600) > 0.8).astype(int)
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": seed}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=30), X


def test_shap_values_add_up_to_the_margin_and_match_pred_contrib() -> None:
    booster, X = _booster()
    explanation = ex.shap_explanation(booster, X, features=["a", "b", "c", "d"])
    margin = booster.predict(X, raw_score=True)
    assert ex.additivity_error(explanation, margin) < 1e-9
    contrib = booster.predict(X, pred_contrib=True)
    np.testing.assert_allclose(explanation.values, contrib[:, :-1], atol=1e-9)
    assert explanation.expected_value == pytest.approx(contrib[0, -1])
    # A wrong margin is caught.
    assert ex.additivity_error(explanation, margin + 0.01) == pytest.approx(0.01)


def test_global_importance_ranks_by_mean_absolute_shap() -> None:
    explanation = ex.Explanation(
        values=np.array([[0.5, -1.0, 0.0], [-0.5, 0.0, 0.1]]),
        expected_value=-2.0,
        features=("x", "y", "z"),
    )
    table = ex.global_importance(explanation, {"y": {"direction": 1, "reason": "Y is high"}})
    # mean |SHAP|: x 0.5, y 0.5, z 0.05; ties broken by name.
    assert list(table["feature"]) == ["x", "y", "z"]
    assert list(table["mean_abs_shap"]) == pytest.approx([0.5, 0.5, 0.05])
    assert table["share"].sum() == pytest.approx(1.0)
    assert table.set_index("feature").loc["y", "reason"] == "Y is high"
    assert table.set_index("feature").loc["x", "reason"] == "x"


def test_reason_frequency_by_outcome() -> None:
    decisions = pd.DataFrame(
        {
            "credit_limit": [0.0, 500.0, 2000.0, 1000.0],
            "limit_policy": [
                "model:pd_cutoff",
                "model:expected_loss_budget",
                "model:product_max",
                "model:repayment_capacity",
            ],
            "reason_1": ["dpd", "dpd", "balance", None],
            "reason_text_1": ["Late", "Late", "High balance", None],
            "reason_2": ["balance", None, None, None],
            "reason_text_2": ["High balance", None, None, None],
        }
    )
    table = ex.reason_frequency(decisions, k=2).set_index(["outcome", "reason"])
    assert table.loc[("declined", "dpd"), "customers"] == 1
    assert table.loc[("declined_or_limited", "dpd"), "among_reasons"] == 2
    assert table.loc[("declined_or_limited", "dpd"), "share"] == pytest.approx(1.0)
    assert table.loc[("declined_or_limited", "balance"), "first_reason"] == 0
    assert table.loc[("declined_or_limited", "balance"), "among_reasons"] == 1
    assert table.loc[("all", "balance"), "first_reason"] == 1
    assert table.loc[("all", "balance"), "share"] == pytest.approx(2 / 4)
    assert table.loc[("all", "dpd"), "reason_text"] == "Late"
    outcome = ex.decision_outcome(decisions["credit_limit"], decisions["limit_policy"])
    assert list(outcome) == ["declined", "limited", "approved", "approved"]


def test_bands_and_age() -> None:
    ages = age_at(
        pd.Series([2000, 1980, 1960, None]), pd.Series(pd.to_datetime(["2024-05-01"] * 4))
    )
    assert list(ages.iloc[:3]) == [24, 44, 64]
    assert list(band(ages, [30, 45, 60])) == ["<30", "30-44", "60+", "unknown"]
    assert list(band(pd.Series([45.0, 59.0]), [30, 45, 60])) == ["45-59", "45-59"]


def test_group_outcomes_ratios_and_flags() -> None:
    # Group a: 4 customers, 3 approved, limits 0/1000/1000/2000 (mean 1000).
    # Group b: 4 customers, 2 approved, limits 0/0/500/700 (mean 300).
    # Group c: 1 customer (below the minimum size: shown, not judged).
    frame = pd.DataFrame(
        {
            "g": ["a"] * 4 + ["b"] * 4 + ["c"],
            "credit_limit": [0, 1000, 1000, 2000, 0, 0, 500, 700, 0],
            "default": [1, 0, 0, 0, 1, 0, 1, 0, 0],
            "pd": [0.9, 0.1, 0.2, 0.05, 0.3, 0.8, 0.6, 0.2, 0.5],
        }
    )
    th = FairnessThresholds(approval_ratio_min=0.8, limit_ratio_min=0.8, min_group_size=2)
    table = group_outcomes(frame, group="g", thresholds=th).set_index("group")
    assert table.loc["a", "approval_rate"] == pytest.approx(0.75)
    assert table.loc["b", "approval_rate"] == pytest.approx(0.5)
    assert table.loc["b", "approval_ratio"] == pytest.approx(0.5 / 0.75)
    assert table.loc["b", "limit_ratio"] == pytest.approx(300 / 1000)
    assert table.loc["a", "auc"] == pytest.approx(1.0)
    # b: defaults have PDs 0.3 and 0.6, non-defaults 0.8 and 0.2 -> 2 of 4 pairs right.
    assert table.loc["b", "auc"] == pytest.approx(0.5)
    assert table.loc["a", "flags"] == ""
    assert set(table.loc["b", "flags"].split(",")) == {"approval_ratio", "limit_ratio", "auc_gap"}
    assert table.loc["c", "flags"] == "too_small_to_judge"
    assert np.isnan(table.loc["c", "auc"])


def test_pseudonyms_are_keyed_stable_and_short() -> None:
    key = b"k" * 16
    assert pseudonym("C1", key) == pseudonym("C1", key)
    assert pseudonym("C1", key) != pseudonym("C1", b"j" * 16)
    assert pseudonym("C1", key) != pseudonym("C2", key)
    assert len(pseudonym("C1", key)) == 16
    assert pseudonymise(["C1", 42], key) == [pseudonym("C1", key), pseudonym("42", key)]
    with pytest.raises(PseudonymKeyError, match="at least 16"):
        pseudonym("C1", b"short")
