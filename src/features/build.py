"""The feature table: snapshots, labels and every registered feature family, as one Ibis
expression."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from creditrisk.contract import LABEL_COLUMNS
from creditrisk.features import dictionary as d
from creditrisk.features.arithmetic import seconds
from creditrisk.features.families import REGISTRY
from creditrisk.features.family import (
    FamilyInputs,
    FeatureFamily,
    FeatureInfo,
    InstallmentFamily,
    RowFamily,
    Snapshots,
    TableFamily,
)
from creditrisk.features.history import History, repayment_history
from creditrisk.features.labels import (
    label_snapshots,
    snapshots_from_dates,
    snapshots_from_outcomes,
)
from creditrisk.features.repayments import installment_status
from creditrisk.features.settings import FeatureSettings

ORDER = ("as_of", "customer_id")  # the feature table's row order


class FeatureConfigError(ValueError):
    """The feature settings contradict each other or the available tables."""


@dataclass(frozen=True)
class FeaturePlan:
    """What will be computed: the expression and the dictionary entries, available or not.

    ``rows`` is the feature table in no particular order; :attr:`table` sorts it by
    (as_of, customer_id), the order every output of it is written in.
    """

    rows: ir.Table
    available: list[FeatureInfo]
    unavailable: list[FeatureInfo]

    @property
    def table(self) -> ir.Table:
        return self.rows.order_by(list(ORDER))

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.available]

    def dictionary(self) -> dict[str, dict[str, object]]:
        return d.dictionary(self.available, self.unavailable)


def build_features(
    tables: Mapping[str, ir.Table],
    *,
    as_of_dates: ir.Table | None,
    settings: FeatureSettings,
    history: History | None = None,
    families: Sequence[FeatureFamily] = REGISTRY,
) -> FeaturePlan:
    """Plan the feature table for all snapshots: every family whose tables are present.

    ``history`` is :func:`~creditrisk.features.history.repayment_history` of the tables,
    when the caller has already computed (and stored) it; it does not depend on as_of, so
    a caller planning several batches of snapshots computes it once.

    Args:
        tables: validated contract tables by name; only ``customers`` is required.
        as_of_dates: table of (as_of, window_end) timestamps; ignored when ``outcomes``
            exists, whose snapshots and labels are used instead.
        settings: windows, static and protected columns, the default definition.
        families: the feature families (default: the registry).

    Every feature for (customer, as_of) uses only events strictly before as_of.

    Raises:
        FeatureConfigError: a protected attribute is listed as a feature, a static column is
            missing, or no snapshot source exists.
    """
    _check_config(tables, settings, as_of_dates)
    if history is None:
        history = repayment_history(
            tables, dpd_threshold_days=settings.dpd_threshold_days, end_date=settings.end_date
        )
    if "outcomes" in tables:
        snaps = snapshots_from_outcomes(tables["outcomes"])
    else:
        assert as_of_dates is not None
        snaps = snapshots_from_dates(tables["customers"], as_of_dates)
        if history is not None:
            snaps = label_snapshots(snaps, history.default_events, end_date=settings.end_date)
    inputs = FamilyInputs(settings, {t: frozenset(tables[t].columns) for t in tables})
    available, unavailable = d.declared(inputs, families)
    context = Snapshots(
        keys=snaps.select("customer_id", "as_of", "as_of_s"),
        tables=tables,
        history=history,
        settings=settings,
    )
    return FeaturePlan(
        rows=_assemble(snaps, context, available),
        available=[f for _, infos in available for f in infos],
        unavailable=unavailable,
    )


def _check_config(
    tables: Mapping[str, ir.Table], settings: FeatureSettings, as_of_dates: ir.Table | None
) -> None:
    windows = settings.windows
    if not windows or min(windows) <= 0:
        raise FeatureConfigError(f"windows must be positive day counts, got {windows}")
    leaked = sorted(set(settings.static) & set(settings.protected))
    if leaked:
        raise FeatureConfigError(
            f"protected attribute(s) {leaked} listed as static features; protected attributes "
            "are never model features (remove them from features.static)"
        )
    missing = [c for c in settings.static if c not in tables["customers"].columns]
    if missing:
        raise FeatureConfigError(f"static feature(s) {missing} not in table 'customers'")
    if "outcomes" not in tables and as_of_dates is None:
        raise FeatureConfigError("no snapshots: give as_of dates or an outcomes table")


def _merge(parts: Sequence[Mapping[str, ir.Value]], what: str) -> dict[str, ir.Value]:
    """One dict of the families' columns; a name two families declare must be the same
    expression (a shared helper), else the families contradict each other."""
    out: dict[str, ir.Value] = {}
    for part in parts:
        for name, expr in part.items():
            if name in out and not out[name].equals(expr):
                raise FeatureConfigError(f"two feature families define {what} {name!r} apart")
            out.setdefault(name, expr)
    return out


def _installment_part(context: Snapshots, families: Sequence[InstallmentFamily]) -> ir.Table:
    """The one group-by over each snapshot's installments that every installment family
    contributes to: keyed by customer_id and as_of, one column per feature."""
    assert context.history is not None  # guaranteed by the families' tables
    s = context.settings
    keys = context.keys
    for family in families:
        keys = family.snapshots(keys, context)
    st = installment_status(
        keys, context.history.installments, context.history.settling, lookback_days=s.longest
    )
    for family in families:
        st = family.prepare(st, s)
    # Per-row values first, plain aggregates after: engines evaluate a FILTER clause per
    # aggregate, and there are dozens of them.
    st = st.mutate(**_merge([f.rows(st, s) for f in families], "the per-installment value"))
    metrics = _merge([f.aggregates(st, s) for f in families], "the aggregate")
    agg = st.group_by(["customer_id", "as_of", "as_of_s"]).aggregate(**metrics)
    columns = _merge([f.columns(agg, s) for f in families], "the feature")
    return agg.select("customer_id", "as_of", **columns)


def _assemble(
    snaps: ir.Table,
    context: Snapshots,
    families: Sequence[tuple[FeatureFamily, list[FeatureInfo]]],
) -> ir.Table:
    """Snapshots joined with their customer and every family's part; the columns in the
    families' order, nulls filled as declared, the labels last."""
    customers = context.tables["customers"]
    needed = dict.fromkeys(context.settings.static)
    for family, _ in families:
        needed.update(dict.fromkeys(family.customer_columns))
    cust = customers.select(
        c_customer_id=customers.customer_id,
        created_s=seconds(customers.created_at),
        **{c: customers[c] for c in needed},
    )
    out = snaps.join(cust, snaps.customer_id == cust.c_customer_id)
    parts: list[ir.Table] = []
    grain = [f for f, _ in families if isinstance(f, InstallmentFamily)]
    for family, _ in families:
        if isinstance(family, TableFamily):
            parts.append(family.compute(context))
        elif grain and family is grain[0]:
            parts.append(_installment_part(context, grain))
    for i, part in enumerate(parts):
        p = part.rename(**{f"p{i}_customer_id": "customer_id", f"p{i}_as_of": "as_of"})
        out = out.left_join(
            p, [out.customer_id == p[f"p{i}_customer_id"], out.as_of == p[f"p{i}_as_of"]]
        )
    columns: dict[str, ir.Value] = {"customer_id": out.customer_id, "as_of": out.as_of}
    for family, infos in families:
        if isinstance(family, RowFamily):
            values = family.columns(out, columns, context.settings)
        else:
            values = {f.name: out[f.name] for f in infos}
        for info in infos:
            value = values[info.name]
            columns[info.name] = value if info.fill is None else value.fill_null(info.fill)
    columns["default"] = out.default if "default" in snaps.columns else ibis.null("int64")
    columns["label_complete"] = (
        out.label_complete if "label_complete" in snaps.columns else ibis.literal(False)
    )
    return out.select(**columns)


__all__ = [
    "LABEL_COLUMNS",
    "ORDER",
    "FeatureConfigError",
    "FeaturePlan",
    "FeatureSettings",
    "History",
    "build_features",
    "repayment_history",
]
