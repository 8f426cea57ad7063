"""What a feature family declares: its features' metadata beside their computation.

A family (purchases, repayment behaviour, the installment sequence, loans, ...) is one
module of :mod:`creditrisk.features.families` exporting one object. It says which contract
tables (and optional columns) it needs, and for each feature a :class:`FeatureInfo`: the
description, unit, window, risk direction, the reason group a customer reads, whether a
customer can act on it (recourse) and what a null becomes. Its computation is one of three
kinds, so the builder can run many families in few queries:

- :class:`TableFamily`: a table keyed by (customer_id, as_of), joined to the snapshots;
- :class:`InstallmentFamily`: per-installment values and aggregates added to the one
  group-by over each snapshot's installments that all such families share;
- :class:`RowFamily`: values of the snapshot's row (its customer's columns and the
  features of the families before it).

The feature dictionary, the settings check, the scorer's reason groups and recourse read
these declarations; nothing infers them from feature names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import ibis.expr.types as ir

from creditrisk.features.history import History
from creditrisk.features.reasons import REASON_GROUPS
from creditrisk.features.settings import FeatureSettings

Direction = Literal[1, -1, 0]  # +1 more of it means more risk, -1 less risk, 0 not assumed


class FeatureDeclarationError(ValueError):
    """A feature's declaration contradicts itself (e.g. a reason group without a risk
    direction, or a group that does not exist)."""


@dataclass(frozen=True)
class FeatureInfo:
    """One feature of the dictionary, as its family declares it.

    Attributes:
        name: column name (window and unit in it, e.g. ``dpd_max_90d``).
        description: what the value is, for modellers and auditors.
        source: the contract table it is computed from.
        window_days: look-back window; None for point-in-time or lifetime.
        unit: unit of the value.
        direction: expected effect on risk (+1/-1/0), the monotone constraint.
        reason: plain words for the feature when it raises risk.
        missing: what a null (or zero) means.
        reason_group: the key of :data:`REASON_GROUPS` it is reported under; None for a
            directional feature makes it a group of its own (its ``reason`` is the text).
        actionable: a customer can move it toward lower risk (arrears, unpaid amounts,
            balances, short-window lateness); never tenure, income or purchases.
        fill: the value a null takes in the feature table (0 where no event in the
            window means none of it); None keeps the null (the model treats it as missing).
    """

    name: str
    description: str
    source: str
    window_days: int | None
    unit: str
    direction: Direction
    reason: str
    missing: str
    reason_group: str | None = None
    actionable: bool = False
    fill: float | None = None

    def __post_init__(self) -> None:
        if self.direction == 0 and (self.reason_group is not None or self.actionable):
            raise FeatureDeclarationError(
                f"feature {self.name}: a reason group or recourse needs a risk direction"
            )
        if self.reason_group is not None and self.reason_group not in REASON_GROUPS:
            raise FeatureDeclarationError(
                f"feature {self.name}: unknown reason group {self.reason_group!r} "
                f"(groups: {sorted(REASON_GROUPS)})"
            )

    @property
    def group(self) -> str | None:
        """The reason group (``feature:<name>`` for a directional feature of no declared
        group; None without a risk direction: never a reason)."""
        if self.direction == 0:
            return None
        return self.reason_group or f"feature:{self.name}"

    def as_dict(self, *, available: bool) -> dict[str, object]:
        """The entry of ``dictionary.json``."""
        group = self.group
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "window_days": self.window_days,
            "unit": self.unit,
            "direction": self.direction,
            "reason": self.reason,
            "missing": self.missing,
            "available": available,
            "reason_group": group,
            "reason_statement": REASON_GROUPS.get(group or "", self.reason) if group else None,
            "actionable": self.actionable,
        }


@dataclass(frozen=True)
class FamilyInputs:
    """What a family's declarations depend on: the settings and the columns of each
    contract table present (absent tables are not keys)."""

    settings: FeatureSettings
    columns: Mapping[str, frozenset[str]]


class FeatureFamily:
    """The declaration every family makes (see the module docstring for the kinds).

    Attributes:
        name: the family's name (reports and logs).
        tables: contract tables it needs; without one of them its features are listed
            as unavailable, never faked.
        customer_columns: optional ``customers`` columns it needs (same rule).
        table_columns: optional columns of other tables it needs, as (table, column)
            pairs (same rule; e.g. the statement balance of statement-shaped exports).
        optional_columns: (table, column) pairs it uses when present (its features then
            include more, e.g. purchase categories), without needing them.
    """

    name: str = ""
    tables: tuple[str, ...] = ()
    customer_columns: tuple[str, ...] = ()
    table_columns: tuple[tuple[str, str], ...] = ()
    optional_columns: tuple[tuple[str, str], ...] = ()

    def features(self, inputs: FamilyInputs) -> list[FeatureInfo]:
        """The family's features for these settings and tables, in column order."""
        raise NotImplementedError

    def available(self, inputs: FamilyInputs) -> bool:
        """Whether the tables and columns it needs are present."""
        present = all(t in inputs.columns for t in self.tables)
        customers = inputs.columns.get("customers", frozenset())
        columns = all(c in inputs.columns.get(t, frozenset()) for t, c in self.table_columns)
        return present and columns and all(c in customers for c in self.customer_columns)


@dataclass(frozen=True)
class Snapshots:
    """What a family computes from: the snapshots (customer_id, as_of, as_of_s), the
    validated tables by name and the as_of-independent repayment history (None without
    repayments)."""

    keys: ir.Table
    tables: Mapping[str, ir.Table]
    history: History | None
    settings: FeatureSettings


class TableFamily(FeatureFamily):
    """A family computed as a table keyed by (customer_id, as_of)."""

    def compute(self, snapshots: Snapshots) -> ir.Table:
        """One row per snapshot with data (others get the features' ``fill`` or null):
        customer_id, as_of and one column per feature."""
        raise NotImplementedError


class InstallmentFamily(FeatureFamily):
    """A family computed from each snapshot's installments (the installment status of
    :func:`creditrisk.features.repayments.installment_status`), in the group-by all such
    families share. Helper names start with ``_`` or are family-specific; two families
    may declare the same helper only with the same expression."""

    tables = ("loans", "repayments")

    def snapshots(self, keys: ir.Table, snapshots: Snapshots) -> ir.Table:
        """The snapshot keys with extra columns the family needs before the join."""
        return keys

    def prepare(self, status: ir.Table, settings: FeatureSettings) -> ir.Table:
        """The installment status with columns computed before the per-row values."""
        return status

    def rows(self, status: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
        """Per-installment values the aggregates read."""
        return {}

    def aggregates(self, status: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
        """Aggregates per snapshot (names starting with ``_`` are helpers)."""
        raise NotImplementedError

    def derived(self, agg: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
        """Features computed from the aggregates (ratios, days since); the others are the
        aggregate of the same name."""
        return {}

    def columns(self, agg: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
        """Each feature's column, in declaration order."""
        derived = self.derived(agg, settings)
        return {
            f.name: derived[f.name] if f.name in derived else agg[f.name]
            for f in self.features_of(settings)
        }

    def features_of(self, settings: FeatureSettings) -> list[FeatureInfo]:
        """The features, which for these families depend on the settings only."""
        return self.features(FamilyInputs(settings, {}))


class RowFamily(FeatureFamily):
    """A family computed from the snapshot's row: ``row`` has as_of_s, created_s (the
    customer's creation, epoch seconds) and the ``customer_columns`` and static columns;
    ``features`` are the columns of the families before it."""

    def columns(
        self,
        row: ir.Table,
        features: Mapping[str, ir.Value],
        settings: FeatureSettings,
    ) -> dict[str, ir.Value]:
        raise NotImplementedError
