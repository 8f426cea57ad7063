"""The feature dictionary: what each feature means, for modellers, customers and auditors.

Every feature the pipeline computes is declared here once, with its source table, window,
unit, the direction in which it is expected to move risk (used later as a monotone
constraint) and a reason text a customer can read. Features whose source table is absent
stay in the dictionary, marked unavailable, so the model card can say what was left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

Direction = Literal[1, -1, 0]  # +1 more of it means more risk, -1 less risk, 0 not assumed

# Reason groups: one plain-language statement per group. Adverse-action reasons name
# groups, never two features of the same behaviour; a feature without a risk direction
# belongs to no group and is never a reason.
REASON_GROUPS: dict[str, str] = {
    "overdue_now": "A payment is overdue now",
    "late_payments": "Recent payments were late",
    "unpaid_installments": "Recent installments were not paid in full",
    "payment_timing": "Installments are paid on or after their due date, not ahead of it",
    "debt_level": "A high balance is outstanding against the credit granted",
    "new_credit": "Several installment plans are open or were opened recently",
    "credit_history": "The relationship and credit history with us are short",
    "purchase_activity": "Few or slowing purchases recently",
    "income": "The declared income is low for the credit",
}
_GROUP_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"dpd_current$", "overdue_now"),
    (
        r"(dpd_max|dpd_mean|n_late_\d+p)_\d+d$|days_since_last_late_payment$|inst_dpd_k\d$",
        "late_payments",
    ),
    (
        r"(paid_to_due_ratio|shortfall_sum|shortfall_max)_\d+d$|inst_paid_ratio_k\d$",
        "unpaid_installments",
    ),
    (r"days_early_mean_\d+d$", "payment_timing"),
    (r"outstanding_amount$|outstanding_to_\w+$|amount_due_next_\d+d$|due_to_\w+$", "debt_level"),
    (r"n_active_loans$|n_loans_opened_\d+d$", "new_credit"),
    (r"months_on_book$|months_since_first_loan$", "credit_history"),
    (
        r"days_since_last_purchase$|txn_(count|category_count)_\d+d$|txn_\w+_trend_\d+_\d+$",
        "purchase_activity",
    ),
    (r"income_monthly$", "income"),
)
# What a customer can change (recourse): arrears, unpaid amounts, balances, and lateness
# over the short windows that months of on-time payments clear. Never tenure, income,
# purchases, age or protected attributes.
_ACTIONABLE = re.compile(
    r"dpd_current$|outstanding_amount$|outstanding_to_\w+$"
    r"|(shortfall_sum|shortfall_max|paid_to_due_ratio|dpd_max|dpd_mean|n_late_\d+p)_(30|90)d$"
    r"|inst_paid_ratio_k1$|inst_dpd_k1$"
)


def reason_group(name: str, direction: int) -> str | None:
    """The reason group of a feature (None without a risk direction, or when no group's
    pattern matches: then the feature is its own group, ``feature:<name>``)."""
    if direction == 0:
        return None
    for pattern, group in _GROUP_PATTERNS:
        if re.search(pattern, name):
            return group
    return f"feature:{name}"


def is_actionable(name: str, direction: int) -> bool:
    """Whether a customer can move this feature toward lower risk (see ``_ACTIONABLE``)."""
    return direction != 0 and bool(_ACTIONABLE.search(name))


@dataclass(frozen=True)
class FeatureInfo:
    """One feature of the dictionary."""

    name: str
    description: str
    source: str  # contract table it is computed from
    window_days: int | None  # look-back window; None for point-in-time or lifetime
    unit: str
    direction: Direction
    reason: str  # plain words shown as a reason code when the feature raises risk
    missing: str  # what a null (or zero) means

    def as_dict(self, *, available: bool) -> dict[str, object]:
        group = reason_group(self.name, self.direction)
        return {
            **asdict(self),
            "available": available,
            "reason_group": group,
            "reason_statement": REASON_GROUPS.get(group or "", self.reason) if group else None,
            "actionable": is_actionable(self.name, self.direction),
        }


def purchase_features(windows: tuple[int, ...], *, with_category: bool) -> list[FeatureInfo]:
    """Recency, frequency and monetary features of purchases."""
    out = [
        FeatureInfo(
            "days_since_last_purchase",
            "Days from the last purchase before as_of to as_of.",
            "transactions",
            max(windows),
            "days",
            1,
            "No recent purchases",
            f"null: no purchase in the {max(windows)} days before as_of",
        )
    ]
    for w in windows:
        out += [
            FeatureInfo(
                f"txn_count_{w}d",
                f"Number of purchases in the {w} days before as_of.",
                "transactions",
                w,
                "purchases",
                -1,
                f"Few purchases in the last {w} days",
                "0: no purchase in the window",
            ),
            FeatureInfo(
                f"txn_amount_sum_{w}d",
                f"Total purchase amount in the {w} days before as_of.",
                "transactions",
                w,
                "currency",
                0,
                f"Spending level in the last {w} days",
                "0: no purchase in the window",
            ),
            FeatureInfo(
                f"txn_amount_mean_{w}d",
                f"Mean purchase amount in the {w} days before as_of.",
                "transactions",
                w,
                "currency",
                0,
                f"Typical purchase size in the last {w} days",
                "null: no purchase in the window",
            ),
            FeatureInfo(
                f"txn_amount_max_{w}d",
                f"Largest purchase in the {w} days before as_of.",
                "transactions",
                w,
                "currency",
                0,
                f"Largest purchase in the last {w} days",
                "null: no purchase in the window",
            ),
        ]
    short, long = min(windows), max(windows)
    mid = sorted(windows)[1] if len(windows) > 2 else short
    out += [
        FeatureInfo(
            f"txn_count_trend_{short}_{long}",
            f"Purchase rate in the last {short} days over the rate in the last {long} days "
            "(1 = steady, below 1 = slowing down).",
            "transactions",
            long,
            "ratio",
            -1,
            "Purchases have slowed down recently",
            f"null: no purchase in the {long} days before as_of",
        ),
        FeatureInfo(
            f"txn_amount_trend_{mid}_{long}",
            f"Spending rate in the last {mid} days over the rate in the last {long} days.",
            "transactions",
            long,
            "ratio",
            -1,
            "Spending has dropped recently",
            f"null: no purchase in the {long} days before as_of",
        ),
    ]
    if with_category:
        out.append(
            FeatureInfo(
                f"txn_category_count_{long}d",
                f"Number of distinct purchase categories in the {long} days before as_of.",
                "transactions",
                long,
                "categories",
                -1,
                "Purchases in few categories",
                "0: no purchase in the window",
            )
        )
    return out


def repayment_features(windows: tuple[int, ...]) -> list[FeatureInfo]:
    """Delinquency and exposure features of installment loans, as known at as_of."""
    out = [
        FeatureInfo(
            "dpd_current",
            "Days past due of the oldest installment unpaid at as_of.",
            "repayments",
            None,
            "days",
            1,
            "An installment is currently overdue",
            "0: nothing overdue, or no loans",
        ),
        FeatureInfo(
            "days_since_last_late_payment",
            "Days from the due date of the most recent installment paid late (or still "
            "unpaid past due) to as_of.",
            "repayments",
            max(windows),
            "days",
            -1,
            "A payment was late recently",
            f"null: no late installment due in the {max(windows)} days before as_of",
        ),
        FeatureInfo(
            "n_active_loans",
            "Installment loans opened before as_of and not fully repaid at as_of.",
            "loans",
            None,
            "loans",
            1,
            "Several installment plans are running",
            "0: no running loans",
        ),
        FeatureInfo(
            "outstanding_amount",
            "Installment amounts not yet paid at as_of, over all loans (due or not).",
            "repayments",
            None,
            "currency",
            1,
            "High outstanding balance",
            "0: nothing outstanding",
        ),
        FeatureInfo(
            "amount_due_next_30d",
            "Unpaid installment amounts falling due in the 30 days from as_of.",
            "repayments",
            30,
            "currency",
            1,
            "Large payments fall due soon",
            "0: nothing due",
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
        ),
    ]
    for w in windows:
        out += [
            FeatureInfo(
                f"dpd_max_{w}d",
                f"Largest days past due among installments due in the {w} days before as_of.",
                "repayments",
                w,
                "days",
                1,
                f"Payments were late in the last {w} days",
                "0: none late, or no installment due in the window",
            ),
            FeatureInfo(
                f"dpd_mean_{w}d",
                f"Mean days past due of installments due in the {w} days before as_of.",
                "repayments",
                w,
                "days",
                1,
                f"Payments were often late in the last {w} days",
                "null: no installment due in the window",
            ),
            FeatureInfo(
                f"n_late_1p_{w}d",
                f"Installments due in the {w} days before as_of paid 1+ days late "
                "(or still unpaid and past due).",
                "repayments",
                w,
                "installments",
                1,
                f"Installments were paid late in the last {w} days",
                "0: none, or no installment due in the window",
            ),
            FeatureInfo(
                f"n_late_30p_{w}d",
                f"Installments due in the {w} days before as_of paid 30+ days late.",
                "repayments",
                w,
                "installments",
                1,
                f"Installments were 30+ days late in the last {w} days",
                "0: none, or no installment due in the window",
            ),
            FeatureInfo(
                f"n_late_60p_{w}d",
                f"Installments due in the {w} days before as_of paid 60+ days late.",
                "repayments",
                w,
                "installments",
                1,
                f"Installments were 60+ days late in the last {w} days",
                "0: none, or no installment due in the window",
            ),
            FeatureInfo(
                f"paid_to_due_ratio_{w}d",
                f"Amount paid by as_of over amount due, installments due in the {w} days "
                "before as_of.",
                "repayments",
                w,
                "ratio",
                -1,
                f"Installments were not paid in full in the last {w} days",
                "null: no installment due in the window",
            ),
            FeatureInfo(
                f"n_loans_opened_{w}d",
                f"Installment loans opened in the {w} days before as_of.",
                "loans",
                w,
                "loans",
                1,
                f"Several new installment plans in the last {w} days",
                "0: none opened",
            ),
        ]
    out += amount_features(windows)
    out += sequence_features(max(windows))
    return out


SEQUENCE = 6  # positions of the installment sequence (creditrisk.features.repayments)


def amount_features(windows: tuple[int, ...]) -> list[FeatureInfo]:
    """Amounts due and paid, shortfall, early payment, ratio spread and utilisation of the
    installments due in each window before as_of."""
    out = []
    for w in windows:
        none = "0: no installment due in the window"
        null = "null: no installment due in the window"
        out += [
            FeatureInfo(
                f"amount_due_sum_{w}d",
                f"Total amount of the installments due in the {w} days before as_of.",
                "repayments",
                w,
                "currency",
                0,
                f"Large amounts fell due in the last {w} days",
                none,
            ),
            FeatureInfo(
                f"amount_paid_sum_{w}d",
                f"Amount paid before as_of on the installments due in the {w} days before it.",
                "repayments",
                w,
                "currency",
                0,
                f"Payments in the last {w} days",
                none,
            ),
            FeatureInfo(
                f"amount_due_max_{w}d",
                f"Largest installment due in the {w} days before as_of.",
                "repayments",
                w,
                "currency",
                0,
                f"A large installment fell due in the last {w} days",
                null,
            ),
            FeatureInfo(
                f"amount_paid_max_{w}d",
                f"Largest amount paid on one installment due in the {w} days before as_of.",
                "repayments",
                w,
                "currency",
                0,
                f"Payments in the last {w} days",
                null,
            ),
            FeatureInfo(
                f"shortfall_sum_{w}d",
                f"Amount still unpaid at as_of of the installments due in the {w} days before "
                "it (due minus paid, at least 0).",
                "repayments",
                w,
                "currency",
                1,
                f"Installments due in the last {w} days are not fully paid",
                none,
            ),
            FeatureInfo(
                f"shortfall_max_{w}d",
                f"Largest unpaid remainder of one installment due in the {w} days before as_of.",
                "repayments",
                w,
                "currency",
                1,
                f"An installment due in the last {w} days is largely unpaid",
                null,
            ),
            FeatureInfo(
                f"days_early_mean_{w}d",
                f"Mean days paid ahead of the due date, installments due in the {w} days before "
                "as_of (0 for one paid on the day, late or not yet).",
                "repayments",
                w,
                "days",
                -1,
                f"Installments were not paid ahead of their due dates in the last {w} days",
                null,
            ),
            FeatureInfo(
                f"paid_ratio_var_{w}d",
                f"Variance of the paid-to-due ratio of the installments due in the {w} days "
                "before as_of (ratios to a millionth).",
                "repayments",
                w,
                "ratio squared",
                0,
                f"Payments varied from month to month in the last {w} days",
                "null: fewer than 2 installments due in the window",
            ),
            FeatureInfo(
                f"due_to_principal_max_{w}d",
                f"Largest installment due in the {w} days before as_of over its loan's "
                "principal (a statement over the credit line, for a revolving account).",
                "repayments",
                w,
                "ratio",
                0,
                f"Installments were large against the credit granted in the last {w} days",
                "null: no installment due in the window (or a principal of 0)",
            ),
        ]
    out.append(
        FeatureInfo(
            "outstanding_to_principal",
            "Amount unpaid at as_of (due or not) over the principal (credit line) of the loans "
            "with an installment in the look-back window or still unpaid.",
            "repayments",
            None,
            "ratio",
            1,
            "High use of the credit granted",
            "null: no such loan (or principals of 0); 0: nothing unpaid",
        )
    )
    return out


def sequence_features(longest: int) -> list[FeatureInfo]:
    """The last K installments due before as_of, most recent first (K = 1..6)."""
    out = []
    scope = f"of the {{}} most recent installment due in the {longest} days before as_of"
    for k in range(1, SEQUENCE + 1):
        nth = {1: "1st", 2: "2nd", 3: "3rd"}.get(k, f"{k}th")
        which = scope.format(nth)
        null = f"null: fewer than {k} installments due in the {longest} days before as_of"
        out += [
            FeatureInfo(
                f"inst_dpd_k{k}",
                f"Days past due {which} (at payment, or at as_of while unpaid).",
                "repayments",
                longest,
                "days",
                1,
                "A recent installment was paid late"
                if k > 1
                else "The latest installment was late",
                null,
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
            ),
        ]
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
            f"Least-squares slope of the amount due over the last {SEQUENCE} installments due "
            f"in the {longest} days before as_of, oldest to most recent (per installment).",
            "repayments",
            longest,
            "currency per installment",
            0,
            "Installment amounts have been rising",
            "null: fewer than 2 installments due in the window",
        ),
    ]
    return out


def customer_features(
    static: tuple[str, ...], declared: Mapping[str, tuple[int, str]] | None = None
) -> list[FeatureInfo]:
    """Tenure and the static customer attributes chosen in params; ``declared`` gives a
    column's risk direction and reason text (``features.static_reasons``)."""
    declared = declared or {}
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
        )
    ]
    for column in static:
        direction: Direction = -1 if column == "income_monthly" else 0
        reason = "Lower declared income" if column == "income_monthly" else f"Value of {column}"
        if column in declared:
            direction = 1 if declared[column][0] > 0 else -1
            reason = declared[column][1]
        out.append(
            FeatureInfo(
                column,
                f"Customer attribute '{column}' as recorded in the customer table.",
                "customers",
                None,
                "as recorded",
                direction,
                reason,
                "null: not recorded",
            )
        )
    return out


CREDIT_LINE = "credit_line"  # optional customer column: the customer's total credit line


def credit_line_features(longest: int) -> list[FeatureInfo]:
    """Utilisation of the customer's credit line (the optional customers column
    ``credit_line``; a user maps theirs with data.columns)."""
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
        ),
        FeatureInfo(
            "due_to_credit_line_k1",
            f"Amount due of the most recent installment due in the {longest} days before as_of "
            "over the customer's credit line.",
            "repayments",
            longest,
            "ratio",
            0,
            "The latest statement was large against the credit line",
            f"null: no installment due in the {longest} days before as_of, or no credit line",
        ),
    ]


def feature_sources(windows: tuple[int, ...] = (30, 90, 180, 365)) -> dict[str, str]:
    """Feature name -> the contract table it is computed from (purchase and repayment
    features for ``windows``; customer columns are not listed: they come from customers)."""
    infos = [
        *purchase_features(windows, with_category=True),
        *repayment_features(windows),
        *customer_features(()),
    ]
    return {f.name: f.source for f in infos}
