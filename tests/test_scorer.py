"""Scorer and policy on tiny frames: grades, rules, limits, reasons, input handling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditrisk.models.calibration import Calibrator
from creditrisk.models.conditions import holds
from creditrisk.models.lgbm import train_lightgbm
from creditrisk.models.matrix import FeatureMatrixError, FeatureSpec, design_matrix
from creditrisk.models.policy import Policy, apply_rules, band_grades, credit_limits
from creditrisk.models.scorer import Scorer
from creditrisk.schemas.policy import FormulaLimits, ModelLimits, PolicyError, RatingRule
from creditrisk.schemas.rules import Condition, ConditionError
from pipelines.support.params import load_params
from pipelines.support.settings import scorer_policy
from tests.conftest import REPO

GRADES = ("S", "A", "B", "C")
BANDS = (("A", 0.01), ("B", 0.05), ("C", 1.0))


def policy(**changes: object) -> Policy:
    base: dict = dict(
        grades=GRADES,
        bands=BANDS,
        rules=(
            RatingRule("arrears", "C", (Condition("dpd_current", ">=", 30),), "no_better_than"),
            RatingRule(
                "whitelist",
                "S",
                (Condition("months_on_book", ">=", 36), Condition("pd", "<=", 0.005)),
            ),
        ),
        model_limits=ModelLimits(
            lgd=0.5,
            pd_cutoff=0.2,
            el_budget={"S": 40, "A": 30, "B": 20, "C": 10},
            income_multiple=3.0,
            limit_without_income=500,
            product_max=10_000,
        ),
        formula_limits=FormulaLimits(
            base={"S": 5000, "A": 4000, "B": 2000, "C": 0},
            income_multiple=2.0,
            limit_without_income=300,
            product_max=10_000,
        ),
        limit_in_force="model",
        round_to=50,
        base_points=600,
        base_odds=50,
        pdo=20,
        reasons=2,
    )
    base.update(changes)
    return Policy(**base)


def test_band_grades_and_rules() -> None:
    p = policy()
    pd_ = np.array([0.004, 0.004, 0.03, 0.004, 0.5])
    cols = {
        "dpd_current": np.array([0, 0, 40, 45, 90]),
        "months_on_book": np.array([40.0, 10.0, 50.0, 50.0, np.nan]),
    }
    bands = band_grades(p, pd_)
    assert [GRADES[i] for i in bands] == ["A", "A", "B", "A", "C"]
    grade, fired = apply_rules(p, bands, pd_, cols)
    # Row 0: whitelist. Row 2: arrears worsens B to C. Row 3: arrears fires first (first
    # match wins) and blocks the whitelist. Row 4: already C; arrears cannot improve it.
    assert [GRADES[i] for i in grade] == ["S", "A", "C", "C", "C"]
    assert fired.tolist() == ["whitelist", "", "arrears", "arrears", "arrears"]


def test_conditions_treat_missing_as_not_holding() -> None:
    x = np.array([1.0, np.nan, 5.0])
    assert holds(Condition("f", ">=", 1), x).tolist() == [True, False, True]
    assert holds(Condition("f", "!=", 1), x).tolist() == [False, False, True]
    assert holds(Condition("f", "is_null"), x).tolist() == [False, True, False]
    s = np.array(["south", None, "north"], dtype=object)
    assert holds(Condition("r", "in", ["south", "east"]), s).tolist() == [True, False, False]
    assert holds(Condition("r", "not_in", ["south"]), s).tolist() == [False, False, True]
    assert holds(Condition("r", "==", "north"), s).tolist() == [False, False, True]


def test_model_limits_by_hand() -> None:
    p = policy()
    pd_ = np.array([0.002, 0.02, 0.02, 0.3, 0.02])
    grade = np.array([1, 2, 2, 3, 2])  # A, B, B, C, B
    income = np.array([10_000.0, 10_000.0, 100.0, 5000.0, np.nan])
    out = credit_limits(p, pd_, grade, income)
    # A: 30 / (0.002 * 0.5) = 30,000 -> product max 10,000.
    # B: 20 / (0.02 * 0.5) = 2,000 (income cap 30,000 does not bind).
    # B, income 100: capacity 300 binds. PD 0.3 > cut-off: 0. No income: 500 binds.
    assert out["model_limit"].tolist() == [10_000, 2000, 300, 0, 500]
    assert out["model_policy"].tolist() == [
        "model:product_max",
        "model:expected_loss_budget",
        "model:repayment_capacity",
        "model:pd_cutoff",
        "model:repayment_capacity",
    ]
    # Formula: base of the grade, capped by 2 x income (or 300 without income).
    assert out["formula_limit"].tolist() == [4000, 2000, 200, 0, 300]
    assert out["credit_limit"].tolist() == out["model_limit"].tolist()
    formula = credit_limits(policy(limit_in_force="formula"), pd_, grade, income)
    assert formula["credit_limit"].tolist() == [4000, 2000, 200, 0, 300]
    assert formula["limit_policy"][0] == "formula:grade_base"


def test_policy_rejects_inconsistent_settings() -> None:
    with pytest.raises(PolicyError, match="must not rise"):
        policy(model_limits=ModelLimits(0.5, 0.2, {"S": 40, "A": 30, "B": 35, "C": 10}, 3, 0, 1e4))
    with pytest.raises(PolicyError, match="unknown grade 'Z'"):
        policy(rules=(RatingRule("x", "Z", (Condition("f", ">", 1),)),))
    with pytest.raises(ConditionError, match="unknown operator '~'"):
        Condition("f", "~", 1)
    with pytest.raises(ConditionError, match="needs a list"):
        Condition("region", "in", "south")
    with pytest.raises(PolicyError, match="mode must be one of"):
        RatingRule("x", "A", (Condition("f", ">", 1),), "sometimes")  # type: ignore[arg-type]
    assert Policy.from_dict(policy().to_dict()) == policy()


def test_limits_never_rise_when_pd_rises() -> None:
    """All else equal, a higher PD never gives a higher limit (the params' policy)."""
    params = load_params(REPO / "params.yaml")
    p, skipped = scorer_policy(params, ["dpd_current", "months_on_book", "n_late_1p_365d"])
    assert skipped == [] and len(p.rules) == len(params.policy.rating_rules)
    pd_grid = np.concatenate([np.geomspace(1e-4, 0.6, 400), [0.005, 0.0050001, 0.2, 0.2000001]])
    pd_grid.sort()
    for income in (np.nan, 300.0, 2500.0, 9000.0):
        for dpd in (0, 35, 70):
            cols = {
                "dpd_current": np.full(len(pd_grid), dpd),
                "months_on_book": np.full(len(pd_grid), 48),
                "n_late_1p_365d": np.zeros(len(pd_grid)),
            }
            grade, _ = apply_rules(p, band_grades(p, pd_grid), pd_grid, cols)
            for kind in ("model_limit", "formula_limit"):
                limits = credit_limits(p, pd_grid, grade, np.full(len(pd_grid), income))[kind]
                assert np.all(np.diff(limits) <= 0), (kind, income, dpd)


FEATURES = ("dpd_current", "income_monthly", "months_on_book", "segment")


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    rng = np.random.default_rng(7)
    n = 4000
    frame = pd.DataFrame(
        {
            "dpd_current": rng.choice([0, 0, 0, 10, 35, 70], n),
            "income_monthly": rng.lognormal(7.8, 0.5, n),
            "months_on_book": rng.integers(1, 60, n),
            "segment": rng.choice(["salaried", "student"], n),
        }
    )
    logit = -4.5 + 0.04 * frame["dpd_current"] - 0.02 * frame["months_on_book"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float).to_numpy()
    spec = FeatureSpec(
        features=FEATURES,
        categories={"segment": ["salaried", "student"]},
        monotone={"dpd_current": 1, "income_monthly": -1, "months_on_book": -1, "segment": 0},
    )
    X = design_matrix(frame, spec)
    booster = train_lightgbm(
        X,
        y,
        X_valid=X,
        y_valid=y,
        params={"num_leaves": 7, "max_depth": 3, "learning_rate": 0.1, "seed": 1},
        monotone=spec.monotone_vector(),
        num_boost_round=80,
        early_stopping_rounds=20,
    )
    margin = booster.predict(X, raw_score=True)
    return Scorer(
        booster,
        spec=spec,
        calibrator=Calibrator("sigmoid").fit(margin, y),
        policy=policy(),
        reason_text={
            "dpd_current": "Payments are overdue now",
            "months_on_book": "Short relationship",
        },
        model_version="credit-default/test",
    )


def rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4"],
            "dpd_current": [0, 70, 35, 0],
            "income_monthly": [3000.0, 1500.0, None, 2500.0],
            "months_on_book": [50, 3, 20, 40],
            "segment": ["salaried", "student", None, "retired"],  # retired: unseen level
            "unused_extra": ["x", "y", "z", "w"],
        },
        index=[10, 11, 12, 13],
    )


def test_contract_columns_and_order(scorer: Scorer) -> None:
    frame = rows()
    out = scorer.score(frame)
    for col in ("customer_id", "pd", "score", "grade", "credit_limit", "limit_policy"):
        assert col in out.columns
    assert [f"reason_{i}" for i in (1, 2)] == [c for c in out.columns if c.startswith("reason_")][
        :2
    ]
    assert out["customer_id"].tolist() == ["c1", "c2", "c3", "c4"]
    assert out.index.tolist() == [10, 11, 12, 13]
    assert (out["model_version"] == "credit-default/test").all()
    assert out.loc[11, "pd"] > out.loc[10, "pd"]
    assert out.loc[11, "grade"] == "C"  # arrears rule
    # Shuffled input gives the same rows in the new order.
    shuffled = scorer.score(frame.iloc[[2, 0, 3, 1]])
    pd.testing.assert_frame_equal(shuffled, out.loc[[12, 10, 13, 11]])


def test_contributions_sum_to_the_margin(scorer: Scorer) -> None:
    frame = rows()
    contrib = scorer.contributions(frame)
    out = scorer.score(frame)
    np.testing.assert_allclose(contrib.sum(axis=1), out["margin"], rtol=1e-9, atol=1e-9)
    raw = scorer.booster.predict(scorer.matrix(frame), raw_score=True)
    np.testing.assert_allclose(out["margin"], raw, rtol=1e-9, atol=1e-9)


def test_reasons_are_only_risk_raising_and_ranked(scorer: Scorer) -> None:
    frame = rows()
    contrib = scorer.contributions(frame).drop(columns="expected_value")
    out = scorer.score(frame)
    for idx in frame.index:
        c = contrib.loc[idx]
        positive = c[c > 0].sort_values(ascending=False)
        expected = [*list(positive.index[:2]), None, None][:2]
        got = [out.loc[idx, "reason_1"], out.loc[idx, "reason_2"]]
        assert [None if pd.isna(g) else g for g in got] == expected
    late = out.loc[11]
    assert late["reason_1"] == "dpd_current"
    assert late["reason_text_1"] == "Payments are overdue now"
    # A feature without dictionary text falls back to its code.
    texts = {t for t in out["reason_text_1"] if not pd.isna(t)}
    assert texts <= {"Payments are overdue now", "Short relationship", "income_monthly", "segment"}


def test_decisions_without_reasons_and_the_pd_only_path(scorer: Scorer) -> None:
    """score(reasons=False) gives the same decisions with empty reason columns, and
    pd_and_grade the same PDs and grades, both from the raw margin."""
    frame = pd.concat([rows()] * 30, ignore_index=True)
    full, lean = scorer.score(frame), scorer.score(frame, reasons=False)
    reason_columns = [c for c in full.columns if c.startswith("reason_")]
    assert reason_columns and lean[reason_columns].isna().all().all()
    assert full[reason_columns].notna().any().any()
    same = [c for c in full.columns if c not in reason_columns and c not in ("pd", "margin")]
    pd.testing.assert_frame_equal(lean[same], full[same])
    np.testing.assert_allclose(lean["pd"], full["pd"], rtol=1e-12)
    pd_, grade = scorer.pd_and_grade(frame)
    np.testing.assert_array_equal(pd_, lean["pd"].to_numpy())  # the same raw margin
    grades = np.asarray(scorer.policy.grades, dtype=object)
    assert (grades[grade] == full["grade"].to_numpy(dtype=object)).all()


def test_input_errors_name_columns_and_rows(scorer: Scorer) -> None:
    with pytest.raises(FeatureMatrixError, match=r"missing .*\['income_monthly', 'segment'\]"):
        scorer.score(rows().drop(columns=["income_monthly", "segment"]))
    bad = rows().assign(months_on_book=["50", "three", "20", "40"])
    with pytest.raises(FeatureMatrixError, match=r"'months_on_book' must be numeric.*rows \[11\]"):
        scorer.score(bad)
    # Numbers sent as text convert; nulls in numeric features are missing values.
    ok = scorer.score(rows().assign(months_on_book=["50", "3", "20", "40"]))
    pd.testing.assert_frame_equal(ok, scorer.score(rows()))
    nulls = scorer.score(rows().assign(income_monthly=np.nan, dpd_current=np.nan))
    assert nulls["pd"].between(0, 1).all()


def test_empty_input_gives_empty_output(scorer: Scorer) -> None:
    out = scorer.score(rows().head(0))
    assert len(out) == 0
    assert list(out.columns) == scorer.columns
    assert out["pd"].dtype == "float64"


def test_few_rows_path_builds_the_same_matrix(scorer: Scorer) -> None:
    """A single request takes a faster conversion; it must give the batch path's matrix,
    and leave odd values (text in a number column) to the general path."""
    from creditrisk.models.scorer import FEW_ROWS

    n = 40
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n)],
            "segment": (["salaried", "student", None, "retired"] * 10),
            "dpd_current": pd.array([0, None, 35, 70] * 10, dtype="Int64"),
            "income_monthly": np.where(np.arange(n) % 3 == 0, np.nan, 2500.0),
            "months_on_book": np.arange(n),
        }
    )
    batch = scorer.matrix(frame)
    assert n > FEW_ROWS
    for i in range(n):
        assert np.array_equal(scorer.matrix(frame.iloc[[i]]), batch[[i]], equal_nan=True)
    odd = frame.iloc[[0]].astype({"income_monthly": object}).assign(income_monthly="12.5")
    assert scorer.matrix(odd)[0, 1] == 12.5  # text holding a number: the general path


def test_reasons_name_distinct_groups_of_features_with_a_direction(scorer: Scorer) -> None:
    """Grouped: dpd_current and months_on_book in one group, segment in none (no risk
    direction): a row gets at most one reason from the group, never segment."""
    grouped = Scorer(
        scorer.booster,
        spec=scorer.spec,
        calibrator=scorer.calibrator,
        policy=scorer.policy,
        reason_text={
            "dpd_current": "History",
            "months_on_book": "History",
            "income_monthly": "Income",
        },
        reason_groups={
            "dpd_current": "history",
            "months_on_book": "history",
            "income_monthly": "income",
            "segment": None,
        },
        model_version="credit-default/test",
    )
    frame = rows()
    contrib = scorer.contributions(frame).drop(columns="expected_value")
    out = grouped.score(frame)
    for idx in frame.index:
        got = [out.loc[idx, f"reason_{i}"] for i in (1, 2)]
        named = [g for g in got if not pd.isna(g)]
        assert "segment" not in named
        assert not {"dpd_current", "months_on_book"} <= set(named)  # one per group
        c = contrib.loc[idx]
        history = c[["dpd_current", "months_on_book"]]
        if history.max() > 0 and history.max() >= c["income_monthly"]:
            assert got[0] == history.idxmax()  # the group's strongest feature names it
    assert set(out["reason_text_1"].dropna()) <= {"History", "Income"}


def test_a_cap_that_sets_the_limit_is_a_stated_reason() -> None:
    from creditrisk.models.policy import limit_reasons

    p = policy()
    names = np.array(
        ["model:expected_loss_budget", "model:repayment_capacity", "model:repayment_capacity",
         "model:product_max", "model:pd_cutoff"], dtype=object
    )  # fmt: skip
    income = np.array([3000.0, 3000.0, np.nan, 9000.0, 2000.0])
    got = limit_reasons(p, names, income)
    assert got[0] is None  # set by risk: the reason codes explain it
    assert "months of declared income" in got[1]
    assert got[2].startswith("No income is declared")
    assert "product maximum" in got[3]
    assert "cut-off" in got[4]


def test_one_row_at_a_time_gives_the_batch_output(scorer: Scorer) -> None:
    """Single rows and batches build their text columns differently (one-row columns are
    kept for reuse; batches go through Arrow, in blocks); the output must be the same,
    and changing a returned frame must not change the next one."""
    from creditrisk.models.scorer import REASON_BLOCK, SMALL_BATCH

    n = REASON_BLOCK + SMALL_BATCH + 3  # several blocks of contributions, the last partial
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n)],
            "dpd_current": rng.choice([0, 0, 10, 35, 70, 95], n),
            "income_monthly": np.where(rng.random(n) < 0.2, np.nan, rng.uniform(500, 6000, n)),
            "months_on_book": rng.integers(0, 120, n),
            "segment": rng.choice(["salaried", "student", "retired"], n),
        }
    )
    batch = scorer.score(frame)
    picked = [0, 1, 2, 7, n - 1]
    for i in picked:
        one = scorer.score(frame.iloc[[i]])
        pd.testing.assert_frame_equal(one, batch.iloc[[i]], check_exact=True)
        one.loc[i, "grade"] = "changed"
        one.loc[i, "reason_1"] = "changed"
        again = scorer.score(frame.iloc[[i]])
        pd.testing.assert_frame_equal(again, batch.iloc[[i]], check_exact=True)
    small = scorer.score(frame.iloc[: SMALL_BATCH - 1])
    pd.testing.assert_frame_equal(small, batch.iloc[: SMALL_BATCH - 1], check_exact=True)
