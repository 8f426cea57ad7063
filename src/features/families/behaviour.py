"""Repayment behaviour: arrears now, lateness and the paid-to-due ratio per window, the
outstanding balance and what falls due next, from each snapshot's installments."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from creditrisk.features.arithmetic import DAY, days_between, exact_sum, in_window, ratio
from creditrisk.features.family import FamilyInputs, FeatureInfo, InstallmentFamily
from creditrisk.features.settings import FeatureSettings

LATE_DAYS = (1, 30, 60)  # the n_late_<n>p_<w>d thresholds
DUE_SOON_DAYS = 30  # amount_due_next_30d
RECOURSE_DAYS = 90  # lateness in windows this short is cleared by months of on-time payments


def open_amount(st: ir.Table) -> ir.Value:
    """What is still unpaid of each installment at as_of (due or not)."""
    return ibis.greatest(st.amount_due - st.paid, 0.0)


def windowed(st: ir.Table, column: ir.Value, w: int, null_type: str) -> ir.Value:
    """``column`` for installments due in the ``w`` days before as_of, else null."""
    return ibis.ifelse(in_window(st.as_of_s - st.due_s, w), column, ibis.null(null_type))


def paid_and_due(st: ir.Table, windows: tuple[int, ...]) -> dict[str, ir.Value]:
    """Per-row amounts paid and due per window (shared with the amounts family)."""
    out: dict[str, ir.Value] = {}
    for w in windows:
        out[f"paid_{w}"] = windowed(st, st.paid, w, "float64")
        out[f"due_{w}"] = windowed(st, st.amount_due, w, "float64")
    return out


def paid_and_due_sums(st: ir.Table, windows: tuple[int, ...]) -> dict[str, ir.Value]:
    """Exact sums of :func:`paid_and_due` per window (helpers ``_paid_<w>d``, ``_due_<w>d``)."""
    out: dict[str, ir.Value] = {}
    for w in windows:
        out[f"_paid_{w}d"] = exact_sum(st[f"paid_{w}"])
        out[f"_due_{w}d"] = exact_sum(st[f"due_{w}"])
    return out


class Behaviour(InstallmentFamily):
    name = "repayment behaviour"

    def features(self, inputs: FamilyInputs) -> list[FeatureInfo]:
        windows, longest = inputs.settings.windows, inputs.settings.longest
        out = [
            FeatureInfo(
                "dpd_current",
                "Days past due of the oldest installment unpaid at as_of.",
                "repayments",
                None,
                "days",
                1,
                "An installment is currently overdue",
                "0: nothing overdue, or no loans",
                reason_group="overdue_now",
                actionable=True,
                fill=0,
            ),
            FeatureInfo(
                "days_since_last_late_payment",
                "Days from the due date of the most recent installment paid late (or still "
                "unpaid past due) to as_of.",
                "repayments",
                longest,
                "days",
                -1,
                "A payment was late recently",
                f"null: no late installment due in the {longest} days before as_of",
                reason_group="late_payments",
            ),
            FeatureInfo(
                "outstanding_amount",
                "Installment amounts not yet paid at as_of, over all loans (due or not).",
                "repayments",
                None,
                "currency",
                1,
                "High outstanding balance",
                "0: nothing outstanding",
                reason_group="debt_level",
                actionable=True,
                fill=0,
            ),
            FeatureInfo(
                f"amount_due_next_{DUE_SOON_DAYS}d",
                f"Unpaid installment amounts falling due in the {DUE_SOON_DAYS} days from as_of.",
                "repayments",
                DUE_SOON_DAYS,
                "currency",
                1,
                "Large payments fall due soon",
                "0: nothing due",
                reason_group="debt_level",
                fill=0,
            ),
        ]
        for w in windows:
            short = w <= RECOURSE_DAYS
            out += [
                FeatureInfo(
                    f"dpd_max_{w}d",
                    f"Largest days past due among installments due in the {w} days before as_of.",
                    "repayments",
                    w,
                    "days",
                    1,
                    f"Payments were late in the last {w} days",
                    "0: none late, or no installment due in the window",
                    reason_group="late_payments",
                    actionable=short,
                    fill=0,
                ),
                FeatureInfo(
                    f"dpd_mean_{w}d",
                    f"Mean days past due of installments due in the {w} days before as_of.",
                    "repayments",
                    w,
                    "days",
                    1,
                    f"Payments were often late in the last {w} days",
                    "null: no installment due in the window",
                    reason_group="late_payments",
                    actionable=short,
                ),
                FeatureInfo(
                    f"n_late_1p_{w}d",
                    f"Installments due in the {w} days before as_of paid 1+ days late "
                    "(or still unpaid and past due).",
                    "repayments",
                    w,
                    "installments",
                    1,
                    f"Installments were paid late in the last {w} days",
                    "0: none, or no installment due in the window",
                    reason_group="late_payments",
                    actionable=short,
                    fill=0,
                ),
                *(
                    FeatureInfo(
                        f"n_late_{n}p_{w}d",
                        f"Installments due in the {w} days before as_of paid {n}+ days late.",
                        "repayments",
                        w,
                        "installments",
                        1,
                        f"Installments were {n}+ days late in the last {w} days",
                        "0: none, or no installment due in the window",
                        reason_group="late_payments",
                        actionable=short,
                        fill=0,
                    )
                    for n in LATE_DAYS[1:]
                ),
                FeatureInfo(
                    f"paid_to_due_ratio_{w}d",
                    f"Amount paid by as_of over amount due, installments due in the {w} days "
                    "before as_of.",
                    "repayments",
                    w,
                    "ratio",
                    -1,
                    f"Installments were not paid in full in the last {w} days",
                    "null: no installment due in the window",
                    reason_group="unpaid_installments",
                    actionable=short,
                ),
            ]
        return out

    def rows(self, status: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
        st, longest = status, settings.longest
        row: dict[str, ir.Value] = {
            "open_amount": open_amount(st),
            "soon": (st.due_s >= st.as_of_s) & (st.due_s < st.as_of_s + DUE_SOON_DAYS * DAY),
            "late_due_s": ibis.ifelse(
                (st.days_late >= 1) & in_window(st.as_of_s - st.due_s, longest),
                st.due_s,
                ibis.null("int64"),
            ),
        }
        for w in settings.windows:
            row[f"late_{w}"] = windowed(st, st.days_late, w, "int64")
        return {**row, **paid_and_due(st, settings.windows)}

    def aggregates(self, status: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
        st = status
        metrics: dict[str, ir.Value] = {
            "dpd_current": st.dpd_now.max(),
            "_last_late_due_s": st.late_due_s.max(),
            "outstanding_amount": exact_sum(st.open_amount),
            f"amount_due_next_{DUE_SOON_DAYS}d": exact_sum(
                ibis.ifelse(st.soon, st.open_amount, 0.0)
            ),
        }
        for w in settings.windows:
            late_w = st[f"late_{w}"]
            metrics[f"dpd_max_{w}d"] = late_w.max()
            metrics[f"dpd_mean_{w}d"] = late_w.mean()
            for n in LATE_DAYS:
                metrics[f"n_late_{n}p_{w}d"] = (late_w >= n).cast("int64").sum()
        return {**metrics, **paid_and_due_sums(st, settings.windows)}

    def derived(self, agg: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
        out = {"days_since_last_late_payment": days_between(agg.as_of_s, agg._last_late_due_s)}
        for w in settings.windows:
            out[f"paid_to_due_ratio_{w}d"] = ratio(agg[f"_paid_{w}d"], agg[f"_due_{w}d"])
        return out


FAMILY = Behaviour()
