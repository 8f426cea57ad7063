"""Stage evaluate: out-of-time performance of the calibrated model beside the challenger.

Writes ``reports/metrics.json`` (DVC metrics), curve data for ``dvc plots show``, figures
and tables under ``reports/evaluate/``, per-row predictions, and logs them to the MLflow
run of this pipeline run.

Usage: python -m pipelines.evaluate --models data/models --calibration data/calibration
           --split data/split --split-metrics reports/split.json
           --truth data/synthetic/truth.parquet --metrics reports/metrics.json
           --plots reports/plots --reports reports/evaluate --predictions data/predictions
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import lightgbm as lgb
import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from creditrisk.features.split import SPLITS
from creditrisk.governance.gate import GateError, GateThresholds, gate_failures
from creditrisk.models import metrics as mx
from creditrisk.models import plots
from creditrisk.models.calibration import Calibrator
from creditrisk.models.lgbm import margin
from creditrisk.models.matrix import FeatureSpec, design_matrix
from creditrisk.models.scorecard import ScorecardTable
from sklearn.metrics import roc_auc_score

from pipelines import tracking
from pipelines.common import reset_dir, setup_logging, write_json, write_table
from pipelines.params import Params, load_params

log = logging.getLogger("pipelines.evaluate")


def main(
    models: Path,
    calibration: Path,
    split: Path,
    split_metrics: Path,
    truth: Path,
    metrics: Path,
    plots_dir: Path,
    reports: Path,
    predictions: Path,
) -> None:
    params = load_params()
    e = params.evaluate
    spec = FeatureSpec.from_dict(json.loads((models / "features.json").read_text()))
    booster = lgb.Booster(model_file=str(models / "lightgbm.txt"))
    calibrator = Calibrator.from_dict(json.loads((calibration / "calibration.json").read_text()))
    card = ScorecardTable.from_dict(json.loads((models / "scorecard.json").read_text()))
    split_kind = json.loads(split_metrics.read_text())["kind"]
    frames = {name: pd.read_parquet(split / f"{name}.parquet") for name in SPLITS}
    preds = pd.concat(
        [_predict(f, name, booster, calibrator, card, spec, params) for name, f in frames.items()],
        ignore_index=True,
    )
    test = preds[preds["split"] == "test"]
    y = test["default"].to_numpy()
    result: dict[str, Any] = {"split_kind": split_kind}
    for name in SPLITS:
        part = preds[preds["split"] == name]
        result[name] = mx.classification_metrics(
            part["default"].to_numpy(), part["pd"].to_numpy(), ece_bins=e.ece_bins
        )
    result["challenger"] = {
        "test": mx.classification_metrics(y, test["challenger_pd"].to_numpy(), ece_bins=e.ece_bins)
    }
    if e.bootstrap:
        for key, score in (("test", test["pd"]), ("challenger", test["challenger_pd"])):
            target = result["challenger"]["test"] if key == "challenger" else result["test"]
            lo, hi = mx.bootstrap_auc(y, score.to_numpy(), n=e.bootstrap, seed=e.seed)
            target.update(auc_ci_low=lo, auc_ci_high=hi)
    result["development_gap"] = {
        "auc": result["train"]["auc"] - result["test"]["auc"],
        "ks": result["train"]["ks"] - result["test"]["ks"],
    }
    if params.data.is_synthetic and truth.exists():
        result["oracle"] = {"test": _oracle(test, truth)}
    by_grade = mx.calibration_by_group(y, test["pd"].to_numpy(), test["grade"].to_numpy())
    by_decile = mx.calibration_by_group(
        y, test["pd"].to_numpy(), mx.decile_groups(test["pd"].to_numpy())
    )
    result["calibration_by_grade"] = _records(by_grade)
    result["calibration_by_decile"] = _records(by_decile)
    by_month = _stability_by_month(frames, preds, spec, bins=e.psi_bins)
    result["psi_by_month"] = {
        "months": int(by_month["as_of"].nunique()),
        "score_max": float(by_month.loc[by_month["variable"] == "score", "psi"].max()),
    }

    reset_dir(reports)
    reset_dir(plots_dir)
    psi_table = _stability(frames["train"], frames["test"], preds, spec, bins=e.psi_bins)
    result["psi"] = {
        "score": float(psi_table.loc[psi_table["variable"] == "score", "psi"].iloc[0]),
        "max_feature": float(psi_table.loc[psi_table["variable"] != "score", "psi"].max()),
        "features_above_0_25": int(
            ((psi_table["variable"] != "score") & (psi_table["psi"] > 0.25)).sum()
        ),
    }
    bands = params.grade_bands
    tables = {
        "gains_lightgbm": mx.gains_table(y, test["pd"].to_numpy()),
        "gains_challenger": mx.gains_table(y, test["challenger_pd"].to_numpy()),
        "grades": mx.grade_table(y, test["pd"].to_numpy(), bands=bands),
        "calibration": mx.calibration_table(y, test["pd"].to_numpy(), bins=e.ece_bins),
        "psi": psi_table,
        "calibration_by_grade": by_grade,
        "calibration_by_decile": by_decile,
        "psi_by_month": by_month,
    }
    for name, table in tables.items():
        table.to_csv(reports / f"{name}.csv", index=False)
    result["grades"] = {
        row["grade"]: {"count": int(row["count"]), "observed_rate": row["observed_rate"]}
        for row in tables["grades"].to_dict("records")
    }
    g = e.gate
    failures = gate_failures(
        result[g.development],
        result["test"],
        result["psi"]["score"],
        GateThresholds(
            max_auc_gap=g.max_auc_gap, max_ks_gap=g.max_ks_gap, max_score_psi=g.max_score_psi
        ),
    )
    result["gate"] = {
        "passed": not failures,
        "development": g.development,
        "auc_gap": result[g.development]["auc"] - result["test"]["auc"],
        "ks_gap": result[g.development]["ks"] - result["test"]["ks"],
        "failures": failures,
        "on_failure": g.on_failure,
    }
    figures = _write_plots(test, result, tables, plots_dir, reports, ece_bins=e.ece_bins)
    figures["psi_by_month"] = plots.psi_by_month_figure(by_month)
    figures["psi_by_month"].savefig(reports / "psi_by_month.png", dpi=110)
    write_json(result, metrics)
    write_table(preds, predictions / "predictions.parquet")

    with tracking.resume_run(models / tracking.RUN_FILE):
        tracking.log_settings(tracking.flatten("evaluate", e.model_dump()))
        tracking.log_numeric_metrics(tracking.flatten("", {k: v for k, v in result.items()}))
        for name, fig in figures.items():
            mlflow.log_figure(fig, f"plots/{name}.png")
        mlflow.log_artifact(str(metrics), artifact_path="reports")
        mlflow.log_artifacts(str(reports), artifact_path="reports/evaluate")
        mlflow.log_artifacts(str(plots_dir), artifact_path="reports/plots")
    for fig in figures.values():
        plt.close(fig)
    _log_summary(result)
    if failures:
        message = "out-of-time gate failed:\n  " + "\n  ".join(failures)
        if g.on_failure == "error":
            raise GateError(
                message + "\n(outputs were written for review; set evaluate.gate.on_failure: "
                "warn to continue anyway)"
            )
        log.warning("%s\n(evaluate.gate.on_failure is 'warn': continuing)", message)


def _predict(
    frame: pd.DataFrame,
    name: str,
    booster: lgb.Booster,
    calibrator: Calibrator,
    card: ScorecardTable,
    spec: FeatureSpec,
    params: Params,
) -> pd.DataFrame:
    X = design_matrix(frame, spec, table=name)
    m = margin(booster, X)
    pd_ = calibrator.predict(m)
    s = params.scaling
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(),
            "as_of": frame["as_of"].to_numpy(),
            "split": name,
            "default": frame["default"].to_numpy(dtype="float64"),
            "margin": m,
            "pd": pd_,
            "score": mx.score_points(
                pd_, base_points=s.base_points, base_odds=s.base_odds, pdo=s.pdo
            ),
            "grade": mx.assign_grades(pd_, bands=params.grade_bands),
            "challenger_pd": card.predict_pd(X),
            "challenger_points": card.points(X),
        }
    )


def _records(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for record in table.to_dict("records"):
        row = {str(k): v for k, v in record.items()}
        out[str(row.pop("group"))] = row
    return out


def _stability_by_month(
    frames: dict[str, pd.DataFrame], preds: pd.DataFrame, spec: FeatureSpec, *, bins: int
) -> pd.DataFrame:
    """PSI of the score and of every feature, for each as_of month, against the train
    period (long format: as_of, variable, psi)."""
    rows = pd.concat(frames.values(), ignore_index=True)
    train, train_score = frames["train"], preds.loc[preds["split"] == "train", "score"]
    out = []
    for month, part in rows.groupby("as_of", sort=True):
        scores = preds.loc[preds["as_of"] == month, "score"]
        out.append(
            {"as_of": month, "variable": "score", "psi": mx.psi(train_score, scores, bins=bins)}
        )
        for f in spec.features:
            out.append({"as_of": month, "variable": f, "psi": mx.psi(train[f], part[f], bins=bins)})
    return pd.DataFrame(out)


def _oracle(test: pd.DataFrame, truth: Path) -> dict[str, float]:
    """AUC of the generator's true PD on the test rows it covers, beside the model's."""
    t = pd.read_parquet(truth)
    t["as_of"] = t["as_of"].astype("datetime64[us]")
    keyed = test.assign(as_of=test["as_of"].astype("datetime64[us]"))
    m = keyed.merge(t, on=["customer_id", "as_of"], how="inner")
    y = m["default"].to_numpy()
    return {
        "auc": float(roc_auc_score(y, m["true_pd"])),
        "model_auc_same_rows": float(roc_auc_score(y, m["pd"])),
        "coverage": len(m) / max(len(test), 1),
        "mean_true_pd": float(m["true_pd"].mean()),
    }


def _stability(
    train: pd.DataFrame, test: pd.DataFrame, preds: pd.DataFrame, spec: FeatureSpec, *, bins: int
) -> pd.DataFrame:
    rows = [
        {
            "variable": "score",
            "psi": mx.psi(
                preds.loc[preds["split"] == "train", "score"],
                preds.loc[preds["split"] == "test", "score"],
                bins=bins,
            ),
        }
    ]
    for f in spec.features:
        rows.append({"variable": f, "psi": mx.psi(train[f], test[f], bins=bins)})
    return pd.DataFrame(rows)


def _write_plots(
    test: pd.DataFrame,
    result: dict[str, Any],
    tables: dict[str, pd.DataFrame],
    plots_dir: Path,
    reports: Path,
    *,
    ece_bins: int,
) -> dict[str, Any]:
    y = test["default"].to_numpy()
    curves = {
        "lightgbm": mx.curve_points(y, test["pd"].to_numpy()),
        "challenger": mx.curve_points(y, test["challenger_pd"].to_numpy()),
    }
    for name, c in curves.items():
        c[["fpr", "tpr"]].to_csv(plots_dir / f"roc_{name}.csv", index=False)
    ks = curves["lightgbm"].rename(columns={"tpr": "defaults", "fpr": "non_defaults"})
    ks[["population_share", "defaults", "non_defaults"]].to_csv(plots_dir / "ks.csv", index=False)
    calib = {
        "lightgbm": tables["calibration"],
        "challenger": mx.calibration_table(y, test["challenger_pd"].to_numpy(), bins=ece_bins),
    }
    calib["lightgbm"][["predicted", "observed"]].to_csv(plots_dir / "calibration.csv", index=False)
    gains = pd.DataFrame(
        {
            "population_share": tables["gains_lightgbm"]["cum_population"],
            "lightgbm": tables["gains_lightgbm"]["cum_defaults_captured"],
            "challenger": tables["gains_challenger"]["cum_defaults_captured"],
        }
    )
    gains.to_csv(plots_dir / "gains.csv", index=False)
    aucs = {"lightgbm": result["test"]["auc"], "challenger": result["challenger"]["test"]["auc"]}
    figures = {
        "roc": plots.roc_figure(curves, aucs),
        "calibration": plots.calibration_figure(calib),
        "ks": plots.ks_figure(curves["lightgbm"], result["test"]["ks"]),
        "gains": plots.gains_figure(
            {"lightgbm": tables["gains_lightgbm"], "challenger": tables["gains_challenger"]}
        ),
        "psi": plots.psi_figure(tables["psi"]),
    }
    for name, fig in figures.items():
        fig.savefig(reports / f"{name}.png", dpi=110)
    return figures


def _log_summary(result: dict[str, Any]) -> None:
    t, c = result["test"], result["challenger"]["test"]
    log.info(
        "test (%d rows, default rate %.4f): AUC %.4f, KS %.1f, Brier %.5f, ECE %.4f; "
        "challenger AUC %.4f",
        t["n"],
        t["default_rate"],
        t["auc"],
        t["ks"],
        t["brier"],
        t["ece"],
        c["auc"],
    )
    if "oracle" in result:
        o = result["oracle"]["test"]
        log.info(
            "oracle AUC %.4f on %.0f%% of test rows (model on the same rows %.4f)",
            o["auc"],
            100 * o["coverage"],
            o["model_auc_same_rows"],
        )
    log.info("score PSI train -> test %.4f", result["psi"]["score"])


if __name__ == "__main__":
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in (
        "models",
        "calibration",
        "split",
        "split-metrics",
        "truth",
        "metrics",
        "plots",
        "reports",
        "predictions",
    ):
        parser.add_argument(f"--{flag}", type=Path, required=True)
    a = parser.parse_args()
    main(
        a.models,
        a.calibration,
        a.split,
        a.split_metrics,
        a.truth,
        a.metrics,
        a.plots,
        a.reports,
        a.predictions,
    )
