"""Declarative conditions on a customer's columns: the one schema that rating rules
(:mod:`creditrisk.schemas.policy`) and early-warning rules
(:mod:`creditrisk.schemas.warnings`) share, and that ``params.yaml`` is validated into.
Evaluating them on data is :func:`creditrisk.models.conditions.holds`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar


class Operator(StrEnum):
    """Comparison of a column with a value; ``is_null``/``not_null`` take no value."""

    GE = ">="
    GT = ">"
    LE = "<="
    LT = "<"
    EQ = "=="
    NE = "!="
    IN = "in"
    NOT_IN = "not_in"
    IS_NULL = "is_null"
    NOT_NULL = "not_null"


class ConditionError(ValueError):
    """A condition cannot be evaluated as written (unknown operator, missing value, or a
    numeric comparison on a text column)."""


@dataclass(frozen=True)
class Condition:
    """``feature op value``; a missing feature value fails every operator but is_null.

    Raises:
        ConditionError: the operator is unknown, or needs a value that is missing
            (``in``/``not_in`` need a list).
    """

    feature: str
    op: Operator
    value: Any = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "op", Operator(self.op))
        except ValueError:
            known = ", ".join(o.value for o in Operator)
            raise ConditionError(
                f"condition on '{self.feature}': unknown operator '{self.op}' (use {known})"
            ) from None
        if self.op in (Operator.IN, Operator.NOT_IN):
            if not isinstance(self.value, list | tuple):
                raise ConditionError(f"condition '{self.feature} {self.op}' needs a list value")
            object.__setattr__(self, "value", tuple(self.value))
        elif self.op not in (Operator.IS_NULL, Operator.NOT_NULL) and self.value is None:
            raise ConditionError(f"condition '{self.feature} {self.op}' needs a value")

    def describe(self) -> str:
        """The condition as it is written in params, e.g. ``dpd_current >= 30``."""
        return f"{self.feature} {self.op}" + ("" if self.value is None else f" {self.value}")


class RuleLike(Protocol):
    """Anything named with conditions: a rating rule or an early-warning rule."""

    @property
    def name(self) -> str: ...

    @property
    def when(self) -> tuple[Condition, ...]: ...


R = TypeVar("R", bound=RuleLike)


def usable_rules(rules: Sequence[R], columns: Collection[str]) -> tuple[list[R], list[str]]:
    """The rules whose conditions name only ``columns``, and the names of the others
    (left out: they name a feature or signal this data does not have)."""
    known = set(columns)
    keep = [r for r in rules if all(c.feature in known for c in r.when)]
    skipped = [r.name for r in rules if not all(c.feature in known for c in r.when)]
    return keep, skipped
