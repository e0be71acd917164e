"""Group commit: the inbound pipeline's write work, run in shared transactions (issue 11 §2).

A message's write work (its row, its command's writes, its outbox rows) is a *unit*. Units
submitted while a transaction is running wait for the next one; that one runs them all, one
after the other in order of arrival, and commits once. A unit that raises is rolled back
(its objects forgotten by the session), so the units before and after it are untouched; a
unit may also roll itself back and go on (`UnitOfWork.undo`: a refused command, then its
answer stored). Nothing of any unit is visible to anyone before the one COMMIT, and every
unit's caller learns its outcome only after it: a failed COMMIT fails them all, and nothing
of them is stored.

Rolling back one unit alone takes a SAVEPOINT before it (on PostgreSQL a round trip per
message: ~7% of a write message's CPU in the bot, ~3% on SQLite). Nearly every unit ends
well, and most of those that do not fail before they write anything (a refused command's
fields or sender). So a batch first runs *optimistically*, without savepoints: a unit that
raises, or undoes itself, having written nothing (the connection's count of statements that
may write has not moved: `storage.prepared.writes`) only has its objects forgotten. One
that must undo a write, or meets a database error (which ends a PostgreSQL transaction),
rolls the whole batch back, and the batch runs again *carefully*: each unit in a SAVEPOINT
of its own, as described above. Running a unit twice is what a deadlock's victim already
does (below): nothing a unit does outside its transaction is more than a cache or a
decision it takes once (`ReplyRoute`).

Why: a transaction of its own per message cost each message an `AsyncSession` (its set-up,
greenlet hops, connection checkout and release: ~0.25 ms of CPU), a BEGIN, and a COMMIT that
writes every page the message touched (on SQLite ~0.2 ms of write() calls; on PostgreSQL a
WAL flush). Under a burst those are shared by every message of the batch; one message alone
is a batch of one, at the old cost.

On SQLite one transaction runs at a time (behind `gate`, which the direct store's single
statements share: one writer), with the queued units of every key in order of arrival. On
PostgreSQL a few run at once in *generations*: the queued units are taken together, one
transaction per key (a key's units in order of arrival), and the units that queue meanwhile
wait until all of that generation has committed, so every command's messages wait alike
(`WriteBatcher`). A deadlock (another instance took the same rows in the other order) or a
serialization failure in an optimistic batch runs it again carefully; there it costs the
unit it hit another attempt, in a next batch, and ends its batch there (committed; the
units after it wait for the next, which is careful).
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
HOLD_S = 0.25  # how long a generation's long transaction holds up the next generation


class _Carefully(Exception):
    """A unit of an optimistic batch must roll back what it wrote, which only a savepoint
    could do: the batch is rolled back and runs again, each unit in a savepoint."""


class UnitOfWork:
    """What a unit of work is given: the batch's session, the unit inside a savepoint of its
    own (a careful batch) or not (an optimistic one: see the module docstring)."""

    __slots__ = ("_mark", "careful", "session")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.careful = True
        self._mark: int | None = None  # the connection's write count when the unit began

    async def _begin(self, careful: bool) -> None:
        self.careful = careful
        if careful:
            await prepared.execute(self.session, f"SAVEPOINT {_SAVEPOINT}")
        else:
            self._mark = await prepared.writes(self.session)

    async def wrote(self) -> bool:
        """Whether the unit may have written anything so far (an optimistic unit; a careful
        one answers True). Without a count of the connection's writes: True."""
        if self.careful or self._mark is None:
            return True
        return await prepared.writes(self.session) != self._mark

    async def undo(self) -> None:
        """Roll back everything this unit wrote so far and forget its ORM objects; the unit
        may go on in the same transaction. An optimistic unit that wrote nothing only
        forgets its objects; one that wrote raises `_Carefully` (its batch runs again)."""
        if not self.careful:
            if await self.wrote():
                raise _Carefully
            self.session.expunge_all()
            return
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

    With `concurrency` 1 (SQLite) one runner takes the queued units in order of arrival, up
    to `max_batch`, into each transaction. With more (PostgreSQL), a driver starts
    generations: for each key no running transaction holds, oldest first, one transaction
    with its queued units (up to `max_batch`), up to `concurrency` transactions in all. The
    pipeline keys units by command, so a transaction takes one record counter: the messages
    of one command (which take the same counter, and usually touch the same rows) are never
    in two transactions of an instance at once, and no two transactions, of any instance,
    can take two counters in crossing orders. The next generation starts when all of the
    running one has committed, or after `hold_s` if one of its transactions runs long (a
    slow unit then holds up other commands no longer than that; its own key's units wait
    for it). Issue 11 §2: when a key whose transaction ended early took its next units at
    once, the connections piled up behind the slowest command (p99 300-400 ms at 64
    connections; 90 / 210 ms p50 / p99 in generations, bench/README.md). `on_commit` is
    given each committed transaction's session (its `info`: the outbox rows' targets)."""

    def __init__(
        self,
        sessions: Callable[[], SessionFactory],
        *,
        gate: AbstractAsyncContextManager[Any] | None = None,
        max_batch: int = 16,
        concurrency: int = 1,
        on_commit: Committed = lambda session: None,
        hold_s: float = HOLD_S,
    ) -> None:
        self._sessions = sessions
        self._gate: AbstractAsyncContextManager[Any] = gate or WriteGate(1)
        self.max_batch = max(1, max_batch)
        self.concurrency = max(1, concurrency)
        self._on_commit = on_commit
        self._queue: list[_Job[Any]] = []
        self._runners: set[asyncio.Task[None]] = set()
        self._held: dict[Hashable, asyncio.Task[None]] = {}  # key → the transaction holding it
        self._driver: asyncio.Task[None] | None = None  # several at once: the generations
        self._active: set[asyncio.Task[None]] = set()  # their running transactions
        self.hold_s = hold_s
        self.batches = 0  # transactions committed (for tests and the bench)
        self.units = 0  # units committed
        self.retried = 0  # units run again after a deadlock or a serialization failure
        self.careful = 0  # optimistic batches rolled back and run again, each unit careful

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
        if self.concurrency > 1:
            self._ensure_driver()
        elif not self._runners:  # one writer
            runner = asyncio.create_task(self._drain())
            self._runners.add(runner)
            runner.add_done_callback(self._runners.discard)
        return await job.done

    def _take(self) -> list[_Job[Any]]:
        """The next batch of the runner (one writer): queued units in order, up to
        `max_batch`."""
        batch = self._queue[: self.max_batch]
        del self._queue[: self.max_batch]
        return batch

    # --- several transactions at once (PostgreSQL): generations ---

    def _ensure_driver(self) -> None:
        if self._driver is None and self._queue:
            self._driver = asyncio.create_task(self._drive())

    def _take_generation(self) -> list[list[_Job[Any]]]:
        """The next generation: for each key no running transaction holds, oldest first, its
        queued units in order (up to `max_batch`), up to `concurrency` transactions running
        in all."""
        free = self.concurrency - len(self._active)
        groups: dict[Hashable, list[_Job[Any]]] = {}
        keep: list[_Job[Any]] = []
        for job in self._queue:
            group = groups.get(job.key)
            if group is None and job.key not in self._held and len(groups) < free:
                group = groups[job.key] = []
            if group is not None and len(group) < self.max_batch:
                group.append(job)
            else:
                keep.append(job)
        self._queue[:] = keep
        return list(groups.values())

    async def _drive(self) -> None:
        try:
            while self._queue:
                async with self._gate:  # storage admits writers (units queue meanwhile)
                    pass
                groups = self._take_generation()
                if not groups:  # every queued key is held: wait for a transaction to end
                    await asyncio.wait(set(self._active), return_when=asyncio.FIRST_COMPLETED)
                    continue
                started = set()
                for group in groups:
                    task = asyncio.create_task(self._run_group(group))
                    for job in group:
                        self._held[job.key] = task
                    self._active.add(task)
                    task.add_done_callback(self._active.discard)
                    started.add(task)
                # the generation: units queued meanwhile wait for all of it to commit, so
                # every command's messages wait alike; a transaction that runs long holds
                # up the others' keys no longer than `hold_s`
                await asyncio.wait(started, timeout=self.hold_s)
        except BaseException as exc:  # cancelled (shutdown): so are the queued units
            _fail(self._queue, exc)
            raise
        finally:
            self._driver = None

    async def _run_group(self, batch: list[_Job[Any]]) -> None:
        me = asyncio.current_task()
        assert me is not None
        try:
            async with self._gate:
                await self._run_batch(batch)
        except Exception as exc:  # the transaction failed: nothing of it is stored
            _fail(batch, exc)
        except BaseException as exc:  # cancelled (shutdown): so are the units
            _fail(batch, exc)
            raise
        finally:
            self._release(me)
            self._ensure_driver()  # units run again, or left when the driver stopped

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
                    batch = self._take()
                    if not batch:
                        # from this step on, a unit queued gets a runner of its own (`run`)
                        self._runners.discard(me)
                        return
                    await self._run_batch(batch)
            except Exception as exc:  # the transaction failed: nothing of it is stored
                _fail(batch, exc)
            except BaseException as exc:  # cancelled (shutdown): so are the units
                _fail([*batch, *self._queue], exc)
                raise

    async def _run_batch(self, batch: list[_Job[Any]]) -> None:
        if all(job.attempts == 1 for job in batch):
            try:
                await self._run_transaction(batch, careful=False)
                return
            except _Carefully as why:
                self.careful += 1
                cause = why.__cause__ or why.__context__
                log.debug("write batch of %d run again carefully: %r", len(batch), cause)
        await self._run_transaction(batch, careful=True)

    async def _run_transaction(self, batch: list[_Job[Any]], *, careful: bool) -> None:
        """The batch's units in one transaction, each in a savepoint when `careful`; without,
        `_Carefully` (everything rolled back) as soon as a unit must be undone after writing
        or meets a database error (on PostgreSQL that ends the transaction)."""
        outcomes: list[tuple[_Job[Any], Any, Exception | None]] = []
        again: list[_Job[Any]] = []
        async with transaction(self._sessions()) as session:
            unit = UnitOfWork(session)
            # SQLite releases each savepoint (a C call); on PostgreSQL RELEASE is a round
            # trip, and savepoints left nested cost nothing (ROLLBACK TO takes the latest)
            release = careful and await prepared.on_sqlite(session)
            for position, job in enumerate(batch):
                await unit._begin(careful)
                try:
                    result = await job.work(unit)
                    await _flush(session)
                except _Carefully:
                    raise
                except Exception as exc:
                    if not careful and isinstance(exc, DBAPIError):  # the transaction is over
                        if retryable(exc):  # an attempt, as in a careful batch
                            log.warning("write unit: %s; its batch runs again", exc)
                            job.attempts += 1
                            self.retried += 1
                        raise _Carefully from exc
                    await unit.undo()  # optimistic and it wrote: `_Carefully`
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


def _fail(jobs: list[_Job[Any]], exc: BaseException) -> None:
    """Tell the callers of `jobs` still waiting why their units did not commit."""
    for job in jobs:
        if not job.done.done():
            job.done.set_exception(exc)


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
