"""A lender's own export: a few settings, every problem at once, never a stale result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from creditrisk.examples.lender_export import LENDER_COLUMNS, LENDER_FILES, build_lender_export
from creditrisk.models.fairness import AGE_BANDS, infer_grouping
from creditrisk.schemas.fairness import GroupingKind
from tests.conftest import REPO, set_params
from tests.pipeline_run import PSEUDONYM_KEY


def test_grouping_follows_the_attribute_type() -> None:
    text = infer_grouping(pd.Series(["f", "m", None]), name="gender")
    assert text.kind is GroupingKind.CATEGORICAL
    born = infer_grouping(pd.Series([1950, 1988, 2001]), name="birth_year")
    assert born.kind is GroupingKind.BIRTH_YEAR and born.bands == AGE_BANDS
    age = infer_grouping(pd.Series([19.0, 44.0, 75.0, np.nan]), name="age_in_years")
    assert age.kind is GroupingKind.NUMERIC and age.bands == AGE_BANDS
    other = infer_grouping(pd.Series([1.0, 2.0, 3.0, 4.0, 5.0]), name="dependants")
    assert other.kind is GroupingKind.NUMERIC and other.bands == (2.0, 3.0, 4.0)
    # A year-like name whose values are not years is a plain number.
    assert infer_grouping(pd.Series([3, 7, 12]), name="years_at_address").kind is (
        GroupingKind.NUMERIC
    )


def test_generate_does_nothing_for_real_data(project: Path) -> None:
    from pipelines import generate

    export = project / "export"
    export.mkdir()
    # Settings of generate that contradict the real data's dates must not matter.
    set_params(
        project,
        data={"source": str(export), "end_date": "2005-09-30"},
        generate={"start_date": "2021-01-01"},
    )
    generate.main(project / "data/synthetic/raw", project / "data/synthetic/truth.parquet")
    assert list((project / "data/synthetic/raw").iterdir()) == []
    assert pd.read_parquet(project / "data/synthetic/truth.parquet").empty


def test_a_snapshot_may_be_dated_the_day_after_the_data_end(
    project: Path, tiny_tables: dict[str, pd.DataFrame]
) -> None:
    from pipelines import validate

    outcomes = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C1"],
            "as_of": pd.to_datetime(["2025-12-31", "2026-01-01", "2026-01-02"]),
            "default": [0, 1, 0],
        }
    )
    raw = project / "data/raw"
    raw.mkdir(parents=True)
    tiny_tables["customers"].to_parquet(raw / "customers.parquet", index=False)
    outcomes.to_parquet(raw / "outcomes.parquet", index=False)
    set_params(project, validate={"max_quarantine_share": 0.5})
    validate.main(raw, project / "data/validated", project / "q", project / "reports/validation")
    kept = pd.read_parquet(project / "data/validated/outcomes.parquet")
    assert sorted(kept["as_of"].dt.date.astype(str)) == ["2025-12-31", "2026-01-01"]
    quarantined = pd.read_parquet(project / "q/outcomes.parquet")
    assert quarantined["quarantine_reason"].str.contains("after 2026-01-01").all()
    assert len(quarantined) == 1


def _broken_export(folder: Path, tiny_tables: dict[str, pd.DataFrame]) -> None:
    folder.mkdir()
    tiny_tables["customers"].to_csv(folder / "clients.csv", index=False)
    tx = tiny_tables["transactions"].rename(columns={"ts": "purchase_time"})
    tx["amount"] = ["12.5", "n/a", "unknown"]  # two of three amounts are not numbers
    tx.to_csv(folder / "transactions.csv", index=False)
    outcomes = pd.DataFrame(
        {"customer_id": ["C1", "C2"], "as_of": ["2026-03-01", "2026-03-01"], "default": [0, 1]}
    )
    outcomes.to_csv(folder / "outcomes.csv", index=False)


def test_check_lists_every_problem_at_once(
    project: Path, tiny_tables: dict[str, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    """One settings file with seven different problems: one run of the check lists them all."""
    from pipelines.support import check

    export = project / "export"
    _broken_export(export, tiny_tables)
    set_params(
        project,
        data={
            "source": str(export),
            "end_date": "2025-12-31",
            "files": {"customers": "clients.csv", "loans": "acounts.csv"},  # 1: no such file
            "columns": {"transactions": {"ts": "purchase_tme"}},  # 2: a misspelt column
            "select": {"outcomes": ["customer_id", "as_of", "default", "score"]},  # 3
        },
        features={
            "static": ["income_monthly", "regon"],  # 4: a static column that does not exist
            "protected": ["gender"],  # 5: not in customers (a warning)
        },
    )
    assert check.main(["--params", str(project / "params.yaml")]) == 1
    out = capsys.readouterr().out
    expected = [
        "[error] data.files.loans: file 'acounts.csv' is not in the folder",
        "[error] data.columns.transactions.ts: 'purchase_tme' is not a column of the file "
        "(did you mean 'purchase_time'?)",
        "[error] data.select.outcomes: keeps ['score'], which it lacks",
        "[error] features.static: 'regon' is not a column of customers (did you mean 'region'?)",
        "[warning] features.protected: 'gender' is not a column of customers",
        "transactions.amount: 2 of 3 values are not float values",  # 6: types
        "outcomes.as_of: 2 of 2 rows are dated after 2026-01-01",  # 7: dates
        "[error] transactions.ts: required column missing",  # follows from 2
    ]
    for line in expected:
        assert line in out, f"missing from the check's report: {line}\n{out}"


def test_check_passes_a_clean_export(
    project: Path, tiny_tables: dict[str, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.support import check

    export = project / "export"
    export.mkdir()
    for name, frame in tiny_tables.items():
        frame.to_parquet(export / f"{name}.parquet", index=False)
    set_params(
        project,
        data={"source": str(export), "end_date": "2025-12-31"},
        features={"static": ["income_monthly"], "protected": ["birth_year"]},
    )
    assert check.main(["--params", str(project / "params.yaml")]) == 0
    out = capsys.readouterr().out
    assert "0 error(s)" in out and "customers" in out


def _dvc(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{project / 'mlflow.db'}"
    env["CREDITRISK_PSEUDONYM_KEY"] = PSEUDONYM_KEY
    env["MPLBACKEND"] = "Agg"
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_lender_export_runs_under_dvc_repro_and_is_never_stale(tmp_path: Path) -> None:
    """A lender-shaped export (CSV, the lender's names, dates in 2005) with only the four
    settings plus file and column names: dvc repro runs end to end; a changed export file
    or a changed data.* key makes ingest stale."""
    export = tmp_path / "export"
    export.mkdir()
    for table, frame in build_lender_export(n_customers=1500, seed=11).items():
        frame.to_csv(export / LENDER_FILES[table], index=False)
    project = tmp_path / "project"
    project.mkdir()
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, project / name)
    for folder in ("pipelines", "src", "data/events"):
        shutil.copytree(
            REPO / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__", "*.db*")
        )
    set_params(
        project,
        data={
            "source": str(export),
            "end_date": "2005-09-30",
            "files": LENDER_FILES,
            "columns": LENDER_COLUMNS,
        },
        features={
            "static": ["income_monthly", "region", "segment"],
            "protected": ["gender", "birth_year"],
        },
        # small model settings, as every whole-run test: this one is about DVC
        train={"num_boost_round": 200},
        evaluate={"bootstrap": 20},
        explain={"max_rows": 3000, "plot_rows": 500, "dependence_top": 2},
    )
    assert _dvc(project, "init", "--no-scm", "-q").returncode == 0
    run = _dvc(project, "repro")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert metrics["split_kind"] == "random_by_customer"
    assert "oracle" not in metrics  # no synthetic truth for real data
    assert 0.5 < metrics["test"]["auc"] <= 1.0
    assert json.loads((project / "reports/validation/summary.json").read_text())["reconciled"]
    fairness = json.loads((project / "reports/fairness.json").read_text())
    assert set(fairness["attributes"]) == {"gender", "age at as_of (from birth_year)"}
    scores = pd.read_parquet(project / "data/scores/scores.parquet")
    assert (scores["as_of"] == pd.Timestamp(date(2005, 10, 1))).all() and len(scores) > 1000
    assert "up to date" in _dvc(project, "status").stdout

    flags = export / LENDER_FILES["outcomes"]
    original = flags.read_text()
    table = pd.read_csv(flags)
    table.loc[:49, "bad_flag"] = 1 - table.loc[:49, "bad_flag"]  # a re-export, in place
    table.to_csv(flags, index=False)
    status = _dvc(project, "status", "ingest").stdout
    assert "ingest" in status and "changed deps" in status, status
    flags.write_text(original)
    assert "up to date" in _dvc(project, "status").stdout

    set_params(project, data={"select": {"outcomes": ["customer_id", "as_of", "default"]}})
    status = _dvc(project, "status", "ingest").stdout
    assert "ingest" in status and "params.yaml" in status, status
    assert "modified:           data" in status, status
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["generate"] == yaml.safe_load((REPO / "params.yaml").read_text())["generate"]


def test_stage_commands_are_rendered_from_params_like_dvc() -> None:
    from pipelines.support.run import render, stages

    assert render("--source ${data.source} x", {"data": {"source": "/e/2025"}}) == (
        "--source /e/2025 x"
    )
    with pytest.raises(KeyError):
        render("${data.nowhere}", {"data": {}})
    commands = dict(stages(REPO / "dvc.yaml", {"data": {"source": "/exports/may"}}))
    assert '--source "/exports/may"' in commands["ingest"]


def test_check_reports_the_split_and_a_period_that_covers_no_snapshot(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Outcomes over one month (one date per customer in July): the check names the split
    the split stage will choose; a period set by hand that misses every labelled date is
    an error of the check, before ingest runs."""
    from pipelines.support import check

    export = project / "export"
    export.mkdir()
    n = 400
    ids = [f"C{i}" for i in range(n)]
    days = pd.date_range("2024-07-01", "2024-07-31", freq="D")
    pd.DataFrame({"customer_id": ids, "created_at": pd.Timestamp("2023-01-01")}).to_parquet(
        export / "customers.parquet", index=False
    )
    pd.DataFrame(
        {
            "customer_id": ids,
            "as_of": [days[i % len(days)] for i in range(n)],
            "default": [int(i % 5 == 0) for i in range(n)],
        }
    ).to_parquet(export / "outcomes.parquet", index=False)
    set_params(project, data={"source": str(export), "end_date": "2024-07-31"})
    set_params(project, features={"static": [], "protected": []})
    assert check.main(["--params", str(project / "params.yaml")]) == 0
    out = capsys.readouterr().out
    assert "split: out of time, chosen from the data: train 2024-07-01 .. 2024-07-" in out
    assert "successive periods of the 31 as_of dates" in out
    set_params(
        project,
        split={
            "train": ["2022-01-01", "2023-12-01"],
            "calibration": ["2024-01-01", "2024-04-01"],
            "test": ["2024-05-01", "2024-06-30"],
        },
    )
    assert check.main(["--params", str(project / "params.yaml")]) == 1
    out = capsys.readouterr().out
    assert (
        "[error] split.test: the period 2024-05-01 .. 2024-06-30 covers no labelled snapshot" in out
    )
    assert "[error] split.train" in out and "[error] split.calibration" in out
