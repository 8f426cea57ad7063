"""The feature dictionary: what each feature means, for modellers, customers and auditors,
read from the families' declarations (:mod:`creditrisk.features.families`).

Features whose source table is absent stay in the dictionary, marked unavailable, so the
model card can say what was left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from creditrisk.features.families import REGISTRY
from creditrisk.features.family import FamilyInputs, FeatureFamily, FeatureInfo
from creditrisk.features.settings import FeatureSettings


def declared(
    inputs: FamilyInputs, families: Sequence[FeatureFamily] = REGISTRY
) -> tuple[list[tuple[FeatureFamily, list[FeatureInfo]]], list[FeatureInfo]]:
    """The available families with their features, in column order, and the features of
    the unavailable ones (their tables or columns are absent)."""
    available, unavailable = [], []
    for family in families:
        infos = family.features(inputs)
        if family.available(inputs):
            available.append((family, infos))
        else:
            unavailable += infos
    return available, unavailable


def dictionary(
    available: Iterable[FeatureInfo], unavailable: Iterable[FeatureInfo]
) -> dict[str, dict[str, object]]:
    """``dictionary.json``: every feature's entry, available or not."""
    return {
        **{f.name: f.as_dict(available=True) for f in available},
        **{f.name: f.as_dict(available=False) for f in unavailable},
    }


def feature_sources(
    windows: tuple[int, ...] = (30, 90, 180, 365),
    families: Sequence[FeatureFamily] = REGISTRY,
) -> dict[str, str]:
    """Feature name -> the contract table it is computed from, for every family on data
    with every table (customer columns are not listed: they come from customers)."""
    inputs = FamilyInputs(FeatureSettings(windows=windows), every_column(families))
    return {f.name: f.source for family in families for f in family.features(inputs)}


def every_column(families: Sequence[FeatureFamily] = REGISTRY) -> dict[str, frozenset[str]]:
    """Every table the families need, with every column they need or use when present:
    what "all features" means when no data is at hand (the settings check)."""
    out: dict[str, set[str]] = {}
    for family in families:
        for table in family.tables:
            out.setdefault(table, set())
        out.setdefault("customers", set()).update(family.customer_columns)
        for table, column in (*family.table_columns, *family.optional_columns):
            out.setdefault(table, set()).add(column)
    return {t: frozenset(c) for t, c in out.items()}
