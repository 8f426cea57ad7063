"""The installment sequence: the last K installments due before as_of, most recent first
(``inst_*_k1`` .. ``k6``: days past due, amounts due and paid, paid-to-due ratio), the
latest over its loan's principal and the slope of the amounts due."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from creditrisk.features.arithmetic import DAY, exact_sum, in_window, ratio
from creditrisk.features.family import FamilyInputs, FeatureInfo, InstallmentFamily, Snapshots
from creditrisk.features.settings import FeatureSettings

SEQUENCE = 6  # positions of the sequence: one feature per position and value


def ordinal(k: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(k, f"{k}th")


def _position(k: int, longest: int) -> list[FeatureInfo]:
    nth = ordinal(k)
    which = f"of the {nth} most recent installment due in the {longest} days before as_of"
    null = f"null: fewer than {k} installments due in the {longest} days before as_of"
    return [
        FeatureInfo(
            f"inst_dpd_k{k}",
            f"Days past due {which} (at payment, or at as_of while unpaid).",
            "repayments",
            longest,
            "days",
            1,
            "A recent installment was paid late" if k > 1 else "The latest installment was late",
            null,
            reason_group="late_payments",
            actionable=k == 1,
        ),
        FeatureInfo(
            f"inst_amount_due_k{k}",
            f"Amount due {which}.",
            "repayments",
            longest,
            "currency",
            0,
            "Size of a recent installment",
            null,
        ),
        FeatureInfo(
            f"inst_amount_paid_k{k}",
            f"Amount paid before as_of on the {nth} most recent installment due in the "
            f"{longest} days before as_of.",
            "repayments",
            longest,
            "currency",
            0,
            "Amount paid on a recent installment",
            null,
        ),
        FeatureInfo(
            f"inst_paid_ratio_k{k}",
            f"Amount paid before as_of over amount due {which}.",
            "repayments",
            longest,
            "ratio",
            -1,
            "A recent installment was not paid in full"
            if k > 1
            else "The latest installment was not paid in full",
            null,
            reason_group="unpaid_installments",
            actionable=k == 1,
        ),
    ]


class Sequence(InstallmentFamily):
    name = "installment sequence"

    def features(self, inputs: FamilyInputs) -> list[FeatureInfo]:
        longest = inputs.settings.longest
        out = [f for k in range(1, SEQUENCE + 1) for f in _position(k, longest)]
        out += [
            FeatureInfo(
                "due_to_principal_k1",
                f"Amount due of the most recent installment due in the {longest} days before "
                "as_of over its loan's principal (the statement over the credit line).",
                "repayments",
                longest,
                "ratio",
                0,
                "The latest installment was large against the credit granted",
                f"null: no installment due in the {longest} days before as_of",
            ),
            FeatureInfo(
                "amount_due_slope_k",
                f"Least-squares slope of the amount due over the last {SEQUENCE} installments "
                f"due in the {longest} days before as_of, oldest to most recent (per "
                "installment).",
                "repayments",
                longest,
                "currency per installment",
                0,
                "Installment amounts have been rising",
                "null: fewer than 2 installments due in the window",
            ),
        ]
        return out

    def snapshots(self, keys: ir.Table, snapshots: Snapshots) -> ir.Table:
        """``keys`` with ``_top_rank``: the ``due_rank`` of the customer's most recent
        installment due in the longest window before as_of (null when none is)."""
        assert snapshots.history is not None  # guaranteed by the tables it needs
        installments, longest = snapshots.history.installments, snapshots.settings.longest
        inst = installments.select(
            r_customer_id=installments.customer_id,
            r_due_s=installments.due_s,
            r_rank=installments.due_rank,
        )
        j = keys.join(
            inst,
            [
                keys.customer_id == inst.r_customer_id,
                inst.r_due_s < keys.as_of_s,
                inst.r_due_s >= keys.as_of_s - longest * DAY,
            ],
        )
        top = j.group_by([j.customer_id.name("t_customer_id"), j.as_of.name("t_as_of")]).aggregate(
            _top_rank=j.r_rank.max()
        )
        out = keys.left_join(
            top, [keys.customer_id == top.t_customer_id, keys.as_of == top.t_as_of]
        )
        return out.drop("t_customer_id", "t_as_of")

    def prepare(self, status: ir.Table, settings: FeatureSettings) -> ir.Table:
        """Each installment due in the longest window before as_of gets its position among
        them, 0 for the most recent (ties: by loan and installment number, so every engine
        orders alike); others get null.

        The most recent has the snapshot's ``_top_rank`` (:meth:`snapshots`), found before
        the installments are joined: much cheaper than ranking every (customer, as_of)
        partition in a window.
        """
        st = status
        eligible = st.due_before & in_window(st.as_of_s - st.due_s, settings.longest)
        position = st._top_rank - st.due_rank
        return st.mutate(
            seq=ibis.ifelse(eligible & (position < SEQUENCE), position, ibis.null("int64"))
        ).drop("_top_rank")

    def rows(self, status: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
        """Per row, the value of each sequence feature at the row's position (else null)."""
        st = status
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

    def aggregates(self, status: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
        st = status
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

    def derived(self, agg: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
        out: dict[str, ir.Value] = {
            f"inst_paid_ratio_k{k}": ratio(
                agg[f"inst_amount_paid_k{k}"], agg[f"inst_amount_due_k{k}"]
            )
            for k in range(1, SEQUENCE + 1)
        }
        out["amount_due_slope_k"] = _slope(agg)
        return out


def _slope(agg: ir.Table) -> ir.FloatingValue:
    """Least-squares slope of the amount due over the last K installments, per
    installment (oldest to most recent; null below 2)."""
    n = agg._sn.cast("float64")
    num = n * agg._sxy - agg._sx.cast("float64") * agg._sy
    den = n * agg._sxx.cast("float64") - agg._sx.cast("float64") * agg._sx.cast("float64")
    return ibis.ifelse(agg._sn >= 2, num / den, ibis.null("float64"))


FAMILY = Sequence()
