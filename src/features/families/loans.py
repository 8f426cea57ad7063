"""Loans: running installment plans, plans opened per window and the length of the credit
history, at each (customer, as_of)."""

from __future__ import annotations

import ibis.expr.types as ir

from creditrisk.features.arithmetic import DAYS_PER_MONTH, days_between, in_window, seconds
from creditrisk.features.family import FamilyInputs, FeatureInfo, Snapshots, TableFamily


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


class Loans(TableFamily):
    name = "loans"
    # The loans' repaid dates come from their installments (the repayment history).
    tables = ("loans", "repayments")

    def features(self, inputs: FamilyInputs) -> list[FeatureInfo]:
        out = [
            FeatureInfo(
                "n_active_loans",
                "Installment loans opened before as_of and not fully repaid at as_of.",
                "loans",
                None,
                "loans",
                1,
                "Several installment plans are running",
                "0: no running loans",
                reason_group="new_credit",
                fill=0,
            ),
            FeatureInfo(
                "months_since_first_loan",
                "Whole months from the first loan's opening to as_of.",
                "loans",
                None,
                "months",
                -1,
                "Short credit history",
                "null: no loan before as_of",
                reason_group="credit_history",
            ),
        ]
        out += [
            FeatureInfo(
                f"n_loans_opened_{w}d",
                f"Installment loans opened in the {w} days before as_of.",
                "loans",
                w,
                "loans",
                1,
                f"Several new installment plans in the last {w} days",
                "0: none opened",
                reason_group="new_credit",
                fill=0,
            )
            for w in inputs.settings.windows
        ]
        return out

    def compute(self, snapshots: Snapshots) -> ir.Table:
        assert snapshots.history is not None  # guaranteed by the tables it needs
        return loan_features(
            snapshots.keys,
            snapshots.tables["loans"],
            snapshots.history.installments,
            windows=snapshots.settings.windows,
        )


FAMILY = Loans()
