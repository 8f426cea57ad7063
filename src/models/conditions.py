"""Conditions evaluated on data: where a rule's condition holds on a column.

The conditions themselves (their operators and validation) are the params schema in
:mod:`creditrisk.schemas.rules`.
"""

from __future__ import annotations

import numpy as np

from creditrisk.schemas.rules import Condition, ConditionError, Operator

_NUMERIC = {
    Operator.GE: np.greater_equal,
    Operator.GT: np.greater,
    Operator.LE: np.less_equal,
    Operator.LT: np.less,
    Operator.EQ: np.equal,
}


def holds(condition: Condition, x: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of column ``x`` where the condition holds."""
    if condition.op is Operator.IS_NULL:
        return is_null(x)
    if condition.op is Operator.NOT_NULL:
        return ~is_null(x)
    if condition.op in (Operator.IN, Operator.NOT_IN):
        inside = np.isin(x.astype(object), list(condition.value))
        return np.asarray((inside if condition.op is Operator.IN else ~inside) & ~is_null(x))
    if x.dtype.kind in "fiub":
        v = float(condition.value)
        with np.errstate(invalid="ignore"):
            if condition.op is Operator.NE:
                result = (x != v) & ~np.isnan(x.astype("float64"))
            else:
                result = _NUMERIC[condition.op](x, v)
        return np.asarray(result, dtype=bool)
    if condition.op in (Operator.EQ, Operator.NE):
        eq = x.astype(object) == condition.value
        return np.asarray((eq if condition.op is Operator.EQ else ~eq) & ~is_null(x), dtype=bool)
    raise ConditionError(
        f"operator {condition.op} needs a numeric column, '{condition.feature}' is text"
    )


def is_null(x: np.ndarray) -> np.ndarray:
    """Missing values of a column: NaN for floats, None or NaN for objects."""
    if x.dtype.kind == "f":
        return np.asarray(np.isnan(x), dtype=bool)
    if x.dtype.kind in "iub":
        return np.zeros(len(x), dtype=bool)
    return np.array([v is None or v != v for v in x], dtype=bool)
