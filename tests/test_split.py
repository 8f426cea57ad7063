from datetime import date

import numpy as np
import pandas as pd
import pytest

from creditrisk.features.split import (
    SplitError,
    assign_splits,
    choose_periods,
    split_summary,
)

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
    split, choice = assign_splits(f, periods=PERIODS, shares=SHARES, seed=0)
    assert choice.kind == "out_of_time" and choice.chosen_by == "params"
    assert split.fillna("-").tolist() == ["train", "train", "calibration", "test", "test", "-", "-"]
    summary = split_summary(f, split, choice)
    assert summary["chosen_by"] == "params" and summary["periods"]["test"][0] == "2023-04-01"
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
    split, choice = assign_splits(f, periods=PERIODS, shares=SHARES, seed=7)
    assert choice.kind == "random_by_customer" and "one as_of" in choice.reason
    shares = split.value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.6, abs=0.01)
    rates = f.groupby(split)["default"].mean()
    assert (rates - f["default"].mean()).abs().max() < 0.01  # stratified by the label
    again, _ = assign_splits(f, periods=PERIODS, shares=SHARES, seed=7)
    assert again.equals(split)


def monthly(months: int, per_month: list[int], rate: float = 0.2, seed: int = 3) -> pd.DataFrame:
    """``per_month[i]`` labelled rows at the i-th of ``months`` month starts."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-01", periods=months, freq="MS")
    as_of = np.repeat(dates, per_month)
    default = (rng.random(len(as_of)) < rate).astype(float)
    return frame([str(d.date()) for d in as_of], default.tolist(), [True] * len(as_of))


def test_periods_chosen_from_the_data_hold_about_60_20_20() -> None:
    # Growing volumes: the chosen periods follow the rows, not the number of months.
    f = monthly(24, [100 + 20 * i for i in range(24)])
    split, choice = assign_splits(f, periods=None, shares=SHARES, seed=0)
    assert choice.kind == "out_of_time" and choice.chosen_by == "data"
    shares = split.value_counts(normalize=True)
    for name, target in SHARES.items():
        assert shares[name] == pytest.approx(target, abs=0.04), name
    assert choice.periods is not None
    train, cal, test = (choice.periods[s] for s in ("train", "calibration", "test"))
    assert train[1] < cal[0] and cal[1] < test[0]  # successive, the test period last
    # Whole dates: every as_of goes to one split only.
    assert (f.groupby("as_of").apply(lambda g: split[g.index].nunique()) == 1).all()
    assert "60%/20%/20%" in choice.reason


def test_too_few_dates_or_no_events_fall_back_to_the_random_split() -> None:
    two = monthly(2, [300, 300])
    assert choose_periods(two["as_of"], two["default"]).kind == "random_by_customer"
    # Defaults only in the first months: no three periods with events in each.
    f = monthly(6, [100] * 6)
    f["default"] = (f["as_of"] < "2022-03-01").astype(float)
    choice = choose_periods(f["as_of"], f["default"])
    assert choice.kind == "random_by_customer" and "defaults and non-defaults" in choice.reason
    split, _ = assign_splits(f, periods=None, shares=SHARES, seed=0)
    assert set(split.dropna()) == {"train", "calibration", "test"}


def test_a_hand_set_period_outside_the_data_names_the_setting() -> None:
    f = monthly(6, [50] * 6)
    late = {**PERIODS, "test": (date(2030, 1, 1), date(2030, 6, 1))}
    with pytest.raises(SplitError, match=r"split\.train.*null"):
        assign_splits(f, periods=late, shares=SHARES, seed=0)
