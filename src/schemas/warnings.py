"""Early-warning settings as params.yaml holds them: graded rules, the cure rule that lifts a
freeze, and the retraining triggers (evaluated by :mod:`creditrisk.monitoring.warnings`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from creditrisk.schemas.rules import Condition


class Level(StrEnum):
    """Severity of an early warning, lowest first."""

    LIGHT = "light"
    MEDIUM = "medium"
    SEVERE = "severe"


LEVELS = tuple(Level)  # lowest to highest
FREEZE = "freeze_limit"


class WarningRuleError(ValueError):
    """A rule names an unknown level or a signal the data does not have."""


@dataclass(frozen=True)
class WarningRule:
    """``when`` all conditions hold, raise ``level`` and call for ``actions``."""

    name: str
    level: Level
    actions: tuple[str, ...]
    when: tuple[Condition, ...]

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "level", Level(self.level))
        except ValueError:
            levels = [lvl.value for lvl in Level]
            raise WarningRuleError(
                f"warning rule '{self.name}': level must be one of {levels}"
            ) from None
        object.__setattr__(self, "actions", tuple(self.actions))
        if not self.when:
            raise WarningRuleError(f"warning rule '{self.name}' has no conditions")


@dataclass(frozen=True)
class CureRule:
    """When a freeze is lifted without a person: every condition holds on the customer's
    latest snapshot (features and ``pd``) and the freeze is at least ``min_months`` old."""

    name: str
    when: tuple[Condition, ...]
    min_months: int = 1


@dataclass(frozen=True)
class TriggerSettings:
    """When a monitoring run says "retrain": score PSI above ``max_score_psi``; observed /
    predicted default rate on the matured cohorts outside ``observed_over_predicted``; AUC
    on them more than ``max_auc_drop`` below the champion's test AUC. The last two are
    judged only with at least ``min_defaults`` defaults."""

    max_score_psi: float = 0.25
    observed_over_predicted: tuple[float, float] = (0.67, 1.5)
    max_auc_drop: float = 0.05
    min_defaults: int = 30
