"""A deterministic training sample for large train periods: every default kept, goods
drawn by a hash of the snapshot key, each good weighted by the inverse of its share.

The draw depends only on (customer_id, as_of), the seed and the share, never on row
order or on the other rows: the same data and params give the same sample, and a good
kept at one share is kept at every larger share (nested samples). Weighting the goods
by 1 / share keeps the weighted default rate, the weighted class balance LightGBM and the
scorecard see, equal to the full period's; information value and AUC are unchanged in
expectation by a class-conditional draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from creditrisk import records
from creditrisk.contract import SNAPSHOT_KEY


@dataclass(frozen=True)
class TrainingSample:
    """What the sample kept (``reports/train.json``'s ``sample``)."""

    rows_in_period: int
    defaults_in_period: int
    rows_kept: int
    good_share: float  # share of the goods kept; each kept good weighs 1 / good_share
    max_rows: int | None

    def to_dict(self) -> dict[str, Any]:
        return records.to_dict(self)


class SampleError(ValueError):
    """The sample size cannot hold every default of the train period."""


def key_uniform(frame: pd.DataFrame, seed: int) -> np.ndarray:
    """A uniform draw in [0, 1) per row from a hash of its snapshot key and ``seed``
    (pandas' row hash, then a SplitMix64 finaliser over it and the seed: pandas hashes
    numbers without a key, so the seed is mixed in here)."""
    hashed = pd.util.hash_pandas_object(frame[list(SNAPSHOT_KEY)], index=False)
    h = hashed.to_numpy(dtype="uint64") ^ _mix(np.array([seed], dtype="uint64"))[0]
    return (_mix(h) >> np.uint64(11)).astype("float64") / 2.0**53


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: every input bit moves every output bit."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)).astype("uint64")
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        mixed: np.ndarray = x ^ (x >> np.uint64(31))
    return mixed


def training_sample(
    frame: pd.DataFrame, *, max_rows: int | None, seed: int, label: str = "default"
) -> tuple[pd.DataFrame, np.ndarray, TrainingSample]:
    """The train period itself (weights 1) when it has at most ``max_rows`` rows (or
    ``max_rows`` is None); else every default and a hash-drawn share of the goods that
    brings the total to about ``max_rows``, the goods weighted by 1 / share.

    Raises:
        SampleError: ``max_rows`` is below the period's number of defaults.
    """
    keep, summary = sample_rows(frame, max_rows=max_rows, seed=seed, label=label)
    if summary.good_share == 1.0:
        return frame, np.ones(len(frame)), summary
    sample = frame[keep].reset_index(drop=True)
    return sample, sample_weights(sample[label].to_numpy(), summary), summary


def sample_rows(
    keys: pd.DataFrame, *, max_rows: int | None, seed: int, label: str = "default"
) -> tuple[np.ndarray, TrainingSample]:
    """Which rows :func:`training_sample` keeps, from the snapshot keys and the label
    alone: a period larger than memory is sampled before its features are read.

    Raises:
        SampleError: ``max_rows`` is below the period's number of defaults.
    """
    y = keys[label].to_numpy()
    n, bad = len(keys), int((y == 1).sum())
    if max_rows is None or n <= max_rows:
        return np.ones(n, dtype=bool), TrainingSample(n, bad, n, 1.0, max_rows)
    if max_rows <= bad:
        raise SampleError(
            f"train.max_rows ({max_rows:,}) is not above the train period's {bad:,} defaults "
            "(every default is kept): raise it, or set it to null to train on every row"
        )
    share = (max_rows - bad) / (n - bad)
    keep = (y == 1) | (key_uniform(keys, seed) < share)
    return keep, TrainingSample(n, bad, int(keep.sum()), round(share, 6), max_rows)


def sample_weights(y: np.ndarray, sample: TrainingSample) -> np.ndarray:
    """1 for each default, 1 / share for each good kept."""
    if sample.good_share == 1.0:
        return np.ones(len(y))
    share = (sample.max_rows - sample.defaults_in_period) / (  # type: ignore[operator]
        sample.rows_in_period - sample.defaults_in_period
    )
    return np.where(y == 1, 1.0, 1.0 / share)
