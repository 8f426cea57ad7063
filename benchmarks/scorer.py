"""Benchmark: the exported scorer beside bare LightGBM pred_contrib and shap.TreeExplainer.

Usage (after `make repro`, which exports data/scorer):
    python benchmarks/scorer.py [--scorer data/scorer] [--rows 200000] [--calls 2000]
        [--no-serve] [--no-spark]

All contenders use the same model and the same rows (test-period feature rows, drawn with
replacement up to --rows). Printed:
- batch throughput (rows/s): the full scorer output (PD, score, grade, limit, reasons)
  from a DataFrame, beside bare `Booster.predict(pred_contrib=True)` on the ready float
  matrix, and `shap.TreeExplainer(booster).shap_values` (on a 20,000-row slice: it is slow);
- single-row latency p50/p99 of the full scorer through `pyfunc.predict`, beside a
  predict-only pyfunc model with the same signature (pyfunc's own overhead);
- with serving: single-row latency over HTTP to `mlflow models serve` on loopback;
- with Spark: rows/s of `mlflow.pyfunc.spark_udf` in local mode.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow.pyfunc
import numpy as np
import pandas as pd

from creditrisk.models.pyfunc import scorer_artifacts

REPO = Path(__file__).resolve().parents[1]
SHAP_ROWS = 20_000


class DoNothing(mlflow.pyfunc.PythonModel):
    """MLflow's own floor: the same signature, a predict that does nothing."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return model_input.iloc[:, :0]


def floor_model(scorer_dir: Path, work: Path) -> Any:
    full = mlflow.pyfunc.load_model(str(scorer_dir))
    path = work / "do-nothing"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.pyfunc.save_model(
            path=str(path),
            python_model=DoNothing(),
            signature=full.metadata.signature,
            pip_requirements=["mlflow", "pandas"],
        )
    return mlflow.pyfunc.load_model(str(path))


class PredictOnly(mlflow.pyfunc.PythonModel):
    """PD from the same booster and matrix, nothing else: pyfunc's own overhead."""

    def load_context(self, context: Any) -> None:
        from creditrisk.models.pyfunc import load_scorer

        self.scorer = load_scorer(context.artifacts, model_version="predict-only")

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        return np.asarray(self.scorer.booster.predict(self.scorer.matrix(model_input)))


def rows_per_second(fn: Any, n: int, repeat: int = 3) -> float:
    best = min(_timed(fn) for _ in range(repeat))
    return n / best


def _timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def latency(fn: Any, rows: list[pd.DataFrame], warmup: int = 100) -> tuple[float, float]:
    for r in rows[:warmup]:
        fn(r)
    times = []
    for r in rows:
        started = time.perf_counter()
        fn(r)
        times.append(time.perf_counter() - started)
    ms = np.array(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def predict_only_model(scorer_dir: Path, work: Path) -> Any:
    artifacts = scorer_artifacts(scorer_dir)
    full = mlflow.pyfunc.load_model(str(scorer_dir))
    path = work / "predict-only"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.pyfunc.save_model(
            path=str(path),
            python_model=PredictOnly(),
            artifacts=artifacts,
            signature=full.metadata.signature,
            pip_requirements=["mlflow", "lightgbm", "pandas"],
        )
    return mlflow.pyfunc.load_model(str(path))


def serve_latency(scorer_dir: Path, rows: list[pd.DataFrame]) -> tuple[float, float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [f"{bin_dir}/mlflow", "models", "serve", "-m", str(scorer_dir)]
    cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("mlflow models serve did not start") from None
                time.sleep(0.5)
        bodies = [
            json.dumps(
                {"dataframe_split": json.loads(r.to_json(orient="split", date_format="iso"))}
            ).encode()
            for r in rows
        ]

        def call(body: bytes) -> None:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req, timeout=30) as r:
                r.read()

        return latency(call, bodies)  # type: ignore[arg-type]
    finally:
        server.terminate()
        server.wait(timeout=30)


def spark_rows_per_second(scorer_dir: Path, frame: pd.DataFrame, names: list[str]) -> float:
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("creditrisk-bench-udf")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    try:
        sdf = spark.createDataFrame(frame[names]).repartition(2).cache()
        sdf.count()
        udf = mlflow.pyfunc.spark_udf(
            spark,
            str(scorer_dir),
            result_type="struct<pd:double, grade:string, credit_limit:double, reason_1:string>",
            env_manager="local",
        )
        scored = sdf.withColumn("s", udf(*names)).select("s.pd")
        return rows_per_second(lambda: scored.agg({"pd": "sum"}).collect(), len(frame), 2)
    finally:
        spark.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scorer", type=Path, default=REPO / "data/scorer")
    parser.add_argument("--rows-from", type=Path, default=REPO / "data/split/test.parquet")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--no-serve", action="store_true")
    parser.add_argument("--no-spark", action="store_true")
    args = parser.parse_args()
    if not (args.scorer / "MLmodel").exists():
        raise SystemExit(f"{args.scorer} has no exported model: run `make repro` first")

    model = mlflow.pyfunc.load_model(str(args.scorer))
    scorer = model.unwrap_python_model().scorer
    names = model.metadata.get_input_schema().input_names()
    source = pd.read_parquet(args.rows_from)
    rng = np.random.default_rng(0)
    frame = source.iloc[rng.integers(0, len(source), args.rows)].reset_index(drop=True)
    frame = frame[names]
    X = scorer.matrix(frame)
    booster: lgb.Booster = scorer.booster
    print(
        f"model: {booster.num_trees()} trees, {len(names) - 1} features; {args.rows:,} rows "
        f"from {args.rows_from.name}; {os.cpu_count()} cores"
    )

    bare = rows_per_second(lambda: booster.predict(X, pred_contrib=True), len(X))
    full = rows_per_second(lambda: scorer.score(frame), len(frame))
    import shap

    explainer = shap.TreeExplainer(booster)
    xs = X[:SHAP_ROWS]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shap_rate = rows_per_second(lambda: explainer.shap_values(xs), len(xs), 1)
    print("\nbatch throughput")
    print(f"{'contender':<46}{'rows/s':>12}{'vs pred_contrib':>18}")
    for name, rate in (
        ("bare LightGBM predict(pred_contrib=True)", bare),
        ("full scorer (PD, score, grade, limit, reasons)", full),
        (f"shap.TreeExplainer ({SHAP_ROWS:,} rows)", shap_rate),
    ):
        print(f"{name:<46}{rate:>12,.0f}{rate / bare:>17.2f}x")

    singles = [frame.iloc[[i]] for i in range(min(args.calls, len(frame)))]
    with tempfile.TemporaryDirectory(prefix="bench-scorer-") as tmp:
        only = predict_only_model(args.scorer, Path(tmp))
        floor = floor_model(args.scorer, Path(tmp))
        logger = __import__("logging").getLogger("mlflow")
        logger.setLevel("ERROR")
        p50_full, p99_full = latency(model.predict, singles)
        p50_only, p99_only = latency(only.predict, singles)
        p50_floor, p99_floor = latency(floor.predict, singles)
        p50_direct, p99_direct = latency(scorer.score, singles)
    print(f"\nsingle-row latency ({len(singles):,} calls)")
    print(f"{'path':<46}{'p50 ms':>10}{'p99 ms':>10}")
    for name, (a, b) in (
        ("full scorer through pyfunc.predict", (p50_full, p99_full)),
        ("predict-only model through pyfunc.predict", (p50_only, p99_only)),
        ("do-nothing model, same signature (the floor)", (p50_floor, p99_floor)),
        ("full scorer, Python API (no pyfunc)", (p50_direct, p99_direct)),
    ):
        print(f"{name:<46}{a:>10.2f}{b:>10.2f}")
    print(
        f"full scorer / MLflow floor at p50: {p50_full / p50_floor:.2f}x "
        f"(the scorer's own part: {p50_full - p50_floor:.2f} ms)"
    )
    if not args.no_serve:
        http50, http99 = serve_latency(args.scorer, singles[:500])
        print(f"{'full scorer over HTTP (mlflow models serve)':<46}{http50:>10.2f}{http99:>10.2f}")
    if not args.no_spark:
        rate = spark_rows_per_second(args.scorer, frame, names)
        print(f"\nspark_udf, local[2]: {rate:,.0f} rows/s")


if __name__ == "__main__":
    main()
