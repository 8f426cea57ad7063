"""The registered feature families, in the order of the feature table's columns.

Adding a family is one module here exporting ``FAMILY`` (a
:class:`~creditrisk.features.family.FeatureFamily`) and one line in :data:`REGISTRY`. A
row family may read the columns of the families before it (credit line reads the
balance and the latest installment).
"""

from __future__ import annotations

from creditrisk.features.families import (
    amounts,
    arrears,
    behaviour,
    credit_line,
    customer,
    loans,
    purchases,
    sequence,
    statements,
)
from creditrisk.features.family import FeatureFamily

REGISTRY: tuple[FeatureFamily, ...] = (
    customer.FAMILY,
    purchases.FAMILY,
    behaviour.FAMILY,
    amounts.FAMILY,
    sequence.FAMILY,
    arrears.FAMILY,
    loans.FAMILY,
    credit_line.FAMILY,
    statements.FAMILY,
)
