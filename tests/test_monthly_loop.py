"""Six monthly cycles of the operating loop on a growing export.

The synthetic history is generated once, to the last cycle's end; each cycle's export is
that history as a lender would have extracted it at the cycle's month end (later events
cut, later payments not yet made). Cycle 0 trains, exports and promotes the first
champion; every cycle then runs the nightly recipe (ingest, validate, monitor, score,
with ``data.end_date`` moved to the export's end). One cycle also trains a deliberately
worse model (two features) through export: it must stay @challenger.

Checked: the champion never moves; freezes hold the limit at 0 in the scores until the
cure rule lifts them; the action history grows without duplicates; matured cohorts appear
in the backtest, one more each month; a retraining trigger fires in the stress period.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipelines.support import command_line as ops
from tests.conftest import REPO, set_params
from tests.pipeline_run import inside, new_project

pytestmark = pytest.mark.slow

FIRST_END = date(2023, 3, 31)
CYCLE_ENDS = [date(2023, m, d) for m, d in ((4, 30), (5, 31), (6, 30), (7, 31), (8, 31), (9, 30))]
WORSE_CYCLE = 3
NIGHTLY = ["ingest", "validate", "monitor", "score"]
MODEL = ["features", "split", "train", "calibrate", "evaluate", "export"]


def _run(names: list[str]) -> None:
    from pipelines.support.run import stages
    from pipelines.support.stage import run_command

    todo = dict(stages(REPO / "dvc.yaml", yaml.safe_load(Path("params.yaml").read_text())))
    for name in names:
        run_command(todo[name])


def export_at(history: Path, out: Path, end: date) -> Path:
    """The history as extracted at ``end``: rows created after it dropped, payments made
    after it not yet made."""
    out.mkdir(parents=True, exist_ok=True)
    cut = pd.Timestamp(end) + pd.Timedelta(days=1)
    customers = pd.read_parquet(history / "customers.parquet")
    customers = customers[pd.to_datetime(customers["created_at"]) < cut]
    customers.to_parquet(out / "customers.parquet", index=False)
    tx = pd.read_parquet(history / "transactions.parquet")
    tx[pd.to_datetime(tx["ts"]) < cut].to_parquet(out / "transactions.parquet", index=False)
    loans = pd.read_parquet(history / "loans.parquet")
    loans = loans[pd.to_datetime(loans["opened_at"]) < cut]
    loans.to_parquet(out / "loans.parquet", index=False)
    rep = pd.read_parquet(history / "repayments.parquet")
    rep = rep[rep["loan_id"].isin(loans["loan_id"])].copy()
    later = pd.to_datetime(rep["paid_date"]) >= cut
    rep.loc[later, "paid_date"] = pd.NaT
    rep.loc[later, "amount_paid"] = None
    rep.to_parquet(out / "repayments.parquet", index=False)
    return out


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    folder = new_project(
        tmp_path_factory.mktemp("monthly"),
        data={"end_date": str(CYCLE_ENDS[-1])},
        # a downturn that starts the day after the first model's data ends (its label
        # windows end by 2023-03-31), felt fully in every region and segment
        generate={
            "n_customers": 1500,
            "start_date": "2020-01-01",
            "stress": {
                "start": "2023-04-01",
                "end": "2023-12-31",
                "intensity": 2.0,
                "regions": ["north", "south", "east", "west", "central"],
                "segments": [],
            },
        },
        features={"as_of_start": "2020-07-01", "as_of_end": "2023-09-01"},
        split={
            "train": ["2020-07-01", "2021-09-01"],
            "calibration": ["2021-10-01", "2022-01-01"],
            "test": ["2022-02-01", "2022-04-01"],
        },
    )
    cycles: list[dict] = []
    with inside(folder):
        _run(["generate"])
        history = folder / "data/synthetic/raw"
        set_params(folder, data={"source": "export"})
        for i, end in enumerate([FIRST_END, *CYCLE_ENDS]):
            # the month's export lands in the same folder; the recipe moves the end date
            export_at(history, folder / "export", end)
            assert ops.main(["end-date", str(end)]) == 0
            if i == 0:
                _run(["ingest", "validate", *MODEL[:-1]])
                _run(["export", "monitor", "score"])
            elif i == WORSE_CYCLE:
                _run(NIGHTLY[:2])
                keep = {"income_monthly", "months_on_book"}
                spec = json.loads((folder / "data/models/features.json").read_text())
                set_params(
                    folder, train={"exclude": [f for f in spec["features"] if f not in keep]}
                )
                _run(MODEL)
                set_params(folder, train={"exclude": []})
                _run(NIGHTLY[2:])
            else:
                _run(NIGHTLY)
            cycles.append(_snapshot(folder, end))
        _run(["monitor"])  # the same date again
        rerun = _snapshot(folder, CYCLE_ENDS[-1])
        yield {"folder": folder, "cycles": cycles, "rerun": rerun}


def _snapshot(folder: Path, end: date) -> dict:
    con = sqlite3.connect(folder / "data/actions/actions.db")
    try:
        actions = pd.read_sql("select * from limit_actions", con)
        alerts = pd.read_sql("select * from alerts", con)
        events = pd.read_sql("select * from action_events", con)
    finally:
        con.close()
    return {
        "end": end,
        "monitor": json.loads((folder / "reports/monitor.json").read_text()),
        "export": json.loads((folder / "reports/export.json").read_text()),
        "served": (folder / "data/scorer/MLmodel").read_text(),
        "scores": pd.read_parquet(folder / "data/scores/scores.parquet"),
        "actions": actions,
        "alerts": alerts,
        "events": events,
        "backtest": pd.read_csv(folder / "reports/monitor/backtest_by_month.csv"),
    }


def test_the_champion_does_not_move_for_a_worse_model(loop: dict) -> None:
    cycles = loop["cycles"]
    first = cycles[0]["export"]
    assert first["alias"] == "champion" and first["promotion"]["rule"] == "first_champion"
    worse = cycles[WORSE_CYCLE]["export"]
    assert worse["model_version"] == first["model_version"] + 1
    assert worse["alias"] == "challenger", worse["promotion"]
    assert worse["promotion"]["rule"] in ("worse_than_champion", "gate_failed")
    for c in cycles:
        assert f"model_version: credit-default/{first['model_version']}" in c["served"]
        assert c["monitor"]["model_version"] == f"credit-default/{first['model_version']}"
        assert (c["scores"]["model_version"] == f"credit-default/{first['model_version']}").all()


def test_freezes_hold_until_cured_and_are_lifted_by_the_cure_rule(loop: dict) -> None:
    cycles = loop["cycles"]
    assert sum(len(c["actions"]) for c in cycles[:1]) > 0, "no freeze in the first month"
    for c in cycles:
        scores = c["scores"].set_index("customer_id")
        lifted = set(c["events"].loc[c["events"]["kind"] == "lifted", "subject_id"])
        active = c["actions"][~c["actions"]["action_id"].isin(lifted)]
        frozen = [cid for cid in active["customer_id"].unique() if cid in scores.index]
        assert frozen, f"no active freeze among the scored customers at {c['end']}"
        assert (scores.loc[frozen, "credit_limit"] == 0).all()
        assert scores.loc[frozen, "limit_policy"].str.startswith("frozen:").all()
        assert scores.loc[frozen, "limit_reason"].str.contains("early warning").all()
        others = scores.index.difference(active["customer_id"])
        assert not scores.loc[others, "limit_policy"].str.startswith("frozen").any()
    last = cycles[-1]["events"]
    cured = last[(last["kind"] == "lifted") & (last["by_kind"] == "cure_rule")]
    assert len(cured) > 0, "the cure rule lifted no freeze in six months"
    assert cured["reason"].str.startswith("cured: ").all()
    # a lifted freeze no longer holds the limit at 0 when the customer is not frozen again
    lifted_customers = set(cured["customer_id"])
    final = cycles[-1]
    still = final["actions"][~final["actions"]["action_id"].isin(set(last["subject_id"]))]
    free = lifted_customers - set(still["customer_id"])
    scores = final["scores"].set_index("customer_id")
    free = [c for c in free if c in scores.index]
    assert free and not scores.loc[free, "limit_policy"].str.startswith("frozen").any()


def test_action_history_grows_without_duplicates(loop: dict) -> None:
    cycles = loop["cycles"]
    sizes = [len(c["alerts"]) for c in cycles]
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]
    last = cycles[-1]
    assert not last["alerts"].duplicated(["as_of", "customer_id"]).any()
    assert not last["actions"].duplicated(["as_of", "customer_id"]).any()
    months = sorted(last["alerts"]["as_of"].astype(str).unique())
    assert len(months) == len(cycles)  # every month's alerts kept
    # earlier cycles' records are still there, unchanged
    first = cycles[0]["alerts"].set_index("alert_id")
    kept = last["alerts"].set_index("alert_id").loc[first.index]
    pd.testing.assert_frame_equal(kept, first)
    # monitoring the same date again adds nothing
    rerun = loop["rerun"]
    store = rerun["monitor"]["store"]
    assert store["alerts_new"] == 0 and store["freezes_new"] == 0
    assert store["alerts_already_recorded"] == last["monitor"]["store"]["alerts_new"] > 0
    pd.testing.assert_frame_equal(rerun["alerts"], last["alerts"])
    pd.testing.assert_frame_equal(rerun["actions"], last["actions"])


def test_matured_cohorts_appear_in_the_backtest(loop: dict) -> None:
    counts = [c["monitor"]["backtest"]["cohorts"] for c in loop["cycles"]]
    assert counts == list(range(len(counts))), counts  # one more each month
    last = loop["cycles"][-1]["backtest"]
    assert len(last) == len(counts) - 1 and (last["rows"] > 0).all()
    # the champion's test period ends at 2022-04-01, unlabelled at its training (the
    # window ends 2023-04-01, after the data's end): that is the first matured cohort
    assert last["as_of"].iloc[0] == "2022-04-01"


def test_a_trigger_fires_in_the_stress_period(loop: dict) -> None:
    reports = [c["monitor"] for c in loop["cycles"]]
    fired = {r["as_of"]: [t["name"] for t in r["triggers"] if t["fired"]] for r in reports}
    stress = [as_of for as_of, names in fired.items() if names and as_of > "2023-04-01"]
    assert stress, [(r["as_of"], [(t["name"], t["value"]) for t in r["triggers"]]) for r in reports]
    assert all(r["retrain"] == bool(fired[r["as_of"]]) for r in reports)
