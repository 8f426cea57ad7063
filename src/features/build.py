"""The feature table: snapshots, labels and every feature family, as one Ibis expression."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import ibis
import ibis.expr.types as ir

from creditrisk.features import dictionary as d
from creditrisk.features.common import DAY, days_between, ratio, seconds
from creditrisk.features.labels import (
    first_default_events,
    label_snapshots,
    snapshots_from_dates,
    snapshots_from_outcomes,
)
from creditrisk.features.purchases import purchase_features
from creditrisk.features.repayments import (
    DAYS_PER_MONTH,
    installments,
    loan_features,
    repayment_features,
    settling_payments,
)

ID_COLUMNS = ("customer_id", "as_of")
ORDER = ("as_of", "customer_id")  # the feature table's row order
LABEL_COLUMNS = ("default", "label_complete")


class FeatureConfigError(ValueError):
    """The feature settings contradict each other or the available tables."""


@dataclass(frozen=True)
class History:
    """The parts of the repayment history that do not depend on as_of: a caller planning
    several batches of snapshots computes (and stores) them once.

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


@dataclass(frozen=True)
class FeaturePlan:
    """What will be computed: the expression and the dictionary entries, available or not.

    ``rows`` is the feature table in no particular order; :attr:`table` sorts it by
    (as_of, customer_id), the order every output of it is written in.
    """

    rows: ir.Table
    available: list[d.FeatureInfo]
    unavailable: list[d.FeatureInfo]

    @property
    def table(self) -> ir.Table:
        return self.rows.order_by(list(ORDER))

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.available]

    def dictionary(self) -> dict[str, dict[str, object]]:
        return {
            **{f.name: f.as_dict(available=True) for f in self.available},
            **{f.name: f.as_dict(available=False) for f in self.unavailable},
        }


def build_features(
    tables: Mapping[str, ir.Table],
    *,
    as_of_dates: ir.Table | None,
    windows: Sequence[int],
    static: Sequence[str],
    protected: Sequence[str],
    dpd_threshold_days: int,
    end_date: date,
    history: History | None = None,
    static_reasons: Mapping[str, tuple[int, str]] | None = None,
) -> FeaturePlan:
    """Plan the feature table for all snapshots.

    ``history`` is :func:`repayment_history` of the tables, when the caller has already
    computed (and stored) it; it does not depend on as_of, so a caller planning several
    batches of snapshots computes it once.

    Args:
        tables: validated contract tables by name; only ``customers`` is required.
        as_of_dates: table of (as_of, window_end) timestamps; ignored when ``outcomes``
            exists, whose snapshots and labels are used instead.
        windows: look-back windows in days, e.g. (30, 90, 180, 365).
        static: customer columns used as features as they are.
        protected: customer columns that must never become features.
        dpd_threshold_days: days past due that make a default event.
        end_date: the data's end; labels whose window passes it are incomplete (null).
        static_reasons: static column -> (risk direction, reason text), for the columns
            the user declares (the others get no direction and are never reasons).

    Every feature for (customer, as_of) uses only events strictly before as_of.

    Raises:
        FeatureConfigError: a protected attribute is listed as a feature, a static column is
            missing, or no snapshot source exists.
    """
    windows = tuple(sorted(set(windows)))
    _check_config(tables, windows, static, protected, as_of_dates)
    customers = tables["customers"]
    if history is None:
        history = repayment_history(
            tables, dpd_threshold_days=dpd_threshold_days, end_date=end_date
        )
    if "outcomes" in tables:
        snaps = snapshots_from_outcomes(tables["outcomes"])
    else:
        assert as_of_dates is not None
        snaps = snapshots_from_dates(customers, as_of_dates)
        if history is not None:
            snaps = label_snapshots(snaps, history.default_events, end_date=end_date)
    keys = snaps.select("customer_id", "as_of", "as_of_s")

    available = d.customer_features(tuple(static), static_reasons or {})
    unavailable: list[d.FeatureInfo] = []
    parts: list[tuple[ir.Table, list[d.FeatureInfo]]] = []
    has_tx = "transactions" in tables
    tx_info = d.purchase_features(
        windows, with_category=has_tx and "category" in tables["transactions"].columns
    )
    if has_tx:
        parts.append((purchase_features(keys, tables["transactions"], windows=windows), tx_info))
    else:
        unavailable += tx_info
    rep_info = d.repayment_features(windows)
    if history is not None:
        loan_names = {f"n_loans_opened_{w}d" for w in windows} | {
            "months_since_first_loan",
            "n_active_loans",
        }
        inst = history.installments
        rep_part = repayment_features(keys, inst, history.settling, windows=windows)
        loan_part = loan_features(keys, tables["loans"], inst, windows=windows)
        parts.append((rep_part, [f for f in rep_info if f.name not in loan_names]))
        parts.append((loan_part, [f for f in rep_info if f.name in loan_names]))
    else:
        unavailable += rep_info
    line_info = d.credit_line_features(max(windows))
    with_line = "repayments" in tables and d.CREDIT_LINE in customers.columns
    if not with_line:
        unavailable += line_info
    return FeaturePlan(
        rows=_assemble(snaps, customers, parts, static, credit_line=with_line),
        available=available
        + [f for _, infos in parts for f in infos]
        + (line_info if with_line else []),
        unavailable=unavailable,
    )


def _check_config(
    tables: Mapping[str, ir.Table],
    windows: tuple[int, ...],
    static: Sequence[str],
    protected: Sequence[str],
    as_of_dates: ir.Table | None,
) -> None:
    if not windows or min(windows) <= 0:
        raise FeatureConfigError(f"windows must be positive day counts, got {windows}")
    leaked = sorted(set(static) & set(protected))
    if leaked:
        raise FeatureConfigError(
            f"protected attribute(s) {leaked} listed as static features; protected attributes "
            "are never model features (remove them from features.static)"
        )
    missing = [c for c in static if c not in tables["customers"].columns]
    if missing:
        raise FeatureConfigError(f"static feature(s) {missing} not in table 'customers'")
    if "outcomes" not in tables and as_of_dates is None:
        raise FeatureConfigError("no snapshots: give as_of dates or an outcomes table")


def _assemble(
    snaps: ir.Table,
    customers: ir.Table,
    parts: list[tuple[ir.Table, list[d.FeatureInfo]]],
    static: Sequence[str],
    *,
    credit_line: bool = False,
) -> ir.Table:
    line = {"_credit_line": customers[d.CREDIT_LINE].cast("float64")} if credit_line else {}
    cust = customers.select(
        c_customer_id=customers.customer_id,
        created_s=seconds(customers.created_at),
        **{c: customers[c] for c in static},
        **line,
    )
    out = snaps.join(cust, snaps.customer_id == cust.c_customer_id)
    columns: dict[str, ir.Value] = {
        "customer_id": out.customer_id,
        "as_of": out.as_of,
        "months_on_book": (days_between(out.as_of_s, out.created_s) / DAYS_PER_MONTH)
        .floor()
        .cast("int64"),
        **{c: out[c] for c in static},
    }
    for i, (part, infos) in enumerate(parts):
        p = part.rename(**{f"p{i}_customer_id": "customer_id", f"p{i}_as_of": "as_of"})
        out = out.left_join(
            p, [out.customer_id == p[f"p{i}_customer_id"], out.as_of == p[f"p{i}_as_of"]]
        )
        for info in infos:
            value = out[info.name]
            columns[info.name] = value.fill_null(0) if info.missing.startswith("0") else value
    if credit_line:
        columns["outstanding_to_credit_line"] = ratio(
            columns["outstanding_amount"], out._credit_line
        )
        columns["due_to_credit_line_k1"] = ratio(columns["inst_amount_due_k1"], out._credit_line)
    columns["default"] = out.default if "default" in snaps.columns else ibis.null("int64")
    columns["label_complete"] = (
        out.label_complete if "label_complete" in snaps.columns else ibis.literal(False)
    )
    return out.select(**columns)


__all__ = [
    "DAY",
    "ID_COLUMNS",
    "LABEL_COLUMNS",
    "ORDER",
    "FeaturePlan",
    "History",
    "build_features",
    "repayment_history",
]
