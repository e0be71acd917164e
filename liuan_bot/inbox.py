"""Inbound messages: stored once, handled once, answered once — passively within WeCom's 5 s
window when that is still possible, else through the outbox (issue 8.1 and 8.3, issue 11.1).

One pipeline for every message (the `Pipeline` of handlers/dispatch.py), one transaction and
one commit per message: the message's row, the handler's writes, its pushes and its reply's
outbox rows commit together (`Pipeline.answer`). Until that commits nothing is stored and the
callback answers nothing: a failure is a 503 and WeCom retries, so no message is acknowledged
(an HTTP 200) before it is stored, and none is stored without its outcome.

The reply budget counts from the request's *arrival* (passed in by the callback view). Each
request waiting for a message is a waiter with its own deadline; a handler may answer
passively only while some waiter's deadline is ahead (`ReplyRoute`), and the answer then goes
to that waiter; otherwise it goes through the outbox, written in the handling transaction.

A WeCom retry of a message this process is still handling joins it as another waiter. A retry
of a message handled and answered passively gets that answer again (WeCom retries only when
the answer never reached it: a crash before the response left).

A message that cannot be stored (storage down: SQLite's write lock held by another process
longer than its busy timeout, PostgreSQL refusing connections) is answered 503 and WeCom
retries it, but only about four times in 15–20 s. So the inbox keeps trying too: the
message stays in hand and is stored again after growing pauses, for up to
`store_patience_s` from the first failure; a WeCom retry meanwhile joins the next try (and
is answered 503 if that fails too). Once stored, its answer goes to a waiting request or,
when WeCom has given up, through the outbox. Nothing of a message is acknowledged before it
is stored, so a crash while it is in hand loses only what WeCom will not post again; a
message still not stored when the patience runs out is logged as an error with its sender
and key.

A row left `received` (stored and not yet handled: what a crash left when write messages were
stored before they were handled, before 2026-12-07, or a row written by another tool) is taken
over by a retry of its message when nobody holds a live lease on it, and by the sweep
(`sweep`, run every few seconds by the bot) once its lease ran out, on any instance.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from liuan_bot.clock import Clock
from liuan_bot.messages import Incoming, Reply

__all__ = ["Inbox", "InboxStore", "Pipeline", "Reply", "ReplyRoute"]

log = logging.getLogger("liuan_bot.inbox")

# WeCom drops a callback request it got no answer to within 5 s and posts the message again
# (wecom-facts §1: 3 retries): a repeat sooner than this overlaps a request still waited on.
WECOM_RETRY_AFTER = timedelta(seconds=5)
# Pauses between tries to store a message while storage is down (see the module docstring);
# the last repeats.
STORE_PAUSES_S = (0.5, 1.0, 2.0, 4.0, 5.0)


class _Waiter:
    """One request waiting for a message's answer, until its deadline."""

    __slots__ = ("deadline",)

    def __init__(self, deadline: datetime) -> None:
        self.deadline = deadline


class ReplyRoute:
    """Decides, once, whether a message's answer goes back passively or through the outbox.

    Passive only while a waiting request's deadline is ahead (by the injected clock): the
    answer is then given to the waiter with the latest deadline (`passive_to`), or to a retry
    that joins later, no other.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.mode: Literal["undecided", "passive", "outbox"] = "undecided"
        self.passive_to: _Waiter | None = None
        self.given = False  # the passive answer went to `passive_to`
        self._clock = clock
        self._waiters: list[_Waiter] = []

    def join(self, deadline: datetime) -> _Waiter:
        """A request now waiting. Once the answer is passive, and until it is given, it goes
        to the newest request: WeCom posts a message again only after giving up on its
        earlier request."""
        waiter = _Waiter(deadline)
        self._waiters.append(waiter)
        if self.mode == "passive" and not self.given:
            self.passive_to = waiter
        return waiter

    def give(self, waiter: _Waiter) -> bool:
        """Whether `waiter` is the one to answer passively; then the answer is given, once."""
        if self.passive_to is not waiter or self.given:
            return False
        self.given = True
        return True

    def leave(self, waiter: _Waiter) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)

    def claim_passive(self) -> bool:
        if self.mode == "undecided":
            now = self._clock.now() if self._clock is not None else None
            live = [w for w in self._waiters if now is None or w.deadline > now]
            if live:
                self.mode = "passive"
                self.passive_to = max(live, key=lambda w: w.deadline)
        return self.mode == "passive"

    def claim_outbox(self) -> bool:
        if self.mode == "undecided":
            self.mode = "outbox"
        return self.mode == "outbox"


class InboxStore(Protocol):
    async def take_over(
        self, dedupe_key: str, owner: str, now: datetime, lease_until: datetime
    ) -> tuple[int, Incoming] | None:
        """Lease a stored, unfinished message nobody else holds a live lease on (one leased
        to `owner` itself is taken too: its handling failed, or its store went through and
        the answer was lost); else None."""
        ...

    async def claim_stale(
        self, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[tuple[int, Incoming]]:
        """Lease stored, unfinished messages whose lease ran out."""
        ...

    async def stored_reply(self, dedupe_key: str, arrived_before: datetime) -> Reply | None:
        """The passive answer a handled message was given, if any and if the message first
        arrived before `arrived_before` (for a retry of it)."""
        ...


class Pipeline(Protocol):
    async def answer(
        self, incoming: Incoming, received_at: datetime, route: ReplyRoute
    ) -> tuple[bool, Reply | None]:
        """Handle a new message and store it handled, with its outcome, in one transaction:
        (True, the passive reply if any); (False, None) when its dedupe key was stored
        already, and nothing was written. Raises when nothing could be stored."""
        ...

    async def handle(self, inbound_id: int, incoming: Incoming, route: ReplyRoute) -> Reply | None:
        """Handle a row left `received` (taken over) in one transaction; the passive reply."""
        ...


@dataclass(eq=False)
class _Job:
    incoming: Incoming
    route: ReplyRoute
    stored: asyncio.Future[bool]  # True: stored and ours to answer; False: nothing to answer
    task: asyncio.Task[Reply | None] | None = None
    retries: int = field(default=0)


class Inbox:
    """Accepts decrypted callbacks; see the module docstring."""

    def __init__(
        self,
        store: InboxStore,
        pipeline: Pipeline,
        clock: Clock,
        *,
        reply_budget_s: float,
        owner: str = "local",
        lease_s: float = 6.0,
        store_patience_s: float = 0.0,
        on_outcome: Callable[[str], None] = lambda outcome: None,
        pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`store_patience_s`: how long a message that could not be stored is kept and
        tried again (0: not tried again; WeCom's retries are the only ones). `pause` waits
        between tries (tests pass one that does not sleep)."""
        self.store = store
        self._pipeline = pipeline
        self._clock = clock
        self._budget = timedelta(seconds=max(0.0, reply_budget_s))
        self._lease = timedelta(seconds=lease_s)
        self.owner = owner
        self._on_outcome = on_outcome
        self._patience = timedelta(seconds=max(0.0, store_patience_s))
        self._pause = pause
        self._pausing: set[asyncio.Task[object]] = set()  # between tries to store
        self._closing = False
        self._jobs: dict[str, _Job] = {}
        self._tasks: set[asyncio.Task[Reply | None]] = set()

    async def accept(self, incoming: Incoming, arrived_at: datetime | None = None) -> Reply | None:
        """The passive reply for a callback that arrived at `arrived_at`, or None (an empty
        200: a duplicate, or the answer goes through the outbox). Raises when the message
        could not be stored (the callback answers 503 and WeCom retries)."""
        deadline = (arrived_at or self._clock.now()) + self._budget
        job = self._jobs.get(incoming.dedupe_key)
        if job is None:
            job = self._start(incoming, arrived_at or self._clock.now())
        else:
            job.retries += 1
            log.info("inbound key=%s retry joins the message in hand", incoming.dedupe_key)
        return await self._wait(job, deadline)

    def _start(self, incoming: Incoming, arrived: datetime, claimed: int | None = None) -> _Job:
        loop = asyncio.get_running_loop()
        job = _Job(incoming, ReplyRoute(self._clock), loop.create_future())
        job.stored.add_done_callback(_retrieve)
        if claimed is not None:
            job.stored.set_result(True)
        task = asyncio.create_task(self._run(job, arrived, claimed))
        job.task = task
        self._jobs[incoming.dedupe_key] = job
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._finished(job, t))
        return job

    def _finished(self, job: _Job, task: asyncio.Task[Reply | None]) -> None:
        self._tasks.discard(task)
        if self._jobs.get(job.incoming.dedupe_key) is job:
            del self._jobs[job.incoming.dedupe_key]

    async def _wait(self, job: _Job, deadline: datetime) -> Reply | None:
        assert job.task is not None
        route = job.route
        waiter = route.join(deadline)
        try:
            stored = job.stored
            if not (stored.result() if stored.done() else await asyncio.shield(stored)):
                self._on_outcome("duplicate")
                return None
            remaining = (deadline - self._clock.now()).total_seconds()
            if not job.task.done() and remaining > 0:
                await asyncio.wait({job.task}, timeout=remaining)
        finally:
            route.leave(waiter)
        if route.give(waiter):  # the answer is this request's to give
            task = job.task
            return task.result() if task.done() else await asyncio.shield(task)
        if not job.task.done() or route.mode == "outbox":
            self._on_outcome("deferred")
        return None

    async def _run(self, job: _Job, arrived: datetime, claimed: int | None) -> Reply | None:
        incoming = job.incoming
        inbound_id = claimed
        if inbound_id is None:
            try:
                new, reply = await self._answer_patiently(job, arrived)
                if new:
                    job.stored.set_result(True)
                    self._on_outcome("handled")
                    return reply
                inbound_id = await self._take_over(job)
                if inbound_id is None:
                    return await self._replay(job, arrived)
                job.stored.set_result(True)
            except Exception as exc:
                if not job.stored.done():
                    job.stored.set_exception(exc)
                    return None
                raise
        try:
            reply = await self._pipeline.handle(inbound_id, job.incoming, job.route)
        except Exception:
            log.exception(
                "inbound id=%s key=%s processing failed; the sweep retries it",
                inbound_id,
                incoming.dedupe_key,
            )
            self._on_outcome("error")
            return None
        self._on_outcome("handled")
        return reply

    async def _answer_patiently(self, job: _Job, arrived: datetime) -> tuple[bool, Reply | None]:
        """`Pipeline.answer`, tried again while storage is down (see the module docstring).
        After a failed try the requests waiting get its error (a 503: WeCom retries) and the
        message gets a fresh route: a request that joins during the pause waits for the next
        try, and an answer claimed passive for a request gone since goes nowhere."""
        give_up: datetime | None = None  # the first failure + the patience
        tries, paused = 0, 0.0  # the pauses bound the tries too (an injected clock may stand)
        while True:
            try:
                return await self._pipeline.answer(job.incoming, arrived, job.route)
            except Exception as exc:
                now = self._clock.now()
                give_up = give_up or now + self._patience
                pause = STORE_PAUSES_S[min(tries, len(STORE_PAUSES_S) - 1)]
                tries += 1
                paused += pause
                key, sender = job.incoming.dedupe_key, job.incoming.from_user
                late = now + timedelta(seconds=pause) > give_up
                if self._closing or late or paused > self._patience.total_seconds():
                    if tries > 1:
                        log.error(
                            "inbound key=%s from=%s not stored after %d tries: %s; given up",
                            key,
                            sender,
                            tries,
                            _brief(exc),
                        )
                    raise
                # one line a message at WARNING (an outage fails every message, every try)
                log.log(
                    logging.WARNING if tries == 1 else logging.DEBUG,
                    "inbound key=%s from=%s not stored: %s; kept and tried again in %.1f s",
                    key,
                    sender,
                    _brief(exc),
                    pause,
                )
                failed, job.stored = job.stored, asyncio.get_running_loop().create_future()
                job.stored.add_done_callback(_retrieve)
                job.route = ReplyRoute(self._clock)
                if not failed.done():
                    failed.set_exception(exc)
            await self._pause_between_tries(pause, job)

    async def _pause_between_tries(self, seconds: float, job: _Job) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pausing.add(task)
        try:
            await self._pause(seconds)
        except asyncio.CancelledError:
            log.error(
                "inbound key=%s from=%s not stored: the bot stopped while storage was down",
                job.incoming.dedupe_key,
                job.incoming.from_user,
            )
            raise
        finally:
            self._pausing.discard(task)

    async def _replay(self, job: _Job, arrived: datetime) -> Reply | None:
        """A repeat of a message handled already. WeCom re-posts a message only when it got
        no answer within `WECOM_RETRY_AFTER` (then it drops the earlier request): if the
        message was answered passively and first arrived that long ago, that answer never
        reached WeCom (the process died before the response left, or it was lost), so this
        request gives it again. A sooner repeat overlaps a request WeCom still waits on, and
        an answer through the outbox went, or goes, that way: nothing is answered."""
        incoming = job.incoming
        since = arrived - WECOM_RETRY_AFTER
        reply = await self.store.stored_reply(incoming.dedupe_key, since)
        if reply is not None and job.route.claim_passive():
            log.warning(
                "inbound key=%s from=%s retry of a message answered passively: answered again",
                incoming.dedupe_key,
                incoming.from_user,
            )
            job.stored.set_result(True)
            self._on_outcome("replayed")
            return reply
        log.info("inbound duplicate key=%s from=%s", incoming.dedupe_key, incoming.from_user)
        job.stored.set_result(False)
        return None

    async def _take_over(self, job: _Job) -> int | None:
        """A stored message left `received` that nobody else holds a live lease on, now
        leased to this instance (see the module docstring); else None."""
        incoming = job.incoming
        now = self._clock.now()
        taken = await self.store.take_over(incoming.dedupe_key, self.owner, now, now + self._lease)
        if taken is None:  # handled already, or another instance holds a live lease
            return None
        log.warning("inbound id=%s key=%s taken over on a retry", taken[0], incoming.dedupe_key)
        inbound_id, stored = taken
        job.incoming = stored
        return inbound_id

    async def sweep(self, limit: int = 200) -> int:
        """Take over every stored message whose lease ran out (a crash, here or on another
        instance) and handle it; with nobody waiting, its answer goes through the outbox."""
        now = self._clock.now()
        stale = await self.store.claim_stale(self.owner, now, now + self._lease, limit)
        started = 0
        for inbound_id, incoming in stale:
            if incoming.dedupe_key in self._jobs:
                continue  # in hand here (a slow handler outlived its lease)
            log.warning(
                "inbound id=%s key=%s recovered by the sweep", inbound_id, incoming.dedupe_key
            )
            self._start(incoming, now, claimed=inbound_id)
            started += 1
        return started

    async def run_sweeps(self, every_s: float = 2.0) -> None:
        """Sweep forever, every `every_s` seconds (the bot's background task)."""
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("inbound sweep failed; trying again")
            await asyncio.sleep(every_s)

    async def close(self, wait_s: float = 10.0) -> None:
        """On shutdown: messages waiting to be stored again (storage down) are given up at
        once, each logged as an error; then in-flight handlers are waited for."""
        self._closing = True
        for task in list(self._pausing):
            task.cancel()
        await self.drain(wait_s)

    async def drain(self, wait_s: float = 10.0) -> None:
        """Wait for in-flight handlers (in tests; `close` on shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=wait_s)


def _brief(exc: Exception) -> str:
    """The error's type and the first line of its message (no SQL parameters: no content)."""
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"


def _retrieve(future: asyncio.Future[bool]) -> None:
    if not future.cancelled():
        future.exception()  # an error with nobody waiting is logged by the task, not asyncio
