"""The exported scorer as an MLflow pyfunc model, built from native-format artifacts.

Artifacts: the LightGBM text model, calibration JSON, policy JSON, the model's feature
spec and the feature dictionary (reason texts). The model is defined from code
(:mod:`creditrisk.models.scorer_model`), so nothing in the exported folder is a pickle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightgbm as lgb
import pandas as pd
from creditrisk.models.calibration import Calibrator
from creditrisk.models.matrix import FeatureSpec
from creditrisk.models.policy import Policy
from creditrisk.models.scorer import Scorer
from mlflow.pyfunc import PythonModel

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
        reason_text={k: v.get("reason", k) for k, v in dictionary.items()},
        model_version=model_version,
    )


class CreditScorer(PythonModel):
    """pyfunc wrapper: ``predict`` returns the scorer contract's frame."""

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
        decisions = self.scorer.score(frame)
        log = os.environ.get(DECISION_LOG_ENV)
        if log and len(frame) and "customer_id" in frame.columns:
            _log_decisions(Path(log), frame, decisions, self.scorer, self.lineage)
        return decisions


DECISION_LOG_ENV = "CREDITRISK_DECISION_LOG"  # a folder: the pyfunc scorer logs there too
KEY_ENV = "CREDITRISK_PSEUDONYM_KEY"


def _log_decisions(
    log: Path,
    frame: pd.DataFrame,
    decisions: pd.DataFrame,
    scorer: Scorer,
    lineage: Mapping[str, str],
) -> None:
    from creditrisk.governance import decision_log

    key = os.environ.get(KEY_ENV)
    if not key:
        raise RuntimeError(
            f"{DECISION_LOG_ENV} is set but {KEY_ENV} is not: the decision log pseudonymises "
            "customer ids with that key; set it from your secret store"
        )
    records = decision_log.decision_records(
        frame,
        decisions,
        features=scorer.spec.features,
        lineage=lineage,
        key=key.encode("utf-8"),
        reasons=scorer.policy.reasons,
    )
    decision_log.append(log, records)


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


def load_scorer_folder(folder: Path) -> Scorer:
    """The :class:`Scorer` of an exported pyfunc folder (e.g. ``data/scorer``), built from
    its artifacts directly: the same model, without MLflow's input enforcement."""
    meta = _flavor(folder)
    paths = {name: str(folder / a["path"]) for name, a in meta["artifacts"].items()}
    version = (meta.get("config") or {}).get("model_version", "unversioned")
    return load_scorer(paths, model_version=str(version))
