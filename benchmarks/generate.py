"""Benchmark: generate the benchmark size and print wall time and peak memory.

Usage: python benchmarks/generate.py [--customers 180000]

Runs the real `generate` stage (pipelines.generate.main) in a child process inside a
temporary folder, so the peak resident memory printed is the stage's own.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=180_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        work = Path(tmp)
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params["generate"]["n_customers"] = args.customers
        (work / "params.yaml").write_text(yaml.safe_dump(params))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        cmd = [
            sys.executable,
            "-m",
            "pipelines.generate",
            "--out",
            "raw",
            "--truth",
            "truth.parquet",
        ]
        started = time.perf_counter()
        subprocess.run(cmd, cwd=work, env=env, check=True)
        wall = time.perf_counter() - started
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        rows = {
            p.stem: pq.ParquetFile(p).metadata.num_rows
            for p in sorted((work / "raw").glob("*.parquet"))
        }
        rows["truth"] = pq.ParquetFile(work / "truth.parquet").metadata.num_rows
        size_mib = sum(p.stat().st_size for p in work.rglob("*.parquet")) / 2**20
        print(f"customers            {args.customers:>14,}")
        for name, n in rows.items():
            print(f"{name:<20} {n:>14,} rows")
        print(f"wall time            {wall:>14.1f} s")
        print(f"peak memory (RSS)    {peak_mib:>14,.0f} MiB")
        print(f"parquet on disk      {size_mib:>14,.0f} MiB")
        print(f"transactions / s     {rows['transactions'] / wall:>14,.0f}")
        shutil.rmtree(work / "raw", ignore_errors=True)


if __name__ == "__main__":
    main()
