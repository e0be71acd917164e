"""Queries on conferences (R15/R16) and the decision cards sent for them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from liuan_bot.domain.venues import Booking
from storage.tables import Card, Conference, OutboxMessage, Unit

BOOKING_HORIZON = timedelta(days=1)  # no conference lasts longer: bounds the clash query


async def conference_for_update(session: AsyncSession, record_id: str) -> Conference | None:
    """Load a conference, locking its row on PostgreSQL (concurrent decisions queue)."""
    query = select(Conference).where(col(Conference.record_id) == record_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def conference_by_record(session: AsyncSession, record_id: str) -> Conference | None:
    """Load a conference to read it (no lock)."""
    query = select(Conference).where(col(Conference.record_id) == record_id)
    return (await session.exec(query)).first()


async def bookings_near(
    session: AsyncSession, starts_at: datetime, ends_at: datetime, *, exclude: str
) -> list[Booking]:
    """Scheduled or filed conferences starting within a day of [starts_at, ends_at] (R15, A5):
    the candidates for a venue clash, decided by `liuan_bot.domain.venues.clash`."""
    rows = (
        await session.exec(
            select(Conference)
            .where(col(Conference.state).in_(("scheduled", "filed")))
            .where(col(Conference.record_id) != exclude)
            .where(col(Conference.starts_at) > utc(starts_at) - BOOKING_HORIZON)
            .where(col(Conference.starts_at) < utc(ends_at) + BOOKING_HORIZON)
        )
    ).all()
    return [
        Booking(row.record_id, row.venue, row.starts_at, row.ends_at)
        for row in rows
        if row.starts_at is not None
    ]


async def open_conferences(session: AsyncSession, unit_pk: int) -> list[Conference]:
    """A unit's applications and filings still in progress (我的)."""
    return list(
        (
            await session.exec(
                select(Conference)
                .where(col(Conference.unit_id) == unit_pk)
                .where(
                    col(Conference.state).in_(
                        ("submitted", "reviewed", "approved", "scheduled", "filed")
                    )
                )
                .order_by(col(Conference.id))
            )
        ).all()
    )


async def news_office_queue(session: AsyncSession) -> list[Conference]:
    """Applications waiting for the news office: to review or to schedule."""
    return list(
        (
            await session.exec(
                select(Conference)
                .where(col(Conference.state).in_(("submitted", "approved")))
                .order_by(col(Conference.id))
            )
        ).all()
    )


async def approval_queue(session: AsyncSession) -> list[tuple[Conference, str]]:
    """Reviewed applications waiting for a deputy secretary-general's approval (R15), with
    their unit's name."""
    rows = await session.exec(
        select(Conference, Unit.name)
        .join(Unit, col(Unit.id) == col(Conference.unit_id))
        .where(col(Conference.state) == "reviewed")
        .order_by(col(Conference.id))
    )
    return [(conference, name) for conference, name in rows.all()]


async def pending_speaker_question(session: AsyncSession, userid: str) -> Conference | None:
    """The latest conference whose 已召开 report waits for `userid` to confirm speakers (A1)."""
    rows = (
        await session.exec(
            select(Conference)
            .where(col(Conference.pending_held).is_not(None))
            .order_by(col(Conference.updated_at).desc(), col(Conference.id).desc())
        )
    ).all()
    for row in rows:
        if (row.pending_held or {}).get("by") == userid:
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
