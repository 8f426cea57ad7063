"""Statements of revolving accounts (card and credit-line exports): the balance of each of
the latest statements, what was paid of it, its use of the credit line, and their trend.

Statement-shaped exports give each installment the statement it settles, in the optional
repayments columns ``statement_date`` and ``statement_balance`` (the amount due is then
the payment the lender required, e.g. the minimum). A statement counts at as_of when it
was dated before as_of, in the longest window; a payment counts when it was made before
as_of. With several accounts, the statements of all of them are in one sequence by date.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from creditrisk.features.arithmetic import DAY, exact_sum, ratio, seconds
from creditrisk.features.families.credit_line import CREDIT_LINE
from creditrisk.features.families.sequence import SEQUENCE, ordinal
from creditrisk.features.family import FamilyInputs, FeatureInfo, Snapshots, TableFamily

STATEMENT_DATE = "statement_date"
STATEMENT_BALANCE = "statement_balance"


def _position(k: int, longest: int, line: bool) -> list[FeatureInfo]:
    nth = ordinal(k)
    which = f"the {nth} most recent statement dated in the {longest} days before as_of"
    null = f"null: fewer than {k} statements dated in the {longest} days before as_of"
    out = [
        FeatureInfo(
            f"stmt_balance_k{k}",
            f"Balance of {which} (negative: a credit balance).",
            "repayments",
            longest,
            "currency",
            0,
            "Balance of a recent statement",
            null,
        ),
        FeatureInfo(
            f"stmt_paid_ratio_k{k}",
            f"Amount paid before as_of on the installment of {which}, over its balance.",
            "repayments",
            longest,
            "ratio",
            -1,
            "Little of the latest statement was paid"
            if k == 1
            else "Little of a recent statement was paid",
            f"{null}, or its balance was not positive",
            reason_group="unpaid_installments",
        ),
    ]
    if line:
        out.append(
            FeatureInfo(
                f"stmt_util_k{k}",
                f"Balance of {which} over the customer's credit line (customers.credit_line).",
                "repayments",
                longest,
                "ratio",
                1 if k == 1 else 0,
                "The latest statement used much of the credit line"
                if k == 1
                else "Use of the credit line on a recent statement",
                f"{null}, or no credit line recorded",
                reason_group="debt_level" if k == 1 else None,
            )
        )
    return out


def _summary(longest: int, line: bool) -> list[FeatureInfo]:
    window = f"the statements dated in the {longest} days before as_of"
    null = f"null: no statement dated in the {longest} days before as_of"
    out = [
        FeatureInfo(
            "stmt_count",
            f"Number of {window}.",
            "repayments",
            longest,
            "count",
            0,
            "Number of recent statements",
            f"0: no statement dated in the {longest} days before as_of",
            fill=0,
        ),
        FeatureInfo(
            "stmt_balance_max",
            f"Largest balance of {window}.",
            "repayments",
            longest,
            "currency",
            0,
            "A large recent statement balance",
            null,
        ),
        FeatureInfo(
            "stmt_balance_mean",
            f"Mean balance of {window}.",
            "repayments",
            longest,
            "currency",
            0,
            "Recent statement balances",
            null,
        ),
        FeatureInfo(
            "stmt_balance_change_k1",
            "Balance of the latest statement minus that of the one before it.",
            "repayments",
            longest,
            "currency",
            0,
            "The balance grew on the latest statement",
            "null: fewer than 2 statements in the window",
        ),
        FeatureInfo(
            "stmt_balance_rises",
            f"Number of {window} whose balance is above that of the statement before it.",
            "repayments",
            longest,
            "count",
            0,
            "The statement balance kept growing",
            "0: no statement, or none with a higher balance than the one before",
            fill=0,
        ),
        FeatureInfo(
            "stmt_paid_ratio_mean",
            f"Amount paid before as_of on {window} over their positive balances, in total.",
            "repayments",
            longest,
            "ratio",
            -1,
            "Little of the recent statements was paid",
            f"{null}, or no positive balance",
            reason_group="unpaid_installments",
        ),
    ]
    if line:
        out += [
            FeatureInfo(
                "stmt_util_max",
                f"Largest balance of {window} over the customer's credit line.",
                "repayments",
                longest,
                "ratio",
                0,
                "High use of the credit line on a recent statement",
                f"{null}, or no credit line recorded",
            ),
            FeatureInfo(
                "stmt_util_mean",
                f"Mean balance of {window} over the customer's credit line.",
                "repayments",
                longest,
                "ratio",
                1,
                "High use of the credit line over recent statements",
                f"{null}, or no credit line recorded",
                reason_group="debt_level",
            ),
        ]
    return out


class Statements(TableFamily):
    name = "statements"
    tables = ("customers", "loans", "repayments")
    table_columns = (("repayments", STATEMENT_DATE), ("repayments", STATEMENT_BALANCE))
    optional_columns = (("customers", CREDIT_LINE),)

    def features(self, inputs: FamilyInputs) -> list[FeatureInfo]:
        longest = inputs.settings.longest
        line = CREDIT_LINE in inputs.columns.get("customers", frozenset())
        positions = [f for k in range(1, SEQUENCE + 1) for f in _position(k, longest, line)]
        return positions + _summary(longest, line)

    def compute(self, snapshots: Snapshots) -> ir.Table:
        return statement_features(
            snapshots.keys,
            snapshots.tables["loans"],
            snapshots.tables["repayments"],
            snapshots.tables["customers"],
            longest=snapshots.settings.longest,
        )


def statement_features(
    snapshots: ir.Table,
    loans: ir.Table,
    repayments: ir.Table,
    customers: ir.Table,
    *,
    longest: int,
) -> ir.Table:
    """One row per snapshot with a statement in the window (see :class:`Statements`)."""
    rep = repayments.filter(repayments[STATEMENT_DATE].notnull())
    rep = rep.join(loans.select("loan_id", "customer_id"), "loan_id")
    rows = rep.select(
        r_customer_id=rep.customer_id,
        loan_id=rep.loan_id,
        installment_no=rep.installment_no,
        stmt_s=seconds(rep[STATEMENT_DATE]),
        balance=rep[STATEMENT_BALANCE].cast("float64"),
        paid_s=seconds(rep.paid_date),
        amount_paid=rep.amount_paid.cast("float64").fill_null(0.0),
    )
    j = snapshots.join(
        rows,
        [
            snapshots.customer_id == rows.r_customer_id,
            rows.stmt_s < snapshots.as_of_s,
            rows.stmt_s >= snapshots.as_of_s - longest * DAY,
        ],
    )
    known = j.paid_s.notnull() & (j.paid_s < j.as_of_s)
    stmt = j.group_by(["customer_id", "as_of", "loan_id", "installment_no"]).aggregate(
        stmt_s=j.stmt_s.min(),
        balance=j.balance.max(),
        paid=exact_sum(j.amount_paid, where=known).fill_null(0.0),
    )
    order = ibis.window(
        group_by=[stmt.customer_id, stmt.as_of],
        order_by=[ibis.desc(stmt.stmt_s), ibis.desc(stmt.loan_id), ibis.desc(stmt.installment_no)],
    )
    stmt = stmt.mutate(k=ibis.row_number().over(order) + 1)
    # The balance of the statement before each one (the next in the descending order).
    stmt = stmt.mutate(before=stmt.balance.lead().over(order))
    positive = stmt.balance > 0
    metrics: dict[str, ir.Value] = {
        "stmt_count": stmt.count(),
        "stmt_balance_max": stmt.balance.max(),
        "stmt_balance_mean": exact_sum(stmt.balance) / stmt.balance.count().cast("float64"),
        "stmt_balance_rises": (stmt.balance > stmt.before).cast("int64").sum(),
        "_paid_positive": exact_sum(stmt.paid, where=positive),
        "_balance_positive": exact_sum(stmt.balance, where=positive),
    }
    for k in range(1, SEQUENCE + 1):
        at = stmt.k == k
        metrics[f"stmt_balance_k{k}"] = stmt.balance.max(where=at)
        metrics[f"_paid_k{k}"] = stmt.paid.max(where=at)
    agg = stmt.group_by(["customer_id", "as_of"]).aggregate(**metrics)
    cust = customers.select(l_customer_id=customers.customer_id, **_line(customers))
    agg = agg.left_join(cust, agg.customer_id == cust.l_customer_id)
    columns: dict[str, ir.Value] = {}
    line = agg.line if "line" in agg.columns else None
    for k in range(1, SEQUENCE + 1):
        balance = agg[f"stmt_balance_k{k}"]
        columns[f"stmt_balance_k{k}"] = balance
        columns[f"stmt_paid_ratio_k{k}"] = ratio(agg[f"_paid_k{k}"], balance)
        if line is not None:
            columns[f"stmt_util_k{k}"] = ratio(balance, line)
    columns |= {
        "stmt_count": agg.stmt_count,
        "stmt_balance_max": agg.stmt_balance_max,
        "stmt_balance_mean": agg.stmt_balance_mean,
        "stmt_balance_change_k1": agg.stmt_balance_k1 - agg.stmt_balance_k2,
        "stmt_balance_rises": agg.stmt_balance_rises,
        "stmt_paid_ratio_mean": ratio(agg._paid_positive, agg._balance_positive),
    }
    if line is not None:
        columns["stmt_util_max"] = ratio(agg.stmt_balance_max, line)
        columns["stmt_util_mean"] = ratio(agg.stmt_balance_mean, line)
    return agg.select("customer_id", "as_of", **columns)


def _line(customers: ir.Table) -> dict[str, ir.Value]:
    if CREDIT_LINE not in customers.columns:
        return {}
    return {"line": customers[CREDIT_LINE].cast("float64")}


FAMILY = Statements()
