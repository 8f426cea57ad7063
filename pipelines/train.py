"""Stage train: LightGBM default model and the WoE scorecard challenger, tracked in MLflow.

Usage: python -m pipelines.train --split data/split --dictionary data/features/dictionary.json
           --out data/models --metrics reports/train.json
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import mlflow
import mlflow.lightgbm
import pandas as pd
from creditrisk.governance.monotonicity import (
    SweepResult,
    check_monotonicity,
    scorecard_trend,
    sweep_monotonicity,
)
from creditrisk.models.lgbm import margin, search_lightgbm, train_lightgbm
from creditrisk.models.matrix import design_matrix, feature_spec
from creditrisk.models.scorecard import ScorecardTable, fit_scorecard
from creditrisk.models.slices import early_stopping_mask
from sklearn.metrics import roc_auc_score

from pipelines import tracking
from pipelines.common import reset_dir, setup_logging, write_json
from pipelines.params import load_params

log = logging.getLogger("pipelines.train")


def main(split: Path, dictionary: Path, out: Path, metrics: Path) -> None:
    # optbinning 1.0 uses pandas idioms pandas 3 deprecates; they are not the user's concern.
    warnings.filterwarnings("ignore", category=pd.errors.Pandas4Warning, module="optbinning")
    params = load_params()
    p, c = params.train, params.challenger
    train = pd.read_parquet(split / "train.parquet")
    calibration = pd.read_parquet(split / "calibration.parquet")
    features_dict = json.loads(dictionary.read_text())
    stop = early_stopping_mask(calibration, months=p.early_stopping_months, seed=p.seed)
    valid = calibration[stop]
    spec = feature_spec(
        train,
        features_dict,
        exclude=(*p.exclude, *params.features.protected),
        monotone=p.monotone_constraints,
    )
    X, y = design_matrix(train, spec, table="train"), train["default"].to_numpy()
    Xv, yv = design_matrix(valid, spec, table="calibration"), valid["default"].to_numpy()
    log.info(
        "training on %d rows (%d defaults), %d features (%d monotone); early stopping on %d "
        "calibration rows",
        len(X),
        int(y.sum()),
        len(spec.features),
        sum(1 for v in spec.monotone.values() if v),
        len(Xv),
    )
    reset_dir(out)
    inputs = {"train": split / "train.parquet", "calibration": split / "calibration.parquet"}
    with tracking.new_run(
        out / tracking.RUN_FILE, run_name="pipeline", tags=tracking.lineage_tags(inputs)
    ):
        started = time.perf_counter()
        lgb_params = p.lightgbm_params()
        trials: list[dict] = []
        if p.search.enabled:
            log.info("Optuna search: up to %d trials", p.search.n_trials)
            lgb_params, trials = search_lightgbm(
                X,
                y,
                X_valid=Xv,
                y_valid=yv,
                params=lgb_params,
                monotone=spec.monotone_vector(),
                num_boost_round=p.num_boost_round,
                early_stopping_rounds=p.early_stopping_rounds,
                n_trials=p.search.n_trials,
                timeout_seconds=60 * p.search.timeout_minutes,
                seed=p.seed,
            )
            write_json(trials, out / "search_trials.json")
        booster = train_lightgbm(
            X,
            y,
            X_valid=Xv,
            y_valid=yv,
            params=lgb_params,
            monotone=spec.monotone_vector(),
            num_boost_round=p.num_boost_round,
            early_stopping_rounds=p.early_stopping_rounds,
        )
        seconds = time.perf_counter() - started
        booster.save_model(str(out / "lightgbm.txt"), num_iteration=booster.best_iteration)
        write_json(spec.to_dict(), out / "features.json")
        log.info("fitting the challenger scorecard")
        card = fit_scorecard(
            X,
            y,
            categorical=list(spec.categories),
            min_iv=c.min_iv,
            max_n_prebins=c.max_n_prebins,
            min_prebin_size=c.min_prebin_size,
            max_n_bins=c.max_n_bins,
            monotonic_trend=c.monotonic_trend,
            base_points=params.scaling.base_points,
            base_odds=params.scaling.base_odds,
            pdo=params.scaling.pdo,
        )
        write_json(card.to_dict(), out / "scorecard.json")
        sweeps = sweep_monotonicity(
            lambda frame: booster.predict(frame, raw_score=True),
            X,
            spec.monotone,
            rows=p.monotone_check.rows,
            grid=p.monotone_check.grid,
            seed=p.seed,
            tolerance=p.monotone_check.tolerance,
        )
        review = _direction_review(spec.monotone, features_dict, card, sweeps)
        review.to_csv(out / "monotone_review.csv", index=False)
        mlflow.log_artifact(str(out / "monotone_review.csv"), artifact_path="reports")
        check_monotonicity(sweeps)  # fails the stage, naming the features
        log.info(
            "monotonicity verified on %d constrained features (%d rows x up to %d points each)",
            len(sweeps),
            p.monotone_check.rows,
            p.monotone_check.grid,
        )
        summary = {
            "best_iteration": int(booster.best_iteration),
            "n_features": len(spec.features),
            "n_monotone": sum(1 for v in spec.monotone.values() if v),
            "train_rows": len(X),
            "early_stopping_rows": len(Xv),
            "early_stopping_auc": float(roc_auc_score(yv, margin(booster, Xv))),
            "train_auc": float(roc_auc_score(y, margin(booster, X))),
            "challenger_variables": len(card.variables),
            "challenger_early_stopping_auc": float(
                roc_auc_score(yv, card.predict_pd(design_matrix(valid, spec)))
            ),
            "search_trials": len(trials),
            "monotone_features_verified": len(sweeps),
            "scorecard_trend_disagrees": int((review["agrees"] == "no").sum()),
            "fit_seconds": round(seconds, 1),
        }
        write_json(summary, metrics)
        mlflow.log_params(
            {
                **tracking.flatten("train", {**lgb_params, **p.model_dump(exclude={"search"})}),
                **tracking.flatten("train.search", p.search.model_dump()),
                **tracking.flatten("challenger", c.model_dump()),
                **tracking.flatten("labels", params.labels.model_dump()),
                "split.train": f"{params.split.train[0]}..{params.split.train[1]}",
                "split.calibration": (
                    f"{params.split.calibration[0]}..{params.split.calibration[1]}"
                ),
                "split.test": f"{params.split.test[0]}..{params.split.test[1]}",
            }
        )
        tracking.log_numeric_metrics(tracking.flatten("train", summary))
        mlflow.lightgbm.log_model(booster, name="lightgbm")
        for name in ("features.json", "scorecard.json", *(["search_trials.json"] * bool(trials))):
            mlflow.log_artifact(str(out / name), artifact_path="model_inputs")
        mlflow.log_artifact(str(dictionary), artifact_path="model_inputs")
    log.info(
        "LightGBM: %d trees in %.1f s, early-stopping AUC %.4f; challenger: %d variables, AUC %.4f",
        summary["best_iteration"],
        seconds,
        summary["early_stopping_auc"],
        summary["challenger_variables"],
        summary["challenger_early_stopping_auc"],
    )


def _direction_review(
    monotone: dict[str, int],
    dictionary: dict[str, Any],
    card: ScorecardTable,
    sweeps: list[SweepResult],
) -> pd.DataFrame:
    """Per feature: the dictionary's declared direction, the event-rate trend the
    challenger's binning found (a proposal for review), and the sweep's verdict."""
    trends = {
        v.name: scorecard_trend(v.event_rate) for v in card.variables if v.kind == "numerical"
    }
    verdict = {r.feature: ("verified" if r.ok else "VIOLATED") for r in sweeps}
    rows = []
    for name, constrained in monotone.items():
        declared = int(dictionary.get(name, {}).get("direction", 0))
        trend = trends.get(name)
        agrees = (
            "n/a"
            if trend is None or trend == 0 or declared == 0
            else ("yes" if trend == declared else "no")
        )
        rows.append(
            {
                "feature": name,
                "declared_direction": declared,
                "constrained": int(constrained),
                "scorecard_trend": trend if trend is not None else "",
                "agrees": agrees,
                "sweep": verdict.get(name, "not constrained"),
            }
        )
    return pd.DataFrame(rows)


if __name__ == "__main__":
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--dictionary", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    args = parser.parse_args()
    main(args.split, args.dictionary, args.out, args.metrics)
