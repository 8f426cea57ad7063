"""The LightGBM default-probability model: training with early stopping, optional search."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

log = logging.getLogger(__name__)

# Fixed for every run: what makes a LightGBM run repeatable and quiet.
BASE_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": "auc",
    "deterministic": True,
    "force_row_wise": True,
    "verbosity": -1,
}


def train_lightgbm(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    X_valid: pd.DataFrame,
    y_valid: np.ndarray,
    params: Mapping[str, Any],
    monotone: list[int],
    num_boost_round: int,
    early_stopping_rounds: int,
    weight: np.ndarray | None = None,
) -> lgb.Booster:
    """Fit a binary LightGBM on (X, y), stopping when AUC on the validation slice stalls.

    Args:
        X, y: training matrix and 0/1 labels.
        weight: per training row (a sampled good's inverse share), None for 1 each.
        X_valid, y_valid: the early-stopping slice (never the test period).
        params: LightGBM parameters (learning rate, leaves, seed, threads, ...).
        monotone: per feature, the required direction of the effect on PD (+1, -1, 0).
        num_boost_round: upper bound on trees.
        early_stopping_rounds: rounds without improvement before stopping.

    Returns:
        The booster, truncated to its best iteration.
    """
    full = {**BASE_PARAMS, **params, "monotone_constraints": monotone}
    train_set = lgb.Dataset(X, label=y, weight=weight, free_raw_data=False)
    valid_set = lgb.Dataset(X_valid, label=y_valid, reference=train_set, free_raw_data=False)
    booster = lgb.train(
        full,
        train_set,
        num_boost_round=num_boost_round,
        valid_sets=[valid_set],
        valid_names=["early_stopping"],
        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False), _progress(100)],
    )
    log.info(
        "best iteration %d of %d, early-stopping AUC %.4f",
        booster.best_iteration,
        booster.current_iteration(),
        booster.best_score["early_stopping"]["auc"],
    )
    return booster


def margin(booster: lgb.Booster, X: pd.DataFrame) -> np.ndarray:
    """Raw margin (log-odds before calibration) of the booster's best iteration."""
    return np.asarray(
        booster.predict(X, raw_score=True, num_iteration=booster.best_iteration or None),
        dtype="float64",
    )


def search_lightgbm(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    X_valid: pd.DataFrame,
    y_valid: np.ndarray,
    params: Mapping[str, Any],
    monotone: list[int],
    num_boost_round: int,
    early_stopping_rounds: int,
    n_trials: int,
    timeout_seconds: float,
    seed: int,
    weight: np.ndarray | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Optuna TPE search of the main hyper-parameters on the early-stopping slice.

    Returns:
        The best parameters (``params`` updated) and one record per trial.
    """
    import optuna

    # One log line per trial is noise; the stage logs the search's result.
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        trial_params = {
            **params,
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 64, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 20, 2000, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
        }
        booster = train_lightgbm(
            X,
            y,
            weight=weight,
            X_valid=X_valid,
            y_valid=y_valid,
            params=trial_params,
            monotone=monotone,
            num_boost_round=num_boost_round,
            early_stopping_rounds=early_stopping_rounds,
        )
        return float(roc_auc_score(y_valid, margin(booster, X_valid)))

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials, timeout=timeout_seconds)
    trials = [
        {"number": t.number, "auc": t.value, **t.params}
        for t in study.trials
        if t.value is not None
    ]
    return {**params, **study.best_params}, trials


def _progress(every: int) -> Any:
    def callback(env: lgb.callback.CallbackEnv) -> None:
        if (env.iteration + 1) % every == 0 and env.evaluation_result_list:
            _, metric, value, _ = env.evaluation_result_list[0][:4]
            log.info("round %d: early-stopping %s %.4f", env.iteration + 1, metric, value)

    return callback
