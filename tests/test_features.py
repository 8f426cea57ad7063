"""Feature families computed by hand on the tiny dataset of conftest, at as_of 2023-06-10.

C1: created 2023-01-10; purchases 120.00 on 2023-02-01 10:00 and 300.00 on 2023-04-02 12:30;
loan L1 opened 2023-04-02 12:30, 3 installments of 100 due 05-01 (paid 05-01), 06-01 (60 paid
06-20, 40 paid 07-10: both unknown at as_of) and 07-01 (never paid).
C2: created 2023-03-05; one purchase of 45.50 on 2023-05-06 09:00; no loans.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from creditrisk.features.build import FeatureConfigError
from tests.features_helpers import features_for, plan_for

AS_OF = "2023-06-10"


@pytest.fixture
def row(tiny_tables: dict[str, pd.DataFrame]) -> dict[str, dict[str, object]]:
    out = features_for(tiny_tables, [AS_OF])
    return {r["customer_id"]: r for r in out.to_dict("records")}


def test_recency_frequency_monetary(row: dict) -> None:
    c1, c2 = row["C1"], row["C2"]
    assert c1["days_since_last_purchase"] == 68  # 68.5 days since 2023-04-02 12:30
    assert c2["days_since_last_purchase"] == 34
    assert (c1["txn_count_30d"], c1["txn_amount_sum_30d"]) == (0, 0.0)
    assert math.isnan(c1["txn_amount_mean_30d"]) and math.isnan(c1["txn_amount_max_30d"])
    assert (c1["txn_count_90d"], c1["txn_amount_sum_90d"], c1["txn_amount_max_90d"]) == (
        1,
        300.0,
        300.0,
    )
    assert (c1["txn_count_180d"], c1["txn_amount_sum_180d"]) == (2, 420.0)
    assert c1["txn_amount_mean_365d"] == 210.0
    assert c2["txn_amount_sum_90d"] == 45.5 and c2["txn_count_30d"] == 0
    assert (c1["txn_category_count_365d"], c2["txn_category_count_365d"]) == (2, 1)


def test_purchase_trends(row: dict) -> None:
    c1 = row["C1"]
    assert c1["txn_count_trend_30_365"] == 0.0  # no purchase in 30 days, 2 in 365
    assert c1["txn_amount_trend_90_365"] == pytest.approx((300 / 90) / (420 / 365))


def test_spending_trend_is_zero_without_recent_purchases(tiny_tables: dict) -> None:
    out = features_for(tiny_tables, ["2023-09-01"]).set_index("customer_id")
    # C1's last purchase (2023-04-02) is 152 days before: nothing in 90 days, 420 in 365.
    assert out.loc["C1", "txn_amount_sum_90d"] == 0.0
    assert out.loc["C1", "txn_amount_trend_90_365"] == 0.0
    assert out.loc["C1", "txn_count_trend_30_365"] == 0.0


def test_delinquency_at_as_of(row: dict) -> None:
    c1 = row["C1"]
    # Installment 2 (due 06-01) is paid only after as_of: unpaid and 9 days past due then.
    assert c1["dpd_current"] == 9
    assert (c1["dpd_max_30d"], c1["dpd_mean_30d"]) == (9, 9.0)
    assert (c1["dpd_max_90d"], c1["dpd_mean_90d"]) == (9, 4.5)  # installment 1 was on time
    assert (c1["n_late_1p_90d"], c1["n_late_30p_90d"], c1["n_late_60p_90d"]) == (1, 0, 0)
    assert c1["paid_to_due_ratio_30d"] == 0.0
    assert c1["paid_to_due_ratio_90d"] == 0.5
    assert c1["days_since_last_late_payment"] == 9


def test_exposure_at_as_of(row: dict) -> None:
    c1 = row["C1"]
    assert c1["n_active_loans"] == 1
    assert c1["outstanding_amount"] == 200.0  # installments 2 and 3
    assert c1["amount_due_next_30d"] == 100.0  # installment 3, due 07-01
    assert (c1["n_loans_opened_30d"], c1["n_loans_opened_90d"]) == (0, 1)
    assert c1["months_since_first_loan"] == 2


def test_customer_without_loans_gets_documented_defaults(row: dict) -> None:
    c2 = row["C2"]
    assert (c2["dpd_current"], c2["n_active_loans"], c2["outstanding_amount"]) == (0, 0, 0.0)
    assert c2["dpd_max_90d"] == 0 and c2["n_loans_opened_365d"] == 0
    for name in (
        "dpd_mean_90d",
        "paid_to_due_ratio_90d",
        "days_since_last_late_payment",
        "months_since_first_loan",
    ):
        assert math.isnan(c2[name]) or c2[name] is None or pd.isna(c2[name]), name


def test_tenure_and_static_attributes(row: dict) -> None:
    assert row["C1"]["months_on_book"] == 4  # 151 days
    assert row["C2"]["months_on_book"] == 3  # 97 days
    assert row["C1"]["income_monthly"] == 2500.0 and pd.isna(row["C2"]["income_monthly"])
    assert "birth_year" not in row["C1"] and "region" not in row["C1"]


def test_labels_from_repayments(tiny_tables: dict[str, pd.DataFrame]) -> None:
    # Installment 3 (due 2023-07-01) is never paid: default event on 2023-09-29.
    out = features_for(tiny_tables, ["2023-03-01", AS_OF, "2023-09-29", "2023-10-01", "2025-06-01"])
    got = {
        (r.customer_id, str(r.as_of.date())): (r.default, r.label_complete)
        for r in out.itertuples()
    }
    assert got[("C1", AS_OF)] == (1, True)
    assert got[("C1", "2023-03-01")] == (1, True)  # the event lies within 12 months
    assert got[("C2", AS_OF)] == (0, True)
    assert ("C1", "2023-10-01") not in got  # already in default: not sampled
    assert ("C1", "2023-09-29") not in got  # the event on as_of itself counts as already in
    assert ("C2", "2023-03-01") not in got  # created after 2023-03-01
    default, complete = got[("C2", "2025-06-01")]
    assert complete is False and pd.isna(default)  # window ends after the data


def test_partial_payment_settled_in_time_is_no_default(
    tiny_tables: dict[str, pd.DataFrame],
) -> None:
    rep = tiny_tables["repayments"]
    tiny_tables["repayments"] = rep[rep["installment_no"] != 3].reset_index(drop=True)
    out = features_for(tiny_tables, [AS_OF])
    assert out.set_index("customer_id").loc["C1", "default"] == 0


def test_unpaid_after_threshold_but_after_data_end_is_unknown(
    tiny_tables: dict[str, pd.DataFrame],
) -> None:
    from datetime import date

    out = features_for(tiny_tables, ["2023-04-01"], end_date=date(2023, 9, 1))
    # Both customers exist at 2023-04-01 and neither is in default. The event (installment
    # 3 due 2023-07-01, unpaid: 2023-09-29) is after the data's end: it cannot be seen, and
    # the window (to 2024-04-01) is incomplete, so the label is unknown rather than 0.
    assert sorted(out["customer_id"]) == ["C1", "C2"]
    assert out["label_complete"].eq(False).all()
    assert out["default"].isna().all()


def test_missing_tables_leave_features_out(tiny_tables: dict[str, pd.DataFrame]) -> None:
    outcomes = pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "as_of": pd.to_datetime(["2023-06-01"] * 2),
            "default": [1, 0],
        }
    )
    plan = plan_for({"customers": tiny_tables["customers"], "outcomes": outcomes}, [AS_OF])
    out = plan.table.to_pandas()
    assert set(out["default"]) == {0, 1} and out["label_complete"].all()
    assert plan.feature_names == ["months_on_book", "income_monthly"]
    dictionary = plan.dictionary()
    assert dictionary["dpd_current"]["available"] is False
    assert dictionary["txn_count_30d"]["available"] is False
    plan_tx = plan_for(
        {**{k: tiny_tables[k] for k in ("customers", "transactions")}, "outcomes": outcomes},
        [AS_OF],
    )
    assert "txn_count_90d" in plan_tx.feature_names and "dpd_current" not in plan_tx.feature_names
    assert len(plan_tx.table.to_pandas()) == 2


def test_protected_attribute_cannot_be_a_feature(tiny_tables: dict[str, pd.DataFrame]) -> None:
    tiny_tables["customers"]["gender"] = ["F", "M"]
    with pytest.raises(FeatureConfigError, match="protected"):
        plan_for(tiny_tables, [AS_OF], static=("income_monthly", "gender"))


def test_dictionary_describes_every_feature(tiny_tables: dict[str, pd.DataFrame]) -> None:
    plan = plan_for(tiny_tables, [AS_OF])
    out = plan.table.to_pandas()
    feature_columns = [
        c for c in out.columns if c not in ("customer_id", "as_of", "default", "label_complete")
    ]
    assert feature_columns == plan.feature_names
    for name, entry in plan.dictionary().items():
        assert entry["direction"] in (-1, 0, 1), name
        assert entry["reason"] and entry["description"] and entry["unit"] and entry["source"], name


def test_installment_sequence_amounts_and_utilisation_by_hand(
    tiny_tables: dict[str, pd.DataFrame],
) -> None:
    """C1's loan L1 (principal 300): installments of 100 due May 1 (paid that day), June 1
    (60 paid June 20, 40 on July 10) and July 1 (unpaid)."""
    out = features_for(tiny_tables, ["2023-07-15"]).set_index("customer_id").loc["C1"]
    # Most recent first: July (unpaid, 14 days), June (completed July 10: 39 days late), May.
    assert [out[f"inst_dpd_k{k}"] for k in (1, 2, 3)] == [14, 39, 0]
    assert [out[f"inst_amount_paid_k{k}"] for k in (1, 2, 3)] == [0.0, 100.0, 100.0]
    assert [out[f"inst_paid_ratio_k{k}"] for k in (1, 2, 3)] == [0.0, 1.0, 1.0]
    assert all(pd.isna(out[f"inst_dpd_k{k}"]) for k in (4, 5, 6))  # fewer than k: null
    assert out["amount_due_sum_30d"] == 100.0 and out["amount_due_sum_90d"] == 300.0
    assert out["amount_paid_sum_90d"] == 200.0 and out["shortfall_sum_90d"] == 100.0
    assert out["shortfall_max_90d"] == 100.0 and out["days_early_mean_90d"] == 0.0
    assert out["paid_ratio_var_90d"] == pytest.approx(1 / 3)  # ratios 0, 1, 1
    assert out["due_to_principal_k1"] == pytest.approx(1 / 3)
    assert out["outstanding_to_principal"] == pytest.approx(1 / 3)  # July's 100 of 300
    assert out["amount_due_slope_k"] == 0.0  # three installments of 100


def test_sequence_ignores_payments_and_installments_on_or_after_as_of(
    tiny_tables: dict[str, pd.DataFrame],
) -> None:
    # On July 10 the payment made that day is unknown: June is 60 of 100 paid, 39 days late.
    out = features_for(tiny_tables, ["2023-07-10"]).set_index("customer_id").loc["C1"]
    assert [out["inst_dpd_k1"], out["inst_dpd_k2"]] == [9, 39]
    assert out["inst_paid_ratio_k2"] == pytest.approx(0.6)
    assert out["shortfall_sum_90d"] == 140.0
    # On July 1 the installment due that day is not yet due: June is the most recent.
    out = features_for(tiny_tables, ["2023-07-01"]).set_index("customer_id").loc["C1"]
    assert [out["inst_dpd_k1"], out["inst_dpd_k2"]] == [30, 0]
    assert out["inst_amount_paid_k1"] == 60.0 and pd.isna(out["inst_dpd_k3"])
    # A payment dated after as_of, added to the history, changes nothing.
    rep = tiny_tables["repayments"]
    later = rep.iloc[[3]].assign(paid_date=pd.Timestamp("2023-07-02"), amount_paid=100.0)
    tiny_tables["repayments"] = pd.concat([rep.iloc[:3], later], ignore_index=True)
    again = features_for(tiny_tables, ["2023-07-01"]).set_index("customer_id").loc["C1"]
    labels = ["default", "label_complete"]  # the label sees the future, by design
    pd.testing.assert_series_equal(again.drop(labels), out.drop(labels))


def test_credit_line_utilisation_when_the_column_is_mapped(
    tiny_tables: dict[str, pd.DataFrame],
) -> None:
    from tests.features_helpers import plan_for

    assert "outstanding_to_credit_line" not in plan_for(tiny_tables, ["2023-07-15"]).feature_names
    tiny_tables["customers"]["credit_line"] = [400.0, None]
    out = features_for(tiny_tables, ["2023-07-15"]).set_index("customer_id")
    # C1 owes July's 100 of a 400 line; the latest installment due is 100.
    assert out.loc["C1", "outstanding_to_credit_line"] == 0.25
    assert out.loc["C1", "due_to_credit_line_k1"] == 0.25
    assert pd.isna(out.loc["C2", "outstanding_to_credit_line"])  # no line recorded
