"""The credit policy's settings as params.yaml holds them: rating rules and the two kinds
of credit limits (applied by :mod:`creditrisk.models.policy`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from creditrisk.schemas.rules import Condition


class RuleMode(StrEnum):
    """How a rating rule changes the grade: set it, or only make it worse."""

    OVERRIDE = "override"
    NO_BETTER_THAN = "no_better_than"


class LimitKind(StrEnum):
    """Which limit is the credit limit: the model's (risk budget) or the formula's."""

    MODEL = "model"
    FORMULA = "formula"


class PolicyError(ValueError):
    """The policy is inconsistent (unknown grade, operator, or non-monotone amounts)."""


@dataclass(frozen=True)
class RatingRule:
    """When every condition holds, the grade becomes ``grade`` ("override") or at least as
    bad as ``grade`` ("no_better_than")."""

    name: str
    grade: str
    when: tuple[Condition, ...]
    mode: RuleMode = RuleMode.OVERRIDE

    def __post_init__(self) -> None:
        if not self.when:
            raise PolicyError(f"rating rule '{self.name}' has no conditions")
        try:
            object.__setattr__(self, "mode", RuleMode(self.mode))
        except ValueError:
            modes = [m.value for m in RuleMode]
            raise PolicyError(f"rating rule '{self.name}': mode must be one of {modes}") from None


@dataclass(frozen=True)
class ModelLimits:
    """Largest limit with PD x LGD x limit within the grade's expected-loss budget, capped
    by repayment capacity (income x multiple) and the product maximum; 0 above pd_cutoff."""

    lgd: float
    pd_cutoff: float
    el_budget: dict[str, float]
    income_multiple: float
    limit_without_income: float
    product_max: float

    def __post_init__(self) -> None:
        _in_range("lgd", self.lgd, low=0.0, high=1.0)
        _in_range("pd_cutoff", self.pd_cutoff, low=0.0, high=1.0)
        _in_range("income_multiple", self.income_multiple, low=0.0)
        _in_range("limit_without_income", self.limit_without_income, low=0.0, strict=False)
        _in_range("product_max", self.product_max, low=0.0)


@dataclass(frozen=True)
class FormulaLimits:
    """Base amount of the grade, capped by income x multiple and the product maximum."""

    base: dict[str, float]
    income_multiple: float
    limit_without_income: float
    product_max: float

    def __post_init__(self) -> None:
        _in_range("income_multiple", self.income_multiple, low=0.0)
        _in_range("limit_without_income", self.limit_without_income, low=0.0, strict=False)
        _in_range("product_max", self.product_max, low=0.0)


def _in_range(
    name: str, value: float, *, low: float, high: float | None = None, strict: bool = True
) -> None:
    too_low = value <= low if strict else value < low
    if too_low or (high is not None and value > high):
        bound = f"{'above' if strict else 'at least'} {low:g}" + (
            f" and at most {high:g}" if high is not None else ""
        )
        raise PolicyError(f"limits: {name} must be {bound}, got {value:g}")
