"""Monitoring: early-warning rules by hand, migration, the next-due signal, and the
monitor stage on a small synthetic run (stress against calm, re-runs, failed runs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditrisk.monitoring import drift
from creditrisk.monitoring import warnings as ew
from creditrisk.monitoring.signals import days_to_next_due
from creditrisk.schemas.rules import Condition
from tests.conftest import set_params
from tests.pipeline_run import execute_notebook, inside, new_project, run_pipeline

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks/03-monitoring.ipynb"

RULES = [
    ew.WarningRule(
        "due_soon", "light", ("sms_reminder",), (Condition("days_to_next_due", "<=", 7),)
    ),
    ew.WarningRule(
        "early_arrears",
        "medium",
        ("phone_call",),
        (Condition("dpd_current", ">=", 1), Condition("dpd_current", "<=", 29)),
    ),
    ew.WarningRule("down_1", "medium", ("phone_call",), (Condition("grade_change", "==", 1),)),
    ew.WarningRule(
        "arrears_30",
        "severe",
        ("investigate", "freeze_limit"),
        (Condition("dpd_current", ">=", 30),),
    ),
    ew.WarningRule(
        "pd_doubled", "severe", ("investigate", "freeze_limit"), (Condition("pd_ratio", ">=", 2),)
    ),
]


def test_each_level_fires_on_its_own_conditions() -> None:
    signals = pd.DataFrame(
        {
            "days_to_next_due": [3, 20, 3, np.nan, 2, np.nan],
            "dpd_current": [0, 5, 12, 45, 0, 0],
            "grade_change": [0, 0, 1, 0, 0, np.nan],
            "pd_ratio": [1.0, 1.1, 1.5, 1.0, 2.5, np.nan],
        }
    )
    out = ew.evaluate_warnings(signals, RULES)
    assert list(out["level"]) == ["light", "medium", "medium", "severe", "severe", ""]
    assert out["rules"][0] == "due_soon"
    # Two medium rules and a light one: all named, most severe first; medium's action once.
    assert out["rules"][2] == "early_arrears,down_1,due_soon"
    assert out["actions"][2] == "phone_call"
    assert out["actions"][3] == "investigate,freeze_limit"
    # Light and severe together: the severe level's actions only.
    assert out["rules"][4] == "pd_doubled,due_soon"
    assert out["actions"][4] == "investigate,freeze_limit"
    # A customer new since the last snapshot (no ratio, no grade change) fires nothing.
    assert out["rules"][5] == "" and out["actions"][5] == ""
    assert ew.level_counts(out["level"]) == {"light": 1, "medium": 2, "severe": 2}


def test_frozen_limits_are_zero_and_others_unchanged() -> None:
    current = pd.Series([1000.0, 2500.0, 800.0])
    actions = pd.Series(["investigate,freeze_limit", "phone_call", ""])
    assert list(ew.new_limits(current, actions)) == [0.0, 2500.0, 800.0]


def test_rules_name_missing_signals_and_bad_levels() -> None:
    with pytest.raises(ew.WarningRuleError, match=r"missing from the data: \['pd_ratio'\]"):
        ew.evaluate_warnings(pd.DataFrame({"dpd_current": [1]}), RULES[3:])
    with pytest.raises(ew.WarningRuleError, match="level must be one of"):
        ew.WarningRule("x", "urgent", ("call",), (Condition("pd", ">", 0.1),))


def test_grade_change_and_migration_by_hand() -> None:
    grades = ["S", "A", "B", "C"]
    previous = pd.Series(["A", "A", "B", "S", None])
    current = pd.Series(["A", "C", "A", "B", "B"])
    change = ew.grade_change(previous, current, grades)
    assert list(change.iloc[:4]) == [0, 2, -1, 2] and np.isnan(change.iloc[4])
    matrix = drift.migration_matrix(previous, current, grades)
    assert matrix.loc["A", "A"] == 1 and matrix.loc["A", "C"] == 1 and matrix.loc["B", "A"] == 1
    assert matrix.loc["S", "B"] == 1 and int(matrix.to_numpy().sum()) == 4
    summary = drift.migration_summary(matrix)
    assert summary == {"customers": 4, "stable": 0.25, "downgraded": 0.5, "upgraded": 0.25}


def test_days_to_next_due(tiny_tables: dict[str, pd.DataFrame]) -> None:
    loans, repayments = tiny_tables["loans"], tiny_tables["repayments"]
    # Installment 2 (due June 1) is late and not counted; installment 3 falls due July 1.
    assert days_to_next_due(loans, repayments, as_of=date(2023, 6, 15)).to_dict() == {"C1": 16.0}
    # On May 1 installment 1 is due that day; its payment that day is not before as_of.
    assert days_to_next_due(loans, repayments, as_of=date(2023, 5, 1)).to_dict() == {"C1": 0.0}
    # Before the loan was opened nothing is known.
    assert days_to_next_due(loans, repayments, as_of=date(2023, 4, 1)).empty
    # After the last due date nothing falls due.
    assert days_to_next_due(loans, repayments, as_of=date(2023, 7, 2)).empty


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = new_project(tmp_path_factory.mktemp("monitor"), generate={"n_customers": 2000})
    set_params(folder, monitor={"reference": ["2022-01-01", "2022-12-01"]})
    with inside(folder):
        run_pipeline(folder, until="export")
        yield folder


def _monitor(folder: Path, as_of: str, tag: str) -> dict:
    from pipelines import monitor

    set_params(folder, monitor={"as_of": as_of})
    d = folder / "data"
    monitor.main(
        d / "validated",
        d / "scorer",
        d / "split",
        d / "predictions",
        folder / f"{tag}/data/actions",
        folder / f"{tag}/reports/monitor",
        folder / f"{tag}/data/alerts",
        folder / f"{tag}/reports/monitor.json",
    )
    return json.loads((folder / f"{tag}/reports/monitor.json").read_text())


@pytest.mark.slow
def test_stress_raises_psi_and_alerts_against_a_calm_period(project: Path) -> None:
    # Stress runs April to December 2023 (params generate.stress); February is calm.
    calm = _monitor(project, "2023-02-01", "calm")
    stress = _monitor(project, "2023-11-01", "stress")
    # The score moves under stress (measured 1.7x the calm PSI on this small run).
    assert stress["psi"]["score"] > 1.5 * calm["psi"]["score"]
    # More warnings in number and in share; severe ones (arrears, PD doubling) most of all.
    assert stress["alerts"]["total"] > calm["alerts"]["total"]
    assert stress["alerts"]["share"] > calm["alerts"]["share"]
    assert stress["alerts"]["severe"] > 1.3 * calm["alerts"]["severe"]
    severe_share = {
        name: m["alerts"]["severe"] / m["customers"] for name, m in (("c", calm), ("s", stress))
    }
    assert severe_share["s"] > 1.2 * severe_share["c"]
    assert stress["rules_fired"]["arrears_30_plus"] > 2 * calm["rules_fired"]["arrears_30_plus"]
    for m in (calm, stress):
        a = m["alerts"]
        assert a["total"] == a["light"] + a["medium"] + a["severe"]


@pytest.mark.slow
def test_alerts_file_matches_the_counts_and_freezes(project: Path) -> None:
    metrics = _monitor(project, "2023-11-01", "stress")
    alerts = pd.read_parquet(project / "stress/data/alerts/alerts.parquet")
    assert len(alerts) == metrics["alerts"]["total"]
    assert alerts["customer_id"].is_unique
    for level in ("light", "medium", "severe"):
        assert (alerts["level"] == level).sum() == metrics["alerts"][level]
    frozen = alerts["action"].str.contains("freeze_limit")
    assert (alerts.loc[frozen, "new_credit_limit"] == 0).all()
    assert (alerts.loc[frozen, "level"] == "severe").all()
    assert int(frozen.sum()) == metrics["alerts"]["frozen_limits"]
    assert alerts.loc[~frozen, "new_credit_limit"].ge(0).all()
    for path in ("psi.png", "migration.png", "drift_and_alerts.png", "csi.csv", "migration.csv"):
        assert (project / "stress/reports/monitor" / path).stat().st_size > 100, path


@pytest.mark.slow
def test_rerun_gives_the_same_alerts(project: Path) -> None:
    first = _monitor(project, "2023-11-01", "again")
    alerts1 = pd.read_parquet(project / "again/data/alerts/alerts.parquet")
    second = _monitor(project, "2023-11-01", "again")
    alerts2 = pd.read_parquet(project / "again/data/alerts/alerts.parquet")
    pd.testing.assert_frame_equal(alerts1, alerts2)
    # the store records the date once: the second run finds every alert already there
    stored1, stored2 = first.pop("store"), second.pop("store")
    assert (
        stored2["alerts_new"] == 0 and stored2["alerts_already_recorded"] == stored1["alerts_new"]
    )
    assert stored2["freezes_active"] == stored1["freezes_active"]
    assert first == second


@pytest.mark.slow
def test_failed_run_leaves_previous_outputs(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines import monitor

    _monitor(project, "2023-11-01", "fail")
    before = {
        p.relative_to(project): p.read_bytes() for p in (project / "fail").rglob("*") if p.is_file()
    }

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full while drawing")

    monkeypatch.setattr(monitor, "monitoring_figures", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        _monitor(project, "2023-02-01", "fail")
    after = {
        p.relative_to(project): p.read_bytes() for p in (project / "fail").rglob("*") if p.is_file()
    }
    assert after == before  # same files, same bytes, no half-written folders left


@pytest.mark.slow
def test_monitoring_notebook_executes(project: Path) -> None:
    _monitor(project, "2023-11-01", "nb")
    images = execute_notebook(NOTEBOOK, project / "nb")
    assert len(images) >= 4


@pytest.mark.slow
def test_reference_population_beyond_the_cap_is_a_hash_sample(project: Path) -> None:
    """Only the keys are read whole; beyond monitor.reference_rows a hash sample of the
    span is read, the same rows on every run, with the champion's PDs by the PD-only path
    (equal to the full scorer's)."""
    from creditrisk.models.pyfunc import load_scorer_folder
    from pipelines.monitor import _reference
    from pipelines.support.artifacts import SplitDir

    champion = load_scorer_folder(project / "data/scorer")
    split = SplitDir(project / "data/split")
    span = (date(2022, 1, 1), date(2022, 12, 1))
    full = _reference(split, champion, span, max_rows=10**9, seed=3)
    cap = full.rows_in_span // 4
    sampled = _reference(split, champion, span, max_rows=cap, seed=3)
    again = _reference(split, champion, span, max_rows=cap, seed=3)
    assert len(full.rows) == full.rows_in_span == sampled.rows_in_span
    assert full.rows["as_of"].between(pd.Timestamp(span[0]), pd.Timestamp(span[1])).all()
    assert 0.8 * cap < len(sampled.rows) < 1.2 * cap
    pd.testing.assert_frame_equal(sampled.rows, again.rows)
    keys = ["customer_id", "as_of"]
    inside_full = sampled.rows[keys].merge(full.rows[keys], on=keys)
    assert len(inside_full) == len(sampled.rows)
    scored = champion.score(sampled.rows.reset_index(drop=True))
    np.testing.assert_allclose(sampled.pd, scored["pd"].to_numpy(), rtol=1e-9, atol=1e-12)
    _, grade = champion.pd_and_grade(sampled.rows)
    grades = np.asarray(champion.policy.grades, dtype=object)[grade]
    assert (grades == scored["grade"].to_numpy(dtype=object)).all()
