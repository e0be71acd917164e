"""The facts the reminder rules look at (inputs), loaded by storage/reminder_store.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from liuan_bot.domain.roles import Role


@dataclass(frozen=True)
class UnitFacts:
    id: int
    name: str
    key_unit: bool
    unit_type: str
    people: Mapping[Role, tuple[str, ...]]  # userids by role
    held: tuple[tuple[datetime, tuple[str, ...]], ...] = ()  # (held_at, counts_for)
    upcoming: tuple[datetime, ...] = ()  # starts of scheduled or filed conferences
    roster_filed_years: frozenset[int] = frozenset()

    def to(self, roles: Iterable[Role]) -> tuple[str, ...]:
        found: list[str] = []
        for role in roles:
            found += [u for u in self.people.get(role, ()) if u not in found]
        return tuple(found)


@dataclass(frozen=True)
class IncidentFacts:
    record_id: str
    unit_id: int
    title: str
    level: str
    occurred_at: datetime
    first_release_at: datetime | None
    answered: bool
    state: str = "open"  # open | answered | closed | withdrawn (domain/incidents.py)


@dataclass(frozen=True)
class PolicyFacts:
    record_id: str
    unit_id: int
    title: str
    publish_at: datetime
    interpretation_ready: bool
    briefing: bool


@dataclass(frozen=True)
class ConferenceFacts:
    record_id: str
    unit_id: int
    topic: str
    starts_at: datetime
    venue: str
    filer: str
    speaker_ids: tuple[str, ...]
    held: bool


@dataclass(frozen=True)
class PersonFacts:
    userid: str
    name: str
    unit_id: int
    last_trained: date | None


@dataclass(frozen=True)
class RelayFacts:
    """One channel of one release (R19–R23)."""

    record_id: str
    topic: str
    channel: str
    channel_name: str
    editors: tuple[str, ...]
    state: str  # pending | sent | published | failed | notified
    sent_at: datetime | None
    released_at: datetime
    link: str = ""


@dataclass(frozen=True)
class Sent:
    """A reminder instance already recorded: when it went out and whether it was acked."""

    at: datetime
    acked: bool


@dataclass(frozen=True)
class World:
    """Everything the rules look at, loaded in a fixed number of queries."""

    units: Sequence[UnitFacts]
    news_office: tuple[str, ...]
    incidents: Sequence[IncidentFacts] = ()
    policies: Sequence[PolicyFacts] = ()
    conferences: Sequence[ConferenceFacts] = ()
    trainees: Sequence[PersonFacts] = ()
    relays: Sequence[RelayFacts] = ()
    sent: Mapping[str, Sent] = field(default_factory=dict)
