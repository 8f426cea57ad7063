"""The promotion rule: which alias a newly registered scorer gets.

Every export registers a version. It becomes ``@champion`` (what downstream systems load)
only when it earns it:

1. a forced promotion (params, with a mandatory reason) always wins, and is recorded;
2. with no champion yet, the version becomes the first champion: downstream systems need
   a model and there is none to compare with. When it failed the out-of-time gate, that
   is said in its reasons (and the model card) for review before use;
3. a version that failed the out-of-time gate is a ``@challenger``;
4. a champion that cannot score the current data (it needs a column the data no longer
   has) is replaced by a version that passed the gate;
5. otherwise both are scored on the latest labelled period (the test period) and the new
   version becomes champion only when it is not worse there: its AUC at most
   ``max_auc_drop`` below the champion's and its expected calibration error at most
   ``max_ece_increase`` above it. The bootstrap intervals (paired: the same resamples for
   both) are reported beside the figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

import creditrisk.records as records
from creditrisk.models import metrics as mx

CHAMPION = "champion"
CHALLENGER = "challenger"


class PromotionRule(StrEnum):
    """Which clause of the rule decided."""

    FORCED = "forced"
    GATE_FAILED = "gate_failed"
    FIRST_CHAMPION = "first_champion"
    CHAMPION_CANNOT_SCORE = "champion_cannot_score"
    NOT_WORSE = "not_worse_than_champion"
    WORSE = "worse_than_champion"


@dataclass(frozen=True)
class PromotionThresholds:
    """How much worse than the champion a new version may be and still replace it."""

    max_auc_drop: float = 0.005
    max_ece_increase: float = 0.005


@dataclass(frozen=True)
class ModelFigures:
    """One model on the comparison rows."""

    auc: float
    ece: float
    mean_pd: float
    auc_ci_low: float | None = None
    auc_ci_high: float | None = None


@dataclass(frozen=True)
class Comparison:
    """New version against the champion on the same labelled rows."""

    period: tuple[str, str]  # first and last as_of compared
    rows: int
    defaults: int
    observed_rate: float
    champion_version: int
    candidate: ModelFigures
    champion: ModelFigures
    auc_difference: float  # candidate minus champion
    auc_difference_ci_low: float | None = None
    auc_difference_ci_high: float | None = None


@dataclass(frozen=True)
class PromotionDecision:
    """The alias a version got, the clause that decided it and why, in words."""

    alias: str
    rule: PromotionRule
    reasons: tuple[str, ...]
    gate_passed: bool
    previous_champion: int | None = None
    forced_reason: str | None = None
    comparison: Comparison | None = None

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION

    def to_dict(self) -> dict[str, Any]:
        return records.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromotionDecision:
        return records.from_dict(cls, data)


def compare(
    y: np.ndarray,
    candidate_pd: np.ndarray,
    champion_pd: np.ndarray,
    *,
    period: tuple[str, str],
    champion_version: int,
    ece_bins: int,
    bootstrap: int,
    seed: int,
) -> Comparison:
    """Both models' AUC (with paired bootstrap intervals), ECE and mean PD on the same rows."""
    y = np.asarray(y, dtype="float64")
    figures = []
    resampled = []
    for scores in (candidate_pd, champion_pd):
        m = mx.classification_metrics(y, scores, ece_bins=ece_bins)
        aucs, _ = mx.bootstrap_auc_ks(y, scores, n=bootstrap, seed=seed)
        resampled.append(aucs)
        lo, hi = (float(q) for q in np.quantile(aucs, [0.025, 0.975])) if len(aucs) else (0, 0)
        figures.append(
            ModelFigures(
                auc=m["auc"],
                ece=m["ece"],
                mean_pd=m["mean_pd"],
                auc_ci_low=lo if len(aucs) else None,
                auc_ci_high=hi if len(aucs) else None,
            )
        )
    diff = resampled[0] - resampled[1]  # same seed, same rows: the same resamples
    d_lo, d_hi = np.quantile(diff, [0.025, 0.975]) if len(diff) else (np.nan, np.nan)
    return Comparison(
        period=period,
        rows=len(y),
        defaults=int(y.sum()),
        observed_rate=float(y.mean()) if len(y) else 0.0,
        champion_version=champion_version,
        candidate=figures[0],
        champion=figures[1],
        auc_difference=figures[0].auc - figures[1].auc,
        auc_difference_ci_low=float(d_lo) if len(diff) else None,
        auc_difference_ci_high=float(d_hi) if len(diff) else None,
    )


def decide(
    *,
    gate_passed: bool,
    gate_failures: tuple[str, ...] = (),
    champion_version: int | None,
    comparison: Comparison | None,
    thresholds: PromotionThresholds,
    forced_reason: str | None = None,
) -> PromotionDecision:
    """Apply the promotion rule (module docstring) to one new version.

    ``comparison`` is None when there is no champion or when the champion cannot score
    the current data.
    """

    def verdict(alias: str, rule: PromotionRule, *reasons: str) -> PromotionDecision:
        return PromotionDecision(
            alias=alias,
            rule=rule,
            reasons=tuple(reasons),
            gate_passed=gate_passed,
            previous_champion=champion_version,
            forced_reason=forced_reason,
            comparison=comparison,
        )

    if forced_reason is not None:
        if not forced_reason.strip():
            raise ValueError("a forced promotion needs a reason")
        return verdict(CHAMPION, PromotionRule.FORCED, f"promotion forced: {forced_reason}")
    if champion_version is None:
        if gate_passed:
            return verdict(
                CHAMPION,
                PromotionRule.FIRST_CHAMPION,
                "the gate passed and there is no champion yet",
            )
        return verdict(
            CHAMPION,
            PromotionRule.FIRST_CHAMPION,
            "there is no champion yet, so this version is served although the out-of-time "
            "gate failed: review it before use",
            *gate_failures,
        )
    if not gate_passed:
        return verdict(
            CHALLENGER,
            PromotionRule.GATE_FAILED,
            "the out-of-time gate failed",
            *gate_failures,
        )
    if comparison is None:
        return verdict(
            CHAMPION,
            PromotionRule.CHAMPION_CANNOT_SCORE,
            f"the champion (version {champion_version}) cannot score the current data",
        )
    worse = _worse(comparison, thresholds)
    if worse:
        return verdict(CHALLENGER, PromotionRule.WORSE, *worse)
    c, h = comparison.candidate, comparison.champion
    return verdict(
        CHAMPION,
        PromotionRule.NOT_WORSE,
        f"AUC {c.auc:.4f} against the champion's {h.auc:.4f} (allowed drop "
        f"{thresholds.max_auc_drop:g}); ECE {c.ece:.4f} against {h.ece:.4f} (allowed rise "
        f"{thresholds.max_ece_increase:g})",
    )


def _worse(c: Comparison, t: PromotionThresholds) -> list[str]:
    out = []
    if c.auc_difference < -t.max_auc_drop:
        interval = (
            f" (paired bootstrap 95% {c.auc_difference_ci_low:+.4f} to "
            f"{c.auc_difference_ci_high:+.4f})"
            if c.auc_difference_ci_low is not None
            else ""
        )
        out.append(
            f"AUC {c.candidate.auc:.4f} is {-c.auc_difference:.4f} below the champion's "
            f"{c.champion.auc:.4f}{interval}; allowed drop {t.max_auc_drop:g}"
        )
    if c.candidate.ece - c.champion.ece > t.max_ece_increase:
        out.append(
            f"calibration error {c.candidate.ece:.4f} against the champion's "
            f"{c.champion.ece:.4f}; allowed rise {t.max_ece_increase:g}"
        )
    return out
