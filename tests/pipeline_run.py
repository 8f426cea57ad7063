"""A whole small pipeline run in a temporary project folder, laid out like the repository
(``data/...``, ``reports/...``), for tests of the later stages, reports and notebooks."""

from __future__ import annotations

import fcntl
import importlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO, set_params

PSEUDONYM_KEY = "test-key-0123456789abcdef"


@contextmanager
def inside(folder: Path) -> Iterator[Path]:
    """Work inside ``folder`` with its own MLflow store and a test pseudonym key."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "CREDITRISK_PSEUDONYM_KEY")}
    cwd = Path.cwd()
    os.chdir(folder)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    os.environ["CREDITRISK_PSEUDONYM_KEY"] = PSEUDONYM_KEY
    try:
        yield folder
    finally:
        os.chdir(cwd)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def new_project(folder: Path, **sections: dict[str, Any]) -> Path:
    """A project folder with the repository's params.yaml, made small, plus ``sections``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "params.yaml", folder / "params.yaml")
    set_params(folder, generate={"n_customers": 1200})
    set_params(folder, train={"num_boost_round": 200, "learning_rate": 0.1})
    set_params(folder, evaluate={"bootstrap": 20})
    set_params(folder, explain={"max_rows": 3000, "plot_rows": 500, "dependence_top": 2})
    for name, values in sections.items():
        set_params(folder, **{name: values})
    return folder


def run_pipeline(
    folder: Path, *, until: str = "model_card", read: dict[str, set[str]] | None = None
) -> Path:
    """Run the stages of dvc.yaml in order inside ``folder`` (already ``inside`` it), in
    this process, with the commands dvc.yaml gives them (the same list ``dvc repro`` and
    ``creditrisk run`` use, so the three cannot drift apart). With ``read``, record per
    stage the params keys it reads (:mod:`tests.params_recorder`)."""
    import pipelines.support.params
    from pipelines.support.run import stages
    from pipelines.support.stage import run_command
    from tests.params_recorder import recording

    todo = stages(REPO / "dvc.yaml", yaml.safe_load((folder / "params.yaml").read_text()))
    names = [n for n, _ in todo]
    if until not in names:
        raise ValueError(f"unknown stage {until}; stages are {names}")
    for name, cmd in todo[: names.index(until) + 1]:
        if read is None:
            run_command(cmd)
            continue
        module = importlib.import_module(cmd.split()[2])
        read[name] = set()
        original = module.load_params
        module.load_params = recording(pipelines.support.params.load_params, read[name])
        try:
            run_command(cmd)
        finally:
            module.load_params = original
    return folder


# dvc.lock as DVC writes it, so the model card's lineage has hashes to show.
LOCK_HASHES = {
    "data/raw": "aaaa1111bbbb2222cccc3333dddd4444.dir",
    "data/validated": "eeee5555ffff6666aaaa7777bbbb8888.dir",
    "data/features": "1234567890abcdef1234567890abcdef.dir",
}
_LOCKED = {"ingest": "data/raw", "validate": "data/validated", "features": "data/features"}
SHARED_READS = "params_read.json"


def shared_run(base: Path) -> Path:
    """One small whole-pipeline run per test session (``new_project``'s settings), for
    the tests that read a finished run; a test that changes files works on
    :func:`copy_of_shared_run`. The first pytest worker to ask builds it while the others
    wait on a lock; the params keys each stage read are kept in ``params_read.json``.

    ``base`` is the session's own temporary folder (shared by its workers, never by two
    sessions), so a run is never reused across code changes."""
    root = base / "shared-run"
    with (base / "shared-run.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".done").exists():
            shutil.rmtree(root, ignore_errors=True)
            folder = new_project(root)
            stages = {
                stage: {"outs": [{"path": path, "md5": LOCK_HASHES[path]}]}
                for stage, path in _LOCKED.items()
            }
            (folder / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": stages}))
            read: dict[str, set[str]] = {}
            with inside(folder):
                run_pipeline(folder, read=read)
            (folder / SHARED_READS).write_text(json.dumps({k: sorted(v) for k, v in read.items()}))
            (root / ".done").touch()
    return root


def copy_of_shared_run(base: Path, target: Path) -> Path:
    """A private copy of :func:`shared_run`, for a test that changes the project."""
    shutil.copytree(shared_run(base), target, ignore=shutil.ignore_patterns(".done"))
    return target


def session_base(tmp_path_factory: Any, worker_id: str) -> Path:
    """The folder every worker of this pytest session shares (and no other session)."""
    base: Path = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


def execute_notebook(path: Path, root: Path) -> list[dict[str, Any]]:
    """Run a notebook (stored without outputs) in a real kernel against the pipeline
    outputs under ``root``; returns its image outputs. Any failing cell raises."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    stored = [c for c in notebook.cells if c.cell_type == "code" and c.get("outputs")]
    assert not stored, f"{path.name} is stored with outputs; clear them before committing"
    saved = {k: os.environ.get(k) for k in ("CREDITRISK_ROOT", "MPLBACKEND")}
    os.environ["CREDITRISK_ROOT"] = str(root)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        NotebookClient(
            notebook,
            timeout=300,
            kernel_name="python3",
            resources={"metadata": {"path": str(root)}},
        ).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    return [o for o in outputs if "image/png" in o.get("data", {})]
