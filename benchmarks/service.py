"""Benchmark: decisions by customer id over HTTP from `creditrisk serve`, beside MLflow's
single-row pyfunc floor measured in the same run.

Usage (after `make repro`):
    python benchmarks/service.py [--project .] [--decisions 400] [--clients 8]
        [--workers 2] [--purchases 10000000]

The project's champion, validated history and feature table are copied into a scratch
project (the benchmark's decisions go to its own decision log, never the project's), and
`creditrisk serve` is started there. Printed, per history size:

- sequential: p50 and p99 latency of ``POST /v1/decisions`` by customer id (one client,
  keep-alive), and decisions per second;
- concurrent: the same with ``--clients`` clients at once;
- the floor: ``predict`` of a do-nothing pyfunc model with the scorer's signature on one
  row, in process (MLflow's own input checking; no features, no scoring), and the ratio
  p50 / floor p50.

With ``--purchases N`` the run is repeated on a history padded to N purchases (extra
customers' purchases), so the figures show whether one decision's cost grows with the
size of the store: the history is indexed by customer, so it should not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from scorer import floor_model  # noqa: E402


def scratch_project(project: Path, work: Path, purchases: int | None) -> Path:
    """The project's params and the data the service reads, in ``work``."""
    work.mkdir(parents=True)
    shutil.copy(project / "params.yaml", work / "params.yaml")
    for folder in ("data/scorer", "data/validated", "data/features"):
        shutil.copytree(project / folder, work / folder)
    if purchases:
        pad_purchases(work / "data/validated/transactions.parquet", purchases)
    return work


def pad_purchases(path: Path, total: int) -> None:
    """Add purchases of customers the customers table does not hold (the decisions never
    ask for them) until the table has ``total`` rows, in the table's own shape."""
    base = pd.read_parquet(path)
    missing = total - len(base)
    if missing <= 0:
        return
    rng = np.random.default_rng(0)
    per = 60
    pick = rng.integers(0, len(base), missing)
    pad = base.iloc[pick].reset_index(drop=True)
    pad["customer_id"] = [f"PAD{i // per:08d}" for i in range(missing)]
    pad["transaction_id"] = [f"PADT{i:010d}" for i in range(missing)]
    pd.concat([base, pad], ignore_index=True).to_parquet(path, index=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(project: Path, workers: int) -> tuple[subprocess.Popen[bytes], str, float]:
    port = free_port()
    env = {**os.environ, "CREDITRISK_API_TOKEN": "bench-token-0123456789"}
    env.setdefault("CREDITRISK_PSEUDONYM_KEY", "bench-pseudonym-key-0123456789")
    started = time.perf_counter()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "pipelines.support.command_line", "serve"),
            *("--port", str(port), "--workers", str(workers)),
        ],
        cwd=project,
        env=env,
        stdout=(project / "serve.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if requests.get(url + "/healthz", timeout=5).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"the service stopped; see {project / 'serve.log'}")
        time.sleep(0.25)
    return server, url, time.perf_counter() - started


def decide_all(url: str, ids: list[str]) -> list[float]:
    session = requests.Session()
    session.headers["Authorization"] = "Bearer bench-token-0123456789"
    times = []
    for cid in ids:
        started = time.perf_counter()
        r = session.post(url + "/v1/decisions", json={"customer_id": cid}, timeout=60)
        times.append(time.perf_counter() - started)
        if r.status_code not in (200, 409):  # 409: in default at the date, no decision
            raise SystemExit(f"decision failed: {r.status_code} {r.text[:200]}")
    return times


def measure(url: str, ids: list[str], clients: int) -> dict[str, float]:
    decide_all(url, ids[:20])  # warm each worker's session and caches
    seq_started = time.perf_counter()
    seq = decide_all(url, ids)
    seq_wall = time.perf_counter() - seq_started
    parts = [ids[i::clients] for i in range(clients)]
    results: list[list[float]] = [[] for _ in range(clients)]

    def run(i: int) -> None:
        results[i] = decide_all(url, parts[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    conc_started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conc_wall = time.perf_counter() - conc_started
    conc = [x for r in results for x in r]
    ms = np.array(seq) * 1000
    cms = np.array(conc) * 1000
    return {
        "seq_p50": float(np.percentile(ms, 50)),
        "seq_p99": float(np.percentile(ms, 99)),
        "seq_rate": len(seq) / seq_wall,
        "conc_p50": float(np.percentile(cms, 50)),
        "conc_p99": float(np.percentile(cms, 99)),
        "conc_rate": len(conc) / conc_wall,
    }


def floor_ms(scorer: Path, row: pd.DataFrame, work: Path, n: int = 300) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = floor_model(scorer, work)
    for _ in range(30):
        model.predict(row)
    times = []
    for _ in range(n):
        started = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - started)
    return float(np.percentile(np.array(times) * 1000, 50))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=REPO)
    parser.add_argument("--decisions", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--purchases", type=int, default=None)
    args = parser.parse_args()
    project = args.project.resolve()
    features = pd.read_parquet(project / "data/features/features.parquet")
    latest = features[features["as_of"] == features["as_of"].max()]
    ids = (
        latest["customer_id"]
        .astype(str)
        .sample(args.decisions, replace=len(latest) < args.decisions, random_state=0)
        .tolist()
    )
    import mlflow.pyfunc

    from creditrisk.models.inputs import conform_inputs

    schema = mlflow.pyfunc.load_model(str(project / "data/scorer")).metadata.get_input_schema()
    row = conform_inputs(latest.head(1), schema)
    row = row[[c.name for c in schema.inputs]]
    sizes: list[int | None] = [None] + ([args.purchases] if args.purchases else [])
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        floor = floor_ms(project / "data/scorer", row, Path(tmp))
        print(f"pyfunc floor (do-nothing model, same signature, one row): p50 {floor:.1f} ms")
        for size in sizes:
            work = scratch_project(project, Path(tmp) / f"p{size or 0}", size)
            n_purchases = len(
                pd.read_parquet(work / "data/validated/transactions.parquet", columns=["amount"])
            )
            server, url, ready = start(work, args.workers)
            try:
                m = measure(url, ids, args.clients)
            finally:
                server.terminate()
                server.wait(timeout=60)
            print(
                f"\nhistory of {n_purchases:,} purchases: service ready in {ready:.1f} s "
                f"(history indexed, model loaded), {args.workers} worker(s)"
            )
            print(
                f"  sequential: p50 {m['seq_p50']:.1f} ms, p99 {m['seq_p99']:.1f} ms, "
                f"{m['seq_rate']:.1f} decisions/s; p50 / floor = {m['seq_p50'] / floor:.1f}"
            )
            print(
                f"  {args.clients} clients: p50 {m['conc_p50']:.1f} ms, "
                f"p99 {m['conc_p99']:.1f} ms, {m['conc_rate']:.1f} decisions/s"
            )


if __name__ == "__main__":
    main()
