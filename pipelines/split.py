"""Stage split: train / calibration / test by as_of period (set by hand or chosen from the
data), or by customer when the data has too few as_of dates.

Usage: python -m pipelines.split --features data/features/features.parquet --out data/split
           --metrics reports/split.json
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from creditrisk.contract import SNAPSHOT_KEY
from creditrisk.features.split import SPLITS, assign_splits, split_summary
from pipelines.support.files import reset_dir, write_json, write_row_subsets
from pipelines.support.params import load_params
from pipelines.support.stage import cli

log = logging.getLogger("pipelines.split")


def main(features: Path, out: Path, metrics: Path) -> None:
    p = load_params().split
    # The split needs the keys and the label only; the feature columns are copied row
    # group by row group to their period's file, never read into one frame.
    frame = pd.read_parquet(features, columns=[*SNAPSHOT_KEY, "default", "label_complete"])
    split, choice = assign_splits(
        frame,
        periods=p.periods(),
        shares=p.random_shares.model_dump(),
        seed=p.seed,
    )
    reset_dir(out)
    labels = split.to_numpy(dtype=object, na_value="")
    write_row_subsets(features, labels, {name: out / f"{name}.parquet" for name in SPLITS})
    summary = split_summary(frame, split, choice)
    write_json(summary, metrics)
    log.info("%s split (%s): %s", choice.kind, choice.reason, {s: summary[s] for s in SPLITS})


if __name__ == "__main__":
    cli(main)
