"""Reminders as people receive them (issue 9 C1, C2): one message per reminder, one copy per
person, typed 收到."""

from __future__ import annotations

from sqlmodel import select

from handlers.reminders import sweep
from storage.tables import ReminderDelivery
from tests.support import Harness


async def _sweep(h: Harness) -> None:
    engine = h.bot.reminders
    assert engine is not None
    await sweep(engine, h.clock.now())
    await h.deliver_outbox()


async def _deliveries(h: Harness) -> list[ReminderDelivery]:
    async with h.bot.deps.sessions() as session:
        return list((await session.exec(select(ReminderDelivery))).all())


async def test_c2_typed_shou_dao_acknowledges_the_senders_outstanding_reminders(
    harness: Harness,
) -> None:
    h = harness
    h.clock.advance(hours=1)  # reminders are due on Nov 26 (R8 and others)
    await _sweep(h)
    deliveries = await _deliveries(h)
    assert deliveries
    user = deliveries[0].userid
    mine = [d for d in deliveries if d.userid == user]
    status, reply = await h.send_text(user, "收到")
    assert status == 200
    assert reply is not None
    assert f"已确认收到 {len(mine)} 项提醒" in reply
    assert all(d.acked_at is not None for d in await _deliveries(h) if d.userid == user)
    others = [d for d in await _deliveries(h) if d.userid != user]
    assert others
    assert all(d.acked_at is None for d in others)
    _, again = await h.send_text(user, "收到")
    assert again is not None
    assert "没有待确认的提醒" in again
