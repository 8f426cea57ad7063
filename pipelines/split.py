"""Stage split: train / calibration / test by as_of period (set by hand or chosen from the
data), or by customer when the data has too few as_of dates.

Usage: python -m pipelines.split --features data/features/features.parquet --out data/split
           --metrics reports/split.json
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from creditrisk.features.split import SPLITS, assign_splits, split_summary
from pipelines.support.files import reset_dir, write_json, write_table
from pipelines.support.params import load_params
from pipelines.support.stage import cli

log = logging.getLogger("pipelines.split")


def main(features: Path, out: Path, metrics: Path) -> None:
    p = load_params().split
    frame = pd.read_parquet(features)
    split, choice = assign_splits(
        frame,
        periods=p.periods(),
        shares=p.random_shares.model_dump(),
        seed=p.seed,
    )
    reset_dir(out)
    for name in SPLITS:
        write_table(frame[split == name].reset_index(drop=True), out / f"{name}.parquet")
    summary = split_summary(frame, split, choice)
    write_json(summary, metrics)
    log.info("%s split (%s): %s", choice.kind, choice.reason, {s: summary[s] for s in SPLITS})


if __name__ == "__main__":
    cli(main)
