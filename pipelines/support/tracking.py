"""MLflow tracking shared by the model stages: one run per pipeline run, with lineage.

The ``train`` stage opens the run, logs the parameters that define the model, and writes
the run id next to the model; ``calibrate``, ``evaluate`` and ``export`` log into the same
run. Their own settings are logged as tags, not params: MLflow params are immutable, and
re-running only a later stage with a new setting (``dvc exp run -S calibrate.method=...``)
must update the run, not fail. Metrics keep every logged value in their history.

The tracking URI comes from ``MLFLOW_TRACKING_URI``, by default an embedded SQLite store
``mlflow.db`` in the working folder (the repo root under ``dvc repro``), with artifacts in
``mlartifacts/`` beside it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("pipelines.support.tracking")

EXPERIMENT = "credit-default"


class TrackingError(RuntimeError):
    """The MLflow run of this pipeline run cannot be found or opened."""


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def _configure() -> str:
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        artifacts = None
        if uri.startswith("sqlite:"):
            artifacts = (Path.cwd() / "mlartifacts").as_uri()
        mlflow.create_experiment(EXPERIMENT, artifact_location=artifacts)
    mlflow.set_experiment(EXPERIMENT)
    return uri


# Files the pipeline itself writes into git (dvc.lock, reports kept out of the DVC cache):
# a run in progress changes them, which does not make the code it runs differ from HEAD.
PIPELINE_WRITTEN = ("dvc.lock", "reports/")


def git_commit() -> str:
    """HEAD's commit, with "-dirty" when tracked files other than the pipeline's own
    outputs differ from it; "unknown" outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    # Porcelain lines are "XY path" (two status columns, a space, the path).
    changed = [line[3:].strip() for line in dirty.splitlines() if len(line) > 3]
    code_changed = [p for p in changed if not p.startswith(PIPELINE_WRITTEN)]
    return head + ("-dirty" if code_changed else "")


def git_commit_date() -> str:
    """HEAD's commit date (YYYY-MM-DD), "unknown" outside git: the date a report is of,
    so that two runs of the same commit and data write the same report."""
    try:
        return subprocess.run(
            ["git", "show", "-s", "--format=%cs", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def file_md5(path: Path) -> str:
    """MD5 of a file, or of a folder's files (names and contents, in name order)."""
    digest = hashlib.md5()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        digest.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        with f.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def dvc_lock_hashes(lock: Path = Path("dvc.lock")) -> dict[str, str]:
    """``dvc.lock`` hashes of the data outputs of the stages before training."""
    if not lock.exists():
        return {}
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    tags = {}
    for stage in ("ingest", "validate", "features", "split"):
        for out in stages.get(stage, {}).get("outs", []):
            if str(out.get("path", "")).startswith("data/"):
                tags[f"dvc.{out['path']}"] = str(out.get("md5", ""))
    return tags


def lineage_tags(inputs: Mapping[str, Path]) -> dict[str, str]:
    """Tags that tie a run to its code and data: git commit, input hashes, dvc.lock hashes."""
    tags = {"git.commit": git_commit(), **dvc_lock_hashes()}
    tags.update({f"input.{name}.md5": file_md5(path) for name, path in inputs.items()})
    return tags


@contextmanager
def new_run(run_file: Path, *, run_name: str, tags: Mapping[str, str]) -> Iterator[Any]:
    """Open a new run of this pipeline run and record its id in ``run_file``."""
    import mlflow

    uri = _configure()
    with mlflow.start_run(run_name=run_name, tags=dict(tags)) as run:
        run_file.parent.mkdir(parents=True, exist_ok=True)
        run_file.write_text(
            json.dumps(
                {"run_id": run.info.run_id, "experiment": EXPERIMENT, "tracking_uri": uri},
                indent=2,
            )
            + "\n"
        )
        log.info("MLflow run %s in %s", run.info.run_id, uri)
        yield run


@contextmanager
def resume_run(run_file: Path) -> Iterator[Any]:
    """Reopen the run that ``train`` recorded in ``run_file``.

    Raises:
        TrackingError: the file is missing, or the run is not in the current tracking store.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    if not run_file.exists():
        raise TrackingError(f"{run_file} is missing: run the train stage first")
    run_id = json.loads(run_file.read_text())["run_id"]
    uri = _configure()
    try:
        mlflow.get_run(run_id)
    except MlflowException as exc:
        raise TrackingError(
            f"MLflow run {run_id} (from {run_file}) is not in the tracking store {uri}; "
            "was MLFLOW_TRACKING_URI changed since training? Re-run the train stage."
        ) from exc
    with mlflow.start_run(run_id=run_id) as run:
        yield run


def flatten(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Nested dict -> {"prefix.key.sub": value}, for MLflow params and metrics."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flatten(name, value))
        else:
            out[name] = value
    return out


def log_settings(values: Mapping[str, Any]) -> None:
    """Settings of a stage after train, as (mutable) tags of the run."""
    import mlflow

    mlflow.set_tags({k: str(v) for k, v in values.items()})


def log_numeric_metrics(values: Mapping[str, Any]) -> None:
    import mlflow

    numbers = {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and v == v
    }
    mlflow.log_metrics(numbers)
