"""Stage calibrate: map the model's margin to PD on the calibration period only.

The calibration period's early-stopping slice (see train) is left out, so the calibrator
is fitted on rows the model never looked at.

Usage: python -m pipelines.calibrate --models data/models --split data/split
           --out data/calibration --metrics reports/calibration.json
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import lightgbm as lgb
import mlflow
import pandas as pd
from creditrisk.models.calibration import Calibrator
from creditrisk.models.lgbm import margin
from creditrisk.models.matrix import FeatureSpec, design_matrix
from creditrisk.models.metrics import expected_calibration_error
from creditrisk.models.slices import early_stopping_mask
from scipy.special import expit

from pipelines import tracking
from pipelines.common import reset_dir, setup_logging, write_json
from pipelines.params import load_params

log = logging.getLogger("pipelines.calibrate")


def main(models: Path, split: Path, out: Path, metrics: Path) -> None:
    params = load_params()
    p = params.calibrate
    booster = lgb.Booster(model_file=str(models / "lightgbm.txt"))
    spec = FeatureSpec.from_dict(json.loads((models / "features.json").read_text()))
    calibration = pd.read_parquet(split / "calibration.parquet")
    held = ~early_stopping_mask(
        calibration, months=params.train.early_stopping_months, seed=params.train.seed
    )
    rows = calibration[held]
    y = rows["default"].to_numpy()
    m = margin(booster, design_matrix(rows, spec, table="calibration"))
    calibrator = Calibrator(p.method).fit(m, y)
    calibrated = calibrator.predict(m)
    summary = {
        "method": p.method,
        "rows": len(rows),
        "defaults": int(y.sum()),
        "default_rate": float(y.mean()),
        "mean_pd_raw": float(expit(m).mean()),
        "mean_pd_calibrated": float(calibrated.mean()),
        "ece_raw": expected_calibration_error(y, expit(m), bins=params.evaluate.ece_bins),
        "ece_calibrated": expected_calibration_error(y, calibrated, bins=params.evaluate.ece_bins),
    }
    reset_dir(out)
    write_json(calibrator.to_dict(), out / "calibration.json")
    write_json(summary, metrics)
    with tracking.resume_run(models / tracking.RUN_FILE):
        tracking.log_settings({"calibrate.method": p.method})
        tracking.log_numeric_metrics(tracking.flatten("calibration", summary))
        mlflow.log_artifact(str(out / "calibration.json"), artifact_path="model_inputs")
    log.info(
        "%s calibration on %d rows (%d defaults): mean PD %.4f -> %.4f (observed %.4f), "
        "ECE %.4f -> %.4f",
        p.method,
        summary["rows"],
        summary["defaults"],
        summary["mean_pd_raw"],
        summary["mean_pd_calibrated"],
        summary["default_rate"],
        summary["ece_raw"],
        summary["ece_calibrated"],
    )


if __name__ == "__main__":
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    args = parser.parse_args()
    main(args.models, args.split, args.out, args.metrics)
