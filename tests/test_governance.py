"""Governance: the decision log round trip, input hashes, verified monotonicity, the
out-of-time gate, calibration by grade and stability by month."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from creditrisk.governance import decision_log as dlog
from creditrisk.governance.cli import main as explain_decision
from creditrisk.governance.gate import GateThresholds, gate_failures
from creditrisk.governance.monotonicity import (
    MonotonicityError,
    check_monotonicity,
    scorecard_trend,
    sweep_monotonicity,
)
from creditrisk.governance.pseudonym import pseudonym
from creditrisk.models import metrics as mx
from tests.conftest import set_params
from tests.pipeline_run import PSEUDONYM_KEY, copy_of_shared_run, inside, session_base

KEY = b"0123456789abcdef0123"


def _decisions(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(n)],
            "pd": np.linspace(0.01, 0.3, n),
            "score": np.linspace(650, 520, n),
            "grade": ["B"] * n,
            "credit_limit": [1500.0] * n,
            "limit_policy": ["model:expected_loss_budget"] * n,
            "model_limit": [1500.0] * n,
            "formula_limit": [2000.0] * n,
            "rating_rule": [""] * n,
            "reason_1": ["dpd_current"] * n,
            "reason_text_1": ["An installment is currently overdue"] * n,
            "reason_2": [None] * n,
            "reason_text_2": [None] * n,
        }
    )


def test_input_hash_is_stable_and_sensitive() -> None:
    a = pd.DataFrame({"x": [1.0, 2.0], "y": ["u", None], "z": [np.nan, 3]})
    first = dlog.input_hashes(a, ["x", "y", "z"])
    # Same values: same hash, whatever the column order, extra columns or int/float.
    b = a[["z", "y", "x"]].assign(extra=1, x=[1, 2])
    assert dlog.input_hashes(b, ["x", "y", "z"]) == first
    assert dlog.input_hashes(a.assign(z=[None, 3.0]), ["x", "y", "z"]) == first
    # Any change of a model input changes it.
    assert dlog.input_hashes(a.assign(x=[1.0, 2.0000001]), ["x", "y", "z"])[1] != first[1]
    # Float noise far below 12 significant digits (a parallel sum's last bits) does not.
    noisy = a.assign(x=[1.0 + 1e-15, 2.0])
    assert dlog.input_hashes(noisy, ["x", "y", "z"]) == first
    assert dlog.input_hashes(a, ["x", "y", "z"])[0] != first[1]
    assert len(first[0]) == 64


def test_log_record_round_trips_to_explain_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = pd.DataFrame(
        {"customer_id": ["C0000001", "C0000002"], "as_of": pd.to_datetime(["2025-01-01"] * 2)}
    ).assign(dpd_current=[0.0, 45.0])
    decisions = _decisions(2)
    lineage = {
        "model_name": "credit-default",
        "model_version": "credit-default/7",
        "model_alias": "champion",
        "mlflow_run_id": "abc123",
        "training_data": "feedbeef.dir",
    }
    when = datetime(2025, 1, 2, 9, 30, tzinfo=UTC)
    records = dlog.decision_records(
        inputs,
        decisions,
        features=["dpd_current"],
        lineage=lineage,
        key=KEY,
        reasons=2,
        logged_at=when,
    )
    path = dlog.append(tmp_path / "log", records)
    assert path is not None and path.parent.name == "decision_date=2025-01-02"
    with pytest.raises(FileExistsError):
        dlog.append(tmp_path / "log", records)  # a batch is never rewritten

    who = pseudonym("C0000002", KEY)
    assert explain_decision([who, "--log", str(tmp_path / "log"), "--date", "2025-01-02"]) == 0
    out = capsys.readouterr().out
    assert who in out and "C0000002" not in out
    for text in (
        "30.00%",
        "grade B",
        "1,500",
        "model:expected_loss_budget",
        "An installment is currently overdue",
        "credit-default/7",
        "abc123",
        "feedbeef.dir",
        records["input_hash"].iloc[1],
    ):
        assert text in out, text
    # Another date, or an unknown customer: nothing, and a non-zero exit.
    assert explain_decision([who, "--log", str(tmp_path / "log"), "--date", "2025-01-03"]) == 1
    assert explain_decision(["0" * 16, "--log", str(tmp_path / "log")]) == 1
    # The raw ids appear nowhere in the log's files.
    for file in (tmp_path / "log").rglob("*.parquet"):
        assert b"C000000" not in file.read_bytes()


def _monotone_data(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, 4000)
    other = rng.normal(size=4000)
    # Risk rises with x up to 6, then falls: a model free to follow it is not monotone.
    logit = -2 + 0.8 * np.minimum(x, 6) - 1.5 * np.maximum(x - 6, 0) + 0.3 * other
    y = (rng.random(4000) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"x": x, "other": other}), y


def _fit(x: pd.DataFrame, y: np.ndarray, monotone: list[int]) -> lgb.Booster:
    params = {
        "objective": "binary",
        "num_leaves": 7,
        "verbose": -1,
        "seed": 1,
        "monotone_constraints": monotone,
        "monotone_constraints_method": "intermediate",
    }
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=60)


def test_non_monotone_model_fails_the_check_and_a_constrained_one_passes() -> None:
    X, y = _monotone_data()
    free = _fit(X, y, [0, 0])
    results = sweep_monotonicity(
        lambda f: free.predict(f, raw_score=True), X, {"x": 1, "other": 0}, rows=100, grid=20
    )
    assert [r.feature for r in results] == ["x"]
    with pytest.raises(MonotonicityError, match=r"x \(declared \+1\)"):
        check_monotonicity(results)
    constrained = _fit(X, y, [1, 0])
    ok = sweep_monotonicity(
        lambda f: constrained.predict(f, raw_score=True), X, {"x": 1}, rows=100, grid=20
    )
    assert ok[0].ok and ok[0].worst_step == 0.0
    check_monotonicity(ok)
    assert scorecard_trend([0.01, 0.02, 0.05]) == 1
    assert scorecard_trend([0.05, 0.02, 0.02]) == -1
    assert scorecard_trend([0.01, 0.05, 0.02]) == 0


def test_gate_thresholds() -> None:
    dev = {"auc": 0.80, "ks": 45.0}
    th = GateThresholds(max_auc_gap=0.02, max_ks_gap=3, max_score_psi=0.25)
    assert gate_failures(dev, {"auc": 0.79, "ks": 43.0}, 0.05, th) == []
    failures = gate_failures(dev, {"auc": 0.75, "ks": 40.0}, 0.30, th)
    assert len(failures) == 3
    assert "AUC drops 0.0500" in failures[0] and "KS drops 5.00" in failures[1]
    assert "PSI" in failures[2]


def test_wilson_interval_and_deciles_by_hand() -> None:
    # 10 defaults in 100: Wilson 95% interval (0.0552, 0.1744).
    lo, hi = mx.wilson_interval(10, 100)
    assert lo == pytest.approx(0.0552, abs=1e-4) and hi == pytest.approx(0.1744, abs=1e-4)
    assert mx.wilson_interval(0, 50)[0] == 0.0
    groups = mx.decile_groups(np.array([0.5, 0.1, 0.3, 0.2, 0.4]), groups=5)
    assert list(groups) == [5, 1, 3, 2, 4]
    table = mx.calibration_by_group(
        np.array([1, 0, 0, 0]), np.array([0.3, 0.2, 0.1, 0.2]), np.array(["A", "A", "B", "B"])
    ).set_index("group")
    assert table.loc["A", "observed_rate"] == 0.5 and table.loc["A", "mean_pd"] == 0.25
    assert bool(table.loc["A", "pd_within_ci"])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Path]:
    """A copy of the session's shared run, as it stands after export (no decisions
    scored or logged yet)."""
    folder = copy_of_shared_run(
        session_base(tmp_path_factory, worker_id), tmp_path_factory.mktemp("governance") / "p"
    )
    for scored in ("data/decision_log", "data/scores"):
        shutil.rmtree(folder / scored, ignore_errors=True)
    with inside(folder):
        yield folder


@pytest.mark.slow
def test_score_stage_logs_every_decision(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines import score

    d = project / "data"
    score.main(
        d / "validated",
        d / "scorer",
        d / "actions",
        d / "scores",
        project / "score.json",
        d / "decision_log",
    )
    scores = pd.read_parquet(d / "scores/scores.parquet")
    files = list((d / "decision_log").rglob("*.parquet"))
    assert len(files) == 1
    log = pd.read_parquet(files[0])
    assert len(log) == len(scores)
    assert "customer_id" not in log.columns
    assert log["customer_pseudonym"].is_unique
    export = json.loads((project / "reports/export.json").read_text())
    assert set(log["mlflow_run_id"]) == {export["run_id"]}
    assert set(log["model_version"]) == {f"credit-default/{export['model_version']}"}
    np.testing.assert_allclose(log["pd"], scores["pd"])
    # Same inputs again: the same input hashes, in a second batch file.
    score.main(
        d / "validated",
        d / "scorer",
        d / "actions",
        d / "scores",
        project / "score.json",
        d / "decision_log",
    )
    files = sorted((d / "decision_log").rglob("*.parquet"))
    assert len(files) == 2
    both = [pd.read_parquet(f).set_index("customer_pseudonym")["input_hash"] for f in files]
    pd.testing.assert_series_equal(both[0].sort_index(), both[1].sort_index())
    # Round trip through the command, and no raw id anywhere in the log.
    one = scores.sort_values("pd").iloc[-1]
    who = pseudonym(one["customer_id"], PSEUDONYM_KEY.encode())
    assert explain_decision([who, "--log", str(d / "decision_log")]) == 0
    out = capsys.readouterr().out
    assert out.count("Decision ") == 2 and f"grade {one['grade']}" in out
    raw = set(scores["customer_id"])
    for f in files:
        text = pd.read_parquet(f).astype(str).to_string()
        assert not raw & set(re.findall(r"C\d{7}", text))


@pytest.mark.slow
def test_degraded_out_of_time_period_trips_the_gate(project: Path) -> None:
    from creditrisk.governance.gate import GateError
    from pipelines import evaluate

    degraded = project / "degraded"
    shutil.copytree(project / "data/split", degraded / "split")
    test = pd.read_parquet(degraded / "split/test.parquet")
    rng = np.random.default_rng(0)
    test["default"] = rng.permutation(test["default"].to_numpy())  # the model's signal is gone
    test.to_parquet(degraded / "split/test.parquet", index=False)

    def run(tag: str) -> dict:
        evaluate.main(
            project / "data/models",
            project / "data/calibration",
            degraded / "split",
            project / "reports/split.json",
            project / "data/synthetic/truth.parquet",
            degraded / f"{tag}.json",
            degraded / f"{tag}-plots",
            degraded / f"{tag}-evaluate",
            degraded / f"{tag}-predictions",
        )
        return json.loads((degraded / f"{tag}.json").read_text())

    set_params(project, evaluate={"gate": {"on_failure": "error", "max_auc_gap": 0.02}})
    with pytest.raises(GateError, match="AUC drops"):
        run("error")
    metrics = json.loads((degraded / "error.json").read_text())  # written for review
    assert metrics["gate"]["passed"] is False
    set_params(project, evaluate={"gate": {"on_failure": "warn"}})
    metrics = run("warn")
    assert metrics["gate"]["passed"] is False and metrics["gate"]["auc_gap"] > 0.2
    # Calibration by grade and stability by month are in the metrics and the reports.
    assert set(metrics["calibration_by_grade"]) <= {"A", "B", "C", "D", "E", "F", "G"}
    for row in metrics["calibration_by_grade"].values():
        assert row["ci_low"] <= row["observed_rate"] <= row["ci_high"]
    assert len(metrics["calibration_by_decile"]) == 10
    by_month = pd.read_csv(degraded / "warn-evaluate/psi_by_month.csv")
    splits = pd.concat(
        pd.read_parquet(degraded / f"split/{s}.parquet") for s in ("train", "calibration", "test")
    )
    assert (
        by_month["as_of"].nunique()
        == splits["as_of"].nunique()
        == metrics["psi_by_month"]["months"]
    )
    assert (degraded / "warn-evaluate/psi_by_month.png").stat().st_size > 10_000


@pytest.mark.slow
def test_decision_log_is_an_explicit_wrapper(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from creditrisk.governance.decision_log import LoggingScorer
    from creditrisk.models.pyfunc import scorer_lineage

    model = mlflow.pyfunc.load_model(str(project / "data/scorer"))
    names = [c.name for c in model.metadata.get_input_schema().inputs]
    rows = pd.read_parquet(project / "data/split/test.parquet").head(5)
    # The exported model never logs, whatever the environment says.
    monkeypatch.setenv("CREDITRISK_DECISION_LOG", str(tmp_path / "env-log"))
    plain = model.predict(rows[names])
    assert not (tmp_path / "env-log").exists()
    logged = LoggingScorer(
        model,
        log=tmp_path / "log",
        key=PSEUDONYM_KEY.encode(),
        lineage=scorer_lineage(project / "data/scorer"),
        features=[n for n in names if n != "customer_id"],
        reasons=4,
    )
    out = logged.predict(rows)  # extra columns (as_of, default) are not passed to the model
    pd.testing.assert_frame_equal(out, plain)
    log = pd.concat(pd.read_parquet(f) for f in (tmp_path / "log").rglob("*.parquet"))
    assert len(log) == 5 and logged.logged == 5
    assert list(log["customer_pseudonym"]) == [
        pseudonym(c, PSEUDONYM_KEY.encode()) for c in rows["customer_id"]
    ]
    assert list(log["as_of"]) == [str(d.date()) for d in rows["as_of"]]
    np.testing.assert_allclose(log["pd"], out["pd"])
    assert set(log["model_version"]) == set(out["model_version"])


def test_commit_is_dirty_for_code_changes_not_for_pipeline_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    from pipelines.support.tracking import git_commit

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    (tmp_path / "reports").mkdir()
    for name in ("dvc.lock", "reports/metrics.json", "params.yaml"):
        (tmp_path / name).write_text("a\n")
    git("add", ".")
    git("commit", "-q", "-m", "start")
    monkeypatch.chdir(tmp_path)
    clean = git_commit()
    assert len(clean) == 40
    (tmp_path / "dvc.lock").write_text("b\n")  # a run in progress rewrites these
    (tmp_path / "reports/metrics.json").write_text("b\n")
    assert git_commit() == clean
    (tmp_path / "params.yaml").write_text("b\n")  # the code or config itself changed
    assert git_commit() == clean + "-dirty"
