"""Benchmark: every stage of dvc.yaml at a lender's size, with wall time and peak memory.

Usage:
    python benchmarks/pipeline.py --customers 60000 [--customers 250000 ...]
        [--cache /tmp/creditrisk-bench-pipeline] [--keep]

For each size the synthetic history is generated once into ``--cache/<N>/raw`` (reused
by later runs), then every stage of ``dvc.yaml`` runs, with its own command, in its own
process, in a scratch project whose ``data.source`` is that history (so ``generate``
writes nothing there: its cost is the cached generation, printed apart). The script
prints per stage the wall time and the peak resident memory of its process, the total
after generate, and, between two sizes, the scaling exponent k of time ~ N^k per stage
(1: linear in customers).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.support.run import merged_params, stages  # noqa: E402


def measured(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run ``cmd``; its wall time (s) and the peak RSS (MiB) of that process."""
    started = time.perf_counter()
    with (cwd / "bench.log").open("a") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)} (see {cwd / 'bench.log'})")
    return wall, usage.ru_maxrss / 1024


def environment(project: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{project / 'mlflow.db'}"
    env.setdefault("CREDITRISK_PSEUDONYM_KEY", "benchmark-key-0123456789abcdef")
    env["MPLBACKEND"] = "Agg"
    return env


def history(cache: Path, customers: int) -> tuple[Path, float, float]:
    """The cached synthetic history of ``customers``; generation time and peak (0 when
    it was cached)."""
    folder = cache / str(customers)
    raw = folder / "raw"
    if (raw / "transactions.parquet").exists():
        return raw, 0.0, 0.0
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["generate"]["n_customers"] = customers
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    cmd = [sys.executable, "-m", "pipelines.generate", "--out", "raw", "--truth", "truth.parquet"]
    wall, peak = measured(cmd, folder, environment(folder))
    return raw, wall, peak


def run_size(cache: Path, customers: int, keep: bool) -> dict[str, tuple[float, float]]:
    raw, gen_wall, gen_peak = history(cache, customers)
    project = Path(tempfile.mkdtemp(prefix=f"bench-pipeline-{customers}-"))
    base = yaml.safe_load((REPO / "params.yaml").read_text())
    params = merged_params(
        base, {"data": {"source": str(raw)}, "generate": {"n_customers": customers}}, REPO
    )
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = environment(project)
    times: dict[str, tuple[float, float]] = {"generate (cached history)": (gen_wall, gen_peak)}
    todo = stages(REPO / "dvc.yaml", params)
    for i, (name, cmd) in enumerate(todo, start=1):
        argv = [sys.executable if a == "python" else a for a in shlex.split(cmd)]
        print(f"  [{customers:,}] {i}/{len(todo)} {name} ...", flush=True)
        times[name] = measured(argv, project, env)
    if keep:
        print(f"  project kept in {project}")
    else:
        shutil.rmtree(project, ignore_errors=True)
    return times


def report(results: dict[int, dict[str, tuple[float, float]]]) -> str:
    sizes = sorted(results)
    names = list(results[sizes[0]])
    head = f"{'stage':<26}" + "".join(f"{f'{n:,} s':>12}{'MiB':>8}" for n in sizes)
    if len(sizes) > 1:
        head += f"{'k':>7}"
    lines = [head]
    for name in [*names, "total after generate"]:
        cells, walls = "", []
        for n in sizes:
            if name == "total after generate":
                stage_times = [v for k, v in results[n].items() if not k.startswith("generate")]
                wall, peak = sum(t for t, _ in stage_times), max(p for _, p in stage_times)
            else:
                wall, peak = results[n][name]
            walls.append(wall)
            cells += f"{wall:>12.1f}{peak:>8.0f}"
        if len(sizes) > 1 and walls[0] > 0.5 and walls[-1] > 0:
            k = math.log(walls[-1] / walls[0]) / math.log(sizes[-1] / sizes[0])
            cells += f"{k:>7.2f}"
        lines.append(f"{name:<26}{cells}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, action="append", required=True)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/creditrisk-bench-pipeline"))
    ap.add_argument("--keep", action="store_true", help="keep the scratch projects")
    a = ap.parse_args()
    results = {}
    for n in sorted(set(a.customers)):
        print(f"{n:,} customers", flush=True)
        results[n] = run_size(a.cache, n, a.keep)
    print()
    print(report(results))


if __name__ == "__main__":
    main()
