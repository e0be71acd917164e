"""Issue 11 §4: follow-ups after a delivery live in handlers/deliveries.py, in a table keyed
by the outbox row's kind, else by its source's kind; bot.py only wires them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import select

from handlers.deliveries import (
    BY_KIND,
    BY_SOURCE,
    after_delivery,
    announcement_delivered,
    calendar_event_added,
    follow_up_of,
)
from liuan_bot.clock import FixedClock
from liuan_bot.outbox import Claimed, Delivered
from storage.engine import SessionFactory, transaction
from storage.tables import Announcement, AnnouncementRecipient, OutboxMessage

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


def claimed(kind: str, source: str, body: dict[str, Any] | None = None) -> Claimed:
    return Claimed(1, kind, "TF-2026-0001", body or {}, 1, T0, "claim", source)


def never_opened() -> Any:
    raise AssertionError("a delivery that needs no follow-up opened a transaction")


def test_the_table_picks_by_kind_then_by_source_kind_issue11_s4() -> None:
    calendar = follow_up_of(claimed("calendar", "inbound:7", {"action": "add"}))
    assert calendar is BY_KIND["calendar"]
    assert calendar.run is calendar_event_added
    announcement = follow_up_of(claimed("app", "announcement:GG-2026-0001"))
    assert announcement is BY_SOURCE["announcement"]
    assert announcement.run is announcement_delivered
    assert follow_up_of(claimed("app", "inbound:7")) is None
    assert follow_up_of(claimed("app", "announcement")) is None  # no "kind:" prefix


def test_follow_ups_apply_only_when_the_answer_asks_for_one_issue11_s4() -> None:
    add = claimed("calendar", "inbound:7", {"action": "add"})
    update = claimed("calendar", "inbound:7", {"action": "update"})
    calendar = BY_KIND["calendar"]
    assert calendar.applies(add, Delivered(msgid="event-1"))
    assert not calendar.applies(add, Delivered())
    assert not calendar.applies(update, Delivered(msgid="event-1"))
    announcement = BY_SOURCE["announcement"]
    row = claimed("app", "announcement:GG-2026-0001")
    assert announcement.applies(row, Delivered(invalid_users=("ghost",)))
    assert not announcement.applies(row, Delivered())


async def test_nothing_to_follow_up_opens_no_transaction_issue11_s4(clock: FixedClock) -> None:
    woken: list[bool] = []
    for row, result in [
        (claimed("app", "inbound:7"), Delivered(invalid_users=("ghost",))),
        (claimed("app", "announcement:GG-2026-0001"), Delivered()),
        (claimed("calendar", "inbound:7", {"action": "del"}), Delivered(msgid="e")),
    ]:
        await after_delivery(never_opened, clock, row, result, lambda: woken.append(True))
    assert woken == []


async def test_invalid_announcement_accounts_go_back_to_the_sender_issue11_s4(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    async with transaction(sessions) as session:
        row = Announcement(
            record_id="GG-2026-0001",
            sender="newsoffice",
            audience="全体",
            content="通知",
            created_at=T0,
        )
        session.add(row)
        await session.flush()
        for user in ("ghost", "demo"):
            session.add(AnnouncementRecipient(announcement_id=row.id or 0, userid=user))
    woken: list[bool] = []
    delivered = claimed("app", "announcement:GG-2026-0001")
    result = Delivered(invalid_users=("ghost",))
    await after_delivery(sessions, clock, delivered, result, lambda: woken.append(True))
    await after_delivery(sessions, clock, delivered, result, lambda: woken.append(True))
    async with sessions() as session:
        notes = (await session.exec(select(OutboxMessage))).all()
        flags = {
            r.userid: r.invalid for r in (await session.exec(select(AnnouncementRecipient))).all()
        }
    assert flags == {"ghost": True, "demo": False}
    [note] = notes  # the second report of the same account tells nobody again
    assert (note.target, note.source) == ("newsoffice", "announcement:GG-2026-0001:invalid")
    assert "ghost" in note.body["text"]["content"]
    assert woken == [True]
