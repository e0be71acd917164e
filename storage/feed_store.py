"""Queries behind the public feeds (R6, R21): the conference calendar, the release feed and
the spokesperson directory. Read-only; each function runs in the caller's session."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from liuan_bot.domain.roles import Role
from liuan_bot.domain.workflow import State
from storage.tables import AuditEntry, Conference, Person, Unit

# Conferences the public may see on the calendar: settled (scheduled or filed) or held.
CALENDAR_STATES = (State.SCHEDULED.value, State.FILED.value, State.HELD.value)
# Changes a calendar client must see (RFC 5545 SEQUENCE): each one bumps the event's sequence.
REVISIONS = ("schedule", "amend", "withdraw")


async def calendar_conferences(
    session: AsyncSession, since: datetime
) -> list[tuple[Conference, str]]:
    """Scheduled, filed and held conferences taking (or having taken) place at or after
    `since`, with their unit's name, in start order. Ones without any time are left out."""
    start = utc(since)
    rows = (
        await session.exec(
            select(Conference, Unit.name)
            .join(Unit, col(Unit.id) == col(Conference.unit_id))
            .where(
                or_(
                    col(Conference.state).in_(CALENDAR_STATES),
                    # B1: withdrawn after it was public: shown as cancelled, not dropped
                    (col(Conference.state) == State.WITHDRAWN.value)
                    & col(Conference.record_id).in_(
                        select(AuditEntry.record_id).where(
                            col(AuditEntry.action) == "withdraw",
                            col(AuditEntry.old_state).in_(CALENDAR_STATES),
                        )
                    ),
                )
            )
            .where(
                or_(
                    col(Conference.starts_at) >= start,
                    (col(Conference.starts_at).is_(None)) & (col(Conference.held_at) >= start),
                )
            )
            .order_by(col(Conference.starts_at), col(Conference.id))
        )
    ).all()
    return [(conf, name) for conf, name in rows]


async def revision_counts(session: AsyncSession, record_ids: list[str]) -> dict[str, int]:
    """How many public changes (排期, 修改, 撤回) each conference had: its ICS SEQUENCE."""
    if not record_ids:
        return {}
    rows = await session.exec(
        select(AuditEntry.record_id, func.count())
        .where(col(AuditEntry.record_id).in_(record_ids), col(AuditEntry.action).in_(REVISIONS))
        .group_by(col(AuditEntry.record_id))
    )
    return {str(rid): int(n) for rid, n in rows.all()}


async def recent_releases(session: AsyncSession, limit: int) -> list[tuple[Conference, str]]:
    """The `limit` most recently held conferences with their unit's name, newest first."""
    rows = (
        await session.exec(
            select(Conference, Unit.name)
            .join(Unit, col(Unit.id) == col(Conference.unit_id))
            .where(col(Conference.state) == State.HELD.value)
            .where(col(Conference.held_at).is_not(None))
            .order_by(col(Conference.held_at).desc(), col(Conference.id).desc())
            .limit(limit)
        )
    ).all()
    return [(conf, name) for conf, name in rows]


async def public_spokespersons(session: AsyncSession) -> list[tuple[Unit, list[Person]]]:
    """R6: active people holding the spokesperson role whose entry is marked public, grouped
    by unit (units in id order, people in roster order). Roles are a JSON list, filtered
    here rather than in SQL so SQLite and PostgreSQL agree."""
    rows = (
        await session.exec(
            select(Person, Unit)
            .join(Unit, col(Unit.id) == col(Person.unit_id))
            .where(col(Person.public) == True)  # noqa: E712
            .where(col(Person.active) == True)  # noqa: E712
            .order_by(col(Unit.id), col(Person.id))
        )
    ).all()
    grouped: dict[int, tuple[Unit, list[Person]]] = {}
    for person, unit in rows:
        if Role.SPOKESPERSON.value not in person.roles:
            continue
        key = unit.id if unit.id is not None else -1
        grouped.setdefault(key, (unit, []))[1].append(person)
    return list(grouped.values())
