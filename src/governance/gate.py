"""The out-of-time gate: stop a model whose performance falls off out of time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class GateError(RuntimeError):
    """The model failed the out-of-time gate."""


@dataclass(frozen=True)
class GateThresholds:
    """Largest allowed drop from development to out-of-time AUC (absolute) and KS
    (points, 0-100), and the largest allowed score PSI between train and test."""

    max_auc_gap: float = 0.02
    max_ks_gap: float = 3.0
    max_score_psi: float = 0.25


def gate_failures(
    development: Mapping[str, float],
    out_of_time: Mapping[str, float],
    score_psi: float,
    thresholds: GateThresholds,
    drop_intervals: Mapping[str, tuple[float, float]] | None = None,
) -> list[str]:
    """Plain-language reasons the gate fails (empty when it passes).

    An AUC or KS drop fails when it is larger than allowed and, where ``drop_intervals``
    gives the drop's bootstrap interval, that interval lies above 0: a drop the sampling
    noise explains (the interval holds 0) is reported, not failed. With a few hundred
    defaults the KS drop's own standard error is several points.
    """
    failures = []
    auc_gap = development["auc"] - out_of_time["auc"]
    ks_gap = development["ks"] - out_of_time["ks"]
    intervals = drop_intervals or {}
    if auc_gap > thresholds.max_auc_gap and _real(intervals.get("auc")):
        failures.append(
            f"AUC drops {auc_gap:.4f} from development ({development['auc']:.4f}) to out of "
            f"time ({out_of_time['auc']:.4f}){_interval(intervals.get('auc'), '.4f')}; "
            f"allowed {thresholds.max_auc_gap:g}"
        )
    if ks_gap > thresholds.max_ks_gap and _real(intervals.get("ks")):
        failures.append(
            f"KS drops {ks_gap:.2f} points from development ({development['ks']:.2f}) to out "
            f"of time ({out_of_time['ks']:.2f}){_interval(intervals.get('ks'), '.2f')}; "
            f"allowed {thresholds.max_ks_gap:g}"
        )
    if score_psi > thresholds.max_score_psi:
        failures.append(
            f"score PSI between train and test is {score_psi:.4f}; allowed "
            f"{thresholds.max_score_psi:g}"
        )
    return failures


def _real(interval: tuple[float, float] | None) -> bool:
    """The drop is not explained by sampling noise: no interval, or one above 0."""
    return interval is None or interval[0] > 0


def _interval(interval: tuple[float, float] | None, fmt: str) -> str:
    if interval is None:
        return ""
    return f" (bootstrap 95% {interval[0]:{fmt}} to {interval[1]:{fmt}})"
