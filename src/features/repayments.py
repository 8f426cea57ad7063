"""Repayment-behaviour features at each (customer, as_of), from what was known at as_of.

A payment dated on or after as_of is unknown at as_of: an installment it settles counts as
unpaid then. Installment schedules are known from the loan's opening, so amounts falling
due after as_of are known for loans opened before it.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from creditrisk.features.common import (
    DAY,
    days_between,
    exact_sum,
    in_window,
    ratio,
    seconds,
)

PAID_TOLERANCE = 0.005  # currency units: rounding on amounts paid in several parts
DAYS_PER_MONTH = 30.4375
SEQUENCE = 6  # the last K installments due before as_of, one feature per position
PPM = 1_000_000  # paid-to-due ratios in parts per million: integer sums, exact on any engine


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


def repayment_features(
    snapshots: ir.Table, installments: ir.Table, settling: ir.Table, *, windows: tuple[int, ...]
) -> ir.Table:
    """Delinquency, payment ratios and exposure per (customer, as_of).

    Args:
        snapshots: customer_id, as_of, as_of_s.
        installments: the result of :func:`installments`.
        settling: the result of :func:`settling_payments`.
        windows: look-back windows in days.

    Returns:
        One row per snapshot with at least one considered installment; the caller fills the
        others as the dictionary documents.
    """
    longest = max(windows)
    snapshots = _last_due_rank(snapshots, installments, longest)
    st = installment_status(snapshots, installments, settling, lookback_days=longest)
    st = _sequence_position(st, longest)
    age = st.as_of_s - st.due_s
    # Per-row values first, plain aggregates after: engines evaluate a FILTER clause per
    # aggregate, and there are dozens of them.
    row: dict[str, ir.Value] = {
        "open_amount": ibis.greatest(st.amount_due - st.paid, 0.0),
        "soon": (st.due_s >= st.as_of_s) & (st.due_s < st.as_of_s + 30 * DAY),
        "late_due_s": ibis.ifelse(
            (st.days_late >= 1) & in_window(age, longest), st.due_s, ibis.null("int64")
        ),
    }
    shortfall = ibis.greatest(st.amount_due - st.paid, 0.0)
    early = ibis.ifelse(st.full, ibis.greatest(days_between(st.due_s, st.full_s), 0), 0)
    ratio_ppm = ibis.ifelse(
        # Rounded half up (floor of x + 0.5) alike on every engine and in pandas.
        st.amount_due > 0,
        (st.paid * PPM / st.amount_due + 0.5).floor().cast("int64"),
        ibis.null("int64"),
    )
    for w in windows:
        inside = in_window(age, w)
        row[f"late_{w}"] = ibis.ifelse(inside, st.days_late, ibis.null("int64"))
        row[f"paid_{w}"] = ibis.ifelse(inside, st.paid, ibis.null("float64"))
        row[f"due_{w}"] = ibis.ifelse(inside, st.amount_due, ibis.null("float64"))
        row[f"short_{w}"] = ibis.ifelse(inside, shortfall, ibis.null("float64"))
        row[f"early_{w}"] = ibis.ifelse(inside, early, ibis.null("int64"))
        row[f"ppm_{w}"] = ibis.ifelse(inside, ratio_ppm, ibis.null("int64"))
        row[f"util_{w}"] = ibis.ifelse(
            inside, ratio(st.amount_due, st.principal), ibis.null("float64")
        )
    row.update(_sequence_values(st))
    st = st.mutate(**row)
    metrics: dict[str, ir.Value] = {
        # Utilisation: the principal (credit line) counted once per loan, on its last row.
        "_lines": exact_sum(ibis.ifelse(st.installment_no == st.last_no, st.principal, 0.0)),
        "dpd_current": st.dpd_now.max(),
        "last_late_due_s": st.late_due_s.max(),
        "outstanding_amount": exact_sum(st.open_amount),
        "amount_due_next_30d": exact_sum(ibis.ifelse(st.soon, st.open_amount, 0.0)),
    }
    for w in windows:
        late_w = st[f"late_{w}"]
        metrics[f"dpd_max_{w}d"] = late_w.max()
        metrics[f"dpd_mean_{w}d"] = late_w.mean()
        for n in (1, 30, 60):
            metrics[f"n_late_{n}p_{w}d"] = (late_w >= n).cast("int64").sum()
        metrics[f"_paid_{w}d"] = exact_sum(st[f"paid_{w}"])
        metrics[f"_due_{w}d"] = exact_sum(st[f"due_{w}"])
        metrics.update(_amount_metrics(st, w))
    metrics.update(_sequence_metrics(st))
    agg = st.group_by(["customer_id", "as_of", "as_of_s"]).aggregate(**metrics)
    out = {k: agg[k] for k in metrics if not k.startswith("_") and k != "last_late_due_s"}
    for w in windows:
        out[f"paid_to_due_ratio_{w}d"] = ratio(agg[f"_paid_{w}d"], agg[f"_due_{w}d"])
        out[f"amount_due_sum_{w}d"] = agg[f"_due_{w}d"]
        out[f"amount_paid_sum_{w}d"] = agg[f"_paid_{w}d"]
        out[f"days_early_mean_{w}d"] = ratio(agg[f"_early_{w}d"], agg[f"_n_{w}d"])
        out[f"paid_ratio_var_{w}d"] = _variance(agg, w)
    for k in range(1, SEQUENCE + 1):
        out[f"inst_paid_ratio_k{k}"] = ratio(
            agg[f"inst_amount_paid_k{k}"], agg[f"inst_amount_due_k{k}"]
        )
    out["amount_due_slope_k"] = _slope(agg)
    out["outstanding_to_principal"] = ratio(agg.outstanding_amount, agg._lines)
    base = agg.select(
        "customer_id",
        "as_of",
        days_since_last_late_payment=days_between(agg.as_of_s, agg.last_late_due_s),
        **out,
    )
    return base


def _last_due_rank(snapshots: ir.Table, installments: ir.Table, longest: int) -> ir.Table:
    """``snapshots`` with ``_top_rank``: the ``due_rank`` of the customer's most recent
    installment due in the ``longest`` days before as_of (null when none is)."""
    inst = installments.select(
        r_customer_id=installments.customer_id,
        r_due_s=installments.due_s,
        r_rank=installments.due_rank,
    )
    j = snapshots.join(
        inst,
        [
            snapshots.customer_id == inst.r_customer_id,
            inst.r_due_s < snapshots.as_of_s,
            inst.r_due_s >= snapshots.as_of_s - longest * DAY,
        ],
    )
    top = j.group_by([j.customer_id.name("t_customer_id"), j.as_of.name("t_as_of")]).aggregate(
        _top_rank=j.r_rank.max()
    )
    out = snapshots.left_join(
        top, [snapshots.customer_id == top.t_customer_id, snapshots.as_of == top.t_as_of]
    )
    return out.drop("t_customer_id", "t_as_of")


def _sequence_position(st: ir.Table, longest: int) -> ir.Table:
    """Each installment due in the ``longest`` days before as_of gets its position among
    them, 0 for the most recent (ties: by loan and installment number, so every engine
    orders alike); others get null.

    The most recent has the snapshot's ``_top_rank`` (:func:`_last_due_rank`), found
    before the installments are joined: much cheaper than ranking every
    (customer, as_of) partition in a window.
    """
    eligible = st.due_before & in_window(st.as_of_s - st.due_s, longest)
    position = st._top_rank - st.due_rank
    return st.mutate(
        seq=ibis.ifelse(eligible & (position < SEQUENCE), position, ibis.null("int64"))
    ).drop("_top_rank")


def _sequence_values(st: ir.Table) -> dict[str, ir.Value]:
    """Per row, the value of each sequence feature at the row's position (else null)."""
    out: dict[str, ir.Value] = {}
    for k in range(1, SEQUENCE + 1):
        here = st.seq == k - 1
        out[f"seq_dpd_{k}"] = ibis.ifelse(here, st.days_late, ibis.null("int64"))
        out[f"seq_due_{k}"] = ibis.ifelse(here, st.amount_due, ibis.null("float64"))
        out[f"seq_paid_{k}"] = ibis.ifelse(here, st.paid, ibis.null("float64"))
        out[f"seq_util_{k}"] = ibis.ifelse(
            here, ratio(st.amount_due, st.principal), ibis.null("float64")
        )
    # Time order for the slope: the oldest of the K is 0, the most recent K - 1.
    out["_x"] = ibis.ifelse(st.seq.notnull(), SEQUENCE - 1 - st.seq, ibis.null("int64"))
    out["_y"] = ibis.ifelse(st.seq.notnull(), st.amount_due, ibis.null("float64"))
    return out


def _sequence_metrics(st: ir.Table) -> dict[str, ir.Value]:
    metrics: dict[str, ir.Value] = {}
    for k in range(1, SEQUENCE + 1):
        metrics[f"inst_dpd_k{k}"] = st[f"seq_dpd_{k}"].max()
        metrics[f"inst_amount_due_k{k}"] = st[f"seq_due_{k}"].max()
        metrics[f"inst_amount_paid_k{k}"] = st[f"seq_paid_{k}"].max()
    metrics["due_to_principal_k1"] = st["seq_util_1"].max()
    metrics["_sx"] = st._x.sum()
    metrics["_sxx"] = (st._x * st._x).sum()
    metrics["_sn"] = st._x.count()
    metrics["_sy"] = exact_sum(st._y)
    metrics["_sxy"] = exact_sum(st._x * st._y)
    return metrics


def _amount_metrics(st: ir.Table, w: int) -> dict[str, ir.Value]:
    """Amounts, early payment, ratio spread and utilisation of installments due in the
    ``w`` days before as_of (money sums exact; the ratio's moments in integer ppm)."""
    ppm = st[f"ppm_{w}"]
    return {
        f"amount_due_max_{w}d": st[f"due_{w}"].max(),
        f"amount_paid_max_{w}d": st[f"paid_{w}"].max(),
        f"shortfall_sum_{w}d": exact_sum(st[f"short_{w}"]),
        f"shortfall_max_{w}d": st[f"short_{w}"].max(),
        f"due_to_principal_max_{w}d": st[f"util_{w}"].max(),
        f"_early_{w}d": st[f"early_{w}"].sum(),
        f"_n_{w}d": st[f"early_{w}"].count(),
        f"_q_{w}d": ppm.sum(),
        f"_qq_{w}d": (ppm * ppm).sum(),
        f"_qn_{w}d": ppm.count(),
    }


def _variance(agg: ir.Table, w: int) -> ir.FloatingValue:
    """Sample variance of the paid-to-due ratio from integer sums (null below 2)."""
    n, q, qq = agg[f"_qn_{w}d"], agg[f"_q_{w}d"], agg[f"_qq_{w}d"]
    num = (n * qq - q * q).cast("float64")
    den = (n * (n - 1)).cast("float64") * (PPM * PPM)
    return ibis.ifelse(n >= 2, num / den, ibis.null("float64"))


def _slope(agg: ir.Table) -> ir.FloatingValue:
    """Least-squares slope of the amount due over the last K installments, per
    installment (oldest to most recent; null below 2)."""
    n = agg._sn.cast("float64")
    num = n * agg._sxy - agg._sx.cast("float64") * agg._sy
    den = n * agg._sxx.cast("float64") - agg._sx.cast("float64") * agg._sx.cast("float64")
    return ibis.ifelse(agg._sn >= 2, num / den, ibis.null("float64"))


def loan_features(
    snapshots: ir.Table, loans: ir.Table, installments: ir.Table, *, windows: tuple[int, ...]
) -> ir.Table:
    """Running loans, loans opened per window and months since the first loan."""
    inst = installments
    # A loan's last installment carries its repaid_s (no group-by per batch); a loan
    # without installments counts as running.
    last = inst.filter(inst.installment_no == inst.last_no)
    repaid = last.select(r_loan_id=last.loan_id, repaid_s=last.repaid_s)
    ln = loans.select(
        l_loan_id=loans.loan_id, l_customer_id=loans.customer_id, opened_s=seconds(loans.opened_at)
    )
    ln = ln.left_join(repaid, ln.l_loan_id == repaid.r_loan_id).drop("r_loan_id")
    joined = snapshots.join(
        ln, [snapshots.customer_id == ln.l_customer_id, ln.opened_s < snapshots.as_of_s]
    )
    age = joined.as_of_s - joined.opened_s
    running = joined.repaid_s.isnull() | (joined.repaid_s >= joined.as_of_s)
    metrics: dict[str, ir.Value] = {
        "first_opened_s": joined.opened_s.min(),
        "n_active_loans": running.cast("int64").sum(),
    }
    for w in windows:
        metrics[f"n_loans_opened_{w}d"] = in_window(age, w).cast("int64").sum()
    agg = joined.group_by(["customer_id", "as_of", "as_of_s"]).aggregate(**metrics)
    months = (days_between(agg.as_of_s, agg.first_opened_s) / DAYS_PER_MONTH).floor()
    return agg.select(
        "customer_id",
        "as_of",
        months_since_first_loan=months.cast("int64"),
        **{k: agg[k] for k in metrics if k != "first_opened_s"},
    )
