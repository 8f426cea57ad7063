"""The early-stopping slice: a part of the calibration period the calibrator never sees."""

from __future__ import annotations

import numpy as np
import pandas as pd


def early_stopping_mask(calibration: pd.DataFrame, *, months: int, seed: int) -> np.ndarray:
    """True for the calibration rows used for early stopping, False for those left to fit
    the calibrator.

    Out of time (several as_of): the first ``months`` as_of months, always leaving at least
    one month to the calibrator. A single as_of: a random half of the customers (all rows
    of a customer on one side), drawn from ``seed``.

    Raises:
        ValueError: the calibration period is empty.
    """
    if calibration.empty:
        raise ValueError("the calibration period has no rows")
    months_seen = np.sort(calibration["as_of"].unique())
    if len(months_seen) > 1:
        cut = months_seen[min(months, len(months_seen) - 1) - 1]
        return np.asarray(calibration["as_of"] <= cut, dtype=bool)
    customers = np.sort(calibration["customer_id"].astype(str).unique())
    rng = np.random.default_rng(seed)
    chosen = set(rng.permutation(customers)[: len(customers) // 2])
    return calibration["customer_id"].astype(str).isin(chosen).to_numpy()
