"""Out-of-time split of labelled snapshots into train, calibration and test."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

SPLITS = ("train", "calibration", "test")


class SplitError(ValueError):
    """The split periods leave a split empty or the data cannot be split."""


def assign_splits(
    frame: pd.DataFrame,
    *,
    periods: Mapping[str, tuple[date, date]],
    shares: Mapping[str, float],
    seed: int,
) -> tuple[pd.Series, str]:
    """Name the split of every labelled row; unlabelled rows get ``None``.

    With more than one as_of, rows go to the split whose period (inclusive) holds their
    as_of: out of time. With a single as_of, customers are split at random in ``shares``,
    stratified by the label, so every customer's rows stay in one split.

    Returns:
        The split name per row (index of ``frame``) and the kind: "out_of_time" or
        "random_by_customer".

    Raises:
        SplitError: a split gets no labelled rows.
    """
    labelled = frame["label_complete"].astype(bool) & frame["default"].notna()
    split = pd.Series(None, index=frame.index, dtype="object")
    if frame.loc[labelled, "as_of"].nunique() > 1:
        kind = "out_of_time"
        for name in SPLITS:
            start, end = (pd.Timestamp(x) for x in periods[name])
            split[labelled & frame["as_of"].between(start, end)] = name
    else:
        kind = "random_by_customer"
        split[labelled] = _random_by_customer(frame.loc[labelled], shares, seed)
    empty = [s for s in SPLITS if not (split == s).any()]
    if empty:
        raise SplitError(
            f"split(s) {empty} have no labelled rows; labelled as_of range is "
            f"{frame.loc[labelled, 'as_of'].min()} to {frame.loc[labelled, 'as_of'].max()}"
        )
    return split, kind


def _random_by_customer(frame: pd.DataFrame, shares: Mapping[str, float], seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    per_customer = frame.groupby("customer_id")["default"].max().sort_index()
    total = sum(shares[s] for s in SPLITS)
    cuts = np.cumsum([shares[s] / total for s in SPLITS])[:-1]
    out: dict[str, str] = {}
    for _, ids in per_customer.groupby(per_customer):  # stratify by the label
        order = rng.permutation(ids.index.to_numpy())
        bounds = (cuts * len(order)).round().astype(int)
        for name, part in zip(SPLITS, np.split(order, bounds), strict=True):
            out.update(dict.fromkeys(part, name))
    return frame["customer_id"].map(out)


def split_summary(frame: pd.DataFrame, split: pd.Series, kind: str) -> dict[str, object]:
    """Counts, defaults and default rate per split, and the as_of range of each."""
    summary: dict[str, object] = {"kind": kind}
    for name in SPLITS:
        part = frame[split == name]
        summary[name] = {
            "rows": len(part),
            "customers": int(part["customer_id"].nunique()),
            "defaults": int(part["default"].sum()),
            "default_rate": round(float(part["default"].mean()), 6),
            "as_of_first": str(part["as_of"].min().date()),
            "as_of_last": str(part["as_of"].max().date()),
        }
    summary["unlabelled_rows"] = int(split.isna().sum())
    return summary
