"""The installment grain of the repayment features: each installment's payment history,
and its state at each (customer, as_of) as known at as_of.

A payment dated on or after as_of is unknown at as_of: an installment it settles counts as
unpaid then. Installment schedules are known from the loan's opening, so amounts falling
due after as_of are known for loans opened before it.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from creditrisk.contract import PAID_TOLERANCE
from creditrisk.features.arithmetic import (
    DAY,
    days_between,
    exact_sum,
    seconds,
)


def installments(loans: ir.Table, repayments: ir.Table) -> ir.Table:
    """One row per installment, with its payment history condensed.

    Columns: customer_id, loan_id, installment_no, due_s, amount_due, opened_s, principal,
    first_paid_s (first payment, any amount), full_s (the payment that completed it; null
    while it is not fully paid), the loan's last_due_s, last_no (its last installment's
    number) and repaid_s (when its last open installment was completed; null while one is
    open), all times in epoch seconds, and due_rank (1, 2, ... over the customer's
    installments by due date, loan, number).
    """
    rep = repayments.select(
        "loan_id",
        "installment_no",
        due_s=seconds(repayments.due_date),
        amount_due=repayments.amount_due.cast("float64"),
        paid_s=seconds(repayments.paid_date),
        amount_paid=repayments.amount_paid.cast("float64").fill_null(0.0),
    )
    keys = ["loan_id", "installment_no"]
    # Unpaid rows add 0 to the running sum, wherever an engine sorts their null dates.
    running = ibis.window(group_by=keys, order_by=[rep.paid_s, rep.amount_paid], rows=(None, 0))
    # Every row of an installment carries its amount due (the contract), so no second window.
    rep = rep.mutate(cum_paid=rep.amount_paid.sum().over(running))
    completed = rep.paid_s.notnull() & (rep.cum_paid >= rep.amount_due - PAID_TOLERANCE)
    inst = rep.group_by(keys).aggregate(
        due_s=rep.due_s.min(),
        amount_due=rep.amount_due.max(),
        first_paid_s=rep.paid_s.min(),
        full_s=rep.paid_s.min(where=completed),
    )
    every_full = inst.full_s.count() == inst.count()
    per_loan = inst.group_by("loan_id").aggregate(
        last_due_s=inst.due_s.max(),
        last_no=inst.installment_no.max(),
        # The day the loan was repaid in full (null while any installment is open).
        repaid_s=ibis.ifelse(every_full, inst.full_s.max(), ibis.null("int64")),
    )
    ln = loans.select(
        "loan_id",
        "customer_id",
        opened_s=seconds(loans.opened_at),
        principal=loans.principal.cast("float64"),
    )
    out = inst.join(per_loan, "loan_id").join(ln, "loan_id")
    # The customer's installments in due order, numbered once: the last K before any as_of
    # are then the K highest numbers due before it (installments fall due after their loan
    # opens, so those due in a window before as_of are consecutive in this order).
    order = ibis.window(
        group_by=out.customer_id, order_by=[out.due_s, out.loan_id, out.installment_no]
    )
    return out.mutate(due_rank=ibis.row_number().over(order))


def payments(repayments: ir.Table) -> ir.Table:
    """Payment events with a known date: loan, installment, paid date (seconds), amount."""
    known = repayments.filter(repayments.paid_date.notnull())
    return known.select(
        p_loan_id=known.loan_id,
        p_installment_no=known.installment_no,
        paid_s=seconds(known.paid_date),
        amount_paid=known.amount_paid.cast("float64").fill_null(0.0),
    )


def settling_payments(inst: ir.Table, repayments: ir.Table) -> ir.Table:
    """Payments made before their installment was completed (as_of does not matter yet):
    the only ones that can count towards an installment still open at some as_of.

    Most installments are settled by a single payment, so this table stays small.
    Columns: s_customer_id, s_loan_id, s_installment_no, paid_s, full_s, amount_paid.
    """
    pay = payments(repayments)
    pay = pay.join(
        inst, [pay.p_loan_id == inst.loan_id, pay.p_installment_no == inst.installment_no]
    )
    partial = pay.filter(pay.full_s.isnull() | (pay.paid_s < pay.full_s))
    return partial.select(
        s_customer_id=partial.customer_id,
        s_loan_id=partial.loan_id,
        s_installment_no=partial.installment_no,
        paid_s=partial.paid_s,
        full_s=partial.full_s,
        amount_paid=partial.amount_paid,
    )


def partial_payments(snapshots: ir.Table, settling: ir.Table) -> ir.Table:
    """Amount paid before as_of on installments still not fully paid at as_of."""
    j = snapshots.join(
        settling,
        [
            snapshots.customer_id == settling.s_customer_id,
            settling.paid_s < snapshots.as_of_s,
            settling.full_s.isnull() | (settling.full_s >= snapshots.as_of_s),
        ],
    )
    return j.group_by(
        [
            j.customer_id,
            j.as_of,
            j.s_loan_id.name("loan_id"),
            j.s_installment_no.name("installment_no"),
        ]
    ).aggregate(part_paid=exact_sum(j.amount_paid))


def installment_status(
    snapshots: ir.Table, installments: ir.Table, settling: ir.Table, *, lookback_days: int
) -> ir.Table:
    """Each installment's state at each as_of: paid so far, fully paid, days late.

    Only loans opened before as_of whose last installment falls due after
    as_of - ``lookback_days`` are considered: older loans left unpaid would already put the
    customer in default, and such customers are not sampled. An installment fully paid
    before as_of counts its amount due as paid (overpayments do not offset other
    installments) and is as late as the payment that completed it.
    """
    inst = installments.rename(i_customer_id="customer_id")
    since = snapshots.as_of_s - lookback_days * DAY
    pairs = snapshots.join(
        inst,
        [
            snapshots.customer_id == inst.i_customer_id,
            inst.opened_s < snapshots.as_of_s,
            inst.last_due_s >= since,
            # Installments settled before as_of and due before the look-back add nothing.
            (inst.due_s >= since) | inst.full_s.isnull() | (inst.full_s >= snapshots.as_of_s),
        ],
    ).drop("i_customer_id")
    pairs = pairs.mutate(full=pairs.full_s.notnull() & (pairs.full_s < pairs.as_of_s))
    part_keys = ["customer_id", "as_of", "loan_id", "installment_no"]
    part_paid = partial_payments(snapshots, settling).rename(**{f"q_{k}": k for k in part_keys})
    per = pairs.left_join(part_paid, [pairs[k] == part_paid[f"q_{k}"] for k in part_keys]).drop(
        *[f"q_{k}" for k in part_keys]
    )
    paid = ibis.ifelse(per.full, per.amount_due, per.part_paid.fill_null(0.0))
    due_before = per.due_s < per.as_of_s
    late_if_paid = ibis.greatest(days_between(per.full_s, per.due_s), 0)
    return per.mutate(
        paid=paid,
        due_before=due_before,
        dpd_now=ibis.ifelse(due_before & ~per.full, days_between(per.as_of_s, per.due_s), 0),
        days_late=ibis.ifelse(
            due_before,
            ibis.ifelse(per.full, late_if_paid, days_between(per.as_of_s, per.due_s)),
            ibis.null("int64"),
        ),
    )
