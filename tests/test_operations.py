"""The monthly loop's parts on small hand-made data: the promotion rule, the gate's noise
check, the action store (append-only history, freezes, cures, lifts, outbox, erasure,
retention), frozen limits in decisions, decision-log erasure and retention, the backtest
and the retraining triggers."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from creditrisk.governance import decision_log as dl
from creditrisk.governance.gate import GateThresholds, gate_failures
from creditrisk.governance.promotion import (
    PromotionRule,
    PromotionThresholds,
    compare,
    decide,
)
from creditrisk.monitoring import actions as actions_module
from creditrisk.monitoring.actions import ActionStore, ActionStoreError, apply_freezes
from creditrisk.monitoring.backtest import backtest, matured_cohorts, retraining_triggers
from creditrisk.schemas.rules import Condition
from creditrisk.schemas.warnings import CureRule, TriggerSettings
from tests.conftest import REPO

D1, D2, D3 = date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)


def _alerts(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """Alert rows as the monitor stage writes them: customer, level, rules, actions."""
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "level": [r[1] for r in rows],
            "rules": [r[2] for r in rows],
            "action": [r[3] for r in rows],
            "previous_credit_limit": [1000.0] * len(rows),
            "new_credit_limit": [0.0 if "freeze_limit" in r[3] else 1000.0 for r in rows],
            "pd": [0.1] * len(rows),
            "previous_pd": [0.04] * len(rows),
            "grade": ["F"] * len(rows),
            "previous_grade": ["D"] * len(rows),
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> ActionStore:
    s = ActionStore(f"sqlite:///{tmp_path / 'actions.db'}")
    yield s
    s.close()


FREEZE = ("severe", "arrears_30_plus", "investigate,freeze_limit")


def test_rerunning_a_date_adds_nothing_twice_and_history_grows(store: ActionStore) -> None:
    first = _alerts([("c1", *FREEZE), ("c2", "light", "due_soon", "sms_reminder")])
    assert store.record(first, as_of=D1, owners={"c1": "ann"}) == (2, 0, 1)
    assert store.record(first, as_of=D1, owners={"c1": "ann"}) == (0, 2, 0)
    assert store.record(_alerts([("c1", *FREEZE)]), as_of=D2) == (1, 0, 1)
    alerts = store.outbox()
    assert len(alerts) == 3 and alerts["alert_id"].is_unique
    owners = alerts.loc[alerts["customer_id"] == "c1", "owner"]
    assert owners.iloc[0] == "ann" and pd.isna(owners.iloc[1])
    acts = store.actions()
    assert len(acts) == 2 and set(acts["status"]) == {"active"}
    assert acts["new_limit"].eq(0).all() and acts["previous_limit"].eq(1000).all()


def test_freezes_are_active_until_lifted_and_lifts_are_recorded(store: ActionStore) -> None:
    store.record(_alerts([("c1", *FREEZE), ("c2", *FREEZE)]), as_of=D1)
    assert sorted(store.active_freezes(D1)["customer_id"]) == ["c1", "c2"]
    assert store.active_freezes(date(2023, 12, 1)).empty  # not yet frozen then
    with pytest.raises(ActionStoreError, match="reason"):
        store.lift("c1", by="ann", reason=" ", effective=D2)
    ids = store.lift("c1", by="ann", reason="paid in full", effective=D2)
    assert len(ids) == 1
    with pytest.raises(ActionStoreError, match="no active limit freeze"):
        store.lift("c1", by="ann", reason="again", effective=D2)
    assert sorted(store.active_freezes(D1)["customer_id"]) == ["c1", "c2"]  # history
    assert store.active_freezes(D2)["customer_id"].tolist() == ["c2"]
    row = store.actions().set_index("customer_id").loc["c1"]
    assert row["status"] == "lifted" and row["lifted_by"] == "ann"
    assert row["lifted_by_kind"] == "person" and row["lift_reason"] == "paid in full"


def test_the_cure_rule_lifts_only_healthy_customers_after_min_months(store: ActionStore) -> None:
    store.record(_alerts([("c1", *FREEZE), ("c2", *FREEZE), ("c3", *FREEZE)]), as_of=D1)
    cure = CureRule(
        name="arrears_cleared",
        when=(Condition("dpd_max_90d", "==", 0), Condition("pd", "<", 0.02)),
        min_months=2,
    )
    snapshot = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3"],
            "dpd_max_90d": [0, 12, 0],
            "pd": [0.01, 0.01, 0.05],
        }
    )
    assert store.apply_cures(snapshot, cure, as_of=D2) == []  # one month: too early
    lifted = store.apply_cures(snapshot, cure, as_of=D3)
    assert len(lifted) == 1
    acts = store.actions().set_index("customer_id")
    assert acts.loc["c1", "status"] == "lifted" and acts.loc["c1", "lifted_by"] == "arrears_cleared"
    assert acts.loc["c1", "lifted_by_kind"] == "cure_rule"
    assert "dpd_max_90d == 0" in acts.loc["c1", "lift_reason"]
    assert acts.loc[["c2", "c3"], "status"].eq("active").all()
    # a customer frozen again on the same date is not cured by it
    store.record(_alerts([("c2", *FREEZE)]), as_of=D3)
    healthy = snapshot.assign(dpd_max_90d=0, pd=0.001)
    assert store.apply_cures(healthy, cure, as_of=D3) == [
        store.actions().set_index("customer_id").loc["c3", "action_id"]
    ]


def test_outbox_and_delivery(store: ActionStore) -> None:
    store.record(_alerts([("c1", *FREEZE), ("c2", "light", "r", "sms_reminder")]), as_of=D1)
    box = store.outbox()
    first = box["alert_id"].iloc[0]
    assert store.mark_sent([first], by="notifier", effective=D1) == 1
    assert store.mark_sent([first], by="notifier", effective=D1) == 0
    assert first not in set(store.outbox()["alert_id"]) and len(store.outbox()) == 1
    with pytest.raises(ActionStoreError, match="no such alert"):
        store.mark_sent(["nope"], by="notifier", effective=D1)


def test_erasure_removes_one_customer_and_leaves_the_rest_identical(store: ActionStore) -> None:
    store.record(_alerts([("c1", *FREEZE), ("c2", *FREEZE), ("c3", *FREEZE)]), as_of=D1)
    store.lift("c3", by="ann", reason="ok", effective=D2)
    tables = ("alerts", "limit_actions", "action_events")
    before = {t: store.frame(_table(t)) for t in tables}
    removed = store.erase("c3")
    assert removed == {"action_events": 1, "limit_actions": 1, "alerts": 1}
    store.record_erasure(removed, "request 42")
    for t in tables:
        after = store.frame(_table(t))
        expected = before[t][before[t]["customer_id"] != "c3"].reset_index(drop=True)
        assert after.to_dict("records") == expected.to_dict("records")
    erasures = store.frame(_table("erasures")).drop(columns=["erasure_id"])  # a random uuid
    assert len(erasures) == 1 and "c3" not in erasures.to_string()


def _table(name: str) -> sa.Table:
    return actions_module.metadata.tables[name]


def test_retention_keeps_active_freezes(store: ActionStore) -> None:
    store.record(_alerts([("c1", *FREEZE), ("c2", *FREEZE), ("c4", "light", "r", "sms")]), as_of=D1)
    store.lift("c2", by="ann", reason="ok", effective=D2)
    store.record(_alerts([("c5", "light", "r", "sms")]), as_of=D3)
    removed = store.apply_retention(D3)
    assert removed == {"action_events": 1, "limit_actions": 1, "alerts": 2}
    assert store.actions()["customer_id"].tolist() == ["c1"]  # still active, kept
    assert sorted(store.outbox()["customer_id"]) == ["c1", "c5"]


def test_frozen_limits_in_decisions(store: ActionStore) -> None:
    store.record(_alerts([("c1", *FREEZE)]), as_of=D1)
    decisions = pd.DataFrame(
        {"customer_id": ["c1", "c2"], "credit_limit": [900.0, 800.0], "limit_policy": ["model"] * 2}
    )
    out = apply_freezes(decisions, store.active_freezes(D2))
    assert out["credit_limit"].tolist() == [0.0, 800.0]
    assert out["limit_policy"].iloc[0] == "frozen:arrears_30_plus"
    assert "(arrears_30_plus) of 2024-01-01 (action " in out["limit_reason"].iloc[0]
    assert pd.isna(out["limit_reason"].iloc[1])
    assert out["limit_policy"].iloc[1] == "model"
    assert decisions["credit_limit"].tolist() == [900.0, 800.0]  # input untouched


def _log_batch(log: Path, pseudonyms: list[str], day: str) -> Path:
    records = pd.DataFrame(
        {
            "decision_id": [f"{day}-{i}" for i in range(len(pseudonyms))],
            "batch_id": hashlib.md5(day.encode()).hexdigest(),
            "logged_at": f"{day}T10:00:00+00:00",
            "customer_pseudonym": pseudonyms,
            "pd": np.linspace(0.01, 0.2, len(pseudonyms)),
        }
    )
    return dl.append(log, records)


def test_decision_log_erasure_and_retention(tmp_path: Path) -> None:
    log = tmp_path / "log"
    old = _log_batch(log, ["p1", "p2"], "2020-01-02")
    mixed = _log_batch(log, ["p1", "p3", "p4"], "2024-05-01")
    other = _log_batch(log, ["p3"], "2024-05-02")
    other_bytes = other.read_bytes()
    assert dl.erase(log, "p1") == 2
    assert other.read_bytes() == other_bytes  # files without the customer: untouched
    assert dl.find(log, "p1").empty
    left = pd.read_parquet(mixed)
    assert left["customer_pseudonym"].tolist() == ["p3", "p4"]
    assert left["decision_id"].tolist() == ["2024-05-01-1", "2024-05-01-2"]
    assert dl.apply_retention(log, before=date(2021, 1, 1)) == 1  # p2's old batch
    assert not old.exists() and not old.parent.exists()
    assert other.read_bytes() == other_bytes


def test_promotion_rule() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(4000) < 0.05
    good = np.clip(0.05 + 0.3 * y + rng.normal(0, 0.1, 4000), 0.001, 0.999)
    weak = np.clip(0.05 + 0.05 * y + rng.normal(0, 0.1, 4000), 0.001, 0.999)
    th = PromotionThresholds()
    kw = {"period": ("2024-01-01", "2024-06-01"), "champion_version": 3, "ece_bins": 10}
    worse = compare(y, weak, good, bootstrap=50, seed=1, **kw)
    assert worse.auc_difference < 0
    assert worse.auc_difference_ci_high is not None and worse.auc_difference_ci_high < 0
    d = decide(gate_passed=True, champion_version=3, comparison=worse, thresholds=th)
    assert (d.alias, d.rule) == ("challenger", PromotionRule.WORSE)
    same = compare(y, good, good, bootstrap=50, seed=1, **kw)
    assert same.auc_difference == 0 and same.auc_difference_ci_low == 0
    d = decide(gate_passed=True, champion_version=3, comparison=same, thresholds=th)
    assert (d.alias, d.rule) == ("champion", PromotionRule.NOT_WORSE)
    d = decide(gate_passed=False, gate_failures=("AUC drops",), champion_version=3,
               comparison=same, thresholds=th)  # fmt: skip
    assert (d.alias, d.rule) == ("challenger", PromotionRule.GATE_FAILED)
    assert "AUC drops" in d.reasons
    # with nothing served yet, the first version is served, its gate failure stated
    d = decide(gate_passed=False, gate_failures=("AUC drops",), champion_version=None,
               comparison=None, thresholds=th)  # fmt: skip
    assert (d.alias, d.rule) == ("champion", PromotionRule.FIRST_CHAMPION)
    assert "review it before use" in d.reasons[0] and "AUC drops" in d.reasons
    d = decide(gate_passed=True, champion_version=None, comparison=None, thresholds=th)
    assert d.rule == PromotionRule.FIRST_CHAMPION and d.promoted
    d = decide(gate_passed=True, champion_version=3, comparison=None, thresholds=th)
    assert d.rule == PromotionRule.CHAMPION_CANNOT_SCORE and d.promoted
    d = decide(gate_passed=False, champion_version=3, comparison=worse, thresholds=th,
               forced_reason="committee 2024-07")  # fmt: skip
    assert d.rule == PromotionRule.FORCED and d.forced_reason == "committee 2024-07"
    with pytest.raises(ValueError, match="reason"):
        decide(gate_passed=True, champion_version=3, comparison=same, thresholds=th,
               forced_reason="  ")  # fmt: skip
    assert type(d).from_dict(d.to_dict()) == d


def test_gate_does_not_fail_a_drop_that_noise_explains() -> None:
    dev = {"auc": 0.80, "ks": 45.0}
    th = GateThresholds(max_auc_gap=0.02, max_ks_gap=3, max_score_psi=0.25)
    test = {"auc": 0.75, "ks": 40.0}
    assert len(gate_failures(dev, test, 0.05, th)) == 2
    noisy = {"auc": (-0.01, 0.11), "ks": (-2.0, 12.0)}
    assert gate_failures(dev, test, 0.05, th, noisy) == []
    real = {"auc": (0.01, 0.09), "ks": (1.0, 9.0)}
    failures = gate_failures(dev, test, 0.05, th, real)
    assert len(failures) == 2 and "bootstrap 95% 0.0100 to 0.0900" in failures[0]


def test_matured_cohorts_and_backtest() -> None:
    cohorts = matured_cohorts(
        date(2024, 5, 1), end_date=date(2025, 8, 31), horizon_months=12, until=date(2025, 9, 1)
    )
    # a cohort matures when its label window, as_of + 12 months, ends by 2025-08-31
    assert cohorts == [date(2024, 6, 1), date(2024, 7, 1), date(2024, 8, 1)]
    cohorts.append(date(2024, 9, 1))
    rng = np.random.default_rng(3)
    n = 3000
    pd_ = rng.uniform(0.005, 0.2, n)
    scored = pd.DataFrame(
        {
            "as_of": np.repeat(pd.to_datetime(cohorts), n // 4),
            "pd": pd_,
            "grade": np.where(pd_ < 0.05, "C", "F"),
            "default": (rng.random(n) < 2 * pd_).astype(float),  # twice the predicted rate
        }
    )
    result = backtest(scored, labelled_through=date(2024, 5, 1), test_auc=0.80, grades=["C", "F"])
    assert len(result.by_month) == 4 and result.by_grade["grade"].tolist() == ["C", "F"]
    s = result.summary
    assert s.cohorts == 4 and s.rows == n and s.observed_over_predicted > 1.6
    assert (result.by_month["observed_ci_low"] <= result.by_month["observed_rate"]).all()
    triggers = {t.name: t for t in retraining_triggers(0.05, s, TriggerSettings())}
    assert triggers["observed_over_predicted"].fired
    assert not triggers["score_psi"].fired
    few = retraining_triggers(0.3, None, TriggerSettings())
    assert [t.fired for t in few] == [True, False, False]
    assert "not judged" in few[1].text


def test_action_times_are_utc(store: ActionStore) -> None:
    store.record(_alerts([("c1", *FREEZE)]), as_of=D1)
    recorded = pd.Timestamp(store.frame(_table("alerts"))["recorded_at"].iloc[0])
    assert abs((datetime.now(UTC).replace(tzinfo=None) - recorded.tz_localize(None)).days) == 0


def test_erase_customer_everywhere_and_the_rest_byte_identical(tmp_path: Path) -> None:
    """`creditrisk erase`: decision log, action store, scores, alerts and explained
    decisions lose the customer; every other record is unchanged, files without the
    customer keep their bytes, and the erasure record holds no identifier."""
    from creditrisk.governance.pseudonym import pseudonymise
    from pipelines.support.action_store import Locations, erase_customer, store_url
    from pipelines.support.artifacts import alerts_file, scores_file

    key = b"test-key-0123456789abcdef"
    where = Locations(
        decision_log=tmp_path / "log",
        actions=tmp_path / "actions",
        scores=tmp_path / "scores",
        alerts=tmp_path / "alerts",
        explain=tmp_path / "explain",
        derived=(tmp_path / "validated",),
    )
    ids = ["c1", "c2", "c3"]
    scores = pd.DataFrame({"customer_id": ids, "pd": [0.1, 0.2, 0.3], "grade": ["C", "D", "E"]})
    for path in (scores_file(where.scores), alerts_file(where.alerts)):
        path.parent.mkdir(parents=True)
        scores.to_parquet(path, index=False)
    where.explain.mkdir()
    scores[scores["customer_id"] != "c2"].to_parquet(where.explain / "decisions.parquet")
    where.derived[0].mkdir()
    scores.to_parquet(where.derived[0] / "customers.parquet")
    p = dict(zip(ids, pseudonymise(ids, key), strict=True))
    mixed = _log_batch(where.decision_log, [p["c1"], p["c2"]], "2024-05-01")
    other = _log_batch(where.decision_log, [p["c3"]], "2024-05-02")
    other_bytes, explain_bytes = (
        other.read_bytes(),
        (where.explain / "decisions.parquet").read_bytes(),
    )
    store = ActionStore(store_url(where.actions, None))
    store.record(_alerts([("c1", *FREEZE), ("c2", *FREEZE)]), as_of=D1)
    kept_alerts = store.frame(_table("alerts")).query("customer_id == 'c1'")
    store.close()

    removed, still = erase_customer("c2", key=key, url=None, reason="request 7", where=where)

    assert removed["decision_log"] == 1 and removed["scores"] == 1 and removed["alerts_file"] == 1
    assert removed["alerts"] == 1 and removed["limit_actions"] == 1
    assert removed["explain/decisions.parquet"] == 0
    assert still == [str(where.derived[0] / "customers.parquet")]
    for path in (scores_file(where.scores), alerts_file(where.alerts)):
        left = pd.read_parquet(path)
        expected = scores[scores["customer_id"] != "c2"].reset_index(drop=True)
        pd.testing.assert_frame_equal(left, expected)
    assert other.read_bytes() == other_bytes
    assert (where.explain / "decisions.parquet").read_bytes() == explain_bytes
    assert pd.read_parquet(mixed)["customer_pseudonym"].tolist() == [p["c1"]]
    store = ActionStore(store_url(where.actions, None))
    alerts = store.frame(_table("alerts"))
    assert alerts.to_dict("records") == kept_alerts.reset_index(drop=True).to_dict("records")
    erasures = store.frame(_table("erasures"))
    store.close()
    assert len(erasures) == 1 and erasures["reason"].iloc[0] == "request 7"
    text = erasures.drop(columns=["erasure_id"]).to_string()  # the id is a random uuid
    assert "c2" not in text and p["c2"] not in text


def test_the_creditrisk_command(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`creditrisk limits|alerts|erase|retention|end-date` on a project folder: every
    change is recorded with who and why; a request that cannot be carried out exits 1
    with a plain message."""
    from pipelines.support import command_line as ops
    from pipelines.support.action_store import store_url

    store = ActionStore(store_url(Path("data/actions"), None))
    store.record(_alerts([("c1", *FREEZE), ("c2", "light", "r", "sms_reminder")]), as_of=D1)
    store.close()
    assert ops.main(["limits", "list"]) == 0
    assert "c1" in capsys.readouterr().out
    lift = ["limits", "lift", "c1", "--reason", "paid in full", "--by", "ann", "--on", "2024-02-01"]
    assert ops.main(lift) == 0
    assert "lifted 1 freeze(s) of c1" in capsys.readouterr().out
    assert ops.main(lift) == 1
    assert "no active limit freeze" in capsys.readouterr().err
    assert ops.main(["alerts", "outbox", "--csv", "outbox.csv"]) == 0
    box = pd.read_csv("outbox.csv")
    assert sorted(box["customer_id"]) == ["c1", "c2"]
    assert ops.main(["alerts", "sent", box["alert_id"].iloc[0], "--by", "notifier"]) == 0
    assert "1 alert(s) recorded as delivered" in capsys.readouterr().out
    assert ops.main(["erase", "c2", "--reason", "request 9"]) == 0
    assert "alerts 1" in capsys.readouterr().out
    assert ops.main(["retention"]) == 0
    assert ops.main(["end-date", "2026-01-31"]) == 0
    assert 'end_date: "2026-01-31"' in Path("params.yaml").read_text()
    store = ActionStore(store_url(Path("data/actions"), None))
    acts, alerts = store.actions(), store.outbox()
    store.close()
    assert acts["status"].tolist() == ["lifted"] and acts["lifted_by"].tolist() == ["ann"]
    assert alerts["customer_id"].tolist() == []  # c1's alert was sent, c2 erased


def test_creditrisk_run_and_check_take_their_own_flags(tmp_path: Path) -> None:
    """`creditrisk run --project ... --overrides ...` (what `make example-*` calls): the
    flags after `run` reach it whole (argparse's remainder dropped a first "--flag")."""
    from pipelines.support import command_line as ops

    project = tmp_path / "german"
    overrides = REPO / "examples/german_credit/params.yaml"
    argv = ["run", "--project", str(project), "--overrides", str(overrides), "--until", "generate"]
    assert ops.main(argv) == 0
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["data"]["end_date"] == "1995-12-31"
    assert params["data"]["source"] == str(overrides.parent)
    assert ops.main(["check", "--params", str(project / "params.yaml")]) == 0
