"""The customer: tenure (months on book) and the static customer columns the settings name
(``features.static``), with the risk direction and reason the user declares for them."""

from __future__ import annotations

from collections.abc import Mapping

import ibis.expr.types as ir

from creditrisk.features.arithmetic import DAYS_PER_MONTH, days_between
from creditrisk.features.family import FamilyInputs, FeatureInfo, RowFamily
from creditrisk.features.settings import FeatureSettings


class Customer(RowFamily):
    name = "customer"
    tables = ("customers",)

    def features(self, inputs: FamilyInputs) -> list[FeatureInfo]:
        out = [
            FeatureInfo(
                "months_on_book",
                "Whole months from the customer's creation to as_of.",
                "customers",
                None,
                "months",
                -1,
                "Short relationship with us",
                "never null: every sampled customer was created before as_of",
                reason_group="credit_history",
            )
        ]
        for column in inputs.settings.static:
            declared = inputs.settings.static_reasons.get(column)
            out.append(
                FeatureInfo(
                    column,
                    f"Customer attribute '{column}' as recorded in the customer table.",
                    "customers",
                    None,
                    "as recorded",
                    declared.direction if declared else 0,
                    declared.reason if declared else f"Value of {column}",
                    "null: not recorded",
                    reason_group=declared.group if declared else None,
                )
            )
        return out

    def columns(
        self, row: ir.Table, features: Mapping[str, ir.Value], settings: FeatureSettings
    ) -> dict[str, ir.Value]:
        months = (days_between(row.as_of_s, row.created_s) / DAYS_PER_MONTH).floor()
        return {
            "months_on_book": months.cast("int64"),
            **{c: row[c] for c in settings.static},
        }


FAMILY = Customer()
