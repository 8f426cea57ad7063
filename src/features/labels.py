"""Snapshots (customer, as_of) and their default labels.

Derived label (DESIGN.md): an installment not fully paid within ``dpd_threshold_days`` of
its due date is a default event on due date + threshold; a sample is 1 when the
customer's first default event falls in (as_of, window_end], window_end = as_of + horizon.
Customers whose first event is on or before as_of are already in default and not sampled.
A label is complete only when its whole window lies within the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import ibis
import ibis.expr.types as ir
import pandas as pd

from creditrisk.contract import PAID_TOLERANCE
from creditrisk.features.arithmetic import DAY, seconds


def as_of_frame(as_of_dates: Sequence[date], *, horizon_months: int) -> pd.DataFrame:
    """as_of dates with the end of each label window (as_of + horizon in calendar months)."""
    as_of = pd.to_datetime(pd.Series(sorted(set(as_of_dates)), dtype="object"))
    window_end = as_of + pd.DateOffset(months=horizon_months)
    return pd.DataFrame(
        {"as_of": as_of.astype("datetime64[us]"), "window_end": window_end.astype("datetime64[us]")}
    )


def snapshots_from_dates(customers: ir.Table, dates: ir.Table) -> ir.Table:
    """Every customer created before as_of, at every as_of of ``dates`` (as_of, window_end)."""
    cust = customers.select("customer_id", created_s=seconds(customers.created_at))
    d = dates.select("as_of", as_of_s=seconds(dates.as_of), window_end_s=seconds(dates.window_end))
    pairs = cust.cross_join(d)
    return pairs.filter(pairs.created_s < pairs.as_of_s).select(
        "customer_id", "as_of", "as_of_s", "window_end_s"
    )


def snapshots_from_outcomes(outcomes: ir.Table) -> ir.Table:
    """Snapshots and labels as given by the outcomes table."""
    return outcomes.select(
        "customer_id",
        as_of=outcomes.as_of,
        as_of_s=seconds(outcomes.as_of),
        window_end_s=ibis.null("int64"),
        default=outcomes.default.cast("int64"),
        label_complete=ibis.literal(True),
    )


def first_default_events(
    loans: ir.Table, repayments: ir.Table, *, dpd_threshold_days: int, end_date: date
) -> ir.Table:
    """Each customer's first default event (epoch seconds) observable by the data's end."""
    grace = dpd_threshold_days * DAY
    end_s = int(pd.Timestamp(end_date).timestamp())
    rep = repayments.select(
        "loan_id",
        "installment_no",
        due_s=seconds(repayments.due_date),
        paid_s=seconds(repayments.paid_date),
        amount_due=repayments.amount_due.cast("float64"),
        amount_paid=repayments.amount_paid.cast("float64"),
    )
    in_time = rep.paid_s.notnull() & (rep.paid_s <= rep.due_s + grace)
    inst = rep.group_by(["loan_id", "installment_no"]).aggregate(
        due_s=rep.due_s.min(),
        amount_due=rep.amount_due.max(),
        paid_in_time=rep.amount_paid.sum(where=in_time),
    )
    missed = inst.filter(
        (inst.paid_in_time.fill_null(0.0) < inst.amount_due - PAID_TOLERANCE)
        & (inst.due_s + grace <= end_s)
    )
    ln = loans.select("loan_id", "customer_id")
    events = missed.join(ln, "loan_id")
    return events.group_by("customer_id").aggregate(first_event_s=(events.due_s + grace).min())


def label_snapshots(snapshots: ir.Table, events: ir.Table, *, end_date: date) -> ir.Table:
    """Drop snapshots already in default; add ``default`` and ``label_complete``."""
    end_s = int(pd.Timestamp(end_date).timestamp())
    ev = events.rename(e_customer_id="customer_id")
    j = snapshots.left_join(ev, snapshots.customer_id == ev.e_customer_id)
    j = j.filter(j.first_event_s.isnull() | (j.first_event_s > j.as_of_s))
    complete = j.window_end_s <= end_s
    hit = (j.first_event_s.notnull() & (j.first_event_s <= j.window_end_s)).cast("int64")
    return j.select(
        "customer_id",
        "as_of",
        "as_of_s",
        "window_end_s",
        default=ibis.ifelse(complete, hit, ibis.null("int64")),
        label_complete=complete,
    )
