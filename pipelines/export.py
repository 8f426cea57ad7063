"""Stage export: the scorer as an MLflow pyfunc model, registered and written as a folder.

The model is registered as ``credit-default`` with the alias ``champion`` in the MLflow
registry, inside this pipeline run, and saved self-contained to ``--out`` (loadable with
``mlflow.pyfunc.load_model("data/scorer")`` and no tracking server).

Usage: python -m pipelines.export --models data/models --calibration data/calibration
           --dictionary data/features/dictionary.json --split data/split --out data/scorer
           --report reports/export.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from creditrisk.models.matrix import FeatureSpec
from creditrisk.models.policy import (
    Condition,
    FormulaLimits,
    ModelLimits,
    Policy,
    RatingRule,
)
from creditrisk.models.pyfunc import load_scorer
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema, TensorSpec

from pipelines import tracking
from pipelines.common import setup_logging, write_json
from pipelines.params import Params, load_params

log = logging.getLogger("pipelines.export")

MODEL_NAME = "credit-default"
ALIAS = "champion"
SRC = Path(__file__).resolve().parents[1] / "src"
REQUIREMENTS = ("mlflow", "lightgbm", "pandas", "numpy", "scipy", "scikit-learn", "pyarrow")


def usable_rules(params: Params, features: Sequence[str]) -> tuple[list[str], list[str]]:
    """Names of the rating rules whose conditions the model's features (or ``pd``) can
    evaluate, and of those that name a feature the data does not have (left out)."""
    known = {*features, "pd"}
    keep: list[str] = []
    skip: list[str] = []
    for r in params.policy.rating_rules:
        (keep if all(c.feature in known for c in r.when) else skip).append(r.name)
    return keep, skip


def build_policy(params: Params, *, rules: Sequence[str] | None = None) -> Policy:
    """The scorer's policy from the params sections grades, scaling and policy (only the
    rating rules named in ``rules``, when given)."""
    p = params.policy
    chosen = [r for r in p.rating_rules if rules is None or r.name in rules]
    return Policy(
        grades=tuple(g.grade for g in params.grades),
        bands=tuple(params.grade_bands),
        rules=tuple(
            RatingRule(
                name=r.name,
                grade=r.grade,
                mode=r.mode,
                when=tuple(Condition(c.feature, c.op, c.value) for c in r.when),
            )
            for r in chosen
        ),
        model_limits=ModelLimits(**p.limits.model.model_dump()),
        formula_limits=FormulaLimits(**p.limits.formula.model_dump()),
        limit_in_force=p.limits.in_force,
        round_to=p.limits.round_to,
        base_points=params.scaling.base_points,
        base_odds=params.scaling.base_odds,
        pdo=params.scaling.pdo,
        reasons=p.reasons,
        income_column=p.income_column,
    )


def signature(spec: FeatureSpec, example: pd.DataFrame, k: int) -> ModelSignature:
    """Inputs: customer_id (optional) and every feature with the type the features stage
    writes: counts as long (never null: no event counts 0), other numbers as double (null
    accepted: the model treats it as missing), categories as string. Outputs: the scorer
    contract."""

    def kind(f: str) -> str:
        if f in spec.categories:
            return "string"
        return "long" if example[f].dtype.kind in "iu" else "double"

    inputs: list[ColSpec | TensorSpec] = [ColSpec("string", "customer_id", required=False)]
    inputs += [ColSpec(kind(f), f) for f in spec.features]
    outputs: list[ColSpec | TensorSpec] = [ColSpec("string", "customer_id", required=False)]
    outputs += [ColSpec("double", c) for c in ("pd", "score")]
    outputs += [ColSpec("string", "grade"), ColSpec("double", "credit_limit")]
    outputs += [ColSpec("string", "limit_policy")]
    outputs += [ColSpec("string", f"reason_{i}", required=False) for i in range(1, k + 1)]
    outputs += [ColSpec("string", f"reason_text_{i}", required=False) for i in range(1, k + 1)]
    outputs += [ColSpec("string", "rating_rule")]
    outputs += [ColSpec("double", c) for c in ("model_limit", "formula_limit", "margin")]
    outputs += [ColSpec("string", "model_version")]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def input_example(split: Path, spec: FeatureSpec) -> pd.DataFrame:
    rows = pd.read_parquet(split / "test.parquet").head(3)
    frame = rows[["customer_id", *spec.features]].copy()
    for f in ("customer_id", *spec.categories):
        frame[f] = frame[f].astype(object)
    return frame


def _next_version(client: Any) -> int:
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name='{MODEL_NAME}'")
    except MlflowException:
        return 1
    return 1 + max((int(v.version) for v in versions), default=0)


def main(
    models: Path, calibration: Path, dictionary: Path, split: Path, out: Path, report: Path
) -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    params = load_params()
    spec = FeatureSpec.from_dict(json.loads((models / "features.json").read_text()))
    keep, skipped = usable_rules(params, spec.features)
    if skipped:
        log.warning(
            "rating rule(s) %s left out: they name features this data does not have", skipped
        )
    policy = build_policy(params, rules=keep)
    with tempfile.TemporaryDirectory(prefix="export-") as tmp:
        staging = Path(tmp)
        write_json(policy.to_dict(), staging / "policy.json")
        artifacts = {
            "lightgbm": str(models / "lightgbm.txt"),
            "calibration": str(calibration / "calibration.json"),
            "policy": str(staging / "policy.json"),
            "features": str(models / "features.json"),
            "dictionary": str(dictionary),
        }
        code = staging / "creditrisk"
        shutil.copytree(SRC, code, ignore=shutil.ignore_patterns("__pycache__", "synthetic"))
        example = input_example(split, spec)
        common = {
            "python_model": str(SRC / "models/scorer_model.py"),
            "artifacts": artifacts,
            "code_paths": [str(code)],
            "signature": signature(spec, example, policy.reasons),
            "input_example": example,
            "pip_requirements": [f"{r}=={version(r)}" for r in REQUIREMENTS],
        }
        with tracking.resume_run(models / tracking.RUN_FILE) as run:
            client = mlflow.MlflowClient()
            expected = _next_version(client)
            model_version = f"{MODEL_NAME}/{expected}"
            # Lineage every decision carries (the decision log records it per customer).
            config = {
                "model_version": model_version,
                "model_name": MODEL_NAME,
                "model_alias": ALIAS,
                "mlflow_run_id": run.info.run_id,
                "training_data": tracking.dvc_lock_hashes().get("dvc.data/split", ""),
            }
            info = mlflow.pyfunc.log_model(
                name="scorer",
                registered_model_name=MODEL_NAME,
                model_config=config,
                **common,
            )
            registered = str(info.registered_model_version)
            if registered != str(expected):
                raise RuntimeError(
                    f"registry gave version {registered} while {expected} was expected "
                    "(another registration ran at the same time); re-run the export stage"
                )
            client.set_registered_model_alias(MODEL_NAME, ALIAS, registered)
            client.set_model_version_tag(
                MODEL_NAME, registered, "git.commit", tracking.git_commit()
            )
            if out.exists():
                shutil.rmtree(out)
            mlflow.pyfunc.save_model(path=str(out), model_config=config, **common)
            run_id = run.info.run_id
    loaded = mlflow.pyfunc.load_model(str(out))
    direct = load_scorer(
        {a: str(out / "artifacts" / Path(p).name) for a, p in artifacts.items()},
        model_version=model_version,
    )
    served = loaded.predict(example)
    np.testing.assert_allclose(served["pd"], direct.score(example)["pd"], rtol=1e-12)
    summary = {
        "model_name": MODEL_NAME,
        "model_version": int(registered),
        "alias": ALIAS,
        "run_id": run_id,
        "features": len(spec.features),
        "reasons": policy.reasons,
        "limit_in_force": policy.limit_in_force,
        "rating_rules": [r.name for r in policy.rules],
        "rating_rules_skipped": skipped,
    }
    write_json(summary, report)
    log.info(
        "registered %s version %s as @%s (run %s); scorer folder %s",
        MODEL_NAME,
        registered,
        ALIAS,
        run_id,
        out,
    )


if __name__ == "__main__":
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("models", "calibration", "dictionary", "split", "out", "report"):
        parser.add_argument(f"--{flag}", type=Path, required=True)
    a = parser.parse_args()
    main(a.models, a.calibration, a.dictionary, a.split, a.out, a.report)
