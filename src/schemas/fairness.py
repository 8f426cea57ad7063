"""How a protected attribute's values become groups for the fairness comparison, as
params.yaml's ``model_card.fairness.attributes`` holds it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class GroupingKind(StrEnum):
    """How a protected attribute's values become groups."""

    CATEGORICAL = "categorical"  # the values as recorded
    NUMERIC = "numeric"  # cut at ``bands``
    BIRTH_YEAR = "birth_year"  # age at as_of, cut at ``bands`` (ages)


@dataclass(frozen=True)
class AttributeGrouping:
    """The grouping of one protected attribute (``bands`` for numbers and ages)."""

    kind: GroupingKind = GroupingKind.CATEGORICAL
    bands: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", GroupingKind(self.kind))
        object.__setattr__(self, "bands", tuple(self.bands))
        if self.kind is not GroupingKind.CATEGORICAL and not self.bands:
            raise ValueError(f"{self.kind} attributes need bands")
