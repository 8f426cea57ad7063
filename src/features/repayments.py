"""Repayment-behaviour features at each (customer, as_of), from what was known at as_of.

A payment dated on or after as_of is unknown at as_of: an installment it settles counts as
unpaid then. Installment schedules are known from the loan's opening, so amounts falling
due after as_of are known for loans opened before it.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from creditrisk.features.common import DAY, days_between, in_window, ratio, seconds

PAID_TOLERANCE = 0.005  # currency units: rounding on amounts paid in several parts
DAYS_PER_MONTH = 30.4375


def installments(loans: ir.Table, repayments: ir.Table) -> ir.Table:
    """One row per installment: customer, loan, due date, amount due, loan dates (seconds)."""
    rep = repayments.select(
        "loan_id", "installment_no", due_s=seconds(repayments.due_date), amount_due="amount_due"
    )
    inst = rep.group_by(["loan_id", "installment_no"]).aggregate(
        due_s=rep.due_s.min(), amount_due=rep.amount_due.max().cast("float64")
    )
    last_due = inst.group_by("loan_id").aggregate(last_due_s=inst.due_s.max())
    ln = loans.select("loan_id", "customer_id", opened_s=seconds(loans.opened_at))
    return inst.join(last_due, "loan_id").join(ln, "loan_id")


def payments(repayments: ir.Table) -> ir.Table:
    """Payment events with a known date: loan, installment, paid date (seconds), amount."""
    known = repayments.filter(repayments.paid_date.notnull())
    return known.select(
        p_loan_id=known.loan_id,
        p_installment_no=known.installment_no,
        paid_s=seconds(known.paid_date),
        amount_paid=known.amount_paid.cast("float64").fill_null(0.0),
    )


def installment_status(
    snapshots: ir.Table, loans: ir.Table, repayments: ir.Table, *, lookback_days: int
) -> ir.Table:
    """Each installment's state at each as_of: paid so far, fully paid, days late.

    Only loans opened before as_of whose last installment falls due after
    as_of - ``lookback_days`` are considered: older loans left unpaid would already put the
    customer in default, and such customers are not sampled.
    """
    inst = installments(loans, repayments).rename(i_customer_id="customer_id")
    pairs = snapshots.join(
        inst,
        [
            snapshots.customer_id == inst.i_customer_id,
            inst.opened_s < snapshots.as_of_s,
            inst.last_due_s >= snapshots.as_of_s - lookback_days * DAY,
        ],
    )
    pay = payments(repayments)
    with_pay = pairs.left_join(
        pay,
        [
            pairs.loan_id == pay.p_loan_id,
            pairs.installment_no == pay.p_installment_no,
            pay.paid_s < pairs.as_of_s,
        ],
    )
    keys = ["customer_id", "as_of", "as_of_s", "loan_id", "installment_no", "due_s", "amount_due"]
    per = with_pay.group_by(keys).aggregate(
        paid=with_pay.amount_paid.sum(), last_paid_s=with_pay.paid_s.max()
    )
    paid = per.paid.fill_null(0.0)
    full = paid >= per.amount_due - PAID_TOLERANCE
    due_before = per.due_s < per.as_of_s
    late_if_paid = ibis.greatest(days_between(per.last_paid_s, per.due_s), 0)
    return per.mutate(
        paid=paid,
        full=full,
        due_before=due_before,
        dpd_now=ibis.ifelse(due_before & ~full, days_between(per.as_of_s, per.due_s), 0),
        days_late=ibis.ifelse(
            due_before,
            ibis.ifelse(full, late_if_paid, days_between(per.as_of_s, per.due_s)),
            ibis.null("int64"),
        ),
    )


def repayment_features(
    snapshots: ir.Table, loans: ir.Table, repayments: ir.Table, *, windows: tuple[int, ...]
) -> ir.Table:
    """Delinquency, payment ratios and exposure per (customer, as_of).

    Returns:
        One row per snapshot with at least one considered installment; the caller fills the
        others as the dictionary documents.
    """
    longest = max(windows)
    st = installment_status(snapshots, loans, repayments, lookback_days=longest)
    age = st.as_of_s - st.due_s
    open_amount = ibis.greatest(st.amount_due - st.paid, 0.0)
    late = st.days_late >= 1
    metrics: dict[str, ir.Value] = {
        "dpd_current": st.dpd_now.max(),
        "last_late_due_s": st.due_s.max(where=late & in_window(age, longest)),
        "n_active_loans": st.loan_id.nunique(where=~st.full),
        "outstanding_amount": open_amount.sum(),
        "amount_due_next_30d": open_amount.sum(
            where=(st.due_s >= st.as_of_s) & (st.due_s < st.as_of_s + 30 * DAY)
        ),
    }
    for w in windows:
        inside = in_window(age, w)
        metrics[f"dpd_max_{w}d"] = st.days_late.max(where=inside)
        metrics[f"dpd_mean_{w}d"] = st.days_late.mean(where=inside)
        for n in (1, 30, 60):
            metrics[f"n_late_{n}p_{w}d"] = st.days_late.count(where=inside & (st.days_late >= n))
        metrics[f"_paid_{w}d"] = st.paid.sum(where=inside)
        metrics[f"_due_{w}d"] = st.amount_due.sum(where=inside)
    agg = st.group_by(["customer_id", "as_of", "as_of_s"]).aggregate(**metrics)
    out = {k: agg[k] for k in metrics if not k.startswith("_") and k != "last_late_due_s"}
    for w in windows:
        out[f"paid_to_due_ratio_{w}d"] = ratio(agg[f"_paid_{w}d"], agg[f"_due_{w}d"])
    return agg.select(
        "customer_id",
        "as_of",
        days_since_last_late_payment=days_between(agg.as_of_s, agg.last_late_due_s),
        **out,
    )


def loan_features(snapshots: ir.Table, loans: ir.Table, *, windows: tuple[int, ...]) -> ir.Table:
    """Loans opened per window and months since the first loan, per (customer, as_of)."""
    ln = loans.select(l_customer_id=loans.customer_id, opened_s=seconds(loans.opened_at))
    joined = snapshots.join(
        ln, [snapshots.customer_id == ln.l_customer_id, ln.opened_s < snapshots.as_of_s]
    )
    age = joined.as_of_s - joined.opened_s
    metrics: dict[str, ir.Value] = {"first_opened_s": joined.opened_s.min()}
    for w in windows:
        metrics[f"n_loans_opened_{w}d"] = joined.opened_s.count(where=in_window(age, w))
    agg = joined.group_by(["customer_id", "as_of", "as_of_s"]).aggregate(**metrics)
    months = (days_between(agg.as_of_s, agg.first_opened_s) / DAYS_PER_MONTH).floor()
    return agg.select(
        "customer_id",
        "as_of",
        months_since_first_loan=months.cast("int64"),
        **{k: agg[k] for k in metrics if k != "first_opened_s"},
    )
