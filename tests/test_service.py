"""The decision service over real HTTP: a server started with ``creditrisk serve`` on a
copy of the session's small pipeline run, and a real client.

The served PD is checked against the exported scorer on the features stage's own rows;
the 401/404/409/422 cases, an event that freezes a limit before the next decision, and
parallel requests that lose or duplicate nothing; then the next ingest sees the events.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
import pytest
import requests

from creditrisk.models.inputs import conform_inputs
from tests.pipeline_run import PSEUDONYM_KEY, copy_of_shared_run, inside, session_base

pytestmark = pytest.mark.slow

TOKEN = "test-token-7f3a9c1e5b"


@dataclass
class Served:
    url: str
    project: Path
    log: Path
    data_end: date

    def post(self, path: str, body: Any, *, token: str | None = TOKEN) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.post(self.url + path, json=body, headers=headers, timeout=120)

    def decide(self, body: dict[str, Any]) -> dict[str, Any]:
        r = self.post("/v1/decisions", body)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Served]:
    project = copy_of_shared_run(
        session_base(tmp_path_factory, worker_id), tmp_path_factory.mktemp("served") / "p"
    )
    port = _free_port()
    log = project / "serve.log"
    env = {
        **os.environ,
        "CREDITRISK_API_TOKEN": TOKEN,
        "CREDITRISK_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
    }
    command = [sys.executable, "-m", "pipelines.support.command_line", "serve"]
    with log.open("w") as out:
        server = subprocess.Popen(
            [*command, "--port", str(port), "--workers", "2"],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                if requests.get(url + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None, f"the server stopped:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no answer in time:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        params = __import__("yaml").safe_load((project / "params.yaml").read_text())
        yield Served(url, project, log, date.fromisoformat(str(params["data"]["end_date"])))
    finally:
        server.terminate()
        server.wait(timeout=60)


def _batch_rows(project: Path) -> pd.DataFrame:
    """The features stage's rows at its latest snapshot."""
    features = pd.read_parquet(project / "data/features/features.parquet")
    return features[features["as_of"] == features["as_of"].max()].reset_index(drop=True)


def _log_rows(project: Path) -> int:
    folder = project / "data/decision_log"
    files = list(folder.rglob("*.parquet")) if folder.exists() else []
    return sum(len(pd.read_parquet(f, columns=["decision_id"])) for f in files)


def _events(project: Path) -> int:
    path = project / "data/events/events.db"
    if not path.exists():
        return 0
    con = sqlite3.connect(path)
    try:
        return int(con.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        con.close()


def test_healthz_needs_no_token_and_names_the_model(served: Served) -> None:
    r = requests.get(served.url + "/healthz", timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["model_version"].startswith("credit-default/")
    assert body["as_of"] == (served.data_end + timedelta(days=1)).isoformat()
    assert requests.get(served.url + "/openapi.json", timeout=30).json()["paths"].keys() >= {
        "/healthz",
        "/v1/decisions",
        "/v1/events",
    }


def test_every_other_route_needs_the_token(served: Served) -> None:
    customer = str(_batch_rows(served.project)["customer_id"].iloc[0])
    for token in (None, "wrong-token"):
        r = served.post("/v1/decisions", {"customer_id": customer}, token=token)
        assert r.status_code == 401, r.text
        r = served.post("/v1/events", {"transactions": []}, token=token)
        assert r.status_code == 401, r.text
    assert served.post("/v1/decisions", {"customer_id": customer}).status_code == 200


def test_served_pd_equals_the_exported_scorer_on_the_batch_rows(served: Served) -> None:
    """The same (customer, as_of): the service computes the features from the history,
    the batch stage computed them over everyone; the exported model scores both."""
    rows = _batch_rows(served.project)
    sample = rows.sample(min(40, len(rows)), random_state=7).reset_index(drop=True)
    as_of = pd.Timestamp(sample["as_of"].iloc[0]).date().isoformat()
    with inside(served.project):
        scorer = mlflow.pyfunc.load_model(str(served.project / "data/scorer"))
        inputs = conform_inputs(sample, scorer.metadata.get_input_schema())
        expected = scorer.predict(inputs.drop(columns=["as_of", "default", "label_complete"]))
    assert len(expected) == len(sample) >= 30
    for i, cid in enumerate(sample["customer_id"].astype(str)):
        got = served.decide({"customer_id": cid, "as_of": as_of})
        want = expected.iloc[i]
        assert got["customer_id"] == cid and got["as_of"] == as_of
        assert got["pd"] == pytest.approx(float(want["pd"]), rel=1e-12, abs=1e-15), cid
        assert got["score"] == pytest.approx(float(want["score"]), abs=1e-9)
        assert got["grade"] == want["grade"]
        assert got["reason_1"] == want["reason_1"]
        assert got["model_version"] == want["model_version"]


def test_a_history_in_the_request_gets_the_same_decision(served: Served) -> None:
    rows = _batch_rows(served.project)
    cid = str(rows["customer_id"].iloc[3])
    validated = served.project / "data/validated"
    tables = {
        t: pd.read_parquet(validated / f"{t}.parquet")
        for t in ("customers", "transactions", "loans", "repayments")
    }
    loans = tables["loans"][tables["loans"]["customer_id"] == cid]

    def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return json.loads(frame.to_json(orient="records", date_format="iso"))

    history = {
        "customer": records(tables["customers"][tables["customers"]["customer_id"] == cid])[0],
        "transactions": records(
            tables["transactions"][tables["transactions"]["customer_id"] == cid]
        ),
        "loans": records(loans),
        "repayments": records(
            tables["repayments"][tables["repayments"]["loan_id"].isin(loans["loan_id"])]
        ),
    }
    by_id = served.decide({"customer_id": cid})
    posted = served.decide({"history": history})
    assert posted["pd"] == pytest.approx(by_id["pd"], rel=1e-12)
    assert posted["grade"] == by_id["grade"]
    assert posted["as_of"] == by_id["as_of"]


def test_errors_name_the_field_and_never_echo_data(served: Served) -> None:
    cid = str(_batch_rows(served.project)["customer_id"].iloc[0])
    r = served.post("/v1/decisions", {"customer_id": "no-such-customer-42"})
    assert r.status_code == 404 and "no-such-customer-42" in r.json()["detail"]
    r = served.post("/v1/decisions", {"customer_id": cid, "as_of": "2024-13-45"})
    assert r.status_code == 422
    assert any(e["loc"][-1] == "as_of" for e in r.json()["detail"]) and "2024-13-45" not in r.text
    r = served.post("/v1/decisions", {"customer_id": cid, "as_of": "2999-01-01"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "as_of"
    r = served.post("/v1/decisions", {})
    assert r.status_code == 422
    r = served.post("/v1/decisions", {"customer_id": cid, "colour": "blue"})
    assert r.status_code == 422 and "colour" in r.text and "blue" not in r.text
    before = _events(served.project)
    bad = {
        "transactions": [
            {
                "transaction_id": "EV-bad-1",
                "customer_id": cid,
                "ts": "2020-01-01",
                "amount": -987.65,
            },
            {
                "transaction_id": "EV-bad-2",
                "customer_id": "no-such-customer-42",
                "ts": "2020-01-01",
                "amount": 5.0,
            },
            {"transaction_id": "EV-ok-3", "customer_id": cid, "ts": "2020-01-01", "amount": 5.0},
        ]
    }
    r = served.post("/v1/events", bad)
    assert r.status_code == 422, r.text
    rows = {p["row"]: p["reasons"] for p in r.json()["rows"]}
    assert rows == {0: ["amount: negative"], 1: ["customer_id: not a valid customer"]}
    assert "987.65" not in r.text
    r = served.post("/v1/events", {"loans": [{"loan_id": "EV-x", "customer_id": cid, "colour": 1}]})
    assert r.status_code == 422 and "colour: not a column of the contract or the export" in r.text
    assert _events(served.project) == before  # nothing stored from a rejected request


def test_an_unpaid_installment_posted_as_an_event_freezes_the_limit(served: Served) -> None:
    """An installment 40 days past due, posted as an event, fires the severe early
    warning at once: the next decision has its limit frozen, naming the action."""
    as_of = served.data_end + timedelta(days=1)
    rows = _batch_rows(served.project)
    chosen = None
    for cid in rows["customer_id"].astype(str):
        got = served.decide({"customer_id": cid})
        if got["credit_limit"] > 0 and not got["limit_policy"].startswith("frozen"):
            chosen = cid
            break
    assert chosen is not None
    events = {
        "loans": [
            {
                "loan_id": f"EV-{chosen}",
                "customer_id": chosen,
                "opened_at": (as_of - timedelta(days=80)).isoformat(),
                "principal": 900.0,
                "n_installments": 3,
            }
        ],
        "repayments": [
            {
                "loan_id": f"EV-{chosen}",
                "installment_no": 1,
                "due_date": (as_of - timedelta(days=40)).isoformat(),
                "amount_due": 300.0,
                "paid_date": None,
                "amount_paid": None,
            }
        ],
    }
    r = served.post("/v1/events", events)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stored"] == {"loans": 1, "repayments": 1}
    alert = [a for a in body["alerts"] if a["customer_id"] == chosen]
    assert alert and alert[0]["level"] == "severe" and "arrears_30_plus" in alert[0]["rules"]
    action = alert[0]["freeze_action_id"]
    assert action
    after = served.decide({"customer_id": chosen})
    assert after["credit_limit"] == 0
    assert after["limit_policy"].startswith("frozen:")
    assert action in after["limit_reason"]
    # The same request again: nothing is stored twice.
    again = served.post("/v1/events", events).json()
    assert again["stored"] == {"loans": 0, "repayments": 0}
    assert again["duplicates"] == {"loans": 1, "repayments": 1}


def test_parallel_requests_lose_and_duplicate_nothing(served: Served) -> None:
    rows = _batch_rows(served.project)
    ids = rows["customer_id"].astype(str).head(8).tolist()
    logged = _log_rows(served.project)
    stored = _events(served.project)
    day = served.data_end.isoformat()

    def decide(i: int) -> int:
        return served.post("/v1/decisions", {"customer_id": ids[i % len(ids)]}).status_code

    def post(i: int) -> int:
        body = {
            "transactions": [
                {
                    "transaction_id": f"EV-par-{i}",
                    "customer_id": ids[i % 8],
                    "ts": day,
                    "amount": 10.0 + i,
                }
            ]
        }
        return served.post("/v1/events", body).status_code

    def post_same(_: int) -> dict[str, Any]:
        body = {
            "transactions": [
                {"transaction_id": "EV-same", "customer_id": ids[0], "ts": day, "amount": 12.5}
            ]
        }
        out: dict[str, Any] = served.post("/v1/events", body).json()
        return out

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(decide, range(24)))
        posted = list(pool.map(post, range(8)))
        same = list(pool.map(post_same, range(6)))
    assert codes == [200] * 24
    assert posted == [200] * 8
    assert _log_rows(served.project) == logged + 24
    assert sum(s["stored"]["transactions"] for s in same) == 1
    assert sum(s["duplicates"]["transactions"] for s in same) == 5
    assert _events(served.project) == stored + 8 + 1


def test_the_log_holds_no_token_and_no_posted_data(served: Served) -> None:
    text = served.log.read_text()
    assert TOKEN not in text
    assert "987.65" not in text and "Traceback" not in text


def test_the_next_ingest_appends_each_event_once(served: Served) -> None:
    """Events dated within the export's end are appended to it by ingest (once: one the
    export already holds is not); a later one waits for the export that covers it."""
    from pipelines.support.run import stages
    from pipelines.support.stage import run_command
    from tests.conftest import REPO

    raw = pd.read_parquet(served.project / "data/raw/transactions.parquet")
    cid = str(_batch_rows(served.project)["customer_id"].iloc[1])
    held = raw.iloc[0]
    body = {
        "transactions": [
            {
                "transaction_id": "EV-next-1",
                "customer_id": cid,
                "ts": (served.data_end - timedelta(days=2)).isoformat(),
                "amount": 42.0,
            },
            {
                "transaction_id": "EV-next-2",
                "customer_id": cid,
                "ts": (served.data_end + timedelta(days=3)).isoformat(),
                "amount": 43.0,
            },
            {
                "transaction_id": str(held["transaction_id"]),
                "customer_id": str(held["customer_id"]),
                "ts": pd.Timestamp(held["ts"]).isoformat(),
                "amount": float(held["amount"]),
            },
        ]
    }
    r = served.post("/v1/events", body)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == {"transactions": 2} and r.json()["duplicates"] == {
        "transactions": 1
    }
    # the service's date moves to the day after its latest event
    health = requests.get(served.url + "/healthz", timeout=30).json()
    assert health["as_of"] == (served.data_end + timedelta(days=4)).isoformat()
    params = __import__("yaml").safe_load((served.project / "params.yaml").read_text())
    with inside(served.project):
        run_command(dict(stages(REPO / "dvc.yaml", params))["ingest"])
    after = pd.read_parquet(served.project / "data/raw/transactions.parquet")
    ids = after["transaction_id"].astype(str)
    assert (ids == "EV-next-1").sum() == 1 and (ids == "EV-next-2").sum() == 0
    assert (ids == str(held["transaction_id"])).sum() == 1
    report = json.loads((served.project / "reports/ingest.json").read_text())["events"]
    stored = _events(served.project)
    counted = report["transactions"]
    assert counted["waiting_after_end_date"] == 1
    assert len(after) == len(raw) + counted["added"]
    assert sum(c["stored"] for c in report.values()) == stored
