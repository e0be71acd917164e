"""Follow-ups after the outbox delivered a row (issue 5, issue 11 §4), looked up in a table by
the row's kind, else by the kind of its source (the part of `source` before the first ":").

`bot.py` only wires `after_delivery` to the outbox worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.announcements import record_invalid
from handlers.context import queue
from liuan_bot.clock import Clock
from liuan_bot.outbox import Claimed, Delivered
from storage.conference_store import set_schedule_id
from storage.engine import SessionFactory, transaction
from storage.outbox_store import enqueued


@dataclass(frozen=True)
class FollowUp:
    """`applies` decides without the database (most deliveries need nothing, and open no
    transaction); `run` writes in the transaction it is given."""

    applies: Callable[[Claimed, Delivered], bool]
    run: Callable[[AsyncSession, Claimed, Delivered, datetime], Awaitable[None]]


async def calendar_event_added(
    session: AsyncSession, row: Claimed, result: Delivered, now: datetime
) -> None:
    """A new calendar event's id is kept on its conference (the row's target), so a later
    move or cancellation updates that event."""
    assert result.msgid is not None  # checked by `_calendar_added`
    await set_schedule_id(session, row.target, result.msgid)


def _calendar_added(row: Claimed, result: Delivered) -> bool:
    return row.body.get("action") == "add" and bool(result.msgid)


async def announcement_delivered(
    session: AsyncSession, row: Claimed, result: Delivered, now: datetime
) -> None:
    """WeCom's `invaliduser` for an announcement goes back to its sender (issue 5)."""
    record_id = row.source.split(":", 1)[1]
    notes = await record_invalid(session, record_id, list(result.invalid_users), now)
    await queue(session, notes, now, source=f"{row.source}:invalid")


def _some_invalid(row: Claimed, result: Delivered) -> bool:
    return bool(result.invalid_users)


BY_KIND: Mapping[str, FollowUp] = {"calendar": FollowUp(_calendar_added, calendar_event_added)}
BY_SOURCE: Mapping[str, FollowUp] = {
    "announcement": FollowUp(_some_invalid, announcement_delivered)
}


def follow_up_of(row: Claimed) -> FollowUp | None:
    """The follow-up for this row: by its kind first, else by its source's kind."""
    if row.kind in BY_KIND:
        return BY_KIND[row.kind]
    source_kind, sep, _rest = row.source.partition(":")
    return BY_SOURCE.get(source_kind) if sep else None


async def after_delivery(
    sessions: SessionFactory,
    clock: Clock,
    row: Claimed,
    result: Delivered,
    wake_outbox: Callable[[], None],
) -> None:
    """Run the row's follow-up, if any, in its own transaction; wake the outbox worker after
    the commit if it queued messages."""
    follow_up = follow_up_of(row)
    if follow_up is None or not follow_up.applies(row, result):
        return
    async with transaction(sessions) as session:
        await follow_up.run(session, row, result, clock.now())
    if enqueued(session):
        wake_outbox()
