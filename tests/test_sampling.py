"""The training sample (train.max_rows): deterministic by key, every default kept, goods
weighted so the weighted default rate is the period's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditrisk.models.sampling import SampleError, training_sample


def _period(n: int = 20_000, rate: float = 0.05, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": rng.permutation(n).astype("int64"),
            "as_of": pd.Timestamp("2023-01-01")
            + pd.to_timedelta(rng.integers(0, 12, n) * 30, unit="D"),
            "default": (rng.random(n) < rate).astype("int8"),
            "x": rng.normal(size=n),
        }
    )


def _keys(frame: pd.DataFrame) -> set[tuple[int, pd.Timestamp]]:
    return set(zip(frame["customer_id"], frame["as_of"], strict=True))


def test_small_period_or_no_cap_is_the_period_itself() -> None:
    frame = _period(1000)
    for cap in (None, 1000, 5000):
        sample, weight, summary = training_sample(frame, max_rows=cap, seed=1)
        assert sample is frame
        assert (weight == 1).all()
        assert summary.good_share == 1.0 and summary.rows_kept == 1000


def test_sample_keeps_every_default_and_restores_the_default_rate() -> None:
    frame = _period()
    sample, weight, summary = training_sample(frame, max_rows=5000, seed=1)
    assert summary.rows_kept == len(sample)
    assert abs(len(sample) - 5000) < 200  # a draw, about the cap
    assert int(sample["default"].sum()) == int(frame["default"].sum())
    assert summary.defaults_in_period == int(frame["default"].sum())
    goods = sample["default"].to_numpy() == 0
    assert weight[~goods] == pytest.approx(1.0)
    assert weight[goods] == pytest.approx(1 / summary.good_share)
    assert np.average(sample["default"], weights=weight) == pytest.approx(
        frame["default"].mean(), rel=0.05
    )


def test_sample_depends_on_the_keys_not_the_row_order_and_is_nested() -> None:
    frame = _period()
    a, _, _ = training_sample(frame, max_rows=5000, seed=1)
    shuffled = frame.sample(frac=1.0, random_state=9).reset_index(drop=True)
    b, _, _ = training_sample(shuffled, max_rows=5000, seed=1)
    assert _keys(a) == _keys(b)
    larger, _, _ = training_sample(frame, max_rows=9000, seed=1)
    assert _keys(a) <= _keys(larger)
    other_seed, _, _ = training_sample(frame, max_rows=5000, seed=2)
    assert _keys(other_seed) != _keys(a)


def test_cap_below_the_defaults_names_the_setting() -> None:
    frame = _period()
    bad = int(frame["default"].sum())
    with pytest.raises(SampleError, match=r"train\.max_rows"):
        training_sample(frame, max_rows=bad, seed=1)


def test_read_rows_is_the_whole_read_filtered(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.support.files import read_rows

    rng = np.random.default_rng(0)
    n = 10_000
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i % 700}" for i in range(n)],
            "x": rng.normal(size=n),
            "k": rng.integers(0, 9, size=n),
            "segment": rng.choice(["a", "b", None], size=n),
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=1234)
    keep = rng.random(n) < 0.3
    expected = pd.read_parquet(path)[keep].reset_index(drop=True)
    pd.testing.assert_frame_equal(read_rows(path, keep), expected)
    pd.testing.assert_frame_equal(read_rows(path, keep, ["x", "k"]), expected[["x", "k"]])
    assert read_rows(path, np.zeros(n, dtype=bool)).columns.tolist() == list(frame.columns)
    with pytest.raises(ValueError, match="rows"):
        read_rows(path, keep[:-1])


def test_period_samples_are_uniform_nested_and_in_span(tmp_path: Path) -> None:
    from pipelines.support import samples
    from pipelines.support.artifacts import SplitDir

    frame = _period(n=30_000)
    frame.to_parquet(tmp_path / "train.parquet", row_group_size=4000)
    split = SplitDir(tmp_path)
    assert samples.count(split, "train") == len(frame)
    half = samples.read_sample(split, "train", share=0.5, seed=4)
    fifth = samples.read_sample(split, "train", share=0.2, seed=4)
    assert len(half) == pytest.approx(15_000, rel=0.03)
    assert len(fifth) == pytest.approx(6_000, rel=0.05)
    keys = ["customer_id", "as_of"]
    assert len(fifth.merge(half[keys], on=keys)) == len(fifth)  # nested
    assert half["default"].mean() == pytest.approx(frame["default"].mean(), rel=0.1)
    lo, hi = frame["as_of"].sort_values().iloc[[5000, 20000]]
    rows, total = samples.read_span(split, ["train"], (lo, hi), max_rows=4000, seed=4)
    assert total == int(frame["as_of"].between(lo, hi).sum())
    assert rows["as_of"].between(lo, hi).all()
    assert len(rows) == pytest.approx(4000, rel=0.06)
    everything, _ = samples.read_span(split, ["train"], (lo, hi), max_rows=10**9, seed=4)
    assert len(everything) == total


def test_iter_frames_skips_empty_row_groups_and_keeps_positions(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.support.files import iter_frames

    frame = _period(n=3000)
    path = tmp_path / "p.parquet"
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with pq.ParquetWriter(path, table.schema) as writer:  # as split writes: some groups empty
        for start in range(0, 3000, 500):
            writer.write_table(table.slice(start, 500))
            writer.write_table(table.slice(0, 0))
    batches = list(iter_frames(path, 1200))
    assert [first for first, _ in batches] == [0, 1500]
    assert all(len(b) for _, b in batches)
    pd.testing.assert_frame_equal(
        pd.concat([b for _, b in batches], ignore_index=True), pd.read_parquet(path)
    )
    empty = tmp_path / "e.parquet"
    pq.write_table(table.slice(0, 0), empty)
    [(first, only)] = list(iter_frames(empty, 10))
    assert first == 0 and only.empty and list(only.columns) == list(frame.columns)


def test_read_rows_keeps_whole_read_types_of_integers_with_nulls(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.support.files import read_rows

    table = pa.table({"k": pa.array([1, 2, None, 4], pa.int64()), "x": [0.1, 0.2, 0.3, 0.4]})
    path = tmp_path / "n.parquet"
    pq.write_table(table, path, row_group_size=2)
    keep = np.array([True, True, False, False])  # the kept rows hold no null
    expected = pd.read_parquet(path)[keep].reset_index(drop=True)
    pd.testing.assert_frame_equal(read_rows(path, keep), expected)  # float64, as whole
