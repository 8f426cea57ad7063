"""The exported scorer as an MLflow pyfunc model, built from native-format artifacts.

Artifacts: the LightGBM text model, calibration JSON, policy JSON, the model's feature
spec and the feature dictionary (reason texts). The model is defined from code
(:mod:`creditrisk.models.scorer_model`), so nothing in the exported folder is a pickle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightgbm as lgb
import pandas as pd
from mlflow.pyfunc import PythonModel

from creditrisk.models.calibration import Calibrator
from creditrisk.models.matrix import FeatureSpec
from creditrisk.models.policy import Policy
from creditrisk.models.scorer import Scorer

ARTIFACTS = ("lightgbm", "calibration", "policy", "features", "dictionary")


def load_scorer(paths: Mapping[str, str], *, model_version: str) -> Scorer:
    """Build a :class:`Scorer` from artifact files named by :data:`ARTIFACTS`."""
    missing = [a for a in ARTIFACTS if a not in paths]
    if missing:
        raise ValueError(f"scorer artifacts missing: {missing}")

    def read(name: str) -> Any:
        return json.loads(Path(paths[name]).read_text())

    dictionary = read("dictionary")
    return Scorer(
        lgb.Booster(model_file=str(paths["lightgbm"])),
        spec=FeatureSpec.from_dict(read("features")),
        calibrator=Calibrator.from_dict(read("calibration")),
        policy=Policy.from_dict(read("policy")),
        reason_text={k: reason_statement(k, v) for k, v in dictionary.items()},
        reason_groups={k: _group(k, v) for k, v in dictionary.items()},
        model_version=model_version,
    )


def _group(name: str, entry: Mapping[str, Any]) -> str | None:
    """A feature's reason group as its family declared it (None: never a reason)."""
    group = entry.get("reason_group")
    return None if group is None else str(group)


def reason_statement(name: str, entry: Mapping[str, Any]) -> str:
    """The text shown for a feature's reason: its group's statement."""
    return str(entry.get("reason_statement") or entry.get("reason", name))


class CreditScorer(PythonModel):
    """pyfunc wrapper: ``predict`` returns the scorer contract's frame. It has no side
    effects: to keep a decision log, wrap the loaded model in
    :class:`creditrisk.governance.decision_log.LoggingScorer`."""

    def load_context(self, context: Any) -> None:
        config = context.model_config or {}
        self.lineage = {k: str(v) for k, v in config.items()}
        self.scorer = load_scorer(
            context.artifacts, model_version=str(config.get("model_version", "unversioned"))
        )

    # A DataFrame hint: MLflow infers no signature from it (the exported model declares
    # its own) and does not convert the input.
    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        # params={"reasons": False}: the decisions without reason codes, from the raw
        # margin (the PD-only path monitoring and backtests score whole snapshots with).
        reasons = bool((params or {}).get("reasons", True))
        return self.scorer.score(frame, reasons=reasons)


def _flavor(folder: Path) -> dict[str, Any]:
    """The python_function flavor of an exported folder's MLmodel file."""
    import yaml

    flavor: dict[str, Any] = yaml.safe_load((folder / "MLmodel").read_text())["flavors"][
        "python_function"
    ]
    return flavor


def scorer_lineage(folder: Path) -> dict[str, str]:
    """The lineage an exported scorer carries: model name, version, alias, MLflow run and
    the hash of its training data."""
    return {k: str(v) for k, v in (_flavor(folder).get("config") or {}).items()}


def scorer_artifacts(folder: Path) -> dict[str, str]:
    """Path of each artifact (:data:`ARTIFACTS`) of an exported folder, from its MLmodel."""
    return {name: str(folder / a["path"]) for name, a in _flavor(folder)["artifacts"].items()}


def load_scorer_folder(folder: Path) -> Scorer:
    """The :class:`Scorer` of an exported pyfunc folder (e.g. ``data/scorer``), built from
    its artifacts directly: the same model, without MLflow's input enforcement."""
    version = (_flavor(folder).get("config") or {}).get("model_version", "unversioned")
    return load_scorer(scorer_artifacts(folder), model_version=str(version))
