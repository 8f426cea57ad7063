"""Point-in-time guarantees on a generated history, and DuckDB/Spark parity."""

from __future__ import annotations

from datetime import date
from functools import cache

import numpy as np
import pandas as pd
import pytest

from creditrisk.synthetic.generator import generate
from creditrisk.synthetic.population import StressPeriod
from tests.features_helpers import features_for

AS_OF = ["2023-03-01", "2023-06-01"]
LABEL_COLUMNS = ["default", "label_complete"]


@cache
def history() -> dict[str, pd.DataFrame]:
    stress = StressPeriod(date(2023, 4, 1), date(2023, 12, 31), 1.0, ("south",), ())
    (chunk,) = generate(
        n_customers=400,
        start=date(2021, 1, 1),
        end=date(2025, 12, 31),
        stress=stress,
        seed=17,
        dpd_threshold_days=90,
        horizon_months=12,
    )
    return {k: v.copy() for k, v in chunk.raw_tables().items()}


def tables() -> dict[str, pd.DataFrame]:
    return {k: v.copy() for k, v in history().items()}


def feature_part(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=LABEL_COLUMNS)


def test_events_after_as_of_change_no_feature() -> None:
    base = features_for(tables(), AS_OF)
    assert len(base) > 500 and base["dpd_current"].gt(0).any()
    for as_of in AS_OF:
        t = tables()
        ts = pd.Timestamp(as_of)
        rng = np.random.default_rng(0)
        # Future purchases, including one at exactly as_of (not "before as_of").
        extra_tx = (
            t["transactions"]
            .sample(300, random_state=1)
            .assign(
                transaction_id=lambda d: "X" + d["transaction_id"],
                ts=ts + pd.to_timedelta(rng.integers(0, 400, 300), unit="D"),
            )
        )
        t["transactions"] = pd.concat([t["transactions"], extra_tx], ignore_index=True)
        # Payments learnt only after as_of: every open installment gets paid on as_of.
        rep = t["repayments"]
        unpaid = rep[rep["paid_date"].isna() & (rep["due_date"] < ts)]
        settle = unpaid.assign(paid_date=ts, amount_paid=unpaid["amount_due"])
        t["repayments"] = pd.concat([rep, settle], ignore_index=True)
        # A new loan, opened at as_of, with installments.
        new_loan = t["loans"].iloc[[0]].assign(loan_id="XL", opened_at=ts)
        t["loans"] = pd.concat([t["loans"], new_loan], ignore_index=True)
        new_inst = pd.DataFrame(
            {
                "loan_id": "XL",
                "installment_no": [1, 2],
                "due_date": [ts + pd.Timedelta(days=20)] * 2,
                "amount_due": 50.0,
                "paid_date": pd.NaT,
                "amount_paid": np.nan,
            }
        )
        t["repayments"] = pd.concat([t["repayments"], new_inst], ignore_index=True)
        changed = features_for(t, [as_of])
        expected = base[base["as_of"] == ts].reset_index(drop=True)
        pd.testing.assert_frame_equal(feature_part(changed), feature_part(expected))


def test_events_after_the_performance_window_change_no_label() -> None:
    base = features_for(tables(), AS_OF)
    window_end = pd.Timestamp(AS_OF[-1]) + pd.DateOffset(months=12)
    t = tables()
    t["transactions"] = t["transactions"][t["transactions"]["ts"] <= window_end]
    t["loans"] = t["loans"][t["loans"]["opened_at"] <= window_end]
    rep = t["repayments"][t["repayments"]["loan_id"].isin(t["loans"]["loan_id"])].copy()
    later = rep["paid_date"] > window_end
    rep.loc[later, ["paid_date", "amount_paid"]] = [pd.NaT, np.nan]  # payment event unknown
    t["repayments"] = rep
    assert later.sum() > 100
    changed = features_for(t, AS_OF)
    last = base["as_of"] == pd.Timestamp(AS_OF[-1])
    pd.testing.assert_frame_equal(
        changed.loc[last, ["customer_id", *LABEL_COLUMNS]].reset_index(drop=True),
        base.loc[last, ["customer_id", *LABEL_COLUMNS]].reset_index(drop=True),
    )
    assert base.loc[last, "default"].sum() > 5


@pytest.mark.slow
def test_duckdb_and_spark_give_identical_features() -> None:
    from creditrisk.features.engine import connect

    spark = connect(
        "spark", spark_master="local[2]", spark_conf={"spark.sql.shuffle.partitions": "4"}
    )
    try:
        on_duckdb = features_for(tables(), AS_OF)
        on_spark = features_for(tables(), AS_OF, con=spark)
    finally:
        spark._session.stop()
    assert len(on_duckdb) > 500
    pd.testing.assert_frame_equal(
        on_spark, on_duckdb, check_dtype=False, check_exact=False, rtol=1e-12
    )
