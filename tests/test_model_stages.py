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

from creditrisk.models.pyfunc import load_scorer_folder
from pipelines import calibrate, evaluate, train
from pipelines.support.artifacts import ModelsDir
from tests.conftest import set_params
from tests.pipeline_run import copy_of_shared_run, session_base

# Every test here runs on a whole small pipeline run (HTTP serving and Spark included).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Path]:
    """A project folder with a split feature table: the session's shared small run up to
    split (its models, registry and exported scorer removed: these tests make their own)."""
    folder = copy_of_shared_run(
        session_base(tmp_path_factory, worker_id), tmp_path_factory.mktemp("model-stages") / "p"
    )
    for made in ("mlflow.db", "mlartifacts", "data/models", "data/scorer", "data/candidate"):
        path = folder / made
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    cwd, uri = Path.cwd(), os.environ.get("MLFLOW_TRACKING_URI")
    os.chdir(folder)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    try:
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
    assert calibration["method"] == "sigmoid"
    assert (prepared / "a/models/lightgbm.txt").read_text().startswith("tree")


def test_mlflow_run_holds_params_metrics_model_and_lineage(prepared: Path, first_run: dict) -> None:
    import mlflow

    run_id = json.loads((prepared / "a/models/mlflow_run.json").read_text())["run_id"]
    client = mlflow.MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    run = client.get_run(run_id)
    assert run.data.metrics["test.auc"] == pytest.approx(first_run["test"]["auc"])
    assert run.data.metrics["challenger.test.auc"] == pytest.approx(
        first_run["challenger"]["test"]["auc"]
    )
    assert run.data.params["train.num_leaves"] == "7"
    assert run.data.tags["calibrate.method"] == "sigmoid"
    assert len(run.data.tags["git.commit"]) >= 7
    assert len(run.data.tags["input.train.md5"]) == 32
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"plots", "reports", "model_inputs"} <= artifacts
    plots = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert "plots/roc.png" in plots and "plots/calibration.png" in plots
    models = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    assert any(m.source_run_id == run_id and m.name == "lightgbm" for m in models)


def test_gate_measures_development_on_part_of_the_calibration_period(first_run: dict) -> None:
    gate = first_run["gate"]
    calibration_rows = first_run["calibration"]["n"]
    # the calibration months nearest the test (which rows: tests/test_models.py)
    assert 0 < gate["development_rows"] < calibration_rows
    assert gate["auc_gap"] == pytest.approx(gate["development_auc"] - first_run["test"]["auc"])
    lo, hi = gate["auc_gap_interval"]
    assert lo < gate["auc_gap"] < hi
    lo, hi = gate["ks_gap_interval"]
    assert lo < gate["ks_gap"] < hi


def test_same_data_and_params_give_identical_metrics(prepared: Path, first_run: dict) -> None:
    second = _run_model_stages(prepared, "b")
    assert second == first_run
    a = (prepared / "a/models/lightgbm.txt").read_text()
    b = (prepared / "b/models/lightgbm.txt").read_text()
    assert a == b


def test_sampled_training_stays_calibrated_and_within_the_auc_interval(
    prepared: Path, first_run: dict
) -> None:
    """train.max_rows at a third of the train period: every default kept, the goods drawn
    and weighted; the PDs stay calibrated and the test AUC within the full run's interval.
    evaluate.train_rows at half: the train period measured on a uniform sample."""
    rows = len(pd.read_parquet(prepared / "data/split/train.parquet", columns=["default"]))
    before = (prepared / "params.yaml").read_text()
    set_params(prepared, train={"max_rows": rows // 3}, evaluate={"train_rows": rows // 2})
    try:
        sampled = _run_model_stages(prepared, "sampled")
    finally:
        (prepared / "params.yaml").write_text(before)
    sample = json.loads((prepared / "sampled/train.json").read_text())["sample"]
    assert sample["rows_in_period"] == rows
    assert sample["rows_kept"] == pytest.approx(rows // 3, rel=0.05)
    assert 0 < sample["good_share"] < 0.5
    kept = pd.read_parquet(prepared / "data/split/train.parquet", columns=["default"])
    assert sample["defaults_in_period"] == int(kept["default"].sum())
    full = first_run["test"]
    assert full["auc_ci_low"] <= sampled["test"]["auc"] <= full["auc_ci_high"]
    assert sampled["test"]["ece"] < 0.05
    assert sampled["test"]["n"] == full["n"]  # only the train period is sampled
    assert sampled["calibration"]["n"] == first_run["calibration"]["n"]
    assert sampled["train"]["n"] == pytest.approx(rows // 2, rel=0.1)
    assert sampled["train"]["default_rate"] == pytest.approx(
        first_run["train"]["default_rate"], rel=0.15
    )


def test_calibration_in_batches_is_the_whole_read(
    prepared: Path, first_run: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """calibrate reads its period in batches of row groups (a batch may lie wholly in the
    early-stopping slice): the calibrator is the one fitted on a whole read."""
    from pipelines.support.files import iter_frames

    split = prepared / "batched_split"
    shutil.copytree(prepared / "data/split", split)
    period = split / "calibration.parquet"
    pd.read_parquet(period).to_parquet(period, row_group_size=700)
    monkeypatch.setattr(calibrate, "BATCH_ROWS", 1)  # one row group per batch
    assert len(list(iter_frames(period, 1, ["as_of"]))) > 3
    calibrate.main(prepared / "a/models", split, prepared / "b1", prepared / "b1.json")
    whole = (prepared / "a/calibration/calibration.json").read_text()
    assert (prepared / "b1/calibration.json").read_text() == whole
    assert json.loads((prepared / "b1.json").read_text()) == json.loads(
        (prepared / "a/calibration.json").read_text()
    )


def test_evaluation_in_batches_is_the_whole_read(
    prepared: Path, first_run: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """evaluate reads the calibration and test periods in batches of row groups: the
    metrics, the PSI tables (summed bin counts) and the predictions of a whole read."""
    from pipelines import evaluate

    split = prepared / "batched_eval_split"
    shutil.copytree(prepared / "data/split", split)
    for name in ("calibration", "test"):
        period = split / f"{name}.parquet"
        pd.read_parquet(period).to_parquet(period, row_group_size=700)
    monkeypatch.setattr(evaluate, "BATCH_ROWS", 1)
    out = prepared / "batched_eval"
    evaluate.main(
        prepared / "a/models",
        prepared / "a/calibration",
        split,
        prepared / "reports/split.json",
        prepared / "data/synthetic/truth.parquet",
        out / "metrics.json",
        out / "plots",
        out / "evaluate",
        out / "predictions",
    )
    assert json.loads((out / "metrics.json").read_text()) == first_run
    for table in ("psi.csv", "psi_by_month.csv", "calibration_by_grade.csv"):
        assert (out / "evaluate" / table).read_text() == (
            prepared / "a/evaluate" / table
        ).read_text(), table
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "predictions/predictions.parquet"),
        pd.read_parquet(prepared / "a/predictions/predictions.parquet"),
    )


def test_resuming_needs_the_run_of_train(prepared: Path, first_run: dict) -> None:
    from pipelines.support.tracking import TrackingError

    stray = prepared / "stray/models"
    shutil.copytree(prepared / "a/models", stray)
    ModelsDir(stray).run_file.write_text(json.dumps({"run_id": "0" * 32}))
    with pytest.raises(TrackingError, match="not in the tracking store"):
        calibrate.main(stray, prepared / "data/split", prepared / "stray/cal", prepared / "s.json")


def _export(folder: Path, tag: str) -> dict:
    from pipelines import export

    export.main(
        folder / f"{tag}/models",
        folder / f"{tag}/calibration",
        folder / "data/features/dictionary.json",
        folder / "data/split",
        folder / f"{tag}/metrics.json",
        folder / "data/scorer",
        folder / f"{tag}/candidate",
        folder / f"{tag}/export.json",
    )
    return json.loads((folder / f"{tag}/export.json").read_text())


@pytest.fixture(scope="module")
def exported(prepared: Path, first_run: dict) -> Path:
    report = _export(prepared, "a")
    assert report["promotion"]["rule"] == "first_champion", report["promotion"]
    shutil.copytree(prepared / "data/scorer", prepared / "a/scorer")
    return prepared / "a/scorer"


def _test_rows(prepared: Path, n: int = 50) -> pd.DataFrame:
    return pd.read_parquet(prepared / "data/split/test.parquet").head(n)


CONTRACT = ["customer_id", "pd", "score", "grade", "credit_limit", "limit_policy"]


def test_export_registers_the_champion_and_loads_from_the_folder(
    prepared: Path, exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    report = json.loads((prepared / "a/export.json").read_text())
    run_id = json.loads((prepared / "a/models/mlflow_run.json").read_text())["run_id"]
    client = mlflow.MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    champion = client.get_model_version_by_alias("credit-default", "champion")
    assert str(champion.version) == str(report["model_version"]) and champion.run_id == run_id
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    from_registry = mlflow.pyfunc.load_model("models:/credit-default@champion")
    rows = _test_rows(prepared)
    expected = from_registry.predict(rows)
    # The folder needs no tracking server: point MLflow at one that does not exist.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    mlflow.set_tracking_uri("http://127.0.0.1:9")
    model = mlflow.pyfunc.load_model(str(exported))
    out = model.predict(rows)
    pd.testing.assert_frame_equal(out, expected)
    assert list(out.columns[: len(CONTRACT)]) == CONTRACT
    assert {"reason_1", "reason_text_1", "model_version"} <= set(out.columns)
    assert (out["model_version"] == f"credit-default/{report['model_version']}").all()
    assert out["customer_id"].tolist() == rows["customer_id"].tolist()
    assert not [p for p in exported.rglob("*") if p.suffix in (".pkl", ".pickle", ".cloudpickle")]
    assert (exported / "artifacts/lightgbm.txt").exists()
    assert (exported / "artifacts/policy.json").exists()
    with pytest.raises(mlflow.exceptions.MlflowException, match="dpd_current"):
        model.predict(rows.drop(columns=["dpd_current"]))
    # The signature's one parameter: reasons=False, the decisions without reason codes
    # from the raw margin, as the in-process scorer's PD-only path gives them.
    assert [p.name for p in model.metadata.get_params_schema().params] == ["reasons"]
    plain = model.predict(rows, params={"reasons": False})
    direct = load_scorer_folder(exported).score(rows, reasons=False)
    pd.testing.assert_frame_equal(plain, direct.set_axis(plain.index))
    assert plain["reason_1"].isna().all() and out["reason_1"].notna().any()
    assert plain["pd"].to_numpy() == pytest.approx(out["pd"].to_numpy(), rel=1e-12)


def test_a_worse_model_stays_challenger_and_a_forced_one_is_tagged(
    prepared: Path, exported: Path
) -> None:
    """A model on two features is registered as @challenger; data/scorer keeps serving the
    champion. Forcing it needs a reason, which ends up as a tag on the version."""
    import mlflow

    from pipelines.support.params import ParamsError, load_params

    champion = json.loads((prepared / "a/export.json").read_text())["model_version"]
    spec = json.loads((prepared / "a/models/features.json").read_text())
    features = [f["name"] if isinstance(f, dict) else f for f in spec["features"]]
    keep = ["income_monthly", "months_on_book"]
    set_params(prepared, train={"exclude": [f for f in features if f not in keep]})
    try:
        _run_model_stages(prepared, "w")
        report = _export(prepared, "w")
        promotion = report["promotion"]
        assert report["alias"] == "challenger" and promotion["rule"] == "worse_than_champion"
        assert promotion["comparison"]["auc_difference"] < -0.005
        assert "below the champion" in promotion["reasons"][0]
        assert report["champion_version"] == champion
        served = (prepared / "data/scorer/MLmodel").read_text()
        assert f"model_version: credit-default/{champion}" in served
        client = mlflow.MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
        assert client.get_model_version_by_alias("credit-default", "champion").version == int(
            champion
        )
        set_params(prepared, export={"promotion": {"force": True, "reason": ""}})
        with pytest.raises(ParamsError, match="reason"):
            load_params()
        set_params(prepared, export={"promotion": {"force": True, "reason": "risk committee"}})
        forced = _export(prepared, "w")
        assert forced["alias"] == "champion" and forced["promotion"]["rule"] == "forced"
        version = client.get_model_version_by_alias("credit-default", "champion")
        assert version.version == forced["model_version"] != champion
        assert version.tags["promotion.forced_reason"] == "risk committee"
    finally:
        set_params(prepared, train={"exclude": []})
        set_params(prepared, export={"promotion": {"force": False, "reason": ""}})
        # the tests after this one serve the first model again
        shutil.rmtree(prepared / "data/scorer")
        shutil.copytree(exported, prepared / "data/scorer")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_served_over_http(prepared: Path, exported: Path) -> None:
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    import mlflow

    port = _free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [
        f"{bin_dir}/mlflow",
        "models",
        "serve",
        "-m",
        str(exported),
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {server.stderr.read()!r}")
            time.sleep(0.5)
        rows = _test_rows(prepared, 20)
        body = json.dumps(
            {"dataframe_split": json.loads(rows.to_json(orient="split", date_format="iso"))}
        ).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as r:
            served = pd.DataFrame(json.loads(r.read())["predictions"])
        local = mlflow.pyfunc.load_model(str(exported)).predict(rows)
        assert served["customer_id"].tolist() == local["customer_id"].tolist()
        assert served["grade"].tolist() == local["grade"].tolist()
        assert served["pd"].to_numpy() == pytest.approx(local["pd"].to_numpy(), rel=1e-9)
        assert served["credit_limit"].tolist() == local["credit_limit"].tolist()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_spark_udf_scores_a_spark_dataframe(prepared: Path, exported: Path) -> None:
    import sys

    import mlflow
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("creditrisk-test-udf")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    try:
        model = mlflow.pyfunc.load_model(str(exported))
        schema = model.metadata.get_input_schema()
        rows = _test_rows(prepared, 40)[schema.input_names()]
        sdf = spark.createDataFrame(rows)
        udf = mlflow.pyfunc.spark_udf(
            spark,
            str(exported),
            result_type="struct<customer_id:string, pd:double, grade:string, credit_limit:double>",
            env_manager="local",
        )
        scored = sdf.withColumn("s", udf(*schema.input_names())).select("s.*").toPandas()
        local = model.predict(rows)
        assert scored["customer_id"].tolist() == local["customer_id"].tolist()
        assert scored["pd"].to_numpy() == pytest.approx(local["pd"].to_numpy(), rel=1e-9)
        assert scored["grade"].tolist() == local["grade"].tolist()
    finally:
        spark.stop()


def test_score_stage_scores_the_latest_snapshot(prepared: Path, exported: Path) -> None:
    from pipelines import score

    score.main(
        prepared / "data/validated",
        exported,
        prepared / "actions",
        prepared / "scores",
        prepared / "s.json",
    )
    scores = pd.read_parquet(prepared / "scores/scores.parquet")
    report = json.loads((prepared / "s.json").read_text())
    assert report["as_of"] == "2026-01-01" and report["rows"] == len(scores) > 1000
    assert scores["customer_id"].is_unique
    assert scores["pd"].between(0, 1).all()
    assert sum(report["grades"].values()) == len(scores)
    assert set(scores["limit_policy"]) <= {
        "model:expected_loss_budget",
        "model:repayment_capacity",
        "model:product_max",
        "model:pd_cutoff",
    }
