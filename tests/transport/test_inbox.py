"""The inbox alone (issue 8.1, 8.3, 11.1), with an in-memory pipeline and store: who gets a
message's answer, and that nothing is acknowledged before the pipeline has stored it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

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
