"""RFM features of purchases at each (customer, as_of), from transactions strictly before as_of."""

from __future__ import annotations

import ibis.expr.types as ir
from creditrisk.features.common import DAY, days_between, in_window, ratio, seconds


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
        metrics[f"txn_amount_sum_{w}d"] = joined.amount.sum(where=inside)
        metrics[f"txn_amount_mean_{w}d"] = joined.amount.mean(where=inside)
        metrics[f"txn_amount_max_{w}d"] = joined.amount.max(where=inside)
    if has_category:
        metrics[f"txn_category_count_{longest}d"] = joined.category.nunique()
    agg = joined.group_by(["customer_id", "as_of", "as_of_s"]).aggregate(**metrics)

    short = min(windows)
    mid = sorted(windows)[1] if len(windows) > 2 else short
    return agg.select(
        "customer_id",
        "as_of",
        days_since_last_purchase=days_between(agg.as_of_s, agg.last_ts_s),
        **{k: agg[k] for k in metrics if k != "last_ts_s"},
        **{
            f"txn_count_trend_{short}_{longest}": ratio(
                agg[f"txn_count_{short}d"] * longest, agg[f"txn_count_{longest}d"] * short
            ),
            f"txn_amount_trend_{mid}_{longest}": ratio(
                agg[f"txn_amount_sum_{mid}d"] * longest, agg[f"txn_amount_sum_{longest}d"] * mid
            ),
        },
    )
