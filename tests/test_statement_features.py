"""The statement and arrears-history families on a hand-computed statement export:
point in time (a statement dated after as_of and a payment made after it are unknown),
every value worked out by hand; and the families are left out, never faked, without the
statement columns."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.features_helpers import features_for

AS_OF = "2023-06-10"


def statement_export() -> dict[str, pd.DataFrame]:
    t = pd.Timestamp
    customers = pd.DataFrame(
        {
            "customer_id": ["C1"],
            "created_at": [t("2023-01-01")],
            "income_monthly": [2000.0],
            "credit_line": [1000.0],
        }
    )
    loans = pd.DataFrame(
        {
            "loan_id": ["L1"],
            "customer_id": ["C1"],
            "opened_at": [t("2023-01-15")],
            "principal": [1000.0],
            "n_installments": [6],
        }
    )
    # no, statement date, balance, due date, amount due, paid date, amount paid
    rows = [
        (1, "2023-01-31", 200.0, "2023-02-15", 20.0, "2023-02-10", 200.0),
        (2, "2023-02-28", 500.0, "2023-03-15", 25.0, "2023-04-20", 25.0),  # 36 days late
        (3, "2023-03-31", 400.0, "2023-04-15", 20.0, "2023-05-01", 10.0),  # half paid...
        (3, "2023-03-31", 400.0, "2023-04-15", 20.0, "2023-06-20", 10.0),  # ...rest after as_of
        (4, "2023-04-30", 450.0, "2023-05-15", 22.0, None, None),  # unpaid
        (5, "2023-06-30", 900.0, "2023-07-15", 45.0, None, None),  # dated after as_of
    ]
    repayments = pd.DataFrame(
        rows,
        columns=[
            "installment_no",
            "statement_date",
            "statement_balance",
            "due_date",
            "amount_due",
            "paid_date",
            "amount_paid",
        ],
    )
    for c in ("statement_date", "due_date", "paid_date"):
        repayments[c] = pd.to_datetime(repayments[c])
    repayments.insert(0, "loan_id", "L1")
    return {"customers": customers, "loans": loans, "repayments": repayments}


def test_statement_features_by_hand() -> None:
    row = features_for(statement_export(), [AS_OF]).iloc[0]
    # Statements before as_of, latest first: Apr 450, Mar 400, Feb 500, Jan 200.
    assert [row[f"stmt_balance_k{k}"] for k in range(1, 5)] == [450.0, 400.0, 500.0, 200.0]
    assert pd.isna(row["stmt_balance_k5"])
    assert row["stmt_count"] == 4
    # Paid before as_of on each statement's installment, over its balance.
    assert row["stmt_paid_ratio_k1"] == 0.0
    assert row["stmt_paid_ratio_k2"] == pytest.approx(10 / 400)  # the June payment is unknown
    assert row["stmt_paid_ratio_k3"] == pytest.approx(25 / 500)
    assert row["stmt_paid_ratio_k4"] == pytest.approx(1.0)
    assert row["stmt_paid_ratio_mean"] == pytest.approx(235 / 1550)
    assert row["stmt_util_k1"] == pytest.approx(0.45)
    assert row["stmt_util_max"] == pytest.approx(0.5)
    assert row["stmt_balance_mean"] == pytest.approx(387.5)
    assert row["stmt_balance_change_k1"] == pytest.approx(50.0)
    assert row["stmt_balance_rises"] == 2  # Apr over Mar, Feb over Jan


def test_arrears_history_by_hand() -> None:
    row = features_for(statement_export(), [AS_OF]).iloc[0]
    # At as_of: installment 3 (due Apr 15) is still open (its rest is paid after as_of).
    assert row["dpd_current"] == 56
    assert row["dpd_1m_ago"] == 26  # May 11: installment 3, due Apr 15
    assert row["dpd_2m_ago"] == 27  # Apr 11: installment 2, due Mar 15, paid Apr 20
    assert [row[f"dpd_{k}m_ago"] for k in (3, 4, 5)] == [0, 0, 0]
    assert row["months_in_arrears_6m"] == 3
    assert row["dpd_change_1m"] == 30


def test_without_statement_columns_the_family_is_left_out() -> None:
    from tests.features_helpers import plan_for

    tables = statement_export()
    tables["repayments"] = tables["repayments"].drop(
        columns=["statement_date", "statement_balance"]
    )
    plan = plan_for(tables, [AS_OF])
    entries = plan.dictionary()
    assert not entries["stmt_balance_k1"]["available"]
    assert "stmt_balance_k1" not in plan.feature_names
    assert entries["dpd_1m_ago"]["available"]  # the arrears history needs no statements
