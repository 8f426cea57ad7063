"""The parts of the repayment history that do not depend on as_of: computed (and stored)
once by a caller that plans several batches of snapshots."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

import ibis.expr.types as ir

from creditrisk.features.labels import first_default_events
from creditrisk.features.repayments import installments, settling_payments


@dataclass(frozen=True)
class History:
    """The as_of-independent repayment history.

    Attributes:
        installments: :func:`~creditrisk.features.repayments.installments`.
        settling: :func:`~creditrisk.features.repayments.settling_payments`.
        default_events: :func:`~creditrisk.features.labels.first_default_events`.
    """

    installments: ir.Table
    settling: ir.Table
    default_events: ir.Table


def repayment_history(
    tables: Mapping[str, ir.Table],
    *,
    dpd_threshold_days: int,
    end_date: date,
    store: Callable[[str, ir.Table], ir.Table] | None = None,
) -> History | None:
    """The as_of-independent parts of the repayment history; None without repayments.

    ``store(name, expr)`` (e.g. a temporary table of the engine) is applied to each part as
    it is built, so later parts read the stored ones instead of computing them again.
    """
    if "repayments" not in tables:
        return None

    def kept(name: str, expr: ir.Table) -> ir.Table:
        return store(name, expr) if store is not None else expr

    inst = kept("installments", installments(tables["loans"], tables["repayments"]))
    return History(
        installments=inst,
        settling=kept("settling", settling_payments(inst, tables["repayments"])),
        default_events=kept(
            "default_events",
            first_default_events(
                tables["loans"],
                tables["repayments"],
                dpd_threshold_days=dpd_threshold_days,
                end_date=end_date,
            ),
        ),
    )
