"""Run the whole pipeline of ``dvc.yaml`` in another project folder, with params
overridden from a file: how an example on other data (``make example-german``) runs the
same stages, in the same order, as ``dvc repro``.

The project folder gets ``params.yaml`` = the repository's params with the override file's
sections merged in (one level deep, like ``dvc exp run -S``); a relative ``data.source`` in
the override file is taken relative to that file. Each stage's command from ``dvc.yaml``
runs inside the project folder, so every output lands there, and the MLflow store is the
project's own unless ``MLFLOW_TRACKING_URI`` is set.

Usage: python -m pipelines.support.run --project build/german-credit
           --overrides examples/german_credit/params.yaml [--until model_card]
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from pipelines.support.logs import setup_logging

log = logging.getLogger("pipelines.support.run")
REPO = Path(__file__).resolve().parents[2]


def merged_params(base: dict[str, Any], overrides: dict[str, Any], origin: Path) -> dict[str, Any]:
    """``base`` with each override section merged one level deep; a relative data.source
    is resolved against ``origin`` (the override file's folder)."""
    out = dict(base)
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(out.get(section), dict):
            out[section] = {**out[section], **values}
        else:
            out[section] = values
    source = overrides.get("data", {}).get("source")
    if source is not None and not Path(source).is_absolute():
        out["data"]["source"] = str((origin / source).resolve())
    return out


TEMPLATE = re.compile(r"\$\{([A-Za-z0-9_.]+)\}")


def render(text: str, params: dict[str, Any]) -> str:
    """``${section.key}`` replaced by its value in ``params``, as DVC's templating does.

    Raises:
        KeyError: the key is not in params.
    """

    def value(match: re.Match[str]) -> str:
        node: Any = params
        for part in match.group(1).split("."):
            node = node[part]
        return str(node)

    return TEMPLATE.sub(value, text)


def stages(dvc_yaml: Path, params: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, command) of every stage, in the file's order (which is dependency order),
    with ``${...}`` filled in from ``params`` (the project's params.yaml)."""
    spec = yaml.safe_load(dvc_yaml.read_text())["stages"]
    return [
        (name, render(" ".join(str(stage["cmd"]).split()), params)) for name, stage in spec.items()
    ]


def main(project: Path, overrides: Path, until: str | None) -> None:
    project.mkdir(parents=True, exist_ok=True)
    params = merged_params(
        yaml.safe_load((REPO / "params.yaml").read_text()),
        yaml.safe_load(overrides.read_text()) or {},
        overrides.resolve().parent,
    )
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{project.resolve() / 'mlflow.db'}")
    todo = stages(REPO / "dvc.yaml", params)
    names = [n for n, _ in todo]
    if until is not None:
        if until not in names:
            raise SystemExit(f"--until {until}: no such stage; stages are {names}")
        todo = todo[: names.index(until) + 1]
    seconds: dict[str, float] = {}
    for i, (name, cmd) in enumerate(todo, start=1):
        log.info("[%d/%d] %s", i, len(todo), name)
        argv = [sys.executable if a == "python" else a for a in shlex.split(cmd)]
        started = time.perf_counter()
        result = subprocess.run(argv, cwd=project, env=env, check=False)
        seconds[name] = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"stage {name} failed (exit {result.returncode}); see the log above")
    slowest = ", ".join(f"{n} {s:.1f} s" for n, s in sorted(seconds.items(), key=lambda x: -x[1]))
    log.info(
        "%d stages done in %.0f s (slowest first: %s); outputs under %s",
        len(todo),
        sum(seconds.values()),
        slowest,
        project,
    )


def cli(argv: list[str] | None = None) -> int:
    """``creditrisk run`` and ``python -m pipelines.support.run``."""
    setup_logging()
    ap = argparse.ArgumentParser(prog="creditrisk run", description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path, required=True)
    ap.add_argument("--overrides", type=Path, required=True)
    ap.add_argument("--until", default=None)
    a = ap.parse_args(argv)
    main(a.project, a.overrides, a.until)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
