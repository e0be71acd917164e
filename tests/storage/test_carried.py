"""Writes carried by the next statement (`storage.carried`, issue 11 §2): on PostgreSQL an
audit row travels with the transaction's next statement, one round trip less, and is never
lost, duplicated, moved across a savepoint or hidden from a reader."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from storage import carried, prepared
from storage.audit import audit
from storage.engine import make_engine, make_session_factory, transaction
from storage.inbox_store import _VERSION
from storage.migrate import upgrade
from storage.outbox_store import _INSERT_ONE
from storage.records import _BUMP
from storage.tables import AuditEntry
from tests.conftest import PG_URL, _reset_postgres

NOW = datetime.fromisoformat("2026-12-07T09:00:00+08:00")


def _outbox_row(key: str) -> dict[str, Any]:
    return {
        "kind": "text",
        "target": "demo",
        "body": {},
        "source": "t",
        "dedupe_key": key,
        "status": "pending",
        "attempts": 0,
        "created_at": NOW,
        "next_attempt_at": NOW,
        "invalid_users": [],
    }


# --- the SQL it builds (pure) ---


def test_a_carried_write_becomes_a_with_clause_its_host_s_parameters_renumbered() -> None:
    audit_sql = "INSERT INTO audit_log (actor, action) VALUES ($1::VARCHAR, $2::VARCHAR)"
    waiting: list[carried.Carried] = []
    carried.add(waiting, "audit_log", audit_sql, ["a", "create"])
    sql, args = carried.combined(
        waiting, "INSERT INTO outbox (target) VALUES ($1) RETURNING id", ["x"]
    )
    assert sql == (
        "WITH carried_0 AS (INSERT INTO audit_log (actor, action) VALUES ($1::VARCHAR, "
        "$2::VARCHAR)) INSERT INTO outbox (target) VALUES ($3) RETURNING id"
    )
    assert args == ["a", "create", "x"]


def test_rows_of_one_statement_join_one_multi_row_values_in_their_order() -> None:
    audit_sql = "INSERT INTO audit_log (actor, action) VALUES ($1::VARCHAR, $2::VARCHAR)"
    other_sql = "INSERT INTO hot_issues (filer) VALUES ($1::VARCHAR)"
    waiting: list[carried.Carried] = []
    carried.add(waiting, "audit_log", audit_sql, ["a", "create"])
    carried.add(waiting, "audit_log", audit_sql, ["a", "submit"])
    carried.add(waiting, "hot_issues", other_sql, ["b"])
    assert len(waiting) == 2
    sql, args = carried.alone(waiting)
    assert sql == (
        "WITH carried_0 AS (INSERT INTO audit_log (actor, action) VALUES ($1::VARCHAR, "
        "$2::VARCHAR), ($3::VARCHAR, $4::VARCHAR)) INSERT INTO hot_issues (filer) VALUES "
        "($5::VARCHAR)"
    )
    assert args == ["a", "create", "a", "submit", "b"]


def test_a_host_that_names_a_carried_table_or_is_a_with_statement_does_not_carry() -> None:
    waiting = [carried.Carried("audit_log", "INSERT INTO audit_log (a) VALUES ($1)", [1])]
    assert carried.can_carry(waiting, "INSERT INTO outbox (a) VALUES ($1)")
    assert not carried.can_carry(waiting, "SELECT max(audit_log.id) FROM audit_log")
    assert not carried.can_carry(waiting, "WITH x AS (SELECT 1) SELECT * FROM x")
    # a longer name that merely contains the table's is not the table
    assert carried.can_carry(waiting, "SELECT 1 FROM audit_log_archive")


def test_write_later_takes_only_an_insert_without_returning() -> None:
    from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg

    assert _INSERT_ONE.plan(pg_asyncpg.dialect()).table is None  # it returns the id


# --- on a real database ---


@pytest.fixture
async def pg_engine() -> Any:
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set LIUAN_TEST_DATABASE_URL (CI sets it)")
    await _reset_postgres(PG_URL)
    engine = make_engine(PG_URL)
    await upgrade(engine)
    yield engine
    await engine.dispose()


def _statements(engine: Any) -> list[str]:
    seen: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


async def _audit(session: Any, action: str) -> None:
    await audit(session, NOW, actor="demo", action=action, record_id="YQ-2026-0001")


async def _actions(engine: Any) -> list[str]:
    async with transaction(make_session_factory(engine)) as session:
        found = await session.exec(select(AuditEntry.action).order_by(col(AuditEntry.id)))
        return [action for (action,) in found]


@pytest.mark.postgres
async def test_r10_an_audit_row_travels_with_the_next_statement_one_round_trip(
    pg_engine: Any,
) -> None:
    seen = _statements(pg_engine)
    async with transaction(make_session_factory(pg_engine)) as session:
        await prepared.rows(session, _VERSION)
        seen.clear()
        await _audit(session, "create")
        assert seen == []  # not sent yet
        await prepared.rows(session, _INSERT_ONE, _outbox_row("k1"))
    assert len(seen) == 1
    assert seen[0].startswith("WITH carried_0 AS (INSERT INTO audit_log")
    assert await _actions(pg_engine) == ["create"]


@pytest.mark.postgres
async def test_two_audit_rows_keep_their_order_of_ids(pg_engine: Any) -> None:
    async with transaction(make_session_factory(pg_engine)) as session:
        for action in ("create", "submit", "approve"):
            await _audit(session, action)
        await prepared.rows(session, _INSERT_ONE, _outbox_row("k1"))
    assert await _actions(pg_engine) == ["create", "submit", "approve"]


@pytest.mark.postgres
async def test_a_commit_with_nothing_after_the_audit_row_still_writes_it(pg_engine: Any) -> None:
    async with transaction(make_session_factory(pg_engine)) as session:
        await _audit(session, "create")
    sessions = make_session_factory(pg_engine)
    async with sessions() as session:  # a session committed by hand, not by `transaction`
        await _audit(session, "submit")
        await session.commit()
    assert await _actions(pg_engine) == ["create", "submit"]


@pytest.mark.postgres
async def test_a_reader_of_the_audit_log_in_the_same_transaction_sees_the_row(
    pg_engine: Any,
) -> None:
    async with transaction(make_session_factory(pg_engine)) as session:
        await _audit(session, "create")
        # through SQLAlchemy (the ORM), as `record_store.history` reads it
        count = await session.scalar(select(func.count()).select_from(AuditEntry))
        assert count == 1
        await _audit(session, "submit")
        # a prepared statement that names the table is not its host: the row is sent first
        reader = prepared.Prepared(select(func.count()).select_from(AuditEntry.__table__))  # type: ignore[attr-defined]
        assert (await prepared.rows(session, reader))[0][0] == 2


@pytest.mark.postgres
async def test_a_rollback_to_the_unit_s_savepoint_drops_its_rows_and_keeps_those_before(
    pg_engine: Any,
) -> None:
    async with transaction(make_session_factory(pg_engine)) as session:
        await _audit(session, "before")
        await prepared.execute(session, "SAVEPOINT liuan_unit")  # sends "before" first
        await _audit(session, "undone")
        await prepared.execute(session, "ROLLBACK TO SAVEPOINT liuan_unit")
        await prepared.rows(session, _INSERT_ONE, _outbox_row("k1"))
    assert await _actions(pg_engine) == ["before"]


@pytest.mark.postgres
async def test_sqlalchemy_s_own_savepoints_neither_lose_nor_misplace_a_row(pg_engine: Any) -> None:
    seen = _statements(pg_engine)
    async with transaction(make_session_factory(pg_engine)) as session:
        await _audit(session, "before")
        nested = await session.begin_nested()
        await session.connection()  # SQLAlchemy sends the SAVEPOINT when a statement needs it
        await _audit(session, "undone")
        await nested.rollback()
        await _audit(session, "after")
    assert await _actions(pg_engine) == ["before", "after"]
    # "before" went ahead of the SAVEPOINT; "undone" was dropped, never sent
    assert [s.split()[0] for s in seen] == ["INSERT", "SAVEPOINT", "ROLLBACK", "INSERT", "SELECT"]


@pytest.mark.postgres
async def test_a_rolled_back_transaction_leaves_nothing_for_the_connection_s_next(
    pg_engine: Any,
) -> None:
    sessions = make_session_factory(pg_engine)

    async def fail() -> None:
        async with transaction(sessions) as session:
            await _audit(session, "lost with its transaction")
            raise RuntimeError("the unit failed")

    with pytest.raises(RuntimeError):
        await fail()
    async with sessions() as session:  # a session that never commits: closed, rolled back
        await _audit(session, "never committed")
    async with transaction(sessions) as session:  # most likely the same pooled connection
        await prepared.rows(session, _INSERT_ONE, _outbox_row("k1"))
    assert await _actions(pg_engine) == []


@pytest.mark.postgres
async def test_a_host_statement_that_fails_takes_the_carried_row_with_it(pg_engine: Any) -> None:
    sessions = make_session_factory(pg_engine)
    async with transaction(sessions) as session:
        await prepared.rows(session, _INSERT_ONE, _outbox_row("taken"))

    async def fail() -> None:
        async with transaction(sessions) as session:
            await _audit(session, "with the failed statement")
            await prepared.rows(session, _INSERT_ONE, _outbox_row("taken"))

    with pytest.raises(IntegrityError):
        await fail()
    async with transaction(sessions) as session:
        await prepared.rows(session, _BUMP, {"prefix": "YQ", "year": 2026})
    assert await _actions(pg_engine) == []


@pytest.mark.postgres
async def test_a_plain_connection_statement_sends_the_rows_first(pg_engine: Any) -> None:
    async with transaction(make_session_factory(pg_engine)) as session:
        await _audit(session, "create")
        found = await (await session.connection()).execute(text("SELECT count(*) FROM audit_log"))
        assert found.scalar() == 1


async def test_on_sqlite_an_audit_row_is_written_at_once(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    await upgrade(engine)
    seen = _statements(engine)
    try:
        async with transaction(make_session_factory(engine)) as session:
            seen.clear()
            await _audit(session, "create")
            assert [s.split()[0] for s in seen if not s.startswith("BEGIN")] == ["INSERT"]
        assert await _actions(engine) == ["create"]
    finally:
        await engine.dispose()
