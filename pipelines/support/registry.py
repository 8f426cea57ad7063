"""The scorer in MLflow: log it as a pyfunc model defined from code, register it, set the
alias the promotion rule gave it, and save the same model as a self-contained folder; find
and fetch the current champion."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import mlflow.artifacts
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema, TensorSpec
from mlflow.types.schema import ParamSchema, ParamSpec

from creditrisk.models.output import Column
from creditrisk.models.pyfunc import load_scorer
from pipelines.support import tracking
from pipelines.support.code_deps import scorer_code

MODEL_NAME = "credit-default"
CHAMPION = "champion"
SRC = Path(__file__).resolve().parents[2] / "src"
# The scorer's inference parameter: reasons=False gives the decisions without reason codes.
PARAMS = ParamSchema([ParamSpec("reasons", "boolean", True)])
REQUIREMENTS = ("mlflow", "lightgbm", "pandas", "numpy", "scipy", "scikit-learn", "pyarrow")


class RegistryError(RuntimeError):
    """The registry gave an unexpected version (another registration ran at once)."""


@dataclass(frozen=True)
class ScorerBundle:
    """What the pyfunc model is made of: artifact files by name, the package's code,
    the signature's columns and an input example."""

    artifacts: dict[str, str]
    code: Path
    inputs: list[Column]
    outputs: list[Column]
    example: pd.DataFrame

    def model_kwargs(self) -> dict[str, Any]:
        return {
            "python_model": str(SRC / "models/scorer_model.py"),
            "artifacts": self.artifacts,
            "code_paths": [str(self.code)],
            "signature": ModelSignature(
                inputs=_schema(self.inputs), outputs=_schema(self.outputs), params=PARAMS
            ),
            "input_example": self.example,
            "pip_requirements": [f"{r}=={version(r)}" for r in REQUIREMENTS],
        }


def _schema(columns: list[Column]) -> Schema:
    specs: list[ColSpec | TensorSpec] = [ColSpec(c.type, c.name, c.required) for c in columns]
    return Schema(specs)


def copy_code(staging: Path) -> Path:
    """The package's code as the exported model carries it: the modules the scorer runs
    (:func:`~pipelines.support.code_deps.scorer_code`), so an edit of any other module
    changes neither the model folder nor, through ``dvc.yaml``, the export stage."""
    code = staging / "creditrisk"
    for path in sorted(scorer_code()):
        target = code / path.relative_to(SRC)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return code


def next_version(client: Any) -> int:
    try:
        versions = client.search_model_versions(f"name='{MODEL_NAME}'")
    except MlflowException:
        return 1
    return 1 + max((int(v.version) for v in versions), default=0)


@dataclass(frozen=True)
class Registered:
    """A registered version: its number, the ``name/version`` every decision carries, and
    the MLflow run it was logged in."""

    version: int
    model_version: str
    run_id: str


def register(
    bundle: ScorerBundle,
    run: Any,
    out: Path,
    *,
    alias: str,
    config: Mapping[str, str],
    tags: Mapping[str, str],
) -> Registered:
    """Log and register the scorer in ``run``, give it ``alias`` and ``tags``, and save it
    to ``out``. ``config`` is added to the lineage the model carries.

    Raises:
        RegistryError: the registry gave another version than the next one.
    """
    client = mlflow.MlflowClient()
    expected = next_version(client)
    model_version = f"{MODEL_NAME}/{expected}"
    lineage = {  # lineage every decision carries (the decision log records it per customer)
        "model_version": model_version,
        "model_name": MODEL_NAME,
        "model_alias": alias,
        "mlflow_run_id": run.info.run_id,
        "training_data": tracking.dvc_lock_hashes().get("dvc.data/split", ""),
        **config,
    }
    kwargs = bundle.model_kwargs()
    info = mlflow.pyfunc.log_model(
        name="scorer", registered_model_name=MODEL_NAME, model_config=lineage, **kwargs
    )
    registered = str(info.registered_model_version)
    if registered != str(expected):
        raise RegistryError(
            f"registry gave version {registered} while {expected} was expected "
            "(another registration ran at the same time); re-run the export stage"
        )
    client.set_registered_model_alias(MODEL_NAME, alias, registered)
    client.set_model_version_tag(MODEL_NAME, registered, "git.commit", tracking.git_commit())
    for key, value in tags.items():
        client.set_model_version_tag(MODEL_NAME, registered, key, value)
    if out.exists():
        shutil.rmtree(out)
    mlflow.pyfunc.save_model(path=str(out), model_config=lineage, **kwargs)
    return Registered(int(registered), model_version, run.info.run_id)


def champion_version() -> int | None:
    """The version holding ``@champion``, or None when there is none yet."""
    client = mlflow.MlflowClient()
    try:
        return int(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version)
    except MlflowException:
        return None


def fetch_version(version: int, out: Path) -> Path:
    """Write a registered version's model folder to ``out`` (replaced)."""
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fetched = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{MODEL_NAME}/{version}", dst_path=str(out)
    )
    return Path(fetched)


def verify(out: Path, bundle: ScorerBundle, model_version: str) -> None:
    """The saved folder, loaded through MLflow, gives the scorer's own PDs."""
    loaded = mlflow.pyfunc.load_model(str(out))
    direct = load_scorer(
        {a: str(out / "artifacts" / Path(p).name) for a, p in bundle.artifacts.items()},
        model_version=model_version,
    )
    served = loaded.predict(bundle.example)
    np.testing.assert_allclose(served["pd"], direct.score(bundle.example)["pd"], rtol=1e-12)
