"""Stages train, calibrate and evaluate on a small synthetic run, tracked in a temporary
MLflow store: outputs, metrics, the MLflow run, and run-to-run reproducibility."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from pipelines import calibrate, evaluate, features, generate, ingest, split, train, validate
from tests.conftest import REPO, set_params


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project folder with a split feature table from 1,500 synthetic customers."""
    folder = tmp_path_factory.mktemp("model-stages")
    shutil.copy(REPO / "params.yaml", folder / "params.yaml")
    set_params(folder, generate={"n_customers": 1500})
    set_params(folder, train={"num_boost_round": 300, "learning_rate": 0.08})
    set_params(folder, evaluate={"bootstrap": 30})
    cwd, uri = Path.cwd(), os.environ.get("MLFLOW_TRACKING_URI")
    os.chdir(folder)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    try:
        generate.main(folder / "data/synthetic/raw", folder / "data/synthetic/truth.parquet")
        ingest.main(folder / "data/synthetic/raw", folder / "data/raw", folder / "ingest.json")
        validate.main(
            folder / "data/raw", folder / "data/validated", folder / "quar", folder / "val"
        )
        features.main(folder / "data/validated", folder / "data/features", folder / "f.json")
        split.main(
            folder / "data/features/features.parquet",
            folder / "data/split",
            folder / "reports/split.json",
        )
        yield folder
    finally:
        os.chdir(cwd)
        if uri is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = uri


def _run_model_stages(folder: Path, tag: str) -> dict:
    models, cal = folder / f"{tag}/models", folder / f"{tag}/calibration"
    train.main(
        folder / "data/split",
        folder / "data/features/dictionary.json",
        models,
        folder / f"{tag}/train.json",
    )
    calibrate.main(models, folder / "data/split", cal, folder / f"{tag}/calibration.json")
    evaluate.main(
        models,
        cal,
        folder / "data/split",
        folder / "reports/split.json",
        folder / "data/synthetic/truth.parquet",
        folder / f"{tag}/metrics.json",
        folder / f"{tag}/plots",
        folder / f"{tag}/evaluate",
        folder / f"{tag}/predictions",
    )
    return json.loads((folder / f"{tag}/metrics.json").read_text())


@pytest.fixture(scope="module")
def first_run(prepared: Path) -> dict:
    return _run_model_stages(prepared, "a")


def test_metrics_cover_the_issue_keys(prepared: Path, first_run: dict) -> None:
    m = first_run
    for key in ("auc", "gini", "ks", "brier", "log_loss", "ece", "auc_ci_low", "auc_ci_high"):
        assert key in m["test"], key
    assert m["split_kind"] == "out_of_time"
    assert 0.7 < m["test"]["auc"] < 1.0
    assert m["test"]["auc_ci_low"] < m["test"]["auc"] < m["test"]["auc_ci_high"]
    assert 0.6 < m["challenger"]["test"]["auc"] < 1.0
    assert m["oracle"]["test"]["coverage"] == 1.0
    assert m["oracle"]["test"]["auc"] > m["test"]["auc"] - 0.05
    assert m["test"]["gini"] == pytest.approx(2 * m["test"]["auc"] - 1)
    assert m["test"]["ece"] < 0.05
    assert sum(g["count"] for g in m["grades"].values()) == m["test"]["n"]
    assert m["psi"]["score"] >= 0


def test_outputs_for_dvc_plots_and_reports(prepared: Path, first_run: dict) -> None:
    plots = prepared / "a/plots"
    for name in ("roc_lightgbm", "roc_challenger", "ks", "calibration", "gains"):
        frame = pd.read_csv(plots / f"{name}.csv")
        assert len(frame) > 5, name
    roc = pd.read_csv(plots / "roc_lightgbm.csv")
    assert roc["fpr"].is_monotonic_increasing and roc["tpr"].iloc[-1] == pytest.approx(1.0)
    for name in ("roc", "calibration", "ks", "gains", "psi"):
        assert (prepared / f"a/evaluate/{name}.png").stat().st_size > 5000
    gains = pd.read_csv(prepared / "a/evaluate/gains_lightgbm.csv")
    assert gains["cum_defaults_captured"].iloc[-1] == pytest.approx(1.0)
    preds = pd.read_parquet(prepared / "a/predictions/predictions.parquet")
    assert set(preds["split"]) == {"train", "calibration", "test"}
    assert preds["pd"].between(0, 1).all()
    # A higher PD never gets more points.
    ordered = preds.sort_values("pd")
    assert ordered["score"].is_monotonic_decreasing
    calibration = json.loads((prepared / "a/calibration/calibration.json").read_text())
    assert calibration["method"] == "isotonic"
    assert (prepared / "a/models/lightgbm.txt").read_text().startswith("tree")


def test_mlflow_run_holds_params_metrics_model_and_lineage(
    prepared: Path, first_run: dict
) -> None:
    import mlflow

    run_id = json.loads((prepared / "a/models/mlflow_run.json").read_text())["run_id"]
    client = mlflow.MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    run = client.get_run(run_id)
    assert run.data.metrics["test.auc"] == pytest.approx(first_run["test"]["auc"])
    assert run.data.metrics["challenger.test.auc"] == pytest.approx(
        first_run["challenger"]["test"]["auc"]
    )
    assert run.data.params["train.num_leaves"] == "15"
    assert run.data.params["calibrate.method"] == "isotonic"
    assert len(run.data.tags["git.commit"]) >= 7
    assert len(run.data.tags["input.train.md5"]) == 32
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"plots", "reports", "model_inputs"} <= artifacts
    plots = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert "plots/roc.png" in plots and "plots/calibration.png" in plots
    models = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    assert any(m.source_run_id == run_id and m.name == "lightgbm" for m in models)


def test_same_data_and_params_give_identical_metrics(prepared: Path, first_run: dict) -> None:
    second = _run_model_stages(prepared, "b")
    assert second == first_run
    a = (prepared / "a/models/lightgbm.txt").read_text()
    b = (prepared / "b/models/lightgbm.txt").read_text()
    assert a == b


def test_resuming_needs_the_run_of_train(prepared: Path, first_run: dict) -> None:
    from pipelines.tracking import TrackingError

    stray = prepared / "stray/models"
    shutil.copytree(prepared / "a/models", stray)
    (stray / "mlflow_run.json").write_text(json.dumps({"run_id": "0" * 32}))
    with pytest.raises(TrackingError, match="not in the tracking store"):
        calibrate.main(stray, prepared / "data/split", prepared / "stray/cal", prepared / "s.json")
