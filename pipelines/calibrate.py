"""Stage calibrate: map the model's margin to PD on the calibration period only.

The calibration period's early-stopping slice (see train) is left out, so the calibrator
is fitted on rows the model never looked at.

Usage: python -m pipelines.calibrate --models data/models --split data/split
           --out data/calibration --metrics reports/calibration.json
"""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import pandas as pd

from creditrisk.contract import SNAPSHOT_KEY
from creditrisk.models.calibration import calibrate_margin
from creditrisk.models.slices import held_out_margins
from pipelines.support import tracking
from pipelines.support.artifacts import CalibrationDir, ModelsDir, SplitDir
from pipelines.support.files import iter_frames, reset_dir, write_json
from pipelines.support.loaders import read_booster, read_spec
from pipelines.support.params import load_params
from pipelines.support.stage import cli

log = logging.getLogger("pipelines.calibrate")
BATCH_ROWS = 250_000  # calibration rows in memory at a time


def main(models: Path, split: Path, out: Path, metrics: Path) -> None:
    params = load_params()
    m = ModelsDir(models)
    spec = read_spec(m)
    batches = iter_frames(
        SplitDir(split).period("calibration"),
        BATCH_ROWS,
        [*SNAPSHOT_KEY, "default", *spec.features],
    )
    margins, labels = held_out_margins(
        (frame for _, frame in batches), read_booster(m), spec, pd.read_parquet(m.calibration_roles)
    )
    calibrator, summary = calibrate_margin(
        margins, labels, method=params.calibrate.method, ece_bins=params.evaluate.ece_bins
    )
    target = CalibrationDir(out)
    reset_dir(out)
    write_json(calibrator.to_dict(), target.calibrator)
    write_json(summary.to_dict(), metrics)
    with tracking.resume_run(m.run_file):
        tracking.log_settings({"calibrate.method": summary.method})
        tracking.log_numeric_metrics(tracking.flatten("calibration", summary.to_dict()))
        mlflow.log_artifact(str(target.calibrator), artifact_path="model_inputs")
    log.info(
        "%s calibration on %d rows (%d defaults): mean PD %.4f -> %.4f (observed %.4f), "
        "ECE %.4f -> %.4f",
        summary.method,
        summary.rows,
        summary.defaults,
        summary.mean_pd_raw,
        summary.mean_pd_calibrated,
        summary.default_rate,
        summary.ece_raw,
        summary.ece_calibrated,
    )


if __name__ == "__main__":
    cli(main)
