"""Feature families declare themselves: a new family is one object plus one registry entry,
and everything downstream (feature table, dictionary, nulls, reasons, recourse, the
settings check) reads its declaration. The tiny dataset of conftest, as_of 2023-06-10."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import ibis
import ibis.expr.types as ir
import pandas as pd
import pytest

from creditrisk.features.arithmetic import in_window, seconds
from creditrisk.features.build import FeatureConfigError, build_features
from creditrisk.features.dictionary import every_column, feature_sources
from creditrisk.features.families import REGISTRY
from creditrisk.features.family import (
    FamilyInputs,
    FeatureDeclarationError,
    FeatureInfo,
    InstallmentFamily,
    RowFamily,
    Snapshots,
    TableFamily,
)
from creditrisk.features.labels import as_of_frame
from creditrisk.features.reasons import REASON_GROUPS
from creditrisk.features.settings import FeatureSettings
from tests.features_helpers import INCOME, WINDOWS

AS_OF = "2023-06-10"


class BigPurchases(TableFamily):
    """A toy family: purchases of 200 or more in each window (0 when none)."""

    name = "big purchases"
    tables = ("transactions",)

    def features(self, inputs: FamilyInputs) -> list[FeatureInfo]:
        return [
            FeatureInfo(
                f"n_big_purchases_{w}d",
                f"Purchases of 200 or more in the {w} days before as_of.",
                "transactions",
                w,
                "purchases",
                -1,
                f"Few large purchases in the last {w} days",
                "0: none",
                reason_group="purchase_activity",
                fill=0,
            )
            for w in inputs.settings.windows
        ]

    def compute(self, snapshots: Snapshots) -> ir.Table:
        keys, tx = snapshots.keys, snapshots.tables["transactions"]
        tx = tx.select(t_customer_id=tx.customer_id, ts_s=seconds(tx.ts), amount=tx.amount)
        j = keys.join(tx, [keys.customer_id == tx.t_customer_id, tx.ts_s < keys.as_of_s])
        age = j.as_of_s - j.ts_s
        big = j.amount >= 200
        return j.group_by(["customer_id", "as_of"]).aggregate(
            **{
                f"n_big_purchases_{w}d": (big & in_window(age, w)).cast("int64").sum()
                for w in snapshots.settings.windows
            }
        )


class OverBig(RowFamily):
    """A toy row family reading the columns of a family before it."""

    name = "big share"
    tables = ("transactions",)

    def features(self, inputs: FamilyInputs) -> list[FeatureInfo]:
        return [
            FeatureInfo(
                "big_purchase_share_365d",
                "Share of the last 365 days' purchases that were 200 or more.",
                "transactions",
                365,
                "ratio",
                0,
                "Share of large purchases",
                "null: no purchase in the window",
            )
        ]

    def columns(
        self, row: ir.Table, features: Mapping[str, ir.Value], settings: FeatureSettings
    ) -> dict[str, ir.Value]:
        n = features["txn_count_365d"].cast("float64")
        share = features["n_big_purchases_365d"].cast("float64") / n
        return {"big_purchase_share_365d": ibis.ifelse(n > 0, share, ibis.null("float64"))}


def _features(
    tables: dict[str, pd.DataFrame], families: tuple, as_of: str = AS_OF
) -> tuple[pd.DataFrame, dict[str, dict[str, object]]]:
    plan = build_features(
        {name: ibis.memtable(frame) for name, frame in tables.items()},
        as_of_dates=ibis.memtable(as_of_frame([pd.Timestamp(as_of).date()], horizon_months=12)),
        settings=FeatureSettings(
            windows=WINDOWS,
            static=("income_monthly",),
            end_date=date(2025, 12, 31),
            static_reasons={"income_monthly": INCOME},
        ),
        families=families,
    )
    out = ibis.duckdb.connect().to_pandas(plan.table)
    return out.set_index("customer_id"), plan.dictionary()


def test_a_new_family_is_one_object_and_one_registry_line(
    tiny_tables: dict[str, pd.DataFrame],
) -> None:
    base, _ = _features(tiny_tables, REGISTRY)
    out, entries = _features(tiny_tables, (*REGISTRY, BigPurchases(), OverBig()))
    # C1 bought 120 (Feb 1) and 300 (Apr 2); C2 45.50 (May 6); as_of June 10.
    assert out.loc["C1", "n_big_purchases_90d"] == 1 and out.loc["C1", "n_big_purchases_30d"] == 0
    assert out.loc["C2", "n_big_purchases_365d"] == 0  # a row with no big purchase: filled 0
    assert out.loc["C1", "big_purchase_share_365d"] == 0.5
    assert out.loc["C2", "big_purchase_share_365d"] == 0.0
    # the new columns come after every registered one, which are unchanged
    assert list(out.columns[: len(base.columns) - 2]) == list(base.columns[:-2])
    pd.testing.assert_frame_equal(out[base.columns], base)
    # the dictionary reads the declaration: group statement, recourse, availability
    entry = entries["n_big_purchases_90d"]
    assert entry["reason_group"] == "purchase_activity" and entry["available"] is True
    assert entry["reason_statement"] == REASON_GROUPS["purchase_activity"]
    assert entries["big_purchase_share_365d"]["reason_group"] is None  # no direction
    # without its table the family is listed as unavailable, never faked
    no_tx = {k: v for k, v in tiny_tables.items() if k != "transactions"}
    out, entries = _features(no_tx, (*REGISTRY, BigPurchases()))
    assert "n_big_purchases_90d" not in out.columns
    assert entries["n_big_purchases_90d"]["available"] is False


def test_declarations_are_checked_where_they_are_made() -> None:
    with pytest.raises(FeatureDeclarationError, match="risk direction"):
        FeatureInfo("x", "d", "transactions", None, "u", 0, "r", "m", reason_group="income")
    with pytest.raises(FeatureDeclarationError, match="unknown reason group"):
        FeatureInfo("x", "d", "transactions", None, "u", 1, "r", "m", reason_group="nope")
    # a directional feature without a group is a group of its own
    own = FeatureInfo("x", "d", "transactions", None, "u", 1, "Reason", "m")
    assert own.as_dict(available=True)["reason_group"] == "feature:x"
    assert own.as_dict(available=True)["reason_statement"] == "Reason"


def test_two_families_may_share_a_helper_only_if_it_is_the_same(
    tiny_tables: dict[str, pd.DataFrame],
) -> None:
    class Clash(InstallmentFamily):
        name = "clash"

        def features(self, inputs: FamilyInputs) -> list[FeatureInfo]:
            return []

        def rows(self, status: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
            return {"open_amount": status.amount_due * 2}  # behaviour's own helper, redefined

        def aggregates(self, status: ir.Table, settings: FeatureSettings) -> dict[str, ir.Value]:
            return {}

    with pytest.raises(FeatureConfigError, match="open_amount"):
        _features(tiny_tables, (*REGISTRY, Clash()))


def test_every_registered_feature_declares_its_metadata() -> None:
    """Declared, not inferred: every directional feature names a known group or is its own;
    recourse only where a direction exists; fills are 0 only for counts and sums."""
    inputs = FamilyInputs(FeatureSettings(windows=WINDOWS), every_column())
    infos = [f for family in REGISTRY for f in family.features(inputs)]
    names = [f.name for f in infos]
    assert len(names) == len(set(names)), "two families declare the same feature"
    assert len(infos) >= 120
    for f in infos:
        assert f.direction in (-1, 0, 1)
        assert f.fill in (None, 0), f.name
        assert (f.fill == 0) == f.missing.startswith("0"), f.name  # the text says the fill
        if f.actionable:
            assert f.direction != 0 and f.reason_group is not None, f.name
    actionable = {f.name for f in infos if f.actionable}
    assert {"dpd_current", "inst_dpd_k1", "n_late_30p_90d"} <= actionable
    assert not actionable & {"months_on_book", "txn_count_30d", "n_late_30p_180d"}
    # the settings check's table of sources comes from the same declarations
    assert feature_sources(WINDOWS)["n_active_loans"] == "loans"
    assert feature_sources(WINDOWS)["due_to_credit_line_k1"] == "repayments"
    assert every_column()["transactions"] == {"category"}  # purchases' optional column
    assert every_column()["customers"] == {"credit_line"}  # the credit line family's


def test_a_family_window_that_is_not_a_setting_is_rejected(
    tiny_tables: dict[str, pd.DataFrame],
) -> None:
    with pytest.raises(FeatureConfigError, match="positive"):
        build_features(
            {k: ibis.memtable(v) for k, v in tiny_tables.items()},
            as_of_dates=ibis.memtable(as_of_frame([date(2023, 6, 10)], horizon_months=12)),
            settings=FeatureSettings(windows=(0, 30)),
        )
