"""Purchases (RFM): recency, frequency, monetary value, trends and category diversity of
the transactions strictly before as_of."""

from __future__ import annotations

import ibis.expr.types as ir

from creditrisk.features.arithmetic import (
    DAY,
    days_between,
    exact_mean,
    exact_sum,
    in_window,
    ratio,
    seconds,
)
from creditrisk.features.family import FamilyInputs, FeatureInfo, Snapshots, TableFamily


def purchase_features(
    snapshots: ir.Table, transactions: ir.Table, *, windows: tuple[int, ...]
) -> ir.Table:
    """Recency, frequency, monetary value, trends and category diversity of purchases.

    Args:
        snapshots: customer_id, as_of, as_of_s (epoch seconds of as_of).
        transactions: the validated contract table (``category`` optional).
        windows: look-back windows in days; the longest bounds every feature.

    Returns:
        One row per snapshot that has a purchase in the longest window; the caller fills
        the others (counts and sums 0, the rest null), as the declarations say.
    """
    longest = max(windows)
    has_category = "category" in transactions.columns
    tx = transactions.select(
        t_customer_id=transactions.customer_id,
        ts_s=seconds(transactions.ts),
        amount=transactions.amount.cast("float64"),
        category=transactions.category if has_category else transactions.customer_id,
    )
    # Only purchases that can fall in some snapshot's window reach the join.
    tx = tx.filter(
        tx.ts_s >= snapshots.as_of_s.min() - longest * DAY, tx.ts_s < snapshots.as_of_s.max()
    )
    joined = snapshots.join(
        tx,
        [
            snapshots.customer_id == tx.t_customer_id,
            tx.ts_s < snapshots.as_of_s,
            tx.ts_s >= snapshots.as_of_s - longest * DAY,
        ],
    )
    age = joined.as_of_s - joined.ts_s
    metrics: dict[str, ir.Value] = {"last_ts_s": joined.ts_s.max()}
    for w in windows:
        inside = in_window(age, w)
        metrics[f"txn_count_{w}d"] = joined.amount.count(where=inside)
        metrics[f"txn_amount_sum_{w}d"] = exact_sum(joined.amount, where=inside)
        metrics[f"txn_amount_mean_{w}d"] = exact_mean(joined.amount, where=inside)
        metrics[f"txn_amount_max_{w}d"] = joined.amount.max(where=inside)
    agg = joined.group_by(["customer_id", "as_of", "as_of_s"]).aggregate(**metrics)
    if has_category:
        agg = _with_category_count(agg, snapshots, tx, longest)

    short, mid, _ = _windows(windows)
    return agg.select(
        "customer_id",
        "as_of",
        days_since_last_purchase=days_between(agg.as_of_s, agg.last_ts_s),
        **{k: agg[k] for k in metrics if k != "last_ts_s"},
        **({f"txn_category_count_{longest}d": agg.n_categories} if has_category else {}),
        **{
            f"txn_count_trend_{short}_{longest}": ratio(
                agg[f"txn_count_{short}d"] * longest, agg[f"txn_count_{longest}d"] * short
            ),
            # A window without purchases sums to null in SQL; here it means 0 spent.
            f"txn_amount_trend_{mid}_{longest}": ratio(
                agg[f"txn_amount_sum_{mid}d"].fill_null(0.0) * longest,
                agg[f"txn_amount_sum_{longest}d"] * mid,
            ),
        },
    )


def _with_category_count(
    agg: ir.Table, snapshots: ir.Table, tx: ir.Table, longest: int
) -> ir.Table:
    """Add n_categories: distinct categories bought in the longest window.

    Counted by a separate join and a two-level aggregation rather than a DISTINCT aggregate
    next to the others, which makes engines materialise the whole join once more.
    """
    cat = tx.select("t_customer_id", "ts_s", "category")
    j = snapshots.join(
        cat,
        [
            snapshots.customer_id == cat.t_customer_id,
            cat.ts_s < snapshots.as_of_s,
            cat.ts_s >= snapshots.as_of_s - longest * DAY,
        ],
    )
    per_cat = j.group_by(["customer_id", "as_of", "category"]).aggregate()
    counts = per_cat.group_by(["customer_id", "as_of"]).aggregate(n_categories=per_cat.count())
    counts = counts.rename(c_customer_id="customer_id", c_as_of="as_of")
    out = agg.left_join(
        counts, [agg.customer_id == counts.c_customer_id, agg.as_of == counts.c_as_of]
    )
    return out.drop("c_customer_id", "c_as_of")


def _windows(windows: tuple[int, ...]) -> tuple[int, int, int]:
    """The short, middle and long windows of the trend ratios."""
    short, long = min(windows), max(windows)
    return short, (sorted(windows)[1] if len(windows) > 2 else short), long


class Purchases(TableFamily):
    name = "purchases"
    tables = ("transactions",)
    optional_columns = (("transactions", "category"),)

    def features(self, inputs: FamilyInputs) -> list[FeatureInfo]:
        windows = inputs.settings.windows
        short, mid, long = _windows(windows)
        out = [
            FeatureInfo(
                "days_since_last_purchase",
                "Days from the last purchase before as_of to as_of.",
                "transactions",
                long,
                "days",
                1,
                "No recent purchases",
                f"null: no purchase in the {long} days before as_of",
                reason_group="purchase_activity",
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
                    reason_group="purchase_activity",
                    fill=0,
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
                    fill=0,
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
                reason_group="purchase_activity",
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
                reason_group="purchase_activity",
            ),
        ]
        if "category" in inputs.columns.get("transactions", frozenset()):
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
                    reason_group="purchase_activity",
                    fill=0,
                )
            )
        return out

    def compute(self, snapshots: Snapshots) -> ir.Table:
        return purchase_features(
            snapshots.keys, snapshots.tables["transactions"], windows=snapshots.settings.windows
        )


FAMILY = Purchases()
