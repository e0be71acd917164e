"""4·2·1: what a held conference counts for, and a unit's counts per period (R8–R10).

R8: every conference a key unit holds (city-government or self-held) counts for its quarter.
R9: a city-government conference counts for the half-year when a speaker of the unit is its
spokesperson or a responsible official (its main leader).
R10: a city-government conference counts for the year when the unit's main leader spoke.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from liuan_bot.domain.periods import half_year, quarter, year
from liuan_bot.domain.roles import Role

CITY = "application"  # a city-government conference goes through the R15 application


def counts_for(kind: str, speaker_roles: Iterable[frozenset[Role]]) -> tuple[str, ...]:
    """The quota rules one held conference counts for, given its speakers' roles in the unit."""
    roles: set[Role] = set()
    for item in speaker_roles:
        roles |= item
    rules = ["R8"]
    if kind == CITY and roles & {Role.SPOKESPERSON, Role.MAIN_LEADER}:
        rules.append("R9")
    if kind == CITY and Role.MAIN_LEADER in roles:
        rules.append("R10")
    return tuple(rules)


@dataclass(frozen=True)
class Held:
    """A held conference as the quota rules see it."""

    record_id: str
    held_at: datetime
    counts_for: tuple[str, ...]


@dataclass(frozen=True)
class QuotaStatus:
    quarter_label: str
    quarter: int
    half_label: str
    half: int
    year_label: str
    year: int

    @property
    def shortfalls(self) -> tuple[str, ...]:
        """Rules not met yet in the current periods."""
        missing = []
        if self.quarter == 0:
            missing.append("R8")
        if self.half == 0:
            missing.append("R9")
        if self.year == 0:
            missing.append("R10")
        return tuple(missing)


def quota_status(held: Iterable[Held], now: datetime) -> QuotaStatus:
    """Counts of qualifying conferences in the quarter, half-year and year containing `now`."""
    q, h, y = quarter(now), half_year(now), year(now)
    items = list(held)
    return QuotaStatus(
        q.label,
        sum(1 for c in items if "R8" in c.counts_for and q.contains(c.held_at)),
        h.label,
        sum(1 for c in items if "R9" in c.counts_for and h.contains(c.held_at)),
        y.label,
        sum(1 for c in items if "R10" in c.counts_for and y.contains(c.held_at)),
    )
