"""Stage export: the scorer as an MLflow pyfunc model, registered and written as a folder.

The model is registered as ``credit-default`` with the alias ``champion`` in the MLflow
registry, inside this pipeline run, and saved self-contained to ``--out`` (loadable with
``mlflow.pyfunc.load_model("data/scorer")`` and no tracking server).

Usage: python -m pipelines.export --models data/models --calibration data/calibration
           --dictionary data/features/dictionary.json --split data/split --out data/scorer
           --report reports/export.json
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from creditrisk.models.export import ExportReport, input_columns, input_example, output_columns
from creditrisk.models.policy import Policy
from pipelines import registry, tracking
from pipelines.artifacts import CalibrationDir, ModelsDir, SplitDir
from pipelines.common import write_json
from pipelines.model_files import read_spec
from pipelines.params import load_params, scorer_policy
from pipelines.stage import cli

log = logging.getLogger("pipelines.export")


def main(
    models: Path, calibration: Path, dictionary: Path, split: Path, out: Path, report: Path
) -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    m = ModelsDir(models)
    spec = read_spec(m)
    policy, skipped = scorer_policy(load_params(), spec.features)
    if skipped:
        log.warning("rating rule(s) %s left out: they name features this data lacks", skipped)
    example = input_example(SplitDir(split).read("test"), spec)
    with tempfile.TemporaryDirectory(prefix="export-") as tmp:
        staging = Path(tmp)
        write_json(policy.to_dict(), staging / "policy.json")
        bundle = registry.ScorerBundle(
            artifacts={
                "lightgbm": str(m.lightgbm),
                "calibration": str(CalibrationDir(calibration).calibrator),
                "policy": str(staging / "policy.json"),
                "features": str(m.feature_spec),
                "dictionary": str(dictionary),
            },
            code=registry.copy_code(staging),
            inputs=input_columns(spec, example),
            outputs=output_columns(policy.reasons),
            example=example,
        )
        with tracking.resume_run(m.run_file) as run:
            registered = registry.register(bundle, run, out)
    registry.verify(out, bundle, registered.model_version)
    write_json(_report(registered, policy, skipped, len(spec.features)).to_dict(), report)
    log.info(
        "registered %s as @%s; scorer folder %s", registered.model_version, registry.ALIAS, out
    )


def _report(
    registered: registry.Registered, policy: Policy, skipped: list[str], features: int
) -> ExportReport:
    return ExportReport(
        model_name=registry.MODEL_NAME,
        model_version=registered.version,
        alias=registry.ALIAS,
        run_id=registered.run_id,
        features=features,
        reasons=policy.reasons,
        limit_in_force=policy.limit_in_force.value,
        rating_rules=tuple(r.name for r in policy.rules),
        rating_rules_skipped=tuple(skipped),
    )


if __name__ == "__main__":
    cli(main)
