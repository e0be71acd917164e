"""The read-only step's store on SQLite (issue 11 §2): the statements of messages that arrive
together are written as one group, in one transaction, holding the pipeline's write gate; a
message not admitted, a statement that fails and a locked database each cost only what they
must."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from liuan_bot.messages import Incoming
from storage.engine import make_engine
from storage.inbox_store import SqliteDirect, WriteGate
from storage.migrate import upgrade

NOW = datetime.fromisoformat("2026-12-02T09:00:00+08:00")


def _incoming(n: int) -> Incoming:
    return Incoming("text", "demo", "wwtest", n, msg_id=str(7_000 + n), content="帮助")


async def _store(direct: SqliteDirect, n: int, **changes: Any) -> int | None:
    arguments: dict[str, Any] = {
        "status": "handled",
        "reply_text": f"回复 {n}",
        "reply_route": "passive",
        "roster_version": 0,
    }
    return await direct.store_handled_at(_incoming(n), NOW, NOW, **(arguments | changes))


@pytest.fixture
async def database(sqlite_url: str) -> Path:
    engine = make_engine(sqlite_url)
    await upgrade(engine)
    await engine.dispose()
    path = make_url(sqlite_url).database
    assert path is not None
    return Path(path)


def _stored(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        found = conn.execute("SELECT msg_id, reply_text FROM inbound_messages ORDER BY id")
        return list(found)


async def test_messages_that_arrive_together_are_written_in_one_group(database: Path) -> None:
    direct = SqliteDirect(database)
    try:
        ids = await asyncio.gather(*(_store(direct, n) for n in range(10)))
        assert direct.groups == 1  # one transaction, one commit
        assert direct.commits == 10
        assert ids == sorted(ids)
        assert all(found is not None for found in ids)
        assert _stored(database) == [(str(7_000 + n), f"回复 {n}") for n in range(10)]
        assert await _store(direct, 3) is None  # a retry of a stored message: nothing written
        assert len(_stored(database)) == 10
    finally:
        await direct.close()


async def test_a_group_is_written_holding_the_write_gate(database: Path) -> None:
    """SQLite has one writer: while a write transaction holds the gate, the group waits."""
    gate = WriteGate(1)
    direct = SqliteDirect(database, gate)
    try:
        async with gate:
            waiting = asyncio.gather(*(_store(direct, n) for n in range(3)))
            for _ in range(20):
                await asyncio.sleep(0)
            assert not waiting.done()
            assert _stored(database) == []
        assert len(await waiting) == 3
        assert direct.groups == 1
    finally:
        await direct.close()


async def test_a_message_not_admitted_is_not_written_and_its_caller_told(
    database: Path,
) -> None:
    """Admission is asked just before the group is written (the reply can no longer go back
    passively: the general steps answer it instead)."""
    direct = SqliteDirect(database)
    asked: list[int] = []

    def admit(n: int, answer: bool) -> Any:
        def decide() -> bool:
            asked.append(n)
            return answer

        return decide

    try:
        found = await asyncio.gather(
            _store(direct, 0, admit=admit(0, True)),
            _store(direct, 1, admit=admit(1, False)),
            _store(direct, 2, admit=admit(2, True)),
        )
        assert asked == [0, 1, 2]
        assert found[1] is None
        assert found[0] is not None
        assert found[2] is not None
        assert [msg_id for msg_id, _ in _stored(database)] == ["7000", "7002"]
    finally:
        await direct.close()


async def test_a_statement_that_fails_takes_only_its_own_message(database: Path) -> None:
    direct = SqliteDirect(database)
    try:
        found = await asyncio.gather(
            _store(direct, 0),
            _store(direct, 1, reply_text=object()),  # cannot be bound: sqlite3 refuses it
            _store(direct, 2),
            return_exceptions=True,
        )
        assert isinstance(found[1], sqlite3.Error)
        assert isinstance(found[0], int)
        assert isinstance(found[2], int)
        assert [msg_id for msg_id, _ in _stored(database)] == ["7000", "7002"]
    finally:
        await direct.close()


async def test_a_message_is_written_only_while_the_roster_is_at_its_version(
    database: Path,
) -> None:
    direct = SqliteDirect(database)
    try:
        assert await _store(direct, 0, roster_version=5) is None
        assert _stored(database) == []
        assert await _store(direct, 0, roster_version=0) is not None
    finally:
        await direct.close()


async def test_a_locked_database_is_waited_for_off_the_event_loop(database: Path) -> None:
    blocker = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    direct = SqliteDirect(database)
    try:
        task = asyncio.ensure_future(asyncio.gather(*(_store(direct, n) for n in range(2))))
        ticks = 0
        while direct.waits == 0 and ticks < 2000:
            await asyncio.sleep(0.005)  # the loop runs while the group waits
            ticks += 1
        assert direct.waits == 1
        assert not task.done()
        blocker.execute("COMMIT")
        assert all(found is not None for found in await task)
        assert len(_stored(database)) == 2
    finally:
        blocker.close()
        await direct.close()


async def test_a_message_is_admitted_only_once_the_write_lock_is_held(database: Path) -> None:
    """Admitting a message claims its reply for the request that waits for it: done while
    another process held the lock, a reply stored after that request's deadline went to no
    one (the chaos suite's writer-lock row)."""
    blocker = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    direct = SqliteDirect(database)
    asked: list[bool] = []

    def admit() -> bool:
        asked.append(True)
        return True

    try:
        task = asyncio.ensure_future(_store(direct, 0, admit=admit))
        ticks = 0
        while direct.waits == 0 and ticks < 2000:
            await asyncio.sleep(0.005)
            ticks += 1
        assert direct.waits == 1
        assert asked == []  # not while the lock is another's
        blocker.execute("COMMIT")
        assert await task is not None
        assert asked == [True]
    finally:
        blocker.close()
        await direct.close()


async def test_a_group_cancelled_while_it_waits_for_the_lock_gives_it_back(
    database: Path,
) -> None:
    blocker = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    direct = SqliteDirect(database)
    try:
        task = asyncio.ensure_future(_store(direct, 0))
        ticks = 0
        while direct.waits == 0 and ticks < 2000:
            await asyncio.sleep(0.005)
            ticks += 1
        writer = direct._groups._writer
        assert writer is not None
        writer.cancel()  # shutdown
        with pytest.raises(asyncio.CancelledError):
            await task
        blocker.execute("COMMIT")  # the worker now takes the lock, and gives it back
        # the worker runs its jobs in order: once this one has run, so have those before it
        await asyncio.get_running_loop().run_in_executor(direct._worker(), lambda: None)
        other = sqlite3.connect(database, isolation_level=None, timeout=0.5)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert _stored(database) == []
    finally:
        blocker.close()
        await direct.close()
