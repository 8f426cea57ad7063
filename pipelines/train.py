"""Stage train: LightGBM default model and the WoE scorecard challenger, tracked in MLflow.

Usage: python -m pipelines.train --split data/split --dictionary data/features/dictionary.json
           --out data/models --metrics reports/train.json
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from pathlib import Path

import mlflow
import mlflow.lightgbm
import pandas as pd

from creditrisk.contract import SNAPSHOT_KEY
from creditrisk.governance.monotonicity import check_monotonicity
from creditrisk.models.sampling import sample_rows
from creditrisk.models.training import (
    EarlyStopping,
    ScorecardSettings,
    TrainingResult,
    TrainingSettings,
    fit_models,
)
from pipelines.support import tracking
from pipelines.support.artifacts import ModelsDir, SplitDir, read_json
from pipelines.support.files import read_rows, reset_dir, write_json, write_table
from pipelines.support.params import Params, load_params
from pipelines.support.stage import cli

log = logging.getLogger("pipelines.train")


def main(split: Path, dictionary: Path, out: Path, metrics: Path) -> None:
    params = load_params()
    periods = SplitDir(split)
    # A train period above train.max_rows is sampled from its keys and label, and only
    # the kept rows are read: memory holds the sample, never the period.
    keys = pd.read_parquet(periods.period("train"), columns=[*SNAPSHOT_KEY, "default"])
    keep, drawn = sample_rows(keys, max_rows=params.train.max_rows, seed=params.train.seed)
    train = read_rows(periods.period("train"), keep)
    # Of the calibration period only the early-stopping rows are read whole; the keys
    # decide which they are.
    calibration = pd.read_parquet(periods.period("calibration"), columns=list(SNAPSHOT_KEY))
    roles = EarlyStopping.roles_of(calibration, settings(params))
    stopping = read_rows(periods.period("calibration"), roles["early_stopping"].to_numpy())
    result = fit_models(
        train,
        EarlyStopping(roles, stopping),
        read_json(dictionary),
        protected=params.features.protected,
        settings=settings(params),
        drawn=drawn,
    )
    models = ModelsDir(out)
    reset_dir(out)
    result.booster.save_model(str(models.lightgbm), num_iteration=result.booster.best_iteration)
    write_json(result.spec.to_dict(), models.feature_spec)
    write_json(result.scorecard.to_dict(), models.scorecard)
    result.direction_review.to_csv(models.monotone_review, index=False)
    result.pruning.to_csv(models.pruning, index=False)
    write_table(result.calibration_roles, models.calibration_roles)
    if result.trials:
        write_json(result.trials, models.search_trials)
    write_json(result.summary.to_dict(), metrics)
    inputs = {"train": periods.period("train"), "calibration": periods.period("calibration")}
    with tracking.new_run(models.run_file, run_name="pipeline", tags=tracking.lineage_tags(inputs)):
        _track(result, params, models, dictionary, {"train": keys, "calibration": calibration})
    check_monotonicity(result.sweeps)  # fails the stage, naming the features
    s = result.summary
    log.info(
        "monotonicity verified on %d constrained features; LightGBM: %d trees in %.1f s, "
        "early-stopping AUC %.4f; challenger: %d variables, AUC %.4f",
        s.monotone_features_verified,
        s.best_iteration,
        s.fit_seconds,
        s.early_stopping_auc,
        s.challenger_variables,
        s.challenger_early_stopping_auc,
    )


def settings(params: Params) -> TrainingSettings:
    """The training settings from the train, challenger and scaling sections."""
    p, c, sc = params.train, params.challenger, params.scaling
    return TrainingSettings(
        lightgbm=p.lightgbm_params(),
        exclude=p.exclude,
        monotone=p.monotone_constraints,
        early_stopping_months=p.early_stopping_months,
        early_stopping_slice=p.early_stopping_slice,
        early_stopping_rounds=p.early_stopping_rounds,
        num_boost_round=p.num_boost_round,
        seed=p.seed,
        search_trials=p.search.n_trials if p.search.enabled else 0,
        search_timeout_seconds=60 * p.search.timeout_minutes,
        check_rows=p.monotone_check.rows,
        check_grid=p.monotone_check.grid,
        check_tolerance=p.monotone_check.tolerance,
        prune_max_abs_corr=p.prune.max_abs_corr if p.prune.enabled else None,
        prune_rows=p.prune.rows,
        max_rows=p.max_rows,
        scorecard=ScorecardSettings(**c.model_dump(), **sc.model_dump()),
    )


def _span(frame: pd.DataFrame) -> str:
    """The as_of range of a period, as the split stage chose it."""
    return f"{frame['as_of'].min().date()}..{frame['as_of'].max().date()}" if len(frame) else ""


def _track(
    result: TrainingResult,
    params: Params,
    models: ModelsDir,
    dictionary: Path,
    periods: dict[str, pd.DataFrame],
) -> None:
    """Parameters, metrics, the model and its inputs into this pipeline run's MLflow run."""
    p, sp = params.train, params.split
    mlflow.log_params(
        {
            **tracking.flatten(
                "train",
                {**result.lightgbm_params, **p.model_dump(exclude={"search", "prune"})},
            ),
            **tracking.flatten("train.search", p.search.model_dump()),
            **tracking.flatten("train.prune", p.prune.model_dump()),
            **tracking.flatten("challenger", params.challenger.model_dump()),
            **tracking.flatten("labels", params.labels.model_dump()),
            **{f"split.{n}": _span(frame) for n, frame in periods.items()},
            "split.chosen_by": "params" if sp.periods() else "data",
        }
    )
    tracking.log_numeric_metrics(tracking.flatten("train", result.summary.to_dict()))
    # The requirements given: MLflow would otherwise infer them in a subprocess (seconds).
    requirement = f"lightgbm=={version('lightgbm')}"
    mlflow.lightgbm.log_model(result.booster, name="lightgbm", pip_requirements=[requirement])
    files = [models.feature_spec, models.scorecard, dictionary]
    files += [models.search_trials] if result.trials else []
    for path in files:
        mlflow.log_artifact(str(path), artifact_path="model_inputs")
    mlflow.log_artifact(str(models.monotone_review), artifact_path="reports")
    mlflow.log_artifact(str(models.pruning), artifact_path="reports")


if __name__ == "__main__":
    cli(main)
