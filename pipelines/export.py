"""Stage export: the scorer as an MLflow pyfunc model, registered, promoted only when it
earns it, and written as folders.

Every run registers a version of ``credit-default``. The promotion rule
(:mod:`creditrisk.governance.promotion`) gives it ``@champion`` or ``@challenger``: the
out-of-time gate (``reports/metrics.json``) must pass and, when a champion exists, the new
version must not be worse than it on the latest labelled period (the test period), both
scored here; ``export.promotion.force`` with a reason overrides, recorded as a tag.

Folders: ``--candidate`` (``data/candidate``) holds this run's version, whatever its
alias (explain and the model card describe it); ``--out`` (``data/scorer``) holds the
champion, what ``score``, ``monitor`` and downstream systems load. Both load with
``mlflow.pyfunc.load_model(folder)`` and no tracking server.

Usage: python -m pipelines.export --models data/models --calibration data/calibration
           --dictionary data/features/dictionary.json --split data/split
           --evaluation reports/metrics.json --out data/scorer --candidate data/candidate
           --report reports/export.json
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from creditrisk.governance.gate import GateError
from creditrisk.governance.promotion import (
    Comparison,
    PromotionDecision,
    PromotionThresholds,
    compare,
    decide,
)
from creditrisk.models.evaluation import EvaluationReport, GateVerdict
from creditrisk.models.export import ExportReport, input_columns, input_example, pds_over
from creditrisk.models.output import output_columns
from creditrisk.models.policy import Policy
from creditrisk.models.pyfunc import load_scorer, load_scorer_folder
from pipelines.support import registry, tracking
from pipelines.support.artifacts import CalibrationDir, ModelsDir, SplitDir, read_json
from pipelines.support.files import iter_frames, write_json
from pipelines.support.loaders import read_spec
from pipelines.support.params import Params, load_params
from pipelines.support.settings import scorer_policy
from pipelines.support.stage import cli

log = logging.getLogger("pipelines.export")
BATCH_ROWS = 250_000  # test rows in memory at a time


def main(
    models: Path,
    calibration: Path,
    dictionary: Path,
    split: Path,
    evaluation: Path,
    out: Path,
    candidate: Path,
    report: Path,
) -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    params, m = load_params(), ModelsDir(models)
    spec = read_spec(m)
    policy, skipped = scorer_policy(params, spec.features)
    if skipped:
        log.warning("rating rule(s) %s left out: they name features this data lacks", skipped)
    # The test period's first rows (the input example), its dates and labels; the models
    # compared on it read it in batches.
    period = SplitDir(split).period("test")
    first = next(iter_frames(period, 3))[1]
    test = pd.read_parquet(period, columns=["as_of", "default"])
    evaluated = EvaluationReport.from_dict(read_json(evaluation))
    with tempfile.TemporaryDirectory(prefix="export-") as tmp:
        staging = Path(tmp)
        bundle = _bundle(m, calibration, dictionary, policy, first, staging)
        decision = _decide(params, bundle, (period, test), evaluated.gate, staging / "champion")
        registered = _register(m, bundle, candidate, decision, _config(test, evaluated))
        served = _serve(decision, registered.version, candidate, staging / "champion", out)
    write_json(_report(registered, decision, served, policy, skipped, len(spec.features)), report)
    if decision.promoted and not decision.gate_passed:
        log.warning("the champion failed the out-of-time gate: %s", "; ".join(decision.reasons))
    log.info("registered %s as @%s (%s)", registered.model_version, decision.alias, decision.rule)
    log.info("data/scorer holds the champion, version %d", served)


def _register(
    m: ModelsDir,
    bundle: registry.ScorerBundle,
    candidate: Path,
    decision: PromotionDecision,
    config: dict[str, str],
) -> registry.Registered:
    """Register this run's version with the alias the rule gave it, saved to
    ``candidate`` and checked to load from there."""
    with tracking.resume_run(m.run_file) as run:
        registered = registry.register(
            bundle, run, candidate, alias=decision.alias, config=config, tags=_tags(decision)
        )
    registry.verify(candidate, bundle, registered.model_version)
    return registered


def _bundle(
    m: ModelsDir,
    calibration: Path,
    dictionary: Path,
    policy: Policy,
    test: pd.DataFrame,
    staging: Path,
) -> registry.ScorerBundle:
    spec = read_spec(m)
    example = input_example(test, spec)
    write_json(policy.to_dict(), staging / "policy.json")
    return registry.ScorerBundle(
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


def _decide(
    params: Params,
    bundle: registry.ScorerBundle,
    test: tuple[Path, pd.DataFrame],
    gate: GateVerdict,
    champion_folder: Path,
) -> PromotionDecision:
    """The promotion rule applied to this run's model, against the current champion."""
    p = params.export.promotion
    champion = registry.champion_version()
    comparison = None
    if champion is not None:
        registry.fetch_version(champion, champion_folder)
        comparison = _compare(params, bundle, test, champion, champion_folder)
    return decide(
        gate_passed=gate.passed,
        gate_failures=gate.failures,
        champion_version=champion,
        comparison=comparison,
        thresholds=PromotionThresholds(
            max_auc_drop=p.max_auc_drop, max_ece_increase=p.max_ece_increase
        ),
        forced_reason=p.reason if p.force else None,
    )


def _compare(
    params: Params,
    bundle: registry.ScorerBundle,
    test: tuple[Path, pd.DataFrame],
    champion: int,
    champion_folder: Path,
) -> Comparison | None:
    """Both models on the test period (the file, and its as_of and default), read in
    batches; None when the champion needs a column it lacks."""
    period, labels = test
    held = load_scorer_folder(champion_folder)
    columns = set(pq.ParquetFile(period).schema_arrow.names)
    missing = [f for f in held.spec.features if f not in columns]
    if missing:
        log.warning("the champion (version %d) needs %s, which this data lacks", champion, missing)
        return None
    new = load_scorer(bundle.artifacts, model_version="candidate")
    batches = (frame for _, frame in iter_frames(period, BATCH_ROWS))
    new_pd, held_pd = pds_over(batches, new, held)  # the PD-only path: no reasons, no limits
    when = pd.to_datetime(labels["as_of"])
    e = params.evaluate
    return compare(
        labels["default"].to_numpy(),
        new_pd,
        held_pd,
        period=(str(when.min().date()), str(when.max().date())),
        champion_version=champion,
        ece_bins=e.ece_bins,
        bootstrap=e.bootstrap,
        seed=e.seed,
    )


def _config(test: pd.DataFrame, evaluated: EvaluationReport) -> dict[str, str]:
    """What monitoring needs to know about the model's training: the last labelled
    snapshot it saw (later cohorts are backtests) and its test AUC (the trigger's base)."""
    return {
        "labelled_through": str(pd.to_datetime(test["as_of"]).max().date()),
        "test_auc": repr(evaluated.test.auc),
    }


def _tags(decision: PromotionDecision) -> dict[str, str]:
    tags = {
        "promotion.alias": decision.alias,
        "promotion.rule": decision.rule.value,
        "promotion.reasons": "; ".join(decision.reasons)[:4000],
    }
    if decision.forced_reason is not None:
        tags["promotion.forced_reason"] = decision.forced_reason
    return tags


def _serve(
    decision: PromotionDecision, version: int, candidate: Path, champion: Path, out: Path
) -> int:
    """Write the champion to ``out``: this run's version when promoted, else the current
    champion (fetched from the registry). Returns the version written.

    Raises:
        GateError: there is no champion at all (cannot happen: a first version is promoted).
    """
    if out.exists():
        shutil.rmtree(out)
    if decision.promoted:
        shutil.copytree(candidate, out)
        return version
    if decision.previous_champion is None:
        raise GateError(
            f"no champion: version {version} is @{decision.alias} ("
            + "; ".join(decision.reasons)
            + "). Review it, then set export.promotion.force: true with a reason to promote"
            " it, or fix what failed"
        )
    shutil.copytree(champion, out)
    return decision.previous_champion


def _report(
    registered: registry.Registered,
    decision: PromotionDecision,
    served: int,
    policy: Policy,
    skipped: list[str],
    features: int,
) -> dict[str, object]:
    return ExportReport(
        model_name=registry.MODEL_NAME,
        model_version=registered.version,
        alias=decision.alias,
        run_id=registered.run_id,
        features=features,
        reasons=policy.reasons,
        limit_in_force=policy.limit_in_force.value,
        rating_rules=tuple(r.name for r in policy.rules),
        rating_rules_skipped=tuple(skipped),
        champion_version=served,
        promotion=decision,
    ).to_dict()


if __name__ == "__main__":
    cli(main)
