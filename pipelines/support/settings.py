"""Params sections turned into the plain settings the ``src/`` functions take, written once
for every stage that needs them: the scorer's policy (export) and the feature settings
(features, score, monitor)."""

from __future__ import annotations

from collections.abc import Sequence

from creditrisk.features.settings import FeatureSettings, StaticDeclaration
from creditrisk.models.policy import Policy
from creditrisk.schemas.rules import usable_rules
from pipelines.support.params import Params


def feature_settings(params: Params) -> FeatureSettings:
    """The features section (with labels and the data's end) as the feature builder takes
    it; the same for the features stage and for the stages that score snapshots."""
    p = params.features
    return FeatureSettings(
        windows=p.windows_days,
        static=p.static,
        protected=p.protected,
        dpd_threshold_days=params.labels.dpd_threshold_days,
        end_date=params.data.end_date,
        static_reasons={
            k: StaticDeclaration(v.direction, v.reason, v.group)
            for k, v in p.static_reasons.items()
            if k in p.static  # a declaration of a column not used is not applied
        },
    )


def scorer_policy(params: Params, features: Sequence[str]) -> tuple[Policy, list[str]]:
    """The exported scorer's policy from the grades, scaling and policy sections, with the
    rating rules whose conditions the model's features (or ``pd``) can evaluate, and the
    names of those left out because they name a feature this data does not have."""
    p = params.policy
    rules, skipped = usable_rules(p.rating_rules, [*features, "pd"])
    policy = Policy(
        grades=tuple(g.grade for g in params.grades),
        bands=tuple(params.grade_bands),
        rules=tuple(rules),
        model_limits=p.limits.model,
        formula_limits=p.limits.formula,
        limit_in_force=p.limits.in_force,
        round_to=p.limits.round_to,
        base_points=params.scaling.base_points,
        base_odds=params.scaling.base_odds,
        pdo=params.scaling.pdo,
        reasons=p.reasons,
        income_column=p.income_column,
    )
    return policy, skipped
