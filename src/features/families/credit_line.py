"""Credit line: utilisation of the customer's credit line (the optional customers column
``credit_line``; a user maps theirs with ``data.columns``), from the balance and the latest
statement that the repayment families compute."""

from __future__ import annotations

from collections.abc import Mapping

import ibis.expr.types as ir

from creditrisk.features.arithmetic import ratio
from creditrisk.features.family import FamilyInputs, FeatureInfo, RowFamily
from creditrisk.features.settings import FeatureSettings

CREDIT_LINE = "credit_line"


class CreditLine(RowFamily):
    name = "credit line"
    tables = ("customers", "loans", "repayments")
    customer_columns = (CREDIT_LINE,)

    def features(self, inputs: FamilyInputs) -> list[FeatureInfo]:
        longest = inputs.settings.longest
        return [
            FeatureInfo(
                "outstanding_to_credit_line",
                "Amount unpaid at as_of over the customer's credit line (customers.credit_line).",
                "repayments",
                None,
                "ratio",
                1,
                "High use of the credit line",
                "null: no credit line recorded (or 0); 0: nothing unpaid",
                reason_group="debt_level",
                actionable=True,
            ),
            FeatureInfo(
                "due_to_credit_line_k1",
                f"Amount due of the most recent installment due in the {longest} days before "
                "as_of over the customer's credit line.",
                "repayments",
                longest,
                "ratio",
                0,
                "The latest statement was large against the credit line",
                f"null: no installment due in the {longest} days before as_of, or no credit line",
            ),
        ]

    def columns(
        self, row: ir.Table, features: Mapping[str, ir.Value], settings: FeatureSettings
    ) -> dict[str, ir.Value]:
        line = row[CREDIT_LINE].cast("float64")
        return {
            "outstanding_to_credit_line": ratio(features["outstanding_amount"], line),
            "due_to_credit_line_k1": ratio(features["inst_amount_due_k1"], line),
        }


FAMILY = CreditLine()
