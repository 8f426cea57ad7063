"""The settings a feature family is computed and declared with: plain values, no engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal


@dataclass(frozen=True)
class StaticDeclaration:
    """What the user declares about a static customer column: its risk direction (1 more
    of it means more risk, -1 less), the reason text a customer reads, and optionally the
    reason group it belongs to (a key of :data:`creditrisk.features.family.REASON_GROUPS`;
    without one it is a group of its own)."""

    direction: Literal[1, -1]
    reason: str
    group: str | None = None


@dataclass(frozen=True)
class FeatureSettings:
    """Everything the feature families need besides the tables.

    Attributes:
        windows: look-back windows in days, e.g. (30, 90, 180, 365) (sorted, unique).
        static: customer columns used as features as they are.
        protected: customer columns that must never become features.
        dpd_threshold_days: days past due that make a default event.
        end_date: the data's end; labels whose window passes it are incomplete (null).
        static_reasons: static column -> its declaration; the others get no risk
            direction and are never reasons.
    """

    windows: tuple[int, ...]
    static: tuple[str, ...] = ()
    protected: tuple[str, ...] = ()
    dpd_threshold_days: int = 90
    end_date: date = date(2099, 12, 31)
    static_reasons: Mapping[str, StaticDeclaration] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", tuple(sorted(set(self.windows))))
        object.__setattr__(self, "static", tuple(self.static))
        object.__setattr__(self, "protected", tuple(self.protected))

    @property
    def longest(self) -> int:
        """The longest look-back window (days)."""
        return max(self.windows)
