"""Amounts per window: sums and maxima of the amounts due and paid, the shortfall (due
minus paid, at least 0), days paid ahead of the due date, the spread of the paid-to-due
ratio and the installments' size against their loan's principal."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from creditrisk.features.arithmetic import PPM, days_between, exact_sum, ratio
from creditrisk.features.families.behaviour import (
    RECOURSE_DAYS,
    open_amount,
    paid_and_due,
    paid_and_due_sums,
    windowed,
)
from creditrisk.features.family import FamilyInputs, FeatureInfo, InstallmentFamily
from creditrisk.features.settings import FeatureSettings


def _per_window(w: int) -> list[FeatureInfo]:
    none = "0: no installment due in the window"
    null = "null: no installment due in the window"
    short = w <= RECOURSE_DAYS
    return [
        FeatureInfo(
            f"amount_due_sum_{w}d",
            f"Total amount of the installments due in the {w} days before as_of.",
            "repayments",
            w,
            "currency",
            0,
            f"Large amounts fell due in the last {w} days",
            none,
            fill=0,
        ),
        FeatureInfo(
            f"amount_paid_sum_{w}d",
            f"Amount paid before as_of on the installments due in the {w} days before it.",
            "repayments",
            w,
            "currency",
            0,
            f"Payments in the last {w} days",
            none,
            fill=0,
        ),
        FeatureInfo(
            f"amount_due_max_{w}d",
            f"Largest installment due in the {w} days before as_of.",
            "repayments",
            w,
            "currency",
            0,
            f"A large installment fell due in the last {w} days",
            null,
        ),
        FeatureInfo(
            f"amount_paid_max_{w}d",
            f"Largest amount paid on one installment due in the {w} days before as_of.",
            "repayments",
            w,
            "currency",
            0,
            f"Payments in the last {w} days",
            null,
        ),
        FeatureInfo(
            f"shortfall_sum_{w}d",
            f"Amount still unpaid at as_of of the installments due in the {w} days before "
            "it (due minus paid, at least 0).",
            "repayments",
            w,
            "currency",
            1,
            f"Installments due in the last {w} days are not fully paid",
            none,
            reason_group="unpaid_installments",
            actionable=short,
            fill=0,
        ),
        FeatureInfo(
            f"shortfall_max_{w}d",
            f"Largest unpaid remainder of one installment due in the {w} days before as_of.",
            "repayments",
            w,
            "currency",
            1,
            f"An installment due in the last {w} days is largely unpaid",
            null,
            reason_group="unpaid_installments",
            actionable=short,
        ),
        FeatureInfo(
            f"days_early_mean_{w}d",
            f"Mean days paid ahead of the due date, installments due in the {w} days before "
            "as_of (0 for one paid on the day, late or not yet).",
            "repayments",
            w,
            "days",
            -1,
            f"Installments were not paid ahead of their due dates in the last {w} days",
            null,
            reason_group="payment_timing",
        ),
        FeatureInfo(
            f"paid_ratio_var_{w}d",
            f"Variance of the paid-to-due ratio of the installments due in the {w} days "
            "before as_of (ratios to a millionth).",
            "repayments",
            w,
            "ratio squared",
            0,
            f"Payments varied from month to month in the last {w} days",
            "null: fewer than 2 installments due in the window",
        ),
        FeatureInfo(
            f"due_to_principal_max_{w}d",
            f"Largest installment due in the {w} days before as_of over its loan's "
            "principal (a statement over the credit line, for a revolving account).",
            "repayments",
            w,
            "ratio",
            0,
            f"Installments were large against the credit granted in the last {w} days",
            "null: no installment due in the window (or a principal of 0)",
        ),
    ]


class Amounts(InstallmentFamily):
    name = "amounts"

    def features(self, inputs: FamilyInputs) -> list[FeatureInfo]:
        out = [f for w in inputs.settings.windows for f in _per_window(w)]
        out.append(
            FeatureInfo(
                "outstanding_to_principal",
                "Amount unpaid at as_of (due or not) over the principal (credit line) of the "
                "loans with an installment in the look-back window or still unpaid.",
                "repayments",
                None,
                "ratio",
                1,
                "High use of the credit granted",
                "null: no such loan (or principals of 0); 0: nothing unpaid",
                reason_group="debt_level",
                actionable=True,
            )
        )
        return out

    def rows(self, status: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
        st = status
        shortfall = ibis.greatest(st.amount_due - st.paid, 0.0)
        early = ibis.ifelse(st.full, ibis.greatest(days_between(st.due_s, st.full_s), 0), 0)
        ratio_ppm = ibis.ifelse(
            # Rounded half up (floor of x + 0.5) alike on every engine and in pandas.
            st.amount_due > 0,
            (st.paid * PPM / st.amount_due + 0.5).floor().cast("int64"),
            ibis.null("int64"),
        )
        row: dict[str, ir.Value] = {"open_amount": open_amount(st)}
        for w in settings.windows:
            row[f"short_{w}"] = windowed(st, shortfall, w, "float64")
            row[f"early_{w}"] = windowed(st, early, w, "int64")
            row[f"ppm_{w}"] = windowed(st, ratio_ppm, w, "int64")
            row[f"util_{w}"] = windowed(st, ratio(st.amount_due, st.principal), w, "float64")
        return {**row, **paid_and_due(st, settings.windows)}

    def aggregates(self, status: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
        st = status
        metrics: dict[str, ir.Value] = {
            # Utilisation: the principal (credit line) counted once per loan, on its last row.
            "_lines": exact_sum(ibis.ifelse(st.installment_no == st.last_no, st.principal, 0.0)),
            "outstanding_amount": exact_sum(st.open_amount),
        }
        for w in settings.windows:
            ppm = st[f"ppm_{w}"]
            metrics.update(
                {
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
            )
        return {**metrics, **paid_and_due_sums(st, settings.windows)}

    def derived(self, agg: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
        out: dict[str, ir.Value] = {
            "outstanding_to_principal": ratio(agg.outstanding_amount, agg._lines)
        }
        for w in settings.windows:
            out[f"amount_due_sum_{w}d"] = agg[f"_due_{w}d"]
            out[f"amount_paid_sum_{w}d"] = agg[f"_paid_{w}d"]
            out[f"days_early_mean_{w}d"] = ratio(agg[f"_early_{w}d"], agg[f"_n_{w}d"])
            out[f"paid_ratio_var_{w}d"] = _variance(agg, w)
        return out


def _variance(agg: ir.Table, w: int) -> ir.FloatingValue:
    """Sample variance of the paid-to-due ratio from integer sums (null below 2)."""
    n, q, qq = agg[f"_qn_{w}d"], agg[f"_q_{w}d"], agg[f"_qq_{w}d"]
    num = (n * qq - q * q).cast("float64")
    den = (n * (n - 1)).cast("float64") * (PPM * PPM)
    return ibis.ifelse(n >= 2, num / den, ibis.null("float64"))


FAMILY = Amounts()
