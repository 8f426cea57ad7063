from datetime import date

import numpy as np
import pandas as pd
import pytest

from creditrisk.features.split import SplitError, assign_splits, split_summary

PERIODS = {
    "train": (date(2023, 1, 1), date(2023, 2, 1)),
    "calibration": (date(2023, 3, 1), date(2023, 3, 1)),
    "test": (date(2023, 4, 1), date(2023, 5, 1)),
}
SHARES = {"train": 0.6, "calibration": 0.2, "test": 0.2}


def frame(as_of: list[str], default: list[float], complete: list[bool]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(len(as_of))],
            "as_of": pd.to_datetime(as_of),
            "default": default,
            "label_complete": complete,
        }
    )


def test_out_of_time_by_period() -> None:
    f = frame(
        [
            "2023-01-01",
            "2023-02-01",
            "2023-03-01",
            "2023-04-01",
            "2023-05-01",
            "2023-06-01",
            "2023-04-01",
        ],
        [0, 1, 0, 1, 0, np.nan, np.nan],
        [True, True, True, True, True, False, False],
    )
    split, kind = assign_splits(f, periods=PERIODS, shares=SHARES, seed=0)
    assert kind == "out_of_time"
    assert split.fillna("-").tolist() == ["train", "train", "calibration", "test", "test", "-", "-"]
    summary = split_summary(f, split, kind)
    assert summary["train"]["default_rate"] == 0.5 and summary["test"]["rows"] == 2
    assert summary["unlabelled_rows"] == 2


def test_empty_period_is_an_error() -> None:
    f = frame(["2023-01-01", "2023-02-01"], [0, 1], [True, True])
    with pytest.raises(SplitError, match="calibration"):
        assign_splits(f, periods=PERIODS, shares=SHARES, seed=0)


def test_single_as_of_falls_back_to_stratified_customer_split() -> None:
    n = 1000
    rng = np.random.default_rng(1)
    f = frame(["2024-01-01"] * n, (rng.random(n) < 0.3).astype(float).tolist(), [True] * n)
    split, kind = assign_splits(f, periods=PERIODS, shares=SHARES, seed=7)
    assert kind == "random_by_customer"
    shares = split.value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.6, abs=0.01)
    rates = f.groupby(split)["default"].mean()
    assert (rates - f["default"].mean()).abs().max() < 0.01  # stratified by the label
    again, _ = assign_splits(f, periods=PERIODS, shares=SHARES, seed=7)
    assert again.equals(split)
