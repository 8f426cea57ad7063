"""Ibis arithmetic shared by the feature families: time as epoch seconds, windows, ratios
and exact sums.

Time is handled as integer epoch seconds, computed once per table. Interval and date
functions differ between engines; integer arithmetic compiles the same on DuckDB and
Spark, so the same expression gives the same numbers on both.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

DAY = 86_400
DAYS_PER_MONTH = 30.4375
PPM = 1_000_000  # paid-to-due ratios in parts per million: integer sums, exact on any engine


def seconds(column: ir.TimestampValue) -> ir.IntegerValue:
    """Epoch seconds of a timestamp column (naive timestamps are taken as UTC)."""
    return column.epoch_seconds().cast("int64")


def days_between(later: ir.IntegerValue, earlier: ir.IntegerValue) -> ir.IntegerValue:
    """Whole days from ``earlier`` to ``later`` (epoch seconds), rounded down."""
    return ((later - earlier) / DAY).floor().cast("int64")


def in_window(age_s: ir.IntegerValue, days: int) -> ir.BooleanValue:
    """An event ``age_s`` seconds before as_of lies in the ``days``-day look-back window."""
    return (age_s > 0) & (age_s <= days * DAY)


def ratio(num: ir.NumericValue, den: ir.NumericValue) -> ir.FloatingValue:
    """num / den, null when den is zero or null."""
    return ibis.ifelse(den > 0, num.cast("float64") / den.cast("float64"), ibis.null("float64"))


MICRO = 1_000_000  # money to a millionth of a unit, as whole numbers: sums in it are exact


def micro_units(values: ir.NumericValue) -> ir.IntegerValue:
    """Money as whole millionths (rounded half up), alike on every engine."""
    return (values.cast("float64") * MICRO + 0.5).floor().cast("int64")


def exact_sum(values: ir.NumericColumn, where: ir.BooleanValue | None = None) -> ir.FloatingValue:
    """Sum of money amounts, exact: a float sum run in parallel adds in a different order
    on every run and differs in the last bits, so the same data would give (slightly)
    different features and models. Summed as whole millionths in int64 (exact, and
    lighter and faster than decimals), then returned as float64."""
    return micro_units(values).sum(where=where).cast("float64") / MICRO


def exact_mean(values: ir.NumericColumn, where: ir.BooleanValue | None = None) -> ir.FloatingValue:
    """Mean of money amounts from :func:`exact_sum` and the count (null when none)."""
    n = values.count(where=where)
    return ibis.ifelse(n > 0, exact_sum(values, where) / n.cast("float64"), ibis.null("float64"))
