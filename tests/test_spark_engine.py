"""``features.engine: spark`` on ``local[2]``: the stages that scan the raw history or
score every customer (features, score, monitor's scoring) give what the DuckDB run gives.

The shared small run (DuckDB) is copied, switched to Spark, and its features, score and
monitor stages are run again with the commands ``dvc.yaml`` gives them; the model, split
and action store are the DuckDB run's, so every difference is the engine's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, set_params
from tests.pipeline_run import copy_of_shared_run, inside, session_base

pytestmark = pytest.mark.slow

SPARK = {
    "engine": "spark",
    "spark": {
        "master": "local[2]",
        "conf": {"spark.driver.memory": "2g", "spark.sql.shuffle.partitions": "4"},
    },
}
KEY = ["customer_id", "as_of"]
LABELLED_THROUGH = "labelled_through: '2024-06-01'"


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    out = frame.assign(customer_id=frame["customer_id"].astype(str))
    return out.sort_values(keys).reset_index(drop=True)


def _assert_close(left: object, right: object, where: str) -> None:
    """Equal report values: numbers to 1e-9 relative, the rest exactly, nested."""
    if isinstance(left, dict) and isinstance(right, dict):
        assert left.keys() == right.keys(), where
        for k in left:
            _assert_close(left[k], right[k], f"{where}.{k}")
    elif isinstance(left, list) and isinstance(right, list):
        assert len(left) == len(right), where
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            _assert_close(a, b, f"{where}[{i}]")
    elif isinstance(left, float) and isinstance(right, float):
        assert right == pytest.approx(left, rel=1e-9, nan_ok=True), where
    else:
        assert left == right, where


def _run(folder: Path, names: tuple[str, ...]) -> None:
    from pipelines.support.run import stages
    from pipelines.support.stage import run_command

    params = yaml.safe_load((folder / "params.yaml").read_text())
    commands = dict(stages(REPO / "dvc.yaml", params))
    for name in names:
        run_command(commands[name])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> tuple[Path, Path]:
    """(the DuckDB run, as it was; the same project after features, score and monitor
    ran again on Spark)."""
    base = session_base(tmp_path_factory, worker_id)
    folder = copy_of_shared_run(base, tmp_path_factory.mktemp("spark") / "project")
    # The champion's lineage moved back half a year, so that the backtest has matured
    # cohorts to score (the test period's months); monitor runs again on DuckDB with it.
    mlmodel = folder / "data/scorer/MLmodel"
    text = mlmodel.read_text()
    assert "labelled_through: '2024-12-01'" in text
    mlmodel.write_text(text.replace("labelled_through: '2024-12-01'", LABELLED_THROUGH))
    duckdb = tmp_path_factory.mktemp("duckdb-outputs")
    with inside(folder):
        _run(folder, ("monitor",))
    for part in ("data/features", "data/scores", "data/alerts", "reports/monitor"):
        shutil.copytree(folder / part, duckdb / part)
    shutil.copy(folder / "reports/score.json", duckdb / "reports/score.json")
    set_params(folder, features=SPARK)
    with inside(folder):
        _run(folder, ("features", "score", "monitor"))
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    return duckdb, folder


def test_features_stage_on_spark_equals_duckdb(runs: tuple[Path, Path]) -> None:
    duckdb, spark = runs
    left = _sorted(pd.read_parquet(duckdb / "data/features/features.parquet"), KEY)
    right = _sorted(pd.read_parquet(spark / "data/features/features.parquet"), KEY)
    assert len(left) > 10_000 and list(left.columns) == list(right.columns)
    pd.testing.assert_frame_equal(left, right, check_dtype=False, check_exact=False, rtol=1e-9)


def test_score_stage_on_spark_equals_duckdb(runs: tuple[Path, Path]) -> None:
    """Decisions made by spark_udf on the executors, then freezes, recourse and the
    decision log on the driver: the scores file is the DuckDB run's."""
    duckdb, spark = runs
    left = _sorted(pd.read_parquet(duckdb / "data/scores/scores.parquet"), ["customer_id"])
    right = _sorted(pd.read_parquet(spark / "data/scores/scores.parquet"), ["customer_id"])
    assert len(left) > 500 and list(left.columns) == list(right.columns)
    assert left["reason_1"].notna().any()  # the reasons came back from the executors
    assert left["limit_policy"].astype(str).str.startswith("frozen").any()  # freezes applied
    pd.testing.assert_frame_equal(left, right, check_dtype=False, check_exact=False, rtol=1e-9)
    report = json.loads((spark / "reports/score.json").read_text())
    assert report["rows"] == len(right) and report["decided_on"] == "spark"
    assert json.loads((duckdb / "reports/score.json").read_text())["decided_on"] == "local"


def test_monitor_scoring_on_spark_equals_duckdb(runs: tuple[Path, Path]) -> None:
    """Both snapshots and the backtest cohorts scored on Spark (the PD-only path through
    the pyfunc model's reasons=False): drift, backtest, alerts and migration equal."""
    duckdb, spark = runs
    left = json.loads((duckdb / "reports/monitor/metrics.json").read_text())
    right = json.loads((spark / "reports/monitor/metrics.json").read_text())
    assert left["backtest"]["rows"] > 1000 and left["backtest"]["cohorts"] == 6
    for part in ("psi", "mean_pd", "migration", "alerts", "backtest", "customers", "triggers"):
        _assert_close(left[part], right[part], part)
    for table in ("csi.csv", "backtest_by_month.csv", "backtest_by_grade.csv", "migration.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(duckdb / "reports/monitor" / table),
            pd.read_csv(spark / "reports/monitor" / table),
            check_exact=False,
            rtol=1e-9,
        )
    alerts = [
        _sorted(pd.read_parquet(run / "data/alerts/alerts.parquet"), ["customer_id"])
        for run in runs
    ]
    assert len(alerts[0]) > 0
    pd.testing.assert_frame_equal(*alerts, check_dtype=False, check_exact=False, rtol=1e-9)
