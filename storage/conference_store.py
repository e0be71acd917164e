"""Queries on conferences (R15/R16) and the decision cards sent for them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from storage.tables import Card, Conference, OutboxMessage

BOOKING = timedelta(hours=2)  # a venue is taken two hours either side of a start


async def conference_for_update(session: AsyncSession, record_id: str) -> Conference | None:
    """Load a conference, locking its row on PostgreSQL (concurrent decisions queue)."""
    query = select(Conference).where(col(Conference.record_id) == record_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return (await session.exec(query)).first()


def _venue_key(venue: str) -> str:
    return "".join(venue.split()).lower()


async def venue_clash(
    session: AsyncSession, venue: str, starts_at: datetime, *, exclude: str
) -> Conference | None:
    """Another scheduled or filed conference at the same venue within the booking window."""
    if not venue:
        return None
    start = utc(starts_at)
    rows = (
        await session.exec(
            select(Conference)
            .where(col(Conference.state).in_(("scheduled", "filed")))
            .where(col(Conference.record_id) != exclude)
            .where(col(Conference.starts_at) > start - BOOKING)
            .where(col(Conference.starts_at) < start + BOOKING)
        )
    ).all()
    for row in rows:
        if _venue_key(row.venue) == _venue_key(venue):
            return row
    return None


async def open_cards(session: AsyncSession, record_id: str, purpose: str) -> list[Card]:
    return list(
        (
            await session.exec(
                select(Card)
                .where(col(Card.record_id) == record_id)
                .where(col(Card.purpose) == purpose)
                .where(col(Card.closed) == False)  # noqa: E712
            )
        ).all()
    )


async def card_by_task(session: AsyncSession, task_id: str) -> Card | None:
    return (await session.exec(select(Card).where(col(Card.task_id) == task_id))).first()


async def response_code_of(session: AsyncSession, outbox_id: int | None) -> str | None:
    """The response code WeCom returned when the card was sent (usable once, 72 h)."""
    if outbox_id is None:
        return None
    row = await session.get(OutboxMessage, outbox_id)
    return row.response_code if row is not None and row.status == "sent" else None


async def held_conferences(
    session: AsyncSession, unit_pk: int, since: datetime
) -> list[Conference]:
    return list(
        (
            await session.exec(
                select(Conference)
                .where(col(Conference.unit_id) == unit_pk)
                .where(col(Conference.state) == "held")
                .where(col(Conference.held_at) >= utc(since))
            )
        ).all()
    )


async def set_schedule_id(session: AsyncSession, record_id: str, schedule_id: str) -> None:
    """Keep the id of the conference's WeCom calendar event (for later updates)."""
    conf = await conference_for_update(session, record_id)
    if conf is not None:
        conf.schedule_id = schedule_id
        session.add(conf)
