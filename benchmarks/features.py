"""Benchmark: the features stage beside a pandas and a featuretools baseline, in one run.

Usage:
    python benchmarks/features.py --data /tmp/bench-data [--months 12]
        [--featuretools-python .venv-bench-ft/bin/python]

On the benchmark history (generated into --data/raw if absent: 180,000 customers, about
10.4 million purchases), each contender computes the same features for every customer at
--months monthly as_of dates, in its own process; the script prints wall time, peak
resident memory and the ratios, and cross-checks the values against the stage's output.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
FIRST_AS_OF = "2024-01-01"
FT_NAMES = {
    **{f"COUNT(transactions)_{w}d": f"txn_count_{w}d" for w in (30, 90, 180, 365)},
    **{f"SUM(transactions.amount)_{w}d": f"txn_amount_sum_{w}d" for w in (30, 90, 180, 365)},
    **{f"MEAN(transactions.amount)_{w}d": f"txn_amount_mean_{w}d" for w in (30, 90, 180, 365)},
    **{f"MAX(transactions.amount)_{w}d": f"txn_amount_max_{w}d" for w in (30, 90, 180, 365)},
    **{f"COUNT(loans)_{w}d": f"n_loans_opened_{w}d" for w in (30, 90, 180, 365)},
    "NUM_UNIQUE(transactions.category)_365d": "txn_category_count_365d",
}


def measured(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run ``cmd``; return its wall time (s) and the peak RSS (MiB) of that process."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024


def ensure_data(data: Path, customers: int, env: dict[str, str]) -> Path:
    raw = data / "raw"
    if (raw / "transactions.parquet").exists():
        return raw
    data.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["generate"]["n_customers"] = customers
    (data / "params.yaml").write_text(yaml.safe_dump(params))
    cmd = [sys.executable, "-m", "pipelines.generate", "--out", "raw", "--truth", "truth.parquet"]
    subprocess.run(cmd, cwd=data, env=env, check=True)
    return raw


def compare(ours: pd.DataFrame, other: pd.DataFrame, columns: list[str]) -> tuple[int, int, int]:
    """Rows compared, cells compared, cells that differ (beyond 1e-9 relative)."""
    m = ours.merge(other, on=["customer_id", "as_of"], suffixes=("", "__other"))
    cells = bad = 0
    for c in columns:
        a, b = m[c].astype("float64"), m[f"{c}__other"].astype("float64")
        ok = np.isclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True)
        cells += len(ok)
        bad += int((~ok).sum())
    return len(m), cells, bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--customers", type=int, default=180_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument(
        "--featuretools-python", type=Path, default=REPO / ".venv-bench-ft/bin/python"
    )
    args = parser.parse_args()
    args.featuretools_python = args.featuretools_python.absolute()  # not resolve(): keep the venv
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{BENCH}"}
    raw = ensure_data(args.data, args.customers, env)
    n_tx = pq.ParquetFile(raw / "transactions.parquet").metadata.num_rows
    last = (pd.Timestamp(FIRST_AS_OF) + pd.DateOffset(months=args.months - 1)).date()

    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        work = Path(tmp)
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params["features"].update(as_of_start=FIRST_AS_OF, as_of_end=str(last))
        (work / "params.yaml").write_text(yaml.safe_dump(params))
        py = sys.executable
        results: dict[str, tuple[float, float]] = {}
        results["features stage (DuckDB)"] = measured(
            [
                py,
                "-m",
                "pipelines.features",
                "--validated",
                str(raw),
                "--out",
                "features",
                "--report",
                "features.json",
            ],
            work,
            env,
        )
        results["pandas baseline"] = measured(
            [
                py,
                str(BENCH / "pandas_baseline.py"),
                "--raw",
                str(raw),
                "--first",
                FIRST_AS_OF,
                "--months",
                str(args.months),
                "--out",
                "pandas.parquet",
            ],
            work,
            env,
        )
        has_ft = args.featuretools_python.exists()
        if has_ft:
            results["featuretools baseline"] = measured(
                [
                    str(args.featuretools_python),
                    str(BENCH / "featuretools_baseline.py"),
                    "--raw",
                    str(raw),
                    "--first",
                    FIRST_AS_OF,
                    "--months",
                    str(args.months),
                    "--out",
                    "featuretools.parquet",
                ],
                work,
                env,
            )
        ours = pd.read_parquet(work / "features/features.parquet")
        ours["as_of"] = ours["as_of"].astype("datetime64[us]")
        base = pd.read_parquet(work / "pandas.parquet")
        base["as_of"] = base["as_of"].astype("datetime64[us]")
        numeric = [
            c
            for c in base.columns
            if c in ours.columns
            and c not in ("customer_id", "as_of")
            and pd.api.types.is_numeric_dtype(ours[c])
        ]
        rows, cells, bad = compare(ours, base, numeric)
        ft_check = None
        if has_ft:
            ft = pd.read_parquet(work / "featuretools.parquet").rename(columns=FT_NAMES)
            ft["as_of"] = ft["as_of"].astype("datetime64[us]")
            last = "TIME_SINCE_LAST(transactions.ts)_365d"
            ft["days_since_last_purchase"] = np.floor(ft[last] / 86400)
            common = [c for c in ft.columns if c in numeric]
            ft_check = (len(common), *compare(ours, ft, common))

    print()
    print(
        f"benchmark history: {n_tx:,} transactions; {args.months} monthly as_of dates from "
        f"{FIRST_AS_OF}; {len(ours):,} feature rows x {len(numeric)} numeric features"
    )
    print(f"{'contender':<28}{'wall s':>10}{'peak MiB':>12}{'time vs stage':>16}")
    stage_wall = results["features stage (DuckDB)"][0]
    for name, (wall, peak) in results.items():
        print(f"{name:<28}{wall:>10.1f}{peak:>12,.0f}{wall / stage_wall:>15.1f}x")
    if not has_ft:
        print(
            f"(featuretools baseline skipped: {args.featuretools_python} not found; "
            "`make bench-features` builds it)"
        )
    print(f"cross-check stage vs pandas: {rows:,} rows, {cells:,} cells, {bad:,} differ")
    if ft_check:
        n, rows, cells, bad = ft_check
        print(
            f"cross-check stage vs featuretools ({n} shared features): {rows:,} rows, "
            f"{cells:,} cells, {bad:,} differ (events exactly on a window edge: "
            "featuretools windows are (cutoff - w, cutoff], the stage's [as_of - w, as_of))"
        )


if __name__ == "__main__":
    main()
