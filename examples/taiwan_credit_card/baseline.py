"""The first model the pipeline must beat on the Taiwan statements: a plain LightGBM on the
raw columns (sex and age excluded), on the pipeline's own split, beside the pipeline's
calibrated test AUC.

Usage: python examples/taiwan_credit_card/baseline.py --project build/taiwan-credit-card
           [--seeds 5] [--bootstrap 1000]

Both models are scored on the same test customers (``data/split/test.parquet`` of the
project); the baseline trains on the train customers and stops early on the calibration
customers, once per seed. The AUC intervals are bootstrap 95% intervals over test rows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

SOURCE = Path(__file__).with_name("UCI_Credit_Card.csv.gz")
TARGET = "default.payment.next.month"
EXCLUDED = ("ID", "SEX", "AGE", TARGET)  # protected attributes are never features
PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "verbosity": -1,
    "num_threads": 2,
    "deterministic": True,
}


def bootstrap_auc(y: np.ndarray, score: np.ndarray, *, n: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        if y[i].min() != y[i].max():
            aucs.append(roc_auc_score(y[i], score[i]))
    low, high = np.quantile(aucs, [0.025, 0.975])
    return float(low), float(high)


def raw_split(project: Path, raw: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The raw rows of each split's customers (ids ``TW<ID>``, as convert.py writes)."""
    by_id = raw.set_index("TW" + raw["ID"].astype(str))
    out = {}
    for name in ("train", "calibration", "test"):
        ids = pd.read_parquet(project / "data/split" / f"{name}.parquet", columns=["customer_id"])
        out[name] = by_id.loc[ids["customer_id"]]
    return out


def baseline_scores(parts: dict[str, pd.DataFrame], seed: int) -> np.ndarray:
    """Test-period scores of the raw-column LightGBM trained with ``seed``."""
    columns = [c for c in parts["train"].columns if c not in EXCLUDED]
    data = {k: lgb.Dataset(v[columns], v[TARGET]) for k, v in parts.items() if k != "test"}
    booster = lgb.train(
        {**PARAMS, "seed": seed},
        data["train"],
        num_boost_round=3000,
        valid_sets=[data["calibration"]],
        callbacks=[lgb.early_stopping(100, verbose=False)],
    )
    return np.asarray(booster.predict(parts["test"][columns], num_iteration=booster.best_iteration))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path, required=True)
    ap.add_argument("--source", type=Path, default=SOURCE)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--bootstrap", type=int, default=1000)
    a = ap.parse_args()
    parts = raw_split(a.project, pd.read_csv(a.source))
    y = parts["test"][TARGET].to_numpy()
    aucs = [roc_auc_score(y, baseline_scores(parts, seed)) for seed in range(1, a.seeds + 1)]
    scores = pd.read_parquet(a.project / "data/predictions/predictions.parquet")
    test = scores[scores["split"] == "test"]
    pipeline = test.set_index("customer_id").loc[parts["test"].index]
    y_pipe = pipeline["default"].to_numpy()
    auc = float(roc_auc_score(y_pipe, pipeline["pd"]))
    seed_scores = baseline_scores(parts, 1)
    result = {
        "test_rows": len(y),
        "test_defaults": int(y.sum()),
        "raw_lightgbm_auc_mean": float(np.mean(aucs)),
        "raw_lightgbm_auc_per_seed": [round(float(v), 4) for v in aucs],
        "raw_lightgbm_auc_interval_seed1": bootstrap_auc(y, seed_scores, n=a.bootstrap, seed=1),
        "pipeline_auc": auc,
        "pipeline_auc_interval": bootstrap_auc(
            y_pipe, pipeline["pd"].to_numpy(), n=a.bootstrap, seed=1
        ),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
