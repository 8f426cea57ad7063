"""A whole small pipeline run in a temporary project folder, laid out like the repository
(``data/...``, ``reports/...``), for tests of the later stages, reports and notebooks."""

from __future__ import annotations

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


def run_pipeline(folder: Path, *, until: str = "model_card") -> Path:
    """Run the stages of dvc.yaml in order inside ``folder`` (already ``inside`` it), in
    this process, with the commands dvc.yaml gives them (the same list ``dvc repro`` and
    ``python -m pipelines.support.run`` use, so the three cannot drift apart)."""
    from pipelines.support.run import stages
    from pipelines.support.stage import run_command

    todo = stages(REPO / "dvc.yaml", yaml.safe_load((folder / "params.yaml").read_text()))
    names = [n for n, _ in todo]
    if until not in names:
        raise ValueError(f"unknown stage {until}; stages are {names}")
    for _, cmd in todo[: names.index(until) + 1]:
        run_command(cmd)
    return folder


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
