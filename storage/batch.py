"""Group commit: the inbound pipeline's write work, run in shared transactions (issue 11 §2).

A message's write work (its row, its command's writes, its outbox rows) is a *unit*. Units
submitted while a transaction is running wait for the next one; that one runs them all, one
after the other in order of arrival, each inside a SAVEPOINT of its own, and commits once. A
unit that raises is rolled back to its savepoint (its objects forgotten by the session), so
the units before and after it are untouched; a unit may also roll itself back and go on
(`UnitOfWork.undo`: a refused command, then its answer stored). Nothing of any unit is
visible to anyone before the one COMMIT, and every unit's caller learns its outcome only
after it: a failed COMMIT fails them all, and nothing of them is stored.

Why: a transaction of its own per message cost each message an `AsyncSession` (its set-up,
greenlet hops, connection checkout and release: ~0.25 ms of CPU), a BEGIN, and a COMMIT that
writes every page the message touched (on SQLite ~0.2 ms of write() calls; on PostgreSQL a
WAL flush). Under a burst those are shared by every message of the batch; one message alone
is a batch of one, at the old cost plus a SAVEPOINT.

On SQLite one transaction runs at a time (behind `gate`, which the direct store's single
statements share: one writer). On PostgreSQL a few run at once, never two with units of one
key, each running its units grouped by key in one order (`WriteBatcher`); a deadlock
(another instance took the same rows in the other order) or a serialization failure costs
the unit it hit another attempt, in a next batch, and ends its batch there (committed; the
units after it wait for the next).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import prepared
from storage.engine import SessionFactory, transaction
from storage.inbox_store import WriteGate
from storage.pending import insert_pending

log = logging.getLogger("storage.batch")

T = TypeVar("T")

_SAVEPOINT = "liuan_unit"
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure
ATTEMPTS = 3  # of a unit that hit one of those


class UnitOfWork:
    """What a unit of work is given: the batch's session, inside the unit's savepoint."""

    __slots__ = ("session",)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def undo(self) -> None:
        """Roll back everything this unit wrote so far (to its savepoint) and forget its ORM
        objects; the unit may go on in the same transaction."""
        await prepared.execute(self.session, f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        self.session.expunge_all()


@dataclass(eq=False)
class _Job(Generic[T]):
    work: Work[T]
    done: asyncio.Future[T]
    key: Hashable = None
    attempts: int = field(default=1)


Committed = Callable[[AsyncSession], None]
Work = Callable[[UnitOfWork], Awaitable[T]]  # a unit of work


class WriteBatcher:
    """Runs units of work in shared transactions; see the module docstring.

    Up to `concurrency` transactions run at once, taking the queued units in order of
    arrival, but never a unit whose `key` another running transaction holds: that one waits
    for the next transaction of its key; with more than one, a transaction runs its units
    grouped by key in one order (`_lock_order`). The pipeline keys units by command, so on
    PostgreSQL the messages of one command (which take the same record counter, and usually
    touch the same rows) are never in two transactions of an instance at once, and every
    transaction, of any instance, takes the counters of several commands in one order, while
    every command is served in turn (one queue, no command waiting behind another's
    backlog); a key's units keep their order. SQLite has one writer: `concurrency` 1, units
    in order of arrival. `on_commit` is given each committed transaction's session (its `info`:
    the outbox rows' targets)."""

    def __init__(
        self,
        sessions: Callable[[], SessionFactory],
        *,
        gate: AbstractAsyncContextManager[Any] | None = None,
        max_batch: int = 16,
        concurrency: int = 1,
        on_commit: Committed = lambda session: None,
    ) -> None:
        self._sessions = sessions
        self._gate: AbstractAsyncContextManager[Any] = gate or WriteGate(1)
        self.max_batch = max(1, max_batch)
        self.concurrency = max(1, concurrency)
        self._on_commit = on_commit
        self._queue: list[_Job[Any]] = []
        self._runners: set[asyncio.Task[None]] = set()
        self._held: dict[Hashable, asyncio.Task[None]] = {}  # key → the runner holding it
        self.batches = 0  # transactions committed (for tests and the bench)
        self.units = 0  # units committed
        self.retried = 0  # units run again after a deadlock or a serialization failure

    @property
    def waiting(self) -> int:
        """Units queued for a next transaction."""
        return len(self._queue)

    async def run(self, work: Work[T], key: Hashable = None) -> T:
        """Run `work` in a next transaction (see the class docstring); its result once that
        has committed. Raises what `work` raised (its writes rolled back, nothing of it
        stored), or why the transaction failed (nothing of any unit stored)."""
        job: _Job[T] = _Job(work, asyncio.get_running_loop().create_future(), key=key)
        self._queue.append(job)
        if len(self._runners) < self.concurrency and key not in self._held:
            runner = asyncio.create_task(self._drain())
            self._runners.add(runner)
            runner.add_done_callback(self._runners.discard)
        return await job.done

    def _take(self, me: asyncio.Task[None]) -> list[_Job[Any]]:
        """The next batch of this runner: queued units in order, up to `max_batch`, of keys
        no other runner holds (with several runners, then grouped by key); their keys are
        now this runner's."""
        batch: list[_Job[Any]] = []
        keep: list[_Job[Any]] = []
        for job in self._queue:
            holder = self._held.get(job.key, me)
            if holder is me and len(batch) < self.max_batch:
                self._held[job.key] = me
                batch.append(job)
            else:
                keep.append(job)
        self._queue[:] = keep
        if self.concurrency > 1:
            batch.sort(key=_lock_order)
        return batch

    def _release(self, me: asyncio.Task[None]) -> None:
        for key in [k for k, holder in self._held.items() if holder is me]:
            del self._held[key]

    async def _drain(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        while True:
            batch: list[_Job[Any]] = []
            try:
                async with self._gate:  # the units that queued meanwhile join this batch
                    batch = self._take(me)
                    if not batch:
                        # the rest are held by other runners, which take them next; from
                        # this step on, a unit queued gets a runner of its own (`run`)
                        self._runners.discard(me)
                        return
                    await self._run_batch(batch)
            except Exception as exc:  # the transaction failed: nothing of it is stored
                for job in batch:
                    if not job.done.done():
                        job.done.set_exception(exc)
            except BaseException as exc:  # cancelled (shutdown): so are the units
                for job in (*batch, *self._queue):
                    if not job.done.done():
                        job.done.set_exception(exc)
                raise
            finally:
                self._release(me)

    async def _run_batch(self, batch: list[_Job[Any]]) -> None:
        outcomes: list[tuple[_Job[Any], Any, Exception | None]] = []
        again: list[_Job[Any]] = []
        async with transaction(self._sessions()) as session:
            unit = UnitOfWork(session)
            # SQLite releases each savepoint (a C call); on PostgreSQL RELEASE is a round
            # trip, and savepoints left nested cost nothing (ROLLBACK TO takes the latest)
            release = await prepared.on_sqlite(session)
            for position, job in enumerate(batch):
                await prepared.execute(session, f"SAVEPOINT {_SAVEPOINT}")
                try:
                    result = await job.work(unit)
                    await _flush(session)
                except Exception as exc:
                    await unit.undo()
                    if retryable(exc) and job.attempts < ATTEMPTS:
                        log.warning("write unit: %s; tried again in the next batch", exc)
                        job.attempts += 1
                        self.retried += 1
                        # commit now: the other transaction waits for rows this one holds
                        # (the units before), and the units after could only wait on it again
                        again.extend(batch[position:])
                        break
                    outcomes.append((job, None, exc))
                else:
                    outcomes.append((job, result, None))
                if release:
                    await prepared.execute(session, f"RELEASE SAVEPOINT {_SAVEPOINT}")
        self.batches += 1
        self._queue[:0] = again
        for job, result, error in outcomes:
            if job.done.done():  # its caller is gone (cancelled)
                continue
            if error is None:
                self.units += 1
                job.done.set_result(result)
            else:
                job.done.set_exception(error)
        try:
            self._on_commit(session)
        except Exception:
            log.exception("write batch: the after-commit hook failed")


def _lock_order(job: _Job[Any]) -> str:
    """Transactions that run at once (PostgreSQL; and other instances') run their units
    grouped by key, in one order (a key's own units in order of arrival): each takes the
    record counters of its commands in that order, so none waits for a counter while holding
    one that the other, waiting for it, comes to later. In order of arrival, a transaction
    with a 舆情 and then a 突发 deadlocked with another instance's that had them the other way
    round (the chaos instances rows: every 突发 after it, a second each)."""
    return str(job.key)


async def _flush(session: AsyncSession) -> None:
    """Write what the unit left in the session, inside its savepoint."""
    await insert_pending(session)
    sync = session.sync_session
    if sync.new or sync.dirty or sync.deleted:
        await session.flush()


def retryable(exc: BaseException) -> bool:
    """A deadlock's victim or a serialization failure (PostgreSQL): the unit that hit it runs
    again in a next batch, so nothing may turn it into an answer on the way (a command's
    guard re-raises it)."""
    if not isinstance(exc, DBAPIError):
        return False
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in _RETRY_SQLSTATES
