"""RFM features of purchases at each (customer, as_of), from transactions strictly before as_of."""

from __future__ import annotations

import ibis.expr.types as ir

from creditrisk.features.common import (
    DAY,
    days_between,
    exact_mean,
    exact_sum,
    in_window,
    ratio,
    seconds,
)


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
        the others (counts and sums 0, the rest null), as the dictionary documents.
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

    short = min(windows)
    mid = sorted(windows)[1] if len(windows) > 2 else short
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
