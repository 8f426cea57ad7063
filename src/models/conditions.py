"""Declarative conditions on a customer's columns: the one schema that rating rules
(:mod:`creditrisk.models.policy`) and early-warning rules
(:mod:`creditrisk.monitoring.warnings`) share, and that ``params.yaml`` is validated into.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import numpy as np


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


_NUMERIC = {
    Operator.GE: np.greater_equal,
    Operator.GT: np.greater,
    Operator.LE: np.less_equal,
    Operator.LT: np.less,
    Operator.EQ: np.equal,
}


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

    def holds(self, x: np.ndarray) -> np.ndarray:
        """Boolean mask of the rows of column ``x`` where the condition holds."""
        if self.op is Operator.IS_NULL:
            return is_null(x)
        if self.op is Operator.NOT_NULL:
            return ~is_null(x)
        if self.op in (Operator.IN, Operator.NOT_IN):
            inside = np.isin(x.astype(object), list(self.value))
            return np.asarray((inside if self.op is Operator.IN else ~inside) & ~is_null(x))
        if x.dtype.kind in "fiub":
            v = float(self.value)
            with np.errstate(invalid="ignore"):
                if self.op is Operator.NE:
                    result = (x != v) & ~np.isnan(x.astype("float64"))
                else:
                    result = _NUMERIC[self.op](x, v)
            return np.asarray(result, dtype=bool)
        if self.op in (Operator.EQ, Operator.NE):
            eq = x.astype(object) == self.value
            return np.asarray((eq if self.op is Operator.EQ else ~eq) & ~is_null(x), dtype=bool)
        raise ConditionError(f"operator {self.op} needs a numeric column, '{self.feature}' is text")

    def describe(self) -> str:
        """The condition as it is written in params, e.g. ``dpd_current >= 30``."""
        return f"{self.feature} {self.op}" + ("" if self.value is None else f" {self.value}")


def is_null(x: np.ndarray) -> np.ndarray:
    """Missing values of a column: NaN for floats, None or NaN for objects."""
    if x.dtype.kind == "f":
        return np.asarray(np.isnan(x), dtype=bool)
    if x.dtype.kind in "iub":
        return np.zeros(len(x), dtype=bool)
    return np.array([v is None or v != v for v in x], dtype=bool)


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
