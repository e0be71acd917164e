"""Group commit (storage/batch.py, issue 11 §2), on SQLite and PostgreSQL: units submitted
together share one transaction, without savepoints unless one must be undone after writing
(then the batch runs again, each unit in its own); a failing unit is rolled back alone;
nobody learns an outcome before the commit, and a failed commit stores nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import pytest
from sqlalchemy import delete, event
from sqlalchemy.exc import DBAPIError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

import storage.batch
from liuan_bot.clock import FixedClock
from storage import prepared
from storage.audit import audit
from storage.batch import UnitOfWork, WriteBatcher
from storage.engine import SessionFactory, transaction
from storage.inbox_store import WriteGate
from storage.records import next_record_id
from storage.tables import AuditEntry
from storage.tables import Unit as Department
from tests.support import Statements


async def _actions(sessions: SessionFactory) -> list[str]:
    async with sessions() as session:
        rows = (await session.exec(select(AuditEntry).order_by(AuditEntry.id))).all()  # type: ignore[arg-type]
    return [row.action for row in rows]


def _writes(action: str, now: datetime, *, then_raise: bool = False) -> storage.batch.Work[str]:
    async def work(unit: UnitOfWork) -> str:
        await audit(unit.session, now, actor="test", action=action)
        if then_raise:
            raise ValueError(action)
        return action

    return work


async def _between(
    batcher: WriteBatcher, clock: FixedClock, work: storage.batch.Work[str]
) -> list[str]:
    """Run `work` in one batch between a unit that writes "before" and one that writes
    "after"; the three outcomes."""
    return list(
        await asyncio.gather(
            batcher.run(_writes("before", clock.now())),
            batcher.run(work),
            batcher.run(_writes("after", clock.now())),
        )
    )


async def test_units_submitted_together_share_one_transaction(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    batcher = WriteBatcher(lambda: sessions)
    results = await asyncio.gather(*(batcher.run(_writes(f"a{i}", clock.now())) for i in range(5)))
    assert results == [f"a{i}" for i in range(5)]
    assert (batcher.batches, batcher.units) == (1, 5)
    assert await _actions(sessions) == [f"a{i}" for i in range(5)]


async def test_a_batch_holds_at_most_max_batch_units_in_order(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    batcher = WriteBatcher(lambda: sessions, max_batch=2)
    await asyncio.gather(*(batcher.run(_writes(f"a{i}", clock.now())) for i in range(5)))
    assert batcher.batches == 3
    assert await _actions(sessions) == [f"a{i}" for i in range(5)]


async def test_a_unit_that_fails_is_rolled_back_alone(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    batcher = WriteBatcher(lambda: sessions)
    first, failed, last = await asyncio.gather(
        batcher.run(_writes("first", clock.now())),
        batcher.run(_writes("failed", clock.now(), then_raise=True)),
        batcher.run(_writes("last", clock.now())),
        return_exceptions=True,
    )
    assert (first, last) == ("first", "last")
    assert isinstance(failed, ValueError)
    assert (batcher.batches, batcher.careful) == (1, 1)  # it had written: run again, careful
    assert await _actions(sessions) == ["first", "last"]


async def test_a_units_orm_objects_are_written_in_its_savepoint_and_undone_with_it(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    """Objects added to the session are inserted before the next unit begins; a unit that
    fails after adding its own leaves nothing of them, and the others' stay."""

    def department(name: str, *, then_raise: bool = False) -> storage.batch.Work[str]:
        async def work(unit: UnitOfWork) -> str:
            now = clock.now()
            unit.session.add(
                Department(name=name, unit_type="市直部门", created_at=now, updated_at=now)
            )
            if then_raise:
                raise ValueError(name)
            return name

        return work

    batcher = WriteBatcher(lambda: sessions)
    outcomes = await asyncio.gather(
        batcher.run(department("市甲局")),
        batcher.run(department("市乙局", then_raise=True)),
        batcher.run(department("市丙局")),
        return_exceptions=True,
    )
    assert outcomes[0] == "市甲局"
    assert isinstance(outcomes[1], ValueError)
    async with sessions() as session:
        names = (await session.exec(select(Department.name))).all()
    assert sorted(names) == ["市丙局", "市甲局"]


async def test_a_unit_may_undo_its_writes_and_go_on(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    """A refused command: its writes undone, then its answer written, in the same unit."""

    async def refused(unit: UnitOfWork) -> str:
        await audit(unit.session, clock.now(), actor="test", action="attempt")
        await unit.undo()
        await audit(unit.session, clock.now(), actor="test", action="refusal")
        return "refused"

    batcher = WriteBatcher(lambda: sessions)
    assert await _between(batcher, clock, refused) == ["before", "refused", "after"]
    assert await _actions(sessions) == ["before", "refusal", "after"]
    assert batcher.careful == 1  # it had written: the batch ran again, each unit careful


async def test_a_batch_whose_units_all_succeed_takes_no_savepoint(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    """Optimistic: no SAVEPOINT, no RELEASE (a round trip each on PostgreSQL)."""
    sent = Statements(sessions.kw["bind"])
    batcher = WriteBatcher(lambda: sessions)
    await asyncio.gather(*(batcher.run(_writes(f"a{i}", clock.now())) for i in range(3)))
    assert sent.seen  # the inserts (on PostgreSQL carried together, at the commit)
    assert sent.starting("SAVEPOINT") == []
    assert sent.starting("RELEASE") == []
    assert (batcher.batches, batcher.careful) == (1, 0)
    assert await _actions(sessions) == ["a0", "a1", "a2"]
    with pytest.raises(ValueError, match="a3"):  # the listener does see a careful batch's
        await batcher.run(_writes("a3", clock.now(), then_raise=True))
    assert sent.starting("SAVEPOINT")


async def test_a_unit_refused_before_it_wrote_needs_no_savepoint(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    """Most refusals come before a command writes (its fields, its sender's role): undoing
    nothing costs nothing, and the batch goes on (its ORM objects are forgotten)."""
    sent = Statements(sessions.kw["bind"])

    async def refused(unit: UnitOfWork) -> str:
        now = clock.now()
        unit.session.add(
            Department(name="市丁局", unit_type="市直部门", created_at=now, updated_at=now)
        )
        await unit.undo()
        await audit(unit.session, now, actor="test", action="refusal")
        return "refused"

    async def failed(unit: UnitOfWork) -> str:
        raise ValueError("before any write")

    batcher = WriteBatcher(lambda: sessions)
    outcomes = await asyncio.gather(
        batcher.run(_writes("before", clock.now())),
        batcher.run(refused),
        batcher.run(failed),
        batcher.run(_writes("after", clock.now())),
        return_exceptions=True,
    )
    assert outcomes[:2] == ["before", "refused"]
    assert isinstance(outcomes[2], ValueError)
    assert outcomes[3] == "after"
    assert (batcher.batches, batcher.careful) == (1, 0)
    assert sent.starting("SAVEPOINT") == []
    assert await _actions(sessions) == ["before", "refusal", "after"]
    async with sessions() as session:
        assert (await session.exec(select(Department.name))).all() == []


async def test_without_a_write_count_an_undo_is_taken_for_a_write(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    """An engine that does not count its writes (not made by `make_engine`): the batcher
    cannot tell nothing was written, so an undo runs the batch again carefully."""
    engine = sessions.kw["bind"]
    event.remove(engine.sync_engine, "before_cursor_execute", prepared.count_writes)

    async def refused(unit: UnitOfWork) -> str:
        await unit.undo()
        return "refused"

    batcher = WriteBatcher(lambda: sessions)
    assert await _between(batcher, clock, refused) == ["before", "refused", "after"]
    assert batcher.careful == 1
    assert await _actions(sessions) == ["before", "after"]


async def test_a_write_through_the_orm_counts_and_is_rolled_back(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    """A unit whose writes went through SQLAlchemy (a flush) and then undoes them: counted,
    so the batch runs again carefully and nothing of the undone unit stays."""

    async def flushed_then_refused(unit: UnitOfWork) -> str:
        now = clock.now()
        unit.session.add(
            Department(name="市戊局", unit_type="市直部门", created_at=now, updated_at=now)
        )
        await unit.session.flush()
        await unit.undo()
        return "refused"

    batcher = WriteBatcher(lambda: sessions)
    assert await _between(batcher, clock, flushed_then_refused) == ["before", "refused", "after"]
    assert batcher.careful == 1
    assert await _actions(sessions) == ["before", "after"]
    async with sessions() as session:
        assert (await session.exec(select(Department.name))).all() == []


async def test_nobody_learns_an_outcome_before_the_commit_and_a_failed_commit_stores_nothing(
    sessions: SessionFactory, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_before_commit: list[bool] = []
    futures: list[asyncio.Task[str]] = []

    @asynccontextmanager
    async def failing_commit(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
        async with transaction(factory) as session:
            yield session
            seen_before_commit.extend(task.done() for task in futures)
            raise OSError("disk I/O error at COMMIT")

    monkeypatch.setattr(storage.batch, "transaction", failing_commit)
    batcher = WriteBatcher(lambda: sessions)
    futures.extend(
        asyncio.create_task(batcher.run(_writes(f"a{i}", clock.now()))) for i in range(3)
    )
    outcomes = await asyncio.gather(*futures, return_exceptions=True)
    assert seen_before_commit == [False, False, False]
    assert all(isinstance(o, OSError) for o in outcomes), outcomes
    assert batcher.units == 0
    assert await _actions(sessions) == []


class _Deadlock(Exception):
    sqlstate = "40P01"


async def test_a_deadlocked_unit_is_tried_again_in_the_next_batch_which_it_begins(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    """PostgreSQL chose it as a deadlock's victim (another instance's transaction took the
    same rows in the other order). In the optimistic batch that ends the transaction: all
    of it is rolled back (which lets the other transaction go on) and runs again carefully,
    the victim's second attempt. A victim again there has its writes rolled back, the units
    before it commit at once (the other transaction waits for their rows), and it runs
    again first in the next batch, with the units that came after it."""
    for deadlocks, batches, actions in (
        (1, 1, ["before", "attempt2", "after"]),
        (2, 2, ["before", "attempt3", "after"]),
    ):
        attempts = 0

        async def victim(unit: UnitOfWork) -> str:
            nonlocal attempts
            attempts += 1
            await audit(unit.session, clock.now(), actor="test", action=f"attempt{attempts}")
            if attempts <= deadlocks:  # noqa: B023 (the loop's own, read while it runs)
                raise DBAPIError("UPDATE record_counters …", None, _Deadlock())
            return "done"

        async with sessions() as session:  # a fresh audit log for each case
            await session.exec(delete(AuditEntry))  # type: ignore[call-overload]
            await session.commit()
        batcher = WriteBatcher(lambda: sessions)
        assert await _between(batcher, clock, victim) == ["before", "done", "after"]
        assert attempts == deadlocks + 1
        assert (batcher.batches, batcher.units) == (batches, 3)
        assert (batcher.retried, batcher.careful) == (deadlocks, 1)
        assert await _actions(sessions) == actions


async def test_a_unit_that_deadlocks_every_time_fails_after_its_attempts(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    calls = 0

    async def victim(unit: UnitOfWork) -> str:
        nonlocal calls
        calls += 1
        raise DBAPIError("UPDATE record_counters …", None, _Deadlock())

    batcher = WriteBatcher(lambda: sessions)
    with pytest.raises(DBAPIError):
        await batcher.run(victim)
    assert calls == storage.batch.ATTEMPTS  # the optimistic batch's, then two careful ones
    assert (batcher.retried, batcher.careful) == (storage.batch.ATTEMPTS - 1, 1)


async def test_a_real_postgresql_deadlock_is_one_a_unit_is_tried_again_for(
    database_url: str, sessions: SessionFactory
) -> None:
    """Two transactions take two record counters in crossing orders: PostgreSQL aborts one
    statement with 40P01, and the error SQLAlchemy raises for it is `retryable` (what the
    batch and a command's guard look at)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL deadlock")
    holds = {"YQ": asyncio.Event(), "TF": asyncio.Event()}

    async def crossing(first: str, second: str) -> BaseException | None:
        try:
            async with transaction(sessions) as session:
                await next_record_id(session, first, 2026)
                holds[first].set()
                await holds[second].wait()
                await next_record_id(session, second, 2026)
        except DBAPIError as exc:
            return exc
        return None

    outcomes = await asyncio.gather(crossing("YQ", "TF"), crossing("TF", "YQ"))
    [victim] = [o for o in outcomes if o is not None]
    assert storage.batch.retryable(victim)
    assert not storage.batch.retryable(DBAPIError("SELECT 1", None, ValueError("other")))


async def test_transactions_run_at_once_but_never_two_of_one_key_on_postgresql(
    database_url: str, sessions: SessionFactory, clock: FixedClock
) -> None:
    """Units of different keys may be in transactions that run at once: a slow unit of one
    command holds up another's no longer than `hold_s`; the next unit of its own key waits
    for it."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer")
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(unit: UnitOfWork) -> str:
        await audit(unit.session, clock.now(), actor="test", action="slow")
        started.set()
        await release.wait()
        return "slow"

    batcher = WriteBatcher(lambda: sessions, gate=WriteGate(), concurrency=2, hold_s=0.01)
    held = asyncio.create_task(batcher.run(slow, "突发"))
    await started.wait()  # its transaction runs (units that queue now wait for the next)
    same_key = asyncio.create_task(batcher.run(_writes("after", clock.now()), "突发"))
    assert await batcher.run(_writes("other", clock.now()), "舆情") == "other"
    assert not held.done()
    assert not same_key.done()
    assert batcher.waiting == 1  # it waits for the transaction holding its key
    release.set()
    assert await held == "slow"
    assert await same_key == "after"
    assert batcher.batches == 3
    actions = await _actions(sessions)
    assert sorted(actions) == ["after", "other", "slow"]
    assert actions.index("slow") < actions.index("after")  # a key's units keep their order


async def test_units_queued_while_a_generation_runs_wait_for_all_of_it(
    database_url: str, sessions: SessionFactory, clock: FixedClock
) -> None:
    """Issue 11 §2, the p99: the units queued while transactions run (one per key) start
    together when all of those have committed, so every command's messages wait alike. A
    key whose transaction ended early took the next units of its own at once, and the
    connections piled up behind the slowest command: p99 300-400 ms at 64 connections."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer")
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(unit: UnitOfWork) -> str:
        started.set()
        await release.wait()
        return "slow"

    batcher = WriteBatcher(lambda: sessions, gate=WriteGate(), concurrency=4, hold_s=60)
    held = asyncio.create_task(batcher.run(slow, "申请发布会"))
    fast = asyncio.create_task(batcher.run(_writes("fast", clock.now()), "舆情"))
    async with asyncio.timeout(10):  # a unit run behind the slow one would never end
        await started.wait()
        assert await fast == "fast"  # in the same generation: it ran beside the slow one
    later = asyncio.create_task(batcher.run(_writes("later", clock.now()), "舆情"))
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert not later.done()  # its key is free, but it waits for the generation
    assert batcher.waiting == 1
    release.set()
    assert await held == "slow"
    assert await later == "later"
    assert await _actions(sessions) == ["fast", "later"]


async def test_no_more_transactions_run_at_once_than_the_concurrency(
    database_url: str, sessions: SessionFactory, clock: FixedClock
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer")
    running, most = 0, 0
    release = asyncio.Event()

    def unit_of(key: str) -> storage.batch.Work[str]:
        async def work(unit: UnitOfWork) -> str:
            nonlocal running, most
            running += 1
            most = max(most, running)
            await release.wait()
            running -= 1
            return key

        return work

    batcher = WriteBatcher(lambda: sessions, gate=WriteGate(), concurrency=2, hold_s=0.01)
    keys = ["a", "b", "c", "d"]
    tasks = [asyncio.create_task(batcher.run(unit_of(k), k)) for k in keys]
    for _ in range(100):
        if running == 2:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # past `hold_s`: still no third transaction
    assert (running, batcher.waiting) == (2, 2)
    release.set()
    assert await asyncio.gather(*tasks) == keys
    assert most == 2


async def test_transactions_that_run_at_once_each_hold_one_key(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    """Two commands' record counters taken in the order the messages came deadlock with
    another instance's transaction that took them in the other order: with several
    transactions at once (PostgreSQL) each transaction runs the units of one key, in order
    of arrival, so none takes two counters; with one writer (SQLite) one transaction runs
    them all in order of arrival."""
    keys = ["舆情", "突发", "舆情", "突发", "舆情"]

    async def batches(concurrency: int) -> list[list[str]]:
        """The keys each transaction ran, in the order it ran them."""
        ran: dict[UnitOfWork, list[str]] = {}  # a transaction's units share its UnitOfWork

        def work(key: str) -> storage.batch.Work[str]:
            async def unit_work(unit: UnitOfWork) -> str:
                ran.setdefault(unit, []).append(key)
                return key

            return unit_work

        gate = WriteGate(1)
        batcher = WriteBatcher(lambda: sessions, gate=gate, concurrency=concurrency)
        async with gate:  # the units queue while the writer is busy
            running = [asyncio.create_task(batcher.run(work(k), k)) for k in keys]
            for _ in range(100):
                if batcher.waiting == len(keys):
                    break
                await asyncio.sleep(0)
            assert batcher.waiting == len(keys)
        assert await asyncio.gather(*running) == keys
        return list(ran.values())

    assert await batches(1) == [keys]
    assert sorted(await batches(2)) == [["突发", "突发"], ["舆情", "舆情", "舆情"]]


async def test_a_runner_takes_every_key_it_may_in_order_of_arrival(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    batcher = WriteBatcher(lambda: sessions, max_batch=3)
    keys = ["a", "b", "a", "c", "b"]
    outcomes = await asyncio.gather(
        *(batcher.run(_writes(f"{k}{i}", clock.now()), k) for i, k in enumerate(keys))
    )
    assert outcomes == ["a0", "b1", "a2", "c3", "b4"]
    assert batcher.batches == 2
    assert await _actions(sessions) == ["a0", "b1", "a2", "c3", "b4"]


async def test_a_unit_queued_as_the_last_runner_stops_gets_a_runner(
    sessions: SessionFactory,
) -> None:
    """A runner that found nothing more to take stops counting at once. Before, it counted
    until its task was reaped, a loop step later: a unit submitted in between (here by the
    caller the first answer went to, at once) sat in the queue with nothing to run it."""

    async def nothing(unit: UnitOfWork) -> str:
        return "done"

    batcher = WriteBatcher(lambda: sessions)
    for _ in range(3):
        async with asyncio.timeout(5):
            assert await batcher.run(nothing, "舆情") == "done"
            assert await batcher.run(nothing, "舆情") == "done"
    assert batcher.waiting == 0
