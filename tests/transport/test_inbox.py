"""The inbox alone (issue 8.1, 8.3, 11.1), with an in-memory pipeline and store: who gets a
message's answer, and that nothing is acknowledged before the pipeline has stored it."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import datetime, timedelta

import pytest

from liuan_bot.clock import FixedClock
from liuan_bot.inbox import Inbox, ReplyRoute
from liuan_bot.messages import Incoming, Reply

ANSWER = Reply.ok("已报告舆情 YQ-2026-0001")


def _incoming(msg_id: str = "1") -> Incoming:
    return Incoming(msg_type="text", from_user="demo", corp_id="c", create_time=1, msg_id=msg_id)


class NoStore:
    """An `InboxStore` holding nothing left behind (every message is new)."""

    async def take_over(self, *_args: object) -> None:
        return None

    async def claim_stale(self, *_args: object) -> list[tuple[int, Incoming]]:
        return []

    async def stored_reply(self, *_args: object) -> None:
        return None


class HeldPipeline:
    """Claims the passive route for its answer, then holds until `commit` is set (the
    transaction's last statements and its COMMIT), as handlers/dispatch.py does."""

    def __init__(self) -> None:
        self.claimed = asyncio.Event()
        self.commit = asyncio.Event()
        self.calls = 0

    async def answer(
        self, incoming: Incoming, received_at: datetime, route: ReplyRoute
    ) -> tuple[bool, Reply | None]:
        self.calls += 1
        passive = route.claim_passive()
        self.claimed.set()
        await self.commit.wait()
        return True, ANSWER if passive else None

    async def handle(self, inbound_id: int, incoming: Incoming, route: ReplyRoute) -> None:
        raise AssertionError("nothing is left received")


async def test_a_retry_that_joins_after_the_answer_was_claimed_gets_it() -> None:
    """WeCom posts a message again only after giving up on the earlier request: a passive
    answer claimed for the first request, and not yet committed when the retry arrives, goes
    to the retry (the first request's connection is abandoned)."""
    clock = FixedClock(datetime.fromisoformat("2026-12-07T10:00:00+08:00"))
    pipeline = HeldPipeline()
    inbox = Inbox(NoStore(), pipeline, clock, reply_budget_s=4.0)
    first = asyncio.create_task(inbox.accept(_incoming(), clock.now()))
    await pipeline.claimed.wait()
    clock.advance(5)
    retry = asyncio.create_task(inbox.accept(_incoming(), clock.now()))
    done, _ = await asyncio.wait({first, retry}, timeout=0.2)
    assert not done  # neither is acknowledged before the message is stored
    pipeline.commit.set()
    assert await retry == ANSWER
    assert await first is None
    assert pipeline.calls == 1


async def test_an_answer_is_given_once_to_the_request_it_was_claimed_for() -> None:
    clock = FixedClock(datetime.fromisoformat("2026-12-07T10:00:00+08:00"))
    pipeline = HeldPipeline()
    inbox = Inbox(NoStore(), pipeline, clock, reply_budget_s=4.0)
    first = asyncio.create_task(inbox.accept(_incoming(), clock.now()))
    await pipeline.claimed.wait()
    pipeline.commit.set()
    assert await first == ANSWER
    assert pipeline.calls == 1


def test_a_passive_answer_goes_once_to_the_newest_request_waiting_for_it() -> None:
    """The route: a retry that joins before the answer is given takes it (WeCom gave up on
    the earlier request); one that joins after it was given gets nothing more."""
    clock = FixedClock(datetime.fromisoformat("2026-12-07T10:00:00+08:00"))
    route = ReplyRoute(clock)
    first = route.join(clock.now() + timedelta(seconds=4))
    assert route.claim_passive()
    retry = route.join(clock.now() + timedelta(seconds=9))
    assert not route.give(first)
    assert route.give(retry)
    late = route.join(clock.now() + timedelta(seconds=14))
    assert not route.give(late)
    assert not route.give(retry)  # once


# --- storage down: the inbox keeps the message and stores it when storage is back --------


class DownPipeline:
    """Claims the passive route for its answer when a request waits (as the pipeline does
    once it holds the write lock), then finds storage down for the first `failures` tries
    (nothing stored: SQLite's write lock held by another process past the busy timeout)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.passive: list[bool] = []  # of the try that stored

    async def answer(
        self, incoming: Incoming, received_at: datetime, route: ReplyRoute
    ) -> tuple[bool, Reply | None]:
        self.calls += 1
        passive = route.claim_passive()
        if self.calls <= self.failures:
            raise sqlite3.OperationalError("database is locked")
        self.passive.append(passive)
        return True, ANSWER if passive else None

    async def handle(self, inbound_id: int, incoming: Incoming, route: ReplyRoute) -> None:
        raise AssertionError("nothing is left received")


class Pauses:
    """An injected pause: records each, and returns when the test lets it (`go`)."""

    def __init__(self, *, held: bool = False) -> None:
        self.asked: list[float] = []
        self.waiting = asyncio.Event()
        self.go = asyncio.Event()
        if not held:
            self.go.set()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.waiting.set()
        await self.go.wait()


def _inbox(pipeline: DownPipeline, pauses: Pauses, patience_s: float) -> tuple[Inbox, FixedClock]:
    clock = FixedClock(datetime.fromisoformat("2026-12-07T10:00:00+08:00"))
    inbox = Inbox(
        NoStore(), pipeline, clock, reply_budget_s=4.0, store_patience_s=patience_s, pause=pauses
    )
    return inbox, clock


async def test_a_message_storage_refused_is_kept_and_stored_when_storage_is_back() -> None:
    """The request that came while storage was down gets the error (the callback answers 503,
    WeCom retries); the inbox tries again after growing pauses and stores the message once
    storage is back, even when WeCom has given up: its answer then goes through the outbox
    (no request waits), and a later WeCom retry is not needed."""
    pipeline, pauses = DownPipeline(failures=2), Pauses()
    inbox, clock = _inbox(pipeline, pauses, patience_s=300)
    with pytest.raises(sqlite3.OperationalError):
        await inbox.accept(_incoming(), clock.now())
    await inbox.drain()
    assert pipeline.calls == 3
    assert pauses.asked == [0.5, 1.0]
    # the first try claimed the passive answer for the request then waiting; the try that
    # stored has a route of its own, with nobody waiting: its answer goes through the outbox
    # (a passive answer for the request that is gone would reach no one)
    assert pipeline.passive == [False]


async def test_a_retry_during_the_pause_waits_for_the_next_try_and_gets_the_answer() -> None:
    """WeCom's retry that lands while the inbox waits to try again joins that try: one
    message, one store, and the passive answer goes to the retry."""
    pipeline, pauses = DownPipeline(failures=1), Pauses(held=True)
    inbox, clock = _inbox(pipeline, pauses, patience_s=300)
    with pytest.raises(sqlite3.OperationalError):
        await inbox.accept(_incoming(), clock.now())
    await pauses.waiting.wait()
    retry = asyncio.create_task(inbox.accept(_incoming(), clock.now()))
    done, _ = await asyncio.wait({retry}, timeout=0.05)
    assert not done  # nothing is acknowledged before the message is stored
    pauses.go.set()
    assert await retry == ANSWER
    assert pipeline.calls == 2


async def test_storage_down_past_the_patience_gives_the_message_up_with_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Pauses of 0.5 + 1.0 s fit a patience of 2 s, the next (2.0 s) does not: three tries,
    then an error line naming the message and its sender, and nothing is kept: WeCom's next
    retry starts afresh, with a patience of its own."""
    pipeline, pauses = DownPipeline(failures=10), Pauses()
    inbox, clock = _inbox(pipeline, pauses, patience_s=2)
    with pytest.raises(sqlite3.OperationalError):
        await inbox.accept(_incoming(), clock.now())
    await inbox.drain()
    assert (pipeline.calls, pauses.asked) == (3, [0.5, 1.0])
    given_up = [r for r in caplog.records if r.levelno == logging.ERROR]
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1  # the first failure; the other tries at DEBUG (an outage's flood)
    assert "kept and tried again in 0.5 s" in warned[0].getMessage()
    assert len(given_up) == 1
    assert "key=msg:1 from=demo not stored after 3 tries" in given_up[0].getMessage()
    assert "database is locked" in given_up[0].getMessage()
    with pytest.raises(sqlite3.OperationalError):
        await inbox.accept(_incoming(), clock.now())
    await inbox.drain()
    assert pipeline.calls == 6


async def test_the_patience_is_counted_on_the_injected_clock_too() -> None:
    """Storage down for longer than the patience by the clock: no further try, however
    short the pauses so far."""
    pipeline, pauses = DownPipeline(failures=10), Pauses(held=True)
    inbox, clock = _inbox(pipeline, pauses, patience_s=300)
    with pytest.raises(sqlite3.OperationalError):
        await inbox.accept(_incoming(), clock.now())
    await pauses.waiting.wait()
    clock.advance(301)
    pauses.go.set()
    await inbox.drain()
    assert pipeline.calls == 2


async def test_without_patience_a_message_is_tried_once() -> None:
    pipeline, pauses = DownPipeline(failures=1), Pauses()
    inbox, clock = _inbox(pipeline, pauses, patience_s=0)
    with pytest.raises(sqlite3.OperationalError):
        await inbox.accept(_incoming(), clock.now())
    await inbox.drain()
    assert (pipeline.calls, pauses.asked) == (1, [])


async def test_closing_the_inbox_gives_up_a_message_waiting_to_be_stored_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pipeline, pauses = DownPipeline(failures=10), Pauses(held=True)
    inbox, clock = _inbox(pipeline, pauses, patience_s=300)
    with pytest.raises(sqlite3.OperationalError):
        await inbox.accept(_incoming(), clock.now())
    await pauses.waiting.wait()
    await asyncio.wait_for(inbox.close(), timeout=5)
    assert pipeline.calls == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "inbound key=msg:1 from=demo not stored: the bot stopped while storage was down"
    ]
