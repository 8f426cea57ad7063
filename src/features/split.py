"""Out-of-time split of labelled snapshots into train, calibration and test."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

SPLITS = ("train", "calibration", "test")


class SplitError(ValueError):
    """The split periods leave a split empty or the data cannot be split."""


TARGET_SHARES = {"train": 0.6, "calibration": 0.2, "test": 0.2}
"""The shares of labelled snapshots the chosen out-of-time periods aim at."""


@dataclass(frozen=True)
class SplitChoice:
    """How the labelled snapshots are split, and why.

    Attributes:
        kind: "out_of_time" or "random_by_customer".
        periods: the as_of periods (inclusive) of an out-of-time split; None for random.
        chosen_by: "params" (periods set by hand) or "data" (chosen from the snapshots).
        reason: one sentence for the reports and the model card.
    """

    kind: str
    periods: dict[str, tuple[date, date]] | None
    chosen_by: str
    reason: str


def choose_periods(
    as_of: pd.Series, default: pd.Series, *, shares: Mapping[str, float] = TARGET_SHARES
) -> SplitChoice:
    """Successive out-of-time periods of whole as_of dates holding about ``shares`` of the
    labelled snapshots (the test period last), each with defaults and non-defaults; or
    the stratified random split by customer when the dates cannot make three such periods.

    Args:
        as_of: the as_of of every labelled snapshot.
        default: its label (0/1), aligned with ``as_of``.
    """
    dates = pd.to_datetime(as_of).dt.normalize()
    per_date = (
        pd.DataFrame({"as_of": dates.to_numpy(), "bad": default.to_numpy(dtype="float64")})
        .groupby("as_of")["bad"]
        .agg(["size", "sum"])
        .sort_index()
    )
    n = len(per_date)
    random = SplitChoice("random_by_customer", None, "data", "")
    if n < 3:
        what = "one as_of date" if n == 1 else f"{n} as_of dates"
        reason = (
            f"the labelled snapshots have {what}: too few for three out-of-time periods, so "
            "customers are split at random (stratified by the label)"
        )
        return dataclasses.replace(random, reason=reason)
    cut = _best_cuts(per_date["size"].to_numpy(), per_date["sum"].to_numpy(), shares)
    if cut is None:
        reason = (
            f"the {n} as_of dates of the labelled snapshots cannot make three successive "
            "periods with defaults and non-defaults in each, so customers are split at "
            "random (stratified by the label)"
        )
        return dataclasses.replace(random, reason=reason)
    i, j = cut
    days = [d.date() for d in per_date.index]
    periods = {
        "train": (days[0], days[i - 1]),
        "calibration": (days[i], days[j - 1]),
        "test": (days[j], days[-1]),
    }
    total = per_date["size"].sum()
    got = [per_date["size"].iloc[a:b].sum() / total for a, b in ((0, i), (i, j), (j, n))]
    reason = (
        f"successive periods of the {n} as_of dates of the labelled snapshots, chosen to "
        f"hold about {shares['train']:.0%}/{shares['calibration']:.0%}/{shares['test']:.0%}"
        f" of them ({got[0]:.0%}/{got[1]:.0%}/{got[2]:.0%})"
    )
    return SplitChoice("out_of_time", periods, "data", reason)


def _best_cuts(
    size: np.ndarray, bad: np.ndarray, shares: Mapping[str, float]
) -> tuple[int, int] | None:
    """The cut positions (i, j): dates [0, i) train, [i, j) calibration, [j, n) test,
    closest to the target shares with both classes in every period; None if none has."""
    n = len(size)
    total = sum(shares[s] for s in SPLITS)
    first, second = shares["train"] / total, (shares["train"] + shares["calibration"]) / total
    cum = np.concatenate([[0.0], np.cumsum(size)]) / size.sum()
    cum_bad = np.concatenate([[0.0], np.cumsum(bad)])
    cum_good = np.concatenate([[0.0], np.cumsum(size - bad)])
    i = np.arange(1, n - 1)[:, None]
    j = np.arange(2, n)[None, :]

    def both(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray((cum_bad[b] - cum_bad[a] > 0) & (cum_good[b] - cum_good[a] > 0))

    ok = (j > i) & both(np.zeros_like(i), i) & both(i, j) & both(j, np.full_like(j, n))
    if not ok.any():
        return None
    err = np.abs(cum[i] - first) + np.abs(cum[j] - second)
    err = np.where(ok, err, np.inf)
    a, b = np.unravel_index(int(np.argmin(err)), err.shape)
    return int(i[a, 0]), int(j[0, b])


def labelled(frame: pd.DataFrame) -> pd.Series:
    """The rows with a complete label."""
    return frame["label_complete"].astype(bool) & frame["default"].notna()


def split_choice(
    frame: pd.DataFrame, periods: Mapping[str, tuple[date, date]] | None
) -> SplitChoice:
    """The split of ``frame``'s labelled rows: the hand-set ``periods`` (out of time when
    there is more than one as_of), or one chosen from the data."""
    known = labelled(frame)
    if periods is None:
        return choose_periods(frame.loc[known, "as_of"], frame.loc[known, "default"])
    if frame.loc[known, "as_of"].nunique() > 1:
        reason = "the periods set by hand in params.yaml (split.train, .calibration, .test)"
        return SplitChoice("out_of_time", dict(periods), "params", reason)
    reason = (
        "the labelled snapshots have one as_of date, so customers are split at random "
        "(stratified by the label); the periods in params.yaml do not apply"
    )
    return SplitChoice("random_by_customer", None, "data", reason)


def assign_splits(
    frame: pd.DataFrame,
    *,
    periods: Mapping[str, tuple[date, date]] | None,
    shares: Mapping[str, float],
    seed: int,
) -> tuple[pd.Series, SplitChoice]:
    """Name the split of every labelled row; unlabelled rows get ``None``.

    Out of time, rows go to the split whose period (inclusive) holds their as_of; at
    random, customers are split in ``shares``, stratified by the label, so every
    customer's rows stay in one split. See :func:`split_choice` for which.

    Raises:
        SplitError: a split gets no labelled rows.
    """
    known = labelled(frame)
    choice = split_choice(frame, periods)
    split = pd.Series(None, index=frame.index, dtype="object")
    if choice.periods is not None:
        for name in SPLITS:
            start, end = (pd.Timestamp(x) for x in choice.periods[name])
            split[known & frame["as_of"].between(start, end)] = name
    else:
        split[known] = _random_by_customer(frame.loc[known], shares, seed)
    empty = [s for s in SPLITS if not (split == s).any()]
    if empty:
        raise SplitError(
            f"split(s) {empty} have no labelled rows: the periods set in params.yaml "
            f"(split.train, split.calibration, split.test) miss the labelled as_of range "
            f"{frame.loc[known, 'as_of'].min()} to {frame.loc[known, 'as_of'].max()}; set "
            "them to null to have them chosen from the data"
        )
    return split, choice


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


def split_summary(frame: pd.DataFrame, split: pd.Series, choice: SplitChoice) -> dict[str, object]:
    """Counts, defaults and default rate per split, the as_of range of each, and which
    split was used and why."""
    summary: dict[str, object] = {
        "kind": choice.kind,
        "chosen_by": choice.chosen_by,
        "reason": choice.reason,
        "periods": None
        if choice.periods is None
        else {k: [str(a), str(b)] for k, (a, b) in choice.periods.items()},
    }
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
