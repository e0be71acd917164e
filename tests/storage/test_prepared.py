"""Hot-path statements on the transaction's driver connection (`storage.prepared`) and new ORM
objects inserted at commit without the unit of work (`storage.pending`), issue 11 §1: the
same rows as SQLAlchemy would write, the same errors, the same visibility to listeners."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import bindparam, event, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel import select as orm_select
from sqlmodel.sql.sqltypes import UTCDateTime

from liuan_bot.messages import Incoming
from storage import pending, prepared
from storage.audit import _AUDIT
from storage.engine import make_session_factory, transaction
from storage.inbox_store import _FINISH, _VERSION, PostgresDirect
from storage.migrate import upgrade
from storage.outbox_store import _INSERT_NEW, _INSERT_ONE
from storage.records import _BUMP
from storage.tables import AuditEntry, Card, Conference, HotIssue, Unit

NOW = datetime.fromisoformat("2026-12-02T09:00:00+08:00")
HOT_PATH = (_AUDIT, _FINISH, _VERSION, _INSERT_ONE, _INSERT_NEW, _BUMP)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), pg_asyncpg.dialect()], ids=["sqlite", "pg"])
def test_every_hot_path_statement_compiles_as_a_plain_statement(dialect: Any) -> None:
    for statement in HOT_PATH:
        sql, _args = statement.arguments(dialect, _sample_params(statement, dialect))
        assert sql.split()[0] in {"INSERT", "UPDATE", "SELECT"}


async def _core(session: Any, statement: Any, params: Any = None) -> Any:
    return await (await session.connection()).execute(statement, params)


def _sample_params(statement: prepared.Prepared, dialect: Any) -> dict[str, Any]:
    plan = statement.plan(dialect)
    return {name: None for name in plan.names if name not in plan.fixed}


def test_a_statement_needing_sqlalchemy_s_machinery_is_refused_when_compiled() -> None:
    expanding = prepared.Prepared(
        select(AuditEntry.__table__.c.id).where(  # type: ignore[attr-defined]
            AuditEntry.__table__.c.actor.in_(bindparam("actors", expanding=True))  # type: ignore[attr-defined]
        )
    )
    with pytest.raises(TypeError, match="expanding"):
        expanding.plan(sqlite.dialect())
    missing = prepared.Prepared(AuditEntry.__table__.insert(), keys=["actor"])  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="missing parameter 'actor'"):
        missing.arguments(sqlite.dialect(), {})


async def test_prepared_rows_are_stored_as_sqlalchemy_stores_them(engine: Any) -> None:
    sessions = make_session_factory(engine)
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    row = {
        "at": NOW,
        "actor": "demo",
        "action": "a",
        "record_id": None,
        "old_state": None,
        "new_state": "open",
        "source": "test",
        "detail": {"单位": "市教育局", "n": [1, 2]},
    }
    async with transaction(sessions) as session:
        await prepared.rowcount(session, _AUDIT, row)
        await _core(session, table.insert(), row | {"action": "b"})
    async with sessions() as session:
        found = (await session.exec(orm_select(AuditEntry).order_by(col(AuditEntry.id)))).all()
        raw = (await _core(session, select(table).order_by(table.c.id))).all()
    assert [e.action for e in found] == ["a", "b"]
    assert found[0].at == found[1].at == NOW
    assert found[0].detail == found[1].detail == row["detail"]
    assert raw[0][1:3] == raw[1][1:3]  # the stored time, byte for byte
    assert raw[0][4:] == raw[1][4:]


async def test_rowcount_counts_and_rolls_back_with_the_transaction(engine: Any) -> None:
    sessions = make_session_factory(engine)
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    rename = prepared.Prepared(
        update(table).where(table.c.actor == bindparam("who")).values(action=bindparam("to"))
    )
    async with transaction(sessions) as session:
        for name in ("demo", "demo", "liulei"):
            await _core(
                session, table.insert(), {"at": NOW, "actor": name, "action": "x", "detail": {}}
            )

    async def rename_then_fail() -> None:
        async with transaction(sessions) as session:
            assert await prepared.rowcount(session, rename, {"who": "demo", "to": "y"}) == 2
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        await rename_then_fail()
    async with transaction(sessions) as session:
        assert await prepared.rowcount(session, rename, {"who": "nobody", "to": "y"}) == 0
        actions = (await _core(session, select(table.c.action))).scalars().all()
    assert actions == ["x", "x", "x"]


async def test_a_constraint_violation_is_sqlalchemy_s_integrity_error(engine: Any) -> None:
    sessions = make_session_factory(engine)
    row = {
        "kind": "text",
        "target": "demo",
        "body": {},
        "source": "t",
        "dedupe_key": "same",
        "status": "pending",
        "attempts": 0,
        "created_at": NOW,
        "next_attempt_at": NOW,
        "invalid_users": [],
    }

    async def insert_twice() -> None:
        async with transaction(sessions) as session:
            await prepared.rows(session, _INSERT_ONE, row)
            await prepared.rows(session, _INSERT_ONE, row)  # outbox.dedupe_key is unique

    with pytest.raises(IntegrityError):
        await insert_twice()
    async with transaction(sessions) as session:
        assert await prepared.rows(session, _INSERT_NEW, row) != []  # nothing of it kept
        assert await prepared.rows(session, _INSERT_NEW, row) == []  # taken: not written


async def test_listeners_see_every_prepared_statement(engine: Any) -> None:
    seen: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    async with transaction(make_session_factory(engine)) as session:
        seen.clear()
        await prepared.rows(session, _VERSION)
        await prepared.rows(session, _BUMP, {"prefix": "SQ", "year": 2026})
    assert [s.split()[0] for s in seen if not s.startswith("BEGIN")] == ["SELECT", "INSERT"]


async def test_the_driver_connection_is_the_current_transaction_s(engine: Any) -> None:
    """A session that commits and begins again may hold another connection: the cached
    driver connection belongs to one transaction."""
    await upgrade(engine)
    sessions = make_session_factory(engine)
    async with sessions() as session:
        async with session.begin():
            first = await prepared.rows(session, _BUMP, {"prefix": "SQ", "year": 2026})
        async with session.begin():
            second = await prepared.rows(session, _BUMP, {"prefix": "SQ", "year": 2026})
    assert (first, second) == ([(1,)], [(2,)])


async def _a_unit(sessions: Any) -> int:
    async with transaction(sessions) as session:
        unit = Unit(name="市教育局", unit_type="政府部门", created_at=NOW, updated_at=NOW)
        session.add(unit)
        await session.flush()
        assert unit.id is not None
        return unit.id


def _conference(unit_pk: int, record_id: str) -> Conference:
    return Conference(
        record_id=record_id,
        kind="application",
        unit_id=unit_pk,
        filer="demo",
        state="submitted",
        topic="惠民政策解读",
        starts_at=NOW,
        speakers=["刘磊", "杨立新"],
        live=True,
        created_at=NOW,
        updated_at=NOW,
    )


async def test_new_objects_are_inserted_at_commit_as_the_unit_of_work_would(engine: Any) -> None:
    sessions = make_session_factory(engine)
    unit_pk = await _a_unit(sessions)
    flushed = _conference(unit_pk, "SQ-2026-0001")
    async with transaction(sessions) as session:
        session.add(flushed)
        await session.flush()  # the unit of work, for comparison
    flushes: list[int] = []
    fast = _conference(unit_pk, "SQ-2026-0002")
    card = Card(
        task_id="review-SQ-2026-0002-ab",
        record_id="SQ-2026-0002",
        purpose="review",
        state_when_sent="submitted",
        recipients=["news1"],
        created_at=NOW,
    )
    async with transaction(sessions) as session:
        event.listen(session.sync_session, "before_flush", lambda *_a: flushes.append(1))
        session.add(fast)
        session.add(card)
    assert flushes == []  # no unit of work ran
    assert fast.id == (flushed.id or 0) + 1
    assert card.id is not None
    async with sessions() as session:
        stored = (await session.exec(orm_select(Conference).order_by(col(Conference.id)))).all()
        table = Conference.__table__  # type: ignore[attr-defined]
        raw = (await _core(session, select(table).order_by(table.c.id))).all()
    columns = [c.key for c in table.columns if c.key not in ("id", "record_id")]
    for name in columns:
        assert getattr(stored[0], name) == getattr(stored[1], name), name
    assert raw[0][2:] == raw[1][2:]  # stored identically (times, JSON, booleans)
    assert stored[1].speakers == ["刘磊", "杨立新"]
    assert stored[1].live is True


async def test_an_object_inserted_at_commit_can_be_updated_later(engine: Any) -> None:
    """It ends detached and persistent, like a committed object: adding it to another session
    updates its row (never a second INSERT)."""
    sessions = make_session_factory(engine)
    unit_pk = await _a_unit(sessions)
    conf = _conference(unit_pk, "SQ-2026-0001")
    async with transaction(sessions) as session:
        session.add(conf)
    async with transaction(sessions) as session:
        session.add(conf)
        conf.state = "reviewed"
    async with sessions() as session:
        stored = (await session.exec(orm_select(Conference))).all()
    assert [(c.record_id, c.state) for c in stored] == [("SQ-2026-0001", "reviewed")]


def _state_of(obj: Any) -> tuple[Any, ...]:
    state: Any = sa_inspect(obj)
    return (
        state.key,
        state.session_id,
        state._strong_obj,
        state.detached,
        state.transient,
        dict(state.committed_state),
        (state.modified, set(state.expired_attributes)),
        {k: v for k, v in state.dict.items() if k != "_sa_instance_state"},
        set(obj.__pydantic_fields_set__),
    )


async def test_an_inserted_object_ends_as_expunge_setattr_and_make_transient_to_detached_leave_it(
    engine: Any,
) -> None:
    """`pending._settle` does by hand what those three calls do to a pending object of a plain
    mapper: the same key, state, attributes and pydantic fields, and out of the session."""
    from sqlalchemy.orm import make_transient_to_detached

    sessions = make_session_factory(engine)
    unit_pk = await _a_unit(sessions)
    async with sessions() as session:
        by_hand, by_calls = (
            _conference(unit_pk, "SQ-2026-0001"),
            _conference(unit_pk, "SQ-2026-0002"),
        )
        session.add(by_hand)
        session.add(by_calls)
        by_hand.state = by_calls.state = "reviewed"  # history, as a handler's change leaves
        sync = session.sync_session
        pending._settle(sync, by_hand, "id", 41)
        sync.expunge(by_calls)
        by_calls.id = 41
        make_transient_to_detached(by_calls)
        assert list(sync.new) == []
    hand, calls = _state_of(by_hand), _state_of(by_calls)
    assert hand[0] == calls[0] == (Conference, (41,), None)
    assert hand[1:7] == calls[1:7]
    assert {**hand[7], "record_id": None} == {**calls[7], "record_id": None}
    assert hand[8] == calls[8]
    assert "id" in hand[8]


async def test_objects_of_one_table_get_ids_in_the_order_they_were_added(engine: Any) -> None:
    sessions = make_session_factory(engine)
    unit_pk = await _a_unit(sessions)
    confs = [_conference(unit_pk, f"SQ-2026-000{i}") for i in (3, 1, 2)]
    async with transaction(sessions) as session:
        for conf in confs:
            session.add(conf)
    ids = [c.id for c in confs]
    assert ids == sorted(ids)  # type: ignore[type-var]


async def test_the_unit_of_work_keeps_what_it_alone_can_do(engine: Any) -> None:
    """An explicit key, or a transaction that also deletes: the unit of work inserts
    everything, and `insert_pending` does nothing."""
    sessions = make_session_factory(engine)
    unit_pk = await _a_unit(sessions)
    explicit = _conference(unit_pk, "SQ-2026-0001")
    explicit.id = 50
    async with transaction(sessions) as session:
        session.add(explicit)
        assert await pending.insert_pending(session) == 0
    async with transaction(sessions) as session:
        doomed = (await session.exec(orm_select(Conference))).one()
        await session.delete(doomed)
        issue = HotIssue(
            record_id="YQ-2026-0001",
            unit_id=unit_pk,
            filer="demo",
            state="open",
            content="网民反映",
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(issue)
        assert await pending.insert_pending(session) == 0
    async with sessions() as session:
        assert (await session.exec(orm_select(Conference))).all() == []
        issues = (await session.exec(orm_select(HotIssue))).all()
    assert [i.record_id for i in issues] == ["YQ-2026-0001"]


class _FlakyPool:
    """An asyncpg pool whose first statement meets a connection PostgreSQL dropped."""

    def __init__(self, error: Exception) -> None:
        self.error: Exception | None = error
        self.sent: list[tuple[str, tuple[Any, ...]]] = []

    async def fetchval(self, sql: str, *args: Any) -> int:
        self.sent.append((sql, args))
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return 7


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.InternalClientError("cannot switch to state 12; another operation is in progress"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
    ],
    ids=["closed", "mid-operation", "terminated"],
)
async def test_the_read_only_statement_is_sent_once_more_after_a_dead_connection(
    error: Exception,
) -> None:
    """PostgresDirect has no pre-ping: its idempotent statement is sent again, once, on
    another connection when the first turns out dead (issue 8)."""
    direct = PostgresDirect("postgresql+asyncpg://u@127.0.0.1:1/none")
    pool = _FlakyPool(error)
    direct._pool = pool  # type: ignore[assignment]
    incoming = Incoming("text", "demo", "wwcorp", 1_764_640_000, msg_id="1", content="帮助")
    found = await direct.store_handled_at(
        incoming,
        NOW,
        NOW,
        status="handled",
        reply_text="您可以发送以下命令",
        reply_route="passive",
        roster_version=3,
    )
    assert found == 7
    assert (direct.reconnects, direct.commits) == (1, 1)
    assert pool.sent[0] == pool.sent[1]
    assert "ON CONFLICT (dedupe_key) DO NOTHING" in pool.sent[0][0]
    assert pool.sent[0][1][-1] == 3  # the roster version it is conditional on


async def test_any_other_error_of_the_read_only_statement_is_not_retried() -> None:
    direct = PostgresDirect("postgresql+asyncpg://u@127.0.0.1:1/none")
    direct._pool = _FlakyPool(asyncpg.exceptions.NotNullViolationError("null"))  # type: ignore[assignment]
    incoming = Incoming("text", "demo", "wwcorp", 1_764_640_000, msg_id="2")
    with pytest.raises(asyncpg.exceptions.NotNullViolationError):
        await direct.store_handled_at(
            incoming,
            NOW,
            NOW,
            status="handled",
            reply_text=None,
            reply_route=None,
            roster_version=1,
        )
    assert direct.reconnects == 0


def test_only_plain_mappers_and_fully_given_objects_skip_the_unit_of_work() -> None:
    """`insert_pending` leaves to the unit of work a mapper with relationships, and an
    object that leaves a column with a default unset (its value is the database's or the
    column's to give)."""
    from sqlalchemy import Column, ForeignKey, Integer, MetaData, String
    from sqlalchemy.orm import registry, relationship

    mapper_registry = registry(metadata=MetaData())

    @mapper_registry.mapped
    class Parent:
        __tablename__ = "parents"
        id = Column(Integer, primary_key=True)
        name = Column(String, nullable=False)
        kind = Column(String, default="plain")
        children = relationship("Child")

    @mapper_registry.mapped
    class Child:
        __tablename__ = "children"
        id = Column(Integer, primary_key=True)
        parent_id = Column(Integer, ForeignKey("parents.id"))
        kind = Column(String, server_default="plain")

    assert pending._plan_for(Parent) is None  # a relationship
    plan = pending._plan_for(Child)
    assert plan is not None
    assert plan.keys == ("parent_id", "kind")
    given = Child(parent_id=1, kind="special")
    assert pending._values(plan, sa_inspect(given)) == {"parent_id": 1, "kind": "special"}
    assert pending._values(plan, sa_inspect(Child(parent_id=1))) is None  # kind: the default's
    left_to_default = Child(parent_id=1, kind=None)
    assert pending._values(plan, sa_inspect(left_to_default)) is None  # None: the default's
    keyed = Child(id=5, parent_id=1, kind="special")
    assert pending._values(plan, sa_inspect(keyed)) is None  # a key already set


# hypothesis bounds are naive by definition; the values drawn are aware (`timezones`)
EARLIEST, LATEST = datetime(1000, 1, 2), datetime(9999, 12, 30)  # noqa: DTZ001


@given(moment=st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.timezones()))
def test_the_sqlite_utc_datetime_processor_stores_what_sqlalchemy_stores(moment: datetime) -> None:
    """`prepared` swaps SQLAlchemy's UTCDateTime chain on SQLite for one isoformat call: the
    same text for any aware datetime, and naive ones refused as the TypeDecorator does."""
    theirs = UTCDateTime().dialect_impl(sqlite.dialect()).bind_processor(sqlite.dialect())
    assert theirs is not None
    assert prepared._sqlite_utc_stamp(moment) == theirs(moment)
    assert prepared._sqlite_utc_stamp(moment) == theirs(moment)  # the stamp kept
    elsewhere = moment.astimezone(timezone(timedelta(hours=-7)))  # the instant, in another zone
    assert prepared._sqlite_utc_stamp(elsewhere) == theirs(moment)
    names, processors = _audit_plan()
    assert processors[names.index("at")] is prepared._sqlite_utc_stamp
    with pytest.raises(ValueError, match="timezone"):
        prepared._sqlite_utc_stamp(moment.replace(tzinfo=None))


def _audit_plan() -> tuple[tuple[str, ...], tuple[Any, ...]]:
    plan = _AUDIT.plan(sqlite.dialect())
    return plan.names, plan.processors
