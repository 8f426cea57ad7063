"""Signals for early warnings that the model features do not carry."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from creditrisk.contract import PAID_TOLERANCE


def days_to_next_due(loans: pd.DataFrame, repayments: pd.DataFrame, *, as_of: date) -> pd.Series:
    """Days from ``as_of`` to the customer's next installment that falls due on or after
    ``as_of`` and is not fully paid before it, per customer_id (customers with none are
    absent). Only payments dated before ``as_of`` count.
    """
    cutoff = pd.Timestamp(as_of)
    paid_before = repayments["paid_date"].notna() & (repayments["paid_date"] < cutoff)
    amounts = repayments.assign(
        paid=np.where(paid_before, repayments["amount_paid"].fillna(0.0), 0.0)
    )
    per_installment = amounts.groupby(["loan_id", "installment_no"], sort=False).agg(
        due_date=("due_date", "first"), amount_due=("amount_due", "first"), paid=("paid", "sum")
    )
    upcoming = per_installment[
        (per_installment["due_date"] >= cutoff)
        & (per_installment["paid"] < per_installment["amount_due"] - PAID_TOLERANCE)
    ].reset_index()
    upcoming = upcoming.merge(loans[["loan_id", "customer_id", "opened_at"]], on="loan_id")
    upcoming = upcoming[upcoming["opened_at"] < cutoff]  # loans opened later are not known yet
    nearest = upcoming.groupby("customer_id")["due_date"].min()
    return ((nearest - cutoff).dt.days).astype("float64").rename("days_to_next_due")
