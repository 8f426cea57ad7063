"""Helpers shared by the feature families.

Time is handled as integer epoch seconds, computed once per table. Interval and date
functions differ between engines; integer arithmetic compiles the same on DuckDB and
Spark, so the same expression gives the same numbers on both.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

DAY = 86_400
KEYS = ("customer_id", "as_of")


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
