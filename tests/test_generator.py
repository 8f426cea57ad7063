"""The synthetic history: determinism, the raw contract, and the realism later results rely on."""

from __future__ import annotations

from datetime import date
from functools import cache

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from creditrisk.contract import TABLES, Kind
from creditrisk.synthetic.generator import CHUNK_SIZE, Chunk, generate
from creditrisk.synthetic.population import StressPeriod

STRESS = StressPeriod(
    date(2023, 4, 1), date(2023, 12, 31), 1.0, ("south", "east"), ("self_employed",)
)
END = date(2025, 12, 31)

# Optional contract columns the synthetic customers do not have (a customer-level credit
# line: the synthetic history has installment plans, whose principal is the loan's own).
# Optional columns of other shapes of export (a credit line, statements of revolving accounts).
NOT_GENERATED = {"credit_line", "statement_date", "statement_balance"}


def run(n: int, seed: int = 11) -> list[Chunk]:
    return list(
        generate(
            n_customers=n,
            start=date(2021, 1, 1),
            end=END,
            stress=STRESS,
            seed=seed,
            dpd_threshold_days=90,
            horizon_months=12,
        )
    )


@cache
def history() -> dict[str, pd.DataFrame]:
    (chunk,) = run(4000, seed=5)
    return {**chunk.raw_tables(), "truth": chunk.truth}


def realized_labels(h: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Labels computed independently from the exported repayments, as DESIGN.md defines them."""
    r = h["repayments"].merge(h["loans"][["loan_id", "customer_id"]], on="loan_id")
    in_time = r["paid_date"].notna() & (r["paid_date"] <= r["due_date"] + pd.Timedelta(days=90))
    r = r.assign(paid_in_time=np.where(in_time, r["amount_paid"], 0.0))
    inst = r.groupby(["customer_id", "loan_id", "installment_no"], as_index=False).agg(
        due=("due_date", "first"), due_amount=("amount_due", "first"), paid=("paid_in_time", "sum")
    )
    event = inst.loc[inst["paid"] < inst["due_amount"] - 0.005, ["customer_id", "due"]]
    event = event.assign(at=event["due"] + pd.Timedelta(days=90))
    event = event[event["at"] <= pd.Timestamp(END)]
    first = event.groupby("customer_id")["at"].min()
    t = h["truth"].copy()
    at = t["customer_id"].map(first)
    t["y"] = ((at > t["as_of"]) & (at <= t["as_of"] + pd.DateOffset(months=12))).astype(int)
    t["defaulted_before"] = at <= t["as_of"]
    return t


def test_same_seed_same_content() -> None:
    a, b = run(1500, seed=3), run(1500, seed=3)
    for x, y in zip(a, b, strict=True):
        for name in ("customers", "transactions", "loans", "repayments", "truth"):
            pd.testing.assert_frame_equal(getattr(x, name), getattr(y, name))


def test_other_seed_other_content() -> None:
    a, b = run(300, seed=3)[0], run(300, seed=4)[0]
    assert not a.transactions["amount"].equals(b.transactions["amount"])


def test_tables_follow_the_raw_contract() -> None:
    h = history()
    expected = {
        Kind.ID: pd.api.types.is_string_dtype,
        Kind.TIMESTAMP: pd.api.types.is_datetime64_dtype,
        Kind.FLOAT: pd.api.types.is_float_dtype,
        Kind.INT: pd.api.types.is_integer_dtype,
    }
    for name in ("customers", "transactions", "loans", "repayments"):
        frame, spec = h[name], TABLES[name]
        for column, kind in spec.typed_columns.items():
            if column in NOT_GENERATED:
                continue
            assert column in frame.columns, (name, column)
            assert expected[kind](frame[column]), (name, column, frame[column].dtype)
        if spec.key:
            assert not frame.duplicated(list(spec.key)).any(), name
    assert h["transactions"]["customer_id"].isin(h["customers"]["customer_id"]).all()
    assert h["repayments"]["loan_id"].isin(h["loans"]["loan_id"]).all()


def test_chunks_have_distinct_ids() -> None:
    chunks = run(CHUNK_SIZE + 7, seed=1)
    assert len(chunks) == 2 and len(chunks[1].customers) == 7
    ids = pd.concat([c.customers["customer_id"] for c in chunks])
    loans = pd.concat([c.loans["loan_id"] for c in chunks])
    assert ids.is_unique and loans.is_unique


def test_export_hides_the_future() -> None:
    h = history()
    rep = h["repayments"]
    end = pd.Timestamp(END)
    assert rep["paid_date"].max() <= end
    assert h["transactions"]["ts"].max() <= end + pd.Timedelta(days=1)
    future_due = rep["due_date"] > end + pd.Timedelta(days=5)  # early payers pay <= 5 days ahead
    assert future_due.any() and rep.loc[future_due, "paid_date"].isna().all()
    assert (rep["paid_date"].isna() == rep["amount_paid"].isna()).all()


def test_payments_run_late_partial_and_not_at_all() -> None:
    rep = history()["repayments"]
    paid = rep.dropna(subset=["paid_date"])
    late_days = (paid["paid_date"] - paid["due_date"]).dt.days
    assert 0.05 < (late_days > 0).mean() < 0.4
    assert (late_days >= 30).sum() > 50
    rows_per_installment = rep.groupby(["loan_id", "installment_no"]).size()
    assert (rows_per_installment == 2).sum() > 100  # partial payment, then the remainder
    past_due_unpaid = rep["paid_date"].isna() & (rep["due_date"] < pd.Timestamp("2025-06-01"))
    assert past_due_unpaid.sum() > 100


def test_oracle_is_calibrated_and_sharp() -> None:
    t = realized_labels(history())
    t = t[~t["defaulted_before"]]
    rate, mean_pd = t["y"].mean(), t["true_pd"].mean()
    assert 0.01 < rate < 0.08
    assert abs(rate - mean_pd) < 0.15 * rate
    assert roc_auc_score(t["y"], t["true_pd"]) > 0.85
    deciles = pd.qcut(t["true_pd"].rank(method="first"), 10, labels=False)
    by_decile = t.groupby(deciles)["y"].mean()
    assert by_decile.iloc[-1] > 5 * by_decile.iloc[:5].mean()
    top = t[deciles == 9]
    assert abs(top["y"].mean() - top["true_pd"].mean()) < 0.2 * top["y"].mean()


def test_defaults_are_preceded_by_late_payments() -> None:
    h = history()
    t = realized_labels(h)
    defaulters = set(t.loc[t["y"] == 1, "customer_id"])
    rep = h["repayments"].merge(h["loans"][["loan_id", "customer_id"]], on="loan_id")
    rep = rep[rep["paid_date"].notna()]
    late = (rep["paid_date"] - rep["due_date"]).dt.days > 0
    share = late.groupby(rep["customer_id"].isin(defaulters)).mean()
    assert share[True] > 1.5 * share[False]


def test_stress_period_raises_risk_for_sensitive_customers() -> None:
    h = history()
    c = h["customers"]
    sensitive = c["region"].isin(STRESS.regions) | c["segment"].isin(STRESS.segments)
    t = h["truth"].merge(
        c[["customer_id"]].assign(sensitive=sensitive.to_numpy()), on="customer_id"
    )
    calm = t[t["as_of"] == "2022-03-01"].groupby("sensitive")["true_pd"].mean()
    stressed = t[t["as_of"] == "2023-03-01"].groupby("sensitive")["true_pd"].mean()
    assert stressed[True] > 1.5 * calm[True]
    assert stressed[True] / calm[True] > stressed[False] / calm[False]


def test_purchases_peak_at_year_end() -> None:
    ts = history()["transactions"]["ts"]
    per_month = ts.dt.month.value_counts()
    assert per_month[12] > 1.4 * per_month[2]


def test_rejects_nonsense_arguments() -> None:
    with pytest.raises(ValueError, match="n_customers"):
        run(0)
    with pytest.raises(ValueError, match="after start"):
        list(
            generate(
                n_customers=5,
                start=date(2025, 1, 1),
                end=date(2024, 1, 1),
                stress=STRESS,
                seed=1,
                dpd_threshold_days=90,
                horizon_months=12,
            )
        )
