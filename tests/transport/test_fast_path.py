"""The fast path: read-only commands answered from memory, stored handled in one statement."""

from __future__ import annotations

import asyncio
import sqlite3

from sqlmodel import select

from storage.tables import InboundMessage
from tests.support import Harness


def database_file(h: Harness) -> str:
    return h.bot.settings.database_url.split(":///", 1)[1]


async def test_help_is_answered_and_stored_handled_in_one_step(harness: Harness) -> None:
    status, reply = await harness.send_text("demo", "帮助", msg_id="900001")
    assert status == 200
    assert reply is not None
    assert "您可以发送以下命令" in reply
    async with harness.bot.deps.sessions() as session:
        row = (await session.exec(select(InboundMessage))).one()
    assert (row.status, row.reply_route, row.reply_text) == ("handled", "passive", reply)
    assert row.received_at == harness.clock.now()  # the ORM reads the fast path's timestamps
    assert row.raw["Content"] == "帮助"
    assert harness.bot.metrics.callbacks["handled"] == 1


async def test_a_busy_write_lock_falls_back_to_the_ordinary_path_and_answers_once(
    harness: Harness,
) -> None:
    blocker = sqlite3.connect(database_file(harness), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock for a while
    try:
        pending = asyncio.create_task(harness.send_text("demo", "我的信息", msg_id="900002"))
        await asyncio.sleep(0.2)  # longer than the fast path's retries
        assert not pending.done()
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    status, reply = await pending
    assert status == 200
    assert reply is not None
    assert "张演示" in reply
    again = await harness.send_text("demo", "我的信息", msg_id="900002")
    assert again == (200, None)  # a retry of the same MsgId is a duplicate on either path
    async with harness.bot.deps.sessions() as session:
        rows = (await session.exec(select(InboundMessage))).all()
    assert len(rows) == 1
    assert rows[0].status == "handled"


async def test_unregistered_senders_and_commands_that_change_state_take_the_ordinary_path(
    harness: Harness,
) -> None:
    _status, reply = await harness.send_text("stranger", "帮助")
    assert reply is not None
    assert "名册" in reply
    _status, reply = await harness.send_text("demo", "申请发布会")
    assert reply is not None
    assert "还缺少" in reply
    async with harness.bot.deps.sessions() as session:
        rows = (await session.exec(select(InboundMessage))).all()
    assert {r.status for r in rows} == {"handled"}
