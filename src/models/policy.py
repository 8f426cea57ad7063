"""The credit policy applied to a calibrated PD: grades, rating rules and credit limits.

Everything here is data (a JSON-able :class:`Policy`) plus vectorised functions; the rules
are declarative conditions on feature columns and ``pd``, never code.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from creditrisk.models.conditions import holds
from creditrisk.schemas.policy import (
    FormulaLimits,
    LimitKind,
    ModelLimits,
    PolicyError,
    RatingRule,
    RuleMode,
)
from creditrisk.schemas.rules import Condition


@dataclass(frozen=True)
class Policy:
    """Grades (best to worst; bands by PD, rule-only grades without a band), rating rules,
    both limit kinds and the one in force, PDO scaling and the number of reason codes."""

    grades: tuple[str, ...]
    bands: tuple[tuple[str, float], ...]
    rules: tuple[RatingRule, ...]
    model_limits: ModelLimits
    formula_limits: FormulaLimits
    limit_in_force: LimitKind
    round_to: float
    base_points: float
    base_odds: float
    pdo: float
    reasons: int
    income_column: str = "income_monthly"
    rule_features: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        known = set(self.grades)
        for g, _ in self.bands:
            if g not in known:
                raise PolicyError(f"band grade '{g}' is not in the grade list {self.grades}")
        for rule in self.rules:
            if rule.grade not in known:
                raise PolicyError(f"rating rule '{rule.name}' sets unknown grade '{rule.grade}'")
        try:
            object.__setattr__(self, "limit_in_force", LimitKind(self.limit_in_force))
        except ValueError:
            raise PolicyError("limits.in_force must be 'model' or 'formula'") from None
        for name, amounts in (
            ("model el_budget", self.model_limits.el_budget),
            ("formula base", self.formula_limits.base),
        ):
            missing = [g for g in self.grades if g not in amounts]
            if missing:
                raise PolicyError(f"limits: {name} lacks grade(s) {missing}")
            values = [amounts[g] for g in self.grades]
            if any(b > a for a, b in itertools.pairwise(values)):
                raise PolicyError(
                    f"limits: {name} must not rise from a better grade to a worse one "
                    f"(limits would rise with risk): {dict(zip(self.grades, values, strict=True))}"
                )
        features = sorted({c.feature for r in self.rules for c in r.when} - {"pd"})
        object.__setattr__(self, "rule_features", tuple(features))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("rule_features")
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Policy:
        rules = tuple(
            RatingRule(
                name=r["name"],
                grade=r["grade"],
                when=tuple(Condition(**c) for c in r["when"]),
                mode=RuleMode(r.get("mode", "override")),
            )
            for r in d["rules"]
        )
        return cls(
            grades=tuple(d["grades"]),
            bands=tuple((str(g), float(p)) for g, p in d["bands"]),
            rules=rules,
            model_limits=ModelLimits(**d["model_limits"]),
            formula_limits=FormulaLimits(**d["formula_limits"]),
            limit_in_force=LimitKind(d["limit_in_force"]),
            round_to=float(d["round_to"]),
            base_points=float(d["base_points"]),
            base_odds=float(d["base_odds"]),
            pdo=float(d["pdo"]),
            reasons=int(d["reasons"]),
            income_column=d.get("income_column", "income_monthly"),
        )


def band_positions(pd_: np.ndarray, bands: Sequence[tuple[str, float]]) -> np.ndarray:
    """Position in ``bands`` (best to worst, each ``(grade, max_pd)``) of each PD's band:
    the first whose ``max_pd`` is at least the PD. The one place PDs become grades."""
    limits = np.array([p for _, p in bands])
    return np.minimum(np.searchsorted(limits, np.asarray(pd_), side="left"), len(limits) - 1)


def band_grades(policy: Policy, pd_: np.ndarray) -> np.ndarray:
    """Index into ``policy.grades`` of each PD's band (before the rating rules)."""
    band_index = np.array([policy.grades.index(g) for g, _ in policy.bands])
    index: np.ndarray = band_index[band_positions(pd_, policy.bands)]
    return index


def apply_rules(
    policy: Policy, grade: np.ndarray, pd_: np.ndarray, columns: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Grades after the rating rules (first matching rule wins) and the rule that fired
    per row ("" when none)."""
    grade = grade.copy()
    fired = np.full(len(grade), "", dtype=object)
    open_ = np.ones(len(grade), dtype=bool)
    for rule in policy.rules:
        match = open_.copy()
        for c in rule.when:
            match &= holds(c, pd_ if c.feature == "pd" else columns[c.feature])
        if not match.any():
            continue
        target = policy.grades.index(rule.grade)
        grade[match] = (
            target if rule.mode is RuleMode.OVERRIDE else np.maximum(grade[match], target)
        )
        fired[match] = rule.name
        open_ &= ~match
    return grade, fired


def credit_limits(
    policy: Policy, pd_: np.ndarray, grade: np.ndarray, income: np.ndarray
) -> dict[str, np.ndarray]:
    """Model and formula limits with the cap that set each, and the limit in force.

    Returns:
        model_limit, model_policy, formula_limit, formula_policy, credit_limit,
        limit_policy (all arrays of the input's length).
    """
    m, f = policy.model_limits, policy.formula_limits
    has_income = ~np.isnan(income)
    budget = np.array([m.el_budget[g] for g in policy.grades])[grade]
    with np.errstate(divide="ignore"):
        el_limit = budget / (np.maximum(pd_, 1e-12) * m.lgd)
    capacity = np.where(has_income, income * m.income_multiple, m.limit_without_income)
    model_limit, model_policy = _binding(
        [
            (el_limit, "model:expected_loss_budget"),
            (capacity, "model:repayment_capacity"),
            (np.full(len(pd_), m.product_max), "model:product_max"),
        ]
    )
    cut = pd_ > m.pd_cutoff
    model_limit = np.where(cut, 0.0, model_limit)
    model_policy = np.where(cut, "model:pd_cutoff", model_policy)

    base = np.array([f.base[g] for g in policy.grades])[grade]
    income_cap = np.where(has_income, income * f.income_multiple, f.limit_without_income)
    formula_limit, formula_policy = _binding(
        [
            (base, "formula:grade_base"),
            (income_cap, "formula:income_multiple"),
            (np.full(len(pd_), f.product_max), "formula:product_max"),
        ]
    )
    model_limit = _round_down(model_limit, policy.round_to)
    formula_limit = _round_down(formula_limit, policy.round_to)
    model_in_force = policy.limit_in_force is LimitKind.MODEL
    return {
        "model_limit": model_limit,
        "model_policy": model_policy,
        "formula_limit": formula_limit,
        "formula_policy": formula_policy,
        "credit_limit": model_limit if model_in_force else formula_limit,
        "limit_policy": model_policy if model_in_force else formula_policy,
    }


def limit_reasons(policy: Policy, limit_policy: np.ndarray, income: np.ndarray) -> np.ndarray:
    """The stated reason for a limit set by a cap rather than by risk: income, the product
    maximum or the PD cut-off (None where the grade's risk budget or base set it; the
    reason codes explain those)."""
    m, f = policy.model_limits, policy.formula_limits
    no_income = np.isnan(income)
    out = np.full(len(limit_policy), None, dtype=object)
    texts = {
        "model:repayment_capacity": (
            f"The limit is capped at {m.income_multiple:g} months of declared income",
            f"No income is declared: the limit is capped at {m.limit_without_income:,.0f}",
        ),
        "formula:income_multiple": (
            f"The limit is capped at {f.income_multiple:g} months of declared income",
            f"No income is declared: the limit is capped at {f.limit_without_income:,.0f}",
        ),
        "model:product_max": (
            f"The limit is capped at the product maximum of {m.product_max:,.0f}",
        )
        * 2,
        "formula:product_max": (
            f"The limit is capped at the product maximum of {f.product_max:,.0f}",
        )
        * 2,
        "model:pd_cutoff": (
            f"The probability of default is above the {m.pd_cutoff:.0%} cut-off for credit",
        )
        * 2,
    }
    for name, (with_income, without) in texts.items():
        hit = limit_policy == name
        out[hit & ~no_income] = with_income
        out[hit & no_income] = without
    return out


def _binding(candidates: Sequence[tuple[np.ndarray, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Element-wise minimum of the candidates and the name of the one that binds."""
    stack = np.vstack([np.maximum(c, 0.0) for c, _ in candidates])
    which = np.argmin(stack, axis=0)
    names = np.array([n for _, n in candidates], dtype=object)
    return stack[which, np.arange(stack.shape[1])], names[which]


def _round_down(x: np.ndarray, step: float) -> np.ndarray:
    return np.floor(x / step) * step if step > 0 else x
