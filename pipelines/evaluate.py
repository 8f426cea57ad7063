"""Stage evaluate: out-of-time performance of the calibrated model beside the challenger.

Writes ``reports/metrics.json`` (DVC metrics, the typed
:class:`creditrisk.models.evaluation.EvaluationReport`), curve data for
``dvc plots show``, figures and tables under ``reports/evaluate/``, per-row predictions,
and logs them to the MLflow run of this pipeline run.

Usage: python -m pipelines.evaluate --models data/models --calibration data/calibration
           --split data/split --split-metrics reports/split.json
           --truth data/synthetic/truth.parquet --metrics reports/metrics.json
           --plots reports/plots --reports reports/evaluate --predictions data/predictions
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import pandas as pd

from creditrisk.governance.gate import GateError, GateThresholds
from creditrisk.models import plots as figures
from creditrisk.models.evaluation import (
    Evaluation,
    EvaluationReport,
    EvaluationSettings,
    FittedModels,
    evaluate_model,
)
from pipelines.support import samples, tracking
from pipelines.support.artifacts import (
    CalibrationDir,
    EvaluateReports,
    ModelsDir,
    SplitDir,
    predictions_file,
    read_json,
)
from pipelines.support.files import iter_frames, reset_dir, write_json, write_table
from pipelines.support.loaders import read_booster, read_calibrator, read_scorecard, read_spec
from pipelines.support.params import Params, load_params
from pipelines.support.stage import cli

log = logging.getLogger("pipelines.evaluate")
BATCH_ROWS = 250_000  # calibration and test rows in memory at a time

# Curve data for `dvc plots` (dvc.yaml's plots section names these files and columns).
PLOT_FILES = {
    "roc_lightgbm": ["fpr", "tpr"],
    "roc_challenger": ["fpr", "tpr"],
    "ks": ["population_share", "defaults", "non_defaults"],
    "calibration": ["predicted", "observed"],
    "gains": ["population_share", "lightgbm", "challenger"],
}


def main(
    models: Path,
    calibration: Path,
    split: Path,
    split_metrics: Path,
    truth: Path,
    metrics: Path,
    plots: Path,
    reports: Path,
    predictions: Path,
) -> None:
    params = load_params()
    m = ModelsDir(models)
    fitted = FittedModels(
        booster=read_booster(m),
        calibrator=read_calibrator(CalibrationDir(calibration)),
        scorecard=read_scorecard(m),
        spec=read_spec(m),
    )
    oracle = pd.read_parquet(truth) if params.data.is_synthetic and truth.exists() else None
    oracle = oracle if oracle is not None and len(oracle) else None  # real data: no oracle
    ev = evaluate_model(
        _reader(
            SplitDir(split), max_train_rows=params.evaluate.train_rows, seed=params.evaluate.seed
        ),
        fitted,
        split_kind=read_json(split_metrics)["kind"],
        settings=settings(params),
        calibration_roles=pd.read_parquet(m.calibration_roles),
        truth=oracle,
    )
    _write(ev, metrics, plots, reports, predictions)
    with tracking.resume_run(m.run_file):
        tracking.log_settings(tracking.flatten("evaluate", params.evaluate.model_dump()))
        tracking.log_numeric_metrics(tracking.flatten("", ev.report.to_dict()))
        mlflow.log_artifact(str(metrics), artifact_path="reports")
        mlflow.log_artifacts(str(reports), artifact_path="reports/evaluate")
        mlflow.log_artifacts(str(plots), artifact_path="reports/plots")
        for png in sorted(reports.glob("*.png")):
            mlflow.log_artifact(str(png), artifact_path="plots")
    _log_summary(ev.report)
    _apply_gate(ev.report)


def _reader(
    split: SplitDir, *, max_train_rows: int, seed: int
) -> Callable[[str], pd.DataFrame | Iterator[pd.DataFrame]]:
    """The train period as one frame, a uniform hash sample beyond ``max_train_rows``
    (every row alike, so its metrics and PSI bins are the period's in expectation,
    without weights); the other periods in batches of BATCH_ROWS."""

    def read(name: str) -> pd.DataFrame | Iterator[pd.DataFrame]:
        if name != "train":
            return (frame for _, frame in iter_frames(split.period(name), BATCH_ROWS))
        n = samples.count(split, name)
        if n <= max_train_rows:
            return split.read(name)
        rows = samples.read_sample(split, name, share=max_train_rows / n, seed=seed)
        log.info(
            "evaluate.train_rows: the train period measured on %d of its %d rows", len(rows), n
        )
        return rows

    return read


def settings(params: Params) -> EvaluationSettings:
    """The evaluation settings from the evaluate, grades and scaling sections."""
    e, s = params.evaluate, params.scaling
    return EvaluationSettings(
        ece_bins=e.ece_bins,
        psi_bins=e.psi_bins,
        bootstrap=e.bootstrap,
        seed=e.seed,
        bands=tuple(params.grade_bands),
        base_points=s.base_points,
        base_odds=s.base_odds,
        pdo=s.pdo,
        gate=GateThresholds(
            max_auc_gap=e.gate.max_auc_gap,
            max_ks_gap=e.gate.max_ks_gap,
            max_score_psi=e.gate.max_score_psi,
        ),
        gate_development=e.gate.development,
        gate_on_failure=e.gate.on_failure,
    )


def _write(ev: Evaluation, metrics: Path, plots: Path, reports: Path, predictions: Path) -> None:
    reset_dir(reports)
    reset_dir(plots)
    target = EvaluateReports(reports)
    for name, table in ev.tables.items():
        table.to_csv(target.table(name), index=False)
    for name, columns in PLOT_FILES.items():
        ev.curves[name][columns].to_csv(plots / f"{name}.csv", index=False)
    for name, fig in figures.evaluation_figures(ev).items():
        fig.savefig(target.figure(name), dpi=110)
        plt.close(fig)
    write_json(ev.report.to_dict(), metrics)
    write_table(ev.predictions, predictions_file(predictions))


def _apply_gate(report: EvaluationReport) -> None:
    """Stop the pipeline (on_failure: error) or warn when the out-of-time gate failed."""
    gate = report.gate
    if gate.passed:
        return
    message = "out-of-time gate failed:\n  " + "\n  ".join(gate.failures)
    if gate.on_failure == "error":
        raise GateError(
            message + "\n(outputs were written for review; set evaluate.gate.on_failure: "
            "warn to continue anyway)"
        )
    log.warning("%s\n(evaluate.gate.on_failure is 'warn': continuing)", message)


def _log_summary(r: EvaluationReport) -> None:
    t, c = r.test, r.challenger.test
    log.info(
        "test (%d rows, default rate %.4f): AUC %.4f, KS %.1f, Brier %.5f, ECE %.4f; "
        "challenger AUC %.4f",
        t.n,
        t.default_rate,
        t.auc,
        t.ks,
        t.brier,
        t.ece,
        c.auc,
    )
    if r.oracle is not None:
        o = r.oracle.test
        log.info(
            "oracle AUC %.4f on %.0f%% of test rows (model on the same rows %.4f)",
            o.auc,
            100 * o.coverage,
            o.model_auc_same_rows,
        )
    log.info("score PSI train -> test %.4f", r.psi.score)


if __name__ == "__main__":
    cli(main)
