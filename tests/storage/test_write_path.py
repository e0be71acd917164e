"""The write path's hot statements (issue 11 §1): SQLite calls in the event-loop thread that
still wait for a lock without blocking the loop, roster lookups memoised per roster version
and never stale, record ids in one statement, audit rows and outbox rows without the ORM's
unit of work."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlmodel import select

from liuan_bot.domain.roles import Role
from liuan_bot.messages import Outgoing
from storage.audit import audit
from storage.engine import (
    InlineConnection,
    lazy_session,
    make_engine,
    make_session_factory,
    transaction,
)
from storage.inbox_store import SqliteDirect, WriteGate
from storage.migrate import upgrade
from storage.outbox_store import enqueue
from storage.records import next_record_id
from storage.roster_cache import RosterCache
from storage.roster_store import unit_id, unit_members, userids_with_role
from storage.tables import AuditEntry, OutboxMessage, Person
from tests.conftest import load_demo_roster
from tests.support import Statements

NOW = datetime.fromisoformat("2026-12-02T09:00:00+08:00")


async def test_sqlite_statements_run_in_the_event_loop_thread(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    threads: list[int] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def where(*_a: Any) -> None:
        threads.append(threading.get_ident())

    try:
        async with engine.begin() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.driver_connection, InlineConnection)
            found = (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one()
        assert found == 0  # never blocks the loop waiting for a lock
        assert threads
        assert set(threads) == {threading.get_ident()}
    finally:
        await engine.dispose()


async def test_sqlite_commits_in_the_worker_thread_and_keeps_what_it_wrote(
    sqlite_url: str,
) -> None:
    """COMMIT alone leaves the loop (sqlite3 releases the GIL while SQLite writes the WAL):
    the statements before it ran in the loop's thread, the commit in aiosqlite's, and what
    the transaction wrote is there for a new connection."""
    engine = make_engine(sqlite_url)
    await upgrade(engine)
    loop_thread = threading.get_ident()
    commits: list[int] = []
    try:
        async with engine.begin() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert isinstance(raw, InlineConnection)
            sync_commit = raw._conn.commit

            def spy() -> None:
                commits.append(threading.get_ident())
                sync_commit()

            raw._connection = _CommitSpy(raw._conn, spy)
            await conn.execute(text("CREATE TABLE probe (x TEXT)"))
            await conn.execute(text("INSERT INTO probe VALUES ('新闻办')"))
        assert len(commits) == 1
        assert commits[0] != loop_thread
        check = sqlite3.connect(make_url(sqlite_url).database or "")
        try:
            assert check.execute("SELECT x FROM probe").fetchall() == [("新闻办",)]
        finally:
            check.close()
    finally:
        await engine.dispose()


class _CommitSpy:
    """A sqlite3 connection whose `commit` is a spy; everything else is the connection's."""

    def __init__(self, conn: sqlite3.Connection, commit: Any) -> None:
        self._conn, self.commit = conn, commit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def test_sqlite_keeps_statement_journals_in_memory(sqlite_url: str) -> None:
    """A savepoint's statement journal (group commit: every write message runs in one) in a
    temp file cost ~0.1 ms of syscalls per record INSERT (bench/README.md): memory, on the
    engine's connections and the direct store's."""
    engine = make_engine(sqlite_url)
    await upgrade(engine)
    direct = SqliteDirect.for_url(sqlite_url)
    assert direct is not None
    try:
        async with engine.begin() as conn:
            found = (await conn.execute(text("PRAGMA temp_store"))).scalar_one()
        assert found == 2  # MEMORY
        assert direct.pragma("temp_store") == 2
    finally:
        await direct.close()
        await engine.dispose()


async def test_a_locked_sqlite_database_is_waited_for_without_blocking_the_loop(
    sqlite_url: str,
) -> None:
    engine = make_engine(sqlite_url)
    await upgrade(engine)
    path = make_url(sqlite_url).database
    assert path is not None
    blocker = sqlite3.connect(Path(path), isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    sessions = make_session_factory(engine)
    before = InlineConnection.waits

    async def write() -> str:
        async with transaction(sessions) as session:
            return await next_record_id(session, "SQ", 2026)

    try:
        task = asyncio.create_task(write())
        ticks = 0
        while InlineConnection.waits == before and ticks < 2000:
            await asyncio.sleep(0.005)  # the loop runs while the writer waits
            ticks += 1
        assert InlineConnection.waits == before + 1
        assert not task.done()
        blocker.execute("COMMIT")
        assert await task == "SQ-2026-0001"
    finally:
        blocker.close()
        await engine.dispose()


async def test_record_ids_are_one_statement_each(engine: Any) -> None:
    await upgrade(engine)
    sessions = make_session_factory(engine)
    seen = Statements(engine)
    async with transaction(sessions) as session:
        seen.reset()
        ids = [await next_record_id(session, "SQ", 2026) for _ in range(3)]
        assert len(seen.seen) == 3
        other = await next_record_id(session, "TF", 2026)
    assert ids == ["SQ-2026-0001", "SQ-2026-0002", "SQ-2026-0003"]
    assert other == "TF-2026-0001"
    async with transaction(sessions) as session:
        assert await next_record_id(session, "SQ", 2026) == "SQ-2026-0004"
        assert await next_record_id(session, "SQ", 2027) == "SQ-2027-0001"


async def test_audit_and_outbox_rows_skip_the_unit_of_work(engine: Any) -> None:
    await upgrade(engine)
    sessions = make_session_factory(engine)
    flushes: list[int] = []
    async with transaction(sessions) as session:
        event.listen(session.sync_session, "before_flush", lambda *_a: flushes.append(1))
        await audit(session, NOW, actor="demo", action="a1", detail={"k": "值"})
        await audit(session, NOW, actor="demo", action="a2", record_id="SQ-2026-0001")
        queued = await enqueue(
            session,
            [Outgoing("text", "demo", {"content": "一"}), Outgoing("text", "liulei", {"c": 2})],
            NOW,
            source="test",
            dedupe_key="k",
        )
        assert not session.new  # nothing pending for a flush
    assert flushes == []
    assert [q.target for q in queued] == ["demo", "liulei"]
    async with sessions() as session:
        entries = (await session.exec(select(AuditEntry).order_by(AuditEntry.id))).all()
        assert [(e.action, e.detail) for e in entries] == [("a1", {"k": "值"}), ("a2", {})]
        assert entries[0].at == NOW
        rows = (await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        assert [(r.dedupe_key, r.body) for r in rows] == [
            ("k#0", {"content": "一"}),
            ("k#1", {"c": 2}),
        ]
    async with transaction(sessions) as session:  # the same key again: a no-op
        assert (
            await enqueue(session, [Outgoing("text", "demo", {})], NOW, source="t", dedupe_key="k")
            == []
        )


async def test_json_is_stored_compact_with_chinese_as_itself_and_older_rows_still_read(
    engine: Any,
) -> None:
    """`storage.engine.compact_json`: no `\\uXXXX`, no spaces after separators (an outbox
    body in a third of the characters); a row written the old way reads the same."""
    await upgrade(engine)
    sessions = make_session_factory(engine)
    body = {"content": "【突发事件】请立即发布", "n": [1, 2]}
    async with transaction(sessions) as session:
        await enqueue(session, [Outgoing("text", "demo", body)], NOW, source="t", dedupe_key="j")
    async with engine.begin() as conn:
        stored = (
            await conn.execute(
                text("SELECT CAST(body AS TEXT) FROM outbox WHERE dedupe_key = 'j#0'")
            )
        ).scalar_one()
        assert stored == '{"content":"【突发事件】请立即发布","n":[1,2]}'
        await conn.execute(
            text("UPDATE outbox SET body = :old WHERE dedupe_key = 'j#0'"),
            {"old": json.dumps(body)},  # as rows were written before
        )
    async with sessions() as session:
        row = (await session.exec(select(OutboxMessage))).one()
    assert row.body == body


async def test_roster_lookups_are_memoised_per_roster_version(database_url: str) -> None:
    await load_demo_roster(database_url)
    engine = make_engine(database_url)
    try:
        sessions = make_session_factory(engine)
        cache = RosterCache()
        seen = Statements(engine)
        async with transaction(sessions) as session:
            await cache.member(session, "demo")
            office = await userids_with_role(session, Role.NEWS_OFFICE)
            unit = await unit_id(session, "市政府新闻办")
            assert unit is not None
            members = await unit_members(session, unit)
        async with transaction(sessions) as session:
            await cache.member(session, "demo")
            seen.reset()
            assert await userids_with_role(session, Role.NEWS_OFFICE) == office
            assert await unit_id(session, "市政府新闻办") == unit
            assert await unit_members(session, unit) == members
            assert seen.seen == []  # all three from the memo
        async with sessions() as session:  # outside the pipeline: no memo, a query
            seen.reset()
            assert await userids_with_role(session, Role.NEWS_OFFICE) == office
            assert len(seen.seen) == 1
        assert office  # the demo roster has a news office
        first = office[0]
        async with transaction(sessions) as session:  # a roster write in this transaction
            await cache.member(session, "demo")
            person = (await session.exec(select(Person).where(Person.userid == first))).one()
            person.roles = []
            assert first not in await userids_with_role(session, Role.NEWS_OFFICE)
        async with transaction(sessions) as session:  # the version moved: the memo is empty
            await cache.member(session, "demo")
            seen.reset()
            assert first not in await userids_with_role(session, Role.NEWS_OFFICE)
            assert len(seen.seen) == 1
    finally:
        await engine.dispose()


async def test_issue10_the_console_engine_keeps_sqlite_calls_off_the_event_loop(
    sqlite_url: str,
) -> None:
    """Console pages and reports read for tens of milliseconds: their engine runs SQLite in
    aiosqlite's worker thread (with the busy timeout), never on the loop the callback uses."""
    engine = make_engine(sqlite_url, inline=False)
    try:
        async with engine.begin() as conn:
            raw = await conn.get_raw_connection()
            assert not isinstance(raw.driver_connection, InlineConnection)
            found = (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one()
        assert found == 10_000
    finally:
        await engine.dispose()


async def test_a_lazy_session_is_made_only_when_used_and_then_closed(engine: Any) -> None:
    """The read-only step's session (issue 11 §2): 帮助 never touches it, so none is made;
    a command that reads through it gets a real session, closed at the end."""
    await upgrade(engine)
    sessions = make_session_factory(engine)
    made: list[Any] = []

    def factory() -> Any:
        made.append(sessions())
        return made[-1]

    async with lazy_session(factory) as session:  # type: ignore[arg-type]
        pass
    assert made == []
    async with lazy_session(factory) as session:  # type: ignore[arg-type]
        found = (await session.exec(select(Person))).all()
        assert found == []
        assert made[0].in_transaction()
    [real] = made
    assert not real.in_transaction()  # closed: its transaction ended, its connection returned
    checked_out = engine.sync_engine.pool.checkedout()
    assert checked_out == 0


@pytest.mark.parametrize("limit", [1, 3])
async def test_the_write_gate_admits_at_most_its_limit_in_order_of_arrival(limit: int) -> None:
    """SQLite's one writer, PostgreSQL's few (issue 11 §2): never more at once than the
    limit, and a later arrival never overtakes an earlier one."""
    gate = WriteGate(limit)
    inside: list[int] = []
    most = 0
    admitted: list[int] = []

    async def write(i: int) -> None:
        nonlocal most
        async with gate:
            admitted.append(i)
            inside.append(i)
            most = max(most, len(inside))
            for _ in range(3):
                await asyncio.sleep(0)
            inside.remove(i)

    tasks = []
    for i in range(12):
        tasks.append(asyncio.create_task(write(i)))
        await asyncio.sleep(0)  # arrive one after the other
    await asyncio.gather(*tasks)
    assert most == limit
    assert admitted == list(range(12))


async def test_a_gate_without_a_limit_admits_everyone_at_once() -> None:
    gate = WriteGate()
    entered = 0
    release = asyncio.Event()

    async def write() -> None:
        nonlocal entered
        async with gate:
            entered += 1
            await release.wait()

    tasks = [asyncio.create_task(write()) for _ in range(20)]
    for _ in range(3):
        await asyncio.sleep(0)
    assert entered == 20
    release.set()
    await asyncio.gather(*tasks)
