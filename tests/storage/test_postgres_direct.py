"""The read-only step's store on PostgreSQL (issue 11 §2): the messages that arrive while a
statement is on its way go together in the next one, a row each, each admitted just before
it is sent; a value PostgreSQL refuses takes only its own message with it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from liuan_bot.messages import Incoming
from storage.engine import make_engine
from storage.inbox_store import PostgresDirect
from storage.migrate import upgrade

NOW = datetime.fromisoformat("2026-12-02T09:00:00+08:00")


def _incoming(n: int, msg_id: str | None = None) -> Incoming:
    msg_id = msg_id or str(7_000 + n)
    raw = {"MsgType": "text", "Content": "帮助", "MsgId": msg_id}
    return Incoming("text", "demo", "wwtest", n, msg_id=msg_id, content="帮助", raw=raw)


async def _store(direct: PostgresDirect, n: int, **changes: Any) -> int | None:
    incoming = changes.pop("incoming", None) or _incoming(n)
    arguments: dict[str, Any] = {
        "status": "handled",
        "reply_text": f"回复 {n}",
        "reply_route": "passive",
        "roster_version": 0,
    }
    return await direct.store_handled_at(incoming, NOW, NOW, **(arguments | changes))


@pytest.fixture
async def pg_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgresDirect is the PostgreSQL store (SQLite: test_sqlite_direct.py)")
    engine = make_engine(database_url)
    await upgrade(engine)
    await engine.dispose()
    return database_url


async def _stored(url: str) -> list[tuple[int, str, str, str, datetime]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(
                text(
                    "SELECT id, msg_id, reply_text, raw->>'MsgId', received_at "
                    "FROM inbound_messages ORDER BY id"
                )
            )
            return [tuple(row) for row in found.all()]  # type: ignore[misc]
    finally:
        await engine.dispose()


async def test_messages_that_arrive_together_go_in_one_statement(pg_url: str) -> None:
    direct = PostgresDirect(pg_url)
    try:
        first = asyncio.create_task(_store(direct, 0))  # alone: its own statement
        await asyncio.sleep(0)
        rest = [asyncio.create_task(_store(direct, n)) for n in range(1, 10)]
        ids = [await first, *[await task for task in rest]]
        assert direct.groups == 1  # the nine that came while the first was on its way
        assert direct.commits == 10
        rows = await _stored(pg_url)
        assert [row[0] for row in rows] == ids
        assert [(row[1], row[2]) for row in rows] == [
            (str(7_000 + n), f"回复 {n}") for n in range(10)
        ]
        # the same storage formats as the one-message statement: JSON, UTC timestamps
        assert all(row[3] == row[1] and row[4] == NOW for row in rows)
    finally:
        await direct.close()


async def test_in_a_group_a_stored_key_and_a_moved_roster_write_nothing(pg_url: str) -> None:
    direct = PostgresDirect(pg_url)
    try:
        assert await _store(direct, 1) is not None
        found = await asyncio.gather(
            _store(direct, 2),
            _store(direct, 1),  # stored already: a WeCom retry
            _store(direct, 3, roster_version=5),  # cached under another roster version
            _store(direct, 4),
        )
        assert found[1] is None
        assert found[2] is None
        assert found[0] is not None
        assert found[3] is not None
        assert direct.groups == 1
        assert [row[1] for row in await _stored(pg_url)] == ["7001", "7002", "7004"]
    finally:
        await direct.close()


async def test_a_message_not_admitted_is_not_sent(pg_url: str) -> None:
    direct = PostgresDirect(pg_url)
    try:
        found = await asyncio.gather(
            _store(direct, 1), _store(direct, 2, admit=lambda: False), _store(direct, 3)
        )
        assert found[1] is None
        assert [row[1] for row in await _stored(pg_url)] == ["7001", "7003"]
    finally:
        await direct.close()


async def test_a_value_postgresql_refuses_takes_only_its_own_message(pg_url: str) -> None:
    """msg_id is varchar(64): PostgreSQL refuses the group's statement, and the group is
    sent again one message at a time."""
    direct = PostgresDirect(pg_url)
    try:
        found = await asyncio.gather(
            _store(direct, 1),
            _store(direct, 2, incoming=_incoming(2, msg_id="9" * 65)),
            _store(direct, 3),
            return_exceptions=True,
        )
        assert isinstance(found[1], asyncpg.StringDataRightTruncationError)
        assert isinstance(found[0], int)
        assert isinstance(found[2], int)
        assert [row[1] for row in await _stored(pg_url)] == ["7001", "7003"]
    finally:
        await direct.close()


class _FlakyGroupPool:
    """A pool whose first statement meets a connection PostgreSQL dropped."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def fetch(self, sql: str, *args: Any) -> list[tuple[int, str]]:
        self.sent.append(sql)
        if len(self.sent) == 1:
            raise asyncpg.ConnectionDoesNotExistError("connection was closed")
        keys: list[str] = args[0]
        return [(100 + i, key) for i, key in enumerate(keys)]

    async def fetchval(self, sql: str, *args: Any) -> int:
        raise AssertionError("a group goes in one statement")


async def test_a_group_is_sent_once_more_after_a_dead_connection() -> None:
    direct = PostgresDirect("postgresql+asyncpg://u@127.0.0.1:1/none")
    pool = _FlakyGroupPool()
    direct._pool = pool  # type: ignore[assignment]
    found = await asyncio.gather(*(_store(direct, n) for n in range(3)))
    assert found == [100, 101, 102]
    assert direct.reconnects == 1
    assert len(pool.sent) == 2
    assert pool.sent[0] == pool.sent[1]
