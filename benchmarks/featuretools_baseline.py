"""Featuretools baseline of the features stage: deep feature synthesis with cutoff times.

Featuretools expresses the purchase (RFM) and loan-count features with training windows;
it cannot express the state of an installment as known at as_of (payments after as_of
unknown), so those features come from the idiomatic pandas baseline, as a user would do.

Featuretools 1.31 needs pandas < 3, so this runs in its own environment (see
benchmarks/requirements-featuretools.txt and `make bench-features`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import featuretools as ft
import pandas as pd
from pandas_baseline import ZERO_FILLED, as_of_dates, load, prepare, repayment_block

WINDOWS = (30, 90, 180, 365)


def entityset(t: dict[str, pd.DataFrame]) -> ft.EntitySet:
    es = ft.EntitySet("credit")
    es.add_dataframe(
        dataframe_name="customers",
        dataframe=t["customers"][["customer_id", "created_at"]].astype({"customer_id": "object"}),
        index="customer_id",
        time_index="created_at",
    )
    es.add_dataframe(
        dataframe_name="transactions",
        dataframe=t["transactions"][
            ["transaction_id", "customer_id", "ts", "amount", "category"]
        ].astype({"transaction_id": "object", "customer_id": "object", "category": "category"}),
        index="transaction_id",
        time_index="ts",
    )
    es.add_dataframe(
        dataframe_name="loans",
        dataframe=t["loans"][["loan_id", "customer_id", "opened_at"]].astype(
            {"loan_id": "object", "customer_id": "object"}
        ),
        index="loan_id",
        time_index="opened_at",
    )
    es.add_relationship("customers", "customer_id", "transactions", "customer_id")
    es.add_relationship("customers", "customer_id", "loans", "customer_id")
    # Without last time indexes, a training window also drops every customer created
    # before the window's start, and all their counts come out 0.
    es.add_last_time_indexes()
    return es


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True)
    parser.add_argument("--first", required=True)
    parser.add_argument("--months", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    t = load(args.raw)
    es = entityset(t)
    dates = as_of_dates(args.first, args.months)
    c = t["customers"]
    cutoff = pd.concat(
        [c.loc[c["created_at"] < a, ["customer_id"]].assign(time=a) for a in dates],
        ignore_index=True,
    ).astype({"customer_id": "object"})
    blocks = []
    for w in WINDOWS:
        prims = ["count", "sum", "mean", "max"] + (
            ["time_since_last", "num_unique"] if w == 365 else []
        )
        fm = ft.dfs(
            entityset=es,
            target_dataframe_name="customers",
            cutoff_time=cutoff,
            cutoff_time_in_index=True,
            training_window=f"{w} days",
            agg_primitives=prims,
            trans_primitives=[],
            max_depth=1,
            features_only=False,
            verbose=False,
        )[0]
        blocks.append(fm.add_suffix(f"_{w}d"))
        print(f"featuretools window {w} d done ({time.perf_counter() - started:.0f} s)", flush=True)
    feats = pd.concat(blocks, axis=1).reset_index()
    unique = [c for c in feats.columns if c.startswith("NUM_UNIQUE(")]
    feats[unique] = feats[unique].fillna(0)  # no purchase in the window: 0 categories
    feats = feats.rename(columns={"time": "as_of"})
    inst, pays, _ = prepare(t["loans"], t["repayments"])
    rep_blocks = [
        repayment_block(inst, pays, a, WINDOWS).reset_index().assign(as_of=a) for a in dates
    ]
    result = feats.merge(pd.concat(rep_blocks), on=["customer_id", "as_of"], how="left")
    # Customers without installments have no repayment rows: zero, as the stage documents.
    zero = [c for c in result.columns if c.startswith(ZERO_FILLED) and "trend" not in c]
    result[zero] = result[zero].fillna(0)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    result.to_parquet(args.out, index=False)
    print(
        f"featuretools baseline: {len(result):,} rows, {result.shape[1]} columns in "
        f"{time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
