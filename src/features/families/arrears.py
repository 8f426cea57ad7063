"""Arrears history: the customer's days past due at each of the last month ends before
as_of (as the payments known at as_of show), the delinquency status a lender's monthly
statement reports, month by month, and how many of those months were in arrears."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from creditrisk.features.arithmetic import DAY, days_between
from creditrisk.features.families.sequence import SEQUENCE
from creditrisk.features.family import FamilyInputs, FeatureInfo, InstallmentFamily
from creditrisk.features.settings import FeatureSettings

MONTH_DAYS = 30  # one step back: the status 30, 60, ... days before as_of
STEPS = SEQUENCE - 1  # with dpd_current (0 days back), SEQUENCE month ends


def _back(k: int) -> FeatureInfo:
    days = k * MONTH_DAYS
    return FeatureInfo(
        f"dpd_{k}m_ago",
        f"Days past due {days} days before as_of: the oldest installment then due and not "
        "yet fully paid (as the payments known at as_of show), 0 when none was.",
        "repayments",
        None,
        "days",
        1,
        "Payments were overdue in recent months",
        f"0: nothing was overdue {days} days before as_of",
        reason_group="late_payments",
        fill=0,
    )


class Arrears(InstallmentFamily):
    name = "arrears history"

    def features(self, inputs: FamilyInputs) -> list[FeatureInfo]:
        months = STEPS + 1
        return [_back(k) for k in range(1, STEPS + 1)] + [
            FeatureInfo(
                "months_in_arrears_6m",
                f"Number of the last {months} month ends (as_of and every {MONTH_DAYS} days "
                f"before it) at which an installment was overdue.",
                "repayments",
                months * MONTH_DAYS,
                "count",
                1,
                "Payments were overdue in several recent months",
                "0: nothing overdue at any of them",
                reason_group="late_payments",
                fill=0,
            ),
            FeatureInfo(
                "dpd_change_1m",
                f"Days past due at as_of minus {MONTH_DAYS} days before it (positive: the "
                "arrears grew).",
                "repayments",
                MONTH_DAYS,
                "days",
                0,
                "The arrears grew over the last month",
                "0: no arrears at either date",
                fill=0,
            ),
        ]

    def rows(self, status: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
        st = status
        out: dict[str, ir.Value] = {}
        for k in range(0, STEPS + 1):
            at = st.as_of_s - k * MONTH_DAYS * DAY
            # Due before that date and not fully paid by it (a payment on or after as_of
            # is unknown at as_of, so such an installment is open at every earlier date).
            open_then = (st.due_s < at) & (st.full_s.isnull() | (st.full_s >= at))
            out[f"_dpd_back_{k}"] = ibis.ifelse(open_then, days_between(at, st.due_s), 0)
        return out

    def aggregates(self, status: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
        return {f"_dpd_back_{k}": status[f"_dpd_back_{k}"].max() for k in range(STEPS + 1)}

    def derived(self, agg: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
        out: dict[str, ir.Value] = {
            f"dpd_{k}m_ago": agg[f"_dpd_back_{k}"] for k in range(1, STEPS + 1)
        }
        months: ir.IntegerValue = ibis.literal(0)
        for k in range(STEPS + 1):
            months = months + (agg[f"_dpd_back_{k}"] > 0).cast("int64")
        out["months_in_arrears_6m"] = months
        out["dpd_change_1m"] = agg["_dpd_back_0"] - agg["_dpd_back_1"]
        return out


FAMILY = Arrears()
