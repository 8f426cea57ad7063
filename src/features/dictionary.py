"""The feature dictionary: what each feature means, for modellers, customers and auditors.

Every feature the pipeline computes is declared here once, with its source table, window,
unit, the direction in which it is expected to move risk (used later as a monotone
constraint) and a reason text a customer can read. Features whose source table is absent
stay in the dictionary, marked unavailable, so the model card can say what was left out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Direction = Literal[1, -1, 0]  # +1 more of it means more risk, -1 less risk, 0 not assumed


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
        return {**asdict(self), "available": available}


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
    return out


def customer_features(static: tuple[str, ...]) -> list[FeatureInfo]:
    """Tenure and the static customer attributes chosen in params."""
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
        out.append(
            FeatureInfo(
                column,
                f"Customer attribute '{column}' as recorded in the customer table.",
                "customers",
                None,
                "as recorded",
                -1 if column == "income_monthly" else 0,
                "Lower declared income" if column == "income_monthly" else f"Value of {column}",
                "null: not recorded",
            )
        )
    return out


def feature_sources(windows: tuple[int, ...] = (30, 90, 180, 365)) -> dict[str, str]:
    """Feature name -> the contract table it is computed from (purchase and repayment
    features for ``windows``; customer columns are not listed: they come from customers)."""
    infos = [
        *purchase_features(windows, with_category=True),
        *repayment_features(windows),
        *customer_features(()),
    ]
    return {f.name: f.source for f in infos}
