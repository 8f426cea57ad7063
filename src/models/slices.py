"""The early-stopping slice: a part of the calibration period the calibrator never sees."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd

from creditrisk.contract import SNAPSHOT_KEY
from creditrisk.models.lgbm import margin
from creditrisk.models.matrix import FeatureSpec, design_matrix

SlicePosition = Literal["first", "last"]


def early_stopping_mask(
    calibration: pd.DataFrame, *, months: int, seed: int, position: SlicePosition = "last"
) -> np.ndarray:
    """True for the calibration rows used for early stopping, False for those left to fit
    the calibrator.

    Out of time (several as_of): the ``months`` as_of months at the ``position`` end of the
    period, always leaving at least one month to the calibrator. "last" (the default)
    stops on the months nearest the period the model will score: early stopping decides
    how far the trees follow the training period, and months still carrying an earlier
    regime (a stress period's tail, say) reward following it too far. A single as_of: a
    random half of the customers (all rows of a customer on one side), drawn from ``seed``.

    Raises:
        ValueError: the calibration period is empty.
    """
    if calibration.empty:
        raise ValueError("the calibration period has no rows")
    months_seen = np.sort(calibration["as_of"].unique())
    if len(months_seen) > 1:
        n = min(months, len(months_seen) - 1)
        if position == "first":
            return np.asarray(calibration["as_of"] <= months_seen[n - 1], dtype=bool)
        return np.asarray(calibration["as_of"] >= months_seen[-n], dtype=bool)
    customers = np.sort(calibration["customer_id"].astype(str).unique())
    rng = np.random.default_rng(seed)
    chosen = set(rng.permutation(customers)[: len(customers) // 2])
    return calibration["customer_id"].astype(str).isin(chosen).to_numpy()


def development_mask(
    calibration: pd.DataFrame, *, months: int, seed: int, position: SlicePosition = "last"
) -> np.ndarray:
    """True for the calibration rows the out-of-time gate measures development on: the
    months nearest the test period that the model was not fitted on.

    With the slice at the last end, the slice itself (it chose only the number of trees,
    which if anything flatters development and makes the gate stricter); with it at the
    first end, the months after it (they only fitted the calibrator, and a sigmoid keeps
    the ranking). With a single as_of the slice is a random half of the customers and the
    position means nothing: the half that only fitted the calibrator.
    """
    chosen = early_stopping_mask(calibration, months=months, seed=seed, position=position)
    several_months = calibration["as_of"].nunique() > 1
    return chosen if position == "last" and several_months else ~chosen


def calibration_roles(
    calibration: pd.DataFrame, *, months: int, seed: int, position: SlicePosition = "last"
) -> pd.DataFrame:
    """What each calibration row is for, decided once by the stage that trains: the keys
    (customer_id, as_of) with ``early_stopping`` (:func:`early_stopping_mask`; the others
    fit the calibrator) and ``development`` (:func:`development_mask`, the gate's rows).
    The later stages read this table instead of recomputing the slice from settings."""
    return pd.DataFrame(
        {
            **{k: calibration[k].to_numpy() for k in SNAPSHOT_KEY},
            "early_stopping": early_stopping_mask(
                calibration, months=months, seed=seed, position=position
            ),
            "development": development_mask(
                calibration, months=months, seed=seed, position=position
            ),
        }
    )


def role_mask(frame: pd.DataFrame, roles: pd.DataFrame, role: str) -> np.ndarray:
    """``roles[role]`` for each row of ``frame`` (matched by key; a row the roles do not
    list is False).

    Raises:
        ValueError: ``role`` is not a column of ``roles``.
    """
    if role not in roles.columns:
        raise ValueError(f"calibration roles have no column {role!r}")
    keys = list(SNAPSHOT_KEY)
    # Both sides as the same types, whatever the file round trip did to them.
    left = frame[keys].assign(customer_id=frame["customer_id"].astype(str))
    right = roles[[*keys, role]].assign(customer_id=roles["customer_id"].astype(str))
    left["as_of"] = pd.to_datetime(left["as_of"])
    right["as_of"] = pd.to_datetime(right["as_of"])
    merged = left.merge(right, on=keys, how="left", validate="many_to_one")
    return merged[role].fillna(False).to_numpy(dtype=bool)


def held_out_margins(
    frames: Iterable[pd.DataFrame], booster: lgb.Booster, spec: FeatureSpec, roles: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """The model's margin and the label of every calibration row outside the
    early-stopping slice (``roles``), from the calibration period in batches: a row's
    margin does not depend on the others, so the values are those of a whole read."""
    margins, labels = [], []
    for frame in frames:
        rows = frame[~role_mask(frame, roles, "early_stopping")]
        if rows.empty:  # a batch inside the early-stopping slice
            continue
        margins.append(margin(booster, design_matrix(rows, spec, table="calibration")))
        labels.append(rows["default"].to_numpy())
    if not margins:
        return np.empty(0), np.empty(0)
    return np.concatenate(margins), np.concatenate(labels)
