"""Inbound messages: store once, process once, answer within WeCom's 5 s window.

A message is stored under its dedupe key before anything else happens; a retry of the same
callback finds the key taken and is answered with an empty 200. The handler runs in a tracked
task. If it finishes within the reply budget its answer goes back as a passive reply;
otherwise the callback returns an empty 200 at the budget and the answer goes through the
outbox. The choice is made once, by whichever side comes first (`ReplyRoute`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from liuan_bot.clock import Clock
from liuan_bot.wecom.inbound import Incoming

log = logging.getLogger("liuan_bot.inbox")


@dataclass(frozen=True)
class Reply:
    """What goes back to the sender: text, or the label a clicked card's buttons turn into."""

    text: str | None = None
    button_label: str | None = None


class ReplyRoute:
    """Decides, once, whether a reply goes back passively or through the outbox."""

    def __init__(self) -> None:
        self.mode: Literal["undecided", "passive", "outbox"] = "undecided"

    def claim_passive(self) -> bool:
        if self.mode == "undecided":
            self.mode = "passive"
        return self.mode == "passive"

    def claim_outbox(self) -> bool:
        if self.mode == "undecided":
            self.mode = "outbox"
        return self.mode == "outbox"


class InboxStore(Protocol):
    async def record(self, incoming: Incoming, received_at: datetime) -> int | None:
        """Store a new inbound message; None if its dedupe key is already stored."""
        ...

    async def unhandled(self, received_before: datetime, limit: int) -> list[tuple[int, Incoming]]:
        """Messages stored but never handled (a crash between storing and handling)."""
        ...


Process = Callable[[int, Incoming, ReplyRoute], Awaitable[Reply | None]]


@dataclass(frozen=True)
class FastOutcome:
    """A message answered and stored in one step by the fast path (or found a duplicate)."""

    duplicate: bool
    reply: Reply | None


# Answers a read-only message from memory and stores it handled; None = take the ordinary path.
FastPath = Callable[[Incoming], Awaitable[FastOutcome | None]]


class Inbox:
    """Accepts decrypted callbacks; see the module docstring."""

    def __init__(
        self,
        store: InboxStore,
        process: Process,
        clock: Clock,
        *,
        reply_budget_s: float,
        on_outcome: Callable[[str], None] = lambda outcome: None,
        fast: FastPath | None = None,
    ) -> None:
        self._fast = fast
        self._store = store
        self._process = process
        self._clock = clock
        self._budget = reply_budget_s
        self._on_outcome = on_outcome
        self._tasks: set[asyncio.Task[Reply | None]] = set()

    async def accept(self, incoming: Incoming) -> Reply | None:
        if self._fast is not None:
            fast = await self._fast(incoming)
            if fast is not None:
                self._on_outcome("duplicate" if fast.duplicate else "handled")
                return fast.reply
        inbound_id = await self._store.record(incoming, self._clock.now())
        if inbound_id is None:
            log.info("inbound duplicate key=%s from=%s", incoming.dedupe_key, incoming.from_user)
            self._on_outcome("duplicate")
            return None
        log.info(
            "inbound id=%s key=%s from=%s type=%s",
            inbound_id,
            incoming.dedupe_key,
            incoming.from_user,
            incoming.event or incoming.msg_type,
        )
        route = ReplyRoute()
        if self._budget <= 0:
            route.claim_outbox()
        task = self._spawn(inbound_id, incoming, route)
        if route.mode == "outbox":
            self._on_outcome("deferred")
            return None
        done, _ = await asyncio.wait({task}, timeout=self._budget)
        if task in done:
            return task.result()
        if route.claim_outbox():
            self._on_outcome("deferred")
            return None
        return await asyncio.shield(task)  # passive was claimed just before the deadline

    def _spawn(
        self, inbound_id: int, incoming: Incoming, route: ReplyRoute
    ) -> asyncio.Task[Reply | None]:
        task = asyncio.create_task(self._run(inbound_id, incoming, route))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, inbound_id: int, incoming: Incoming, route: ReplyRoute) -> Reply | None:
        try:
            reply = await self._process(inbound_id, incoming, route)
        except Exception:
            log.exception(
                "inbound id=%s key=%s processing failed", inbound_id, incoming.dedupe_key
            )
            self._on_outcome("error")
            return None
        self._on_outcome("handled")
        return reply

    async def recover(
        self, *, older_than: timedelta = timedelta(seconds=30), limit: int = 500
    ) -> int:
        """Process messages a crash left unhandled; their replies go through the outbox."""
        stale = await self._store.unhandled(self._clock.now() - older_than, limit)
        for inbound_id, incoming in stale:
            route = ReplyRoute()
            route.claim_outbox()
            log.warning(
                "inbound id=%s key=%s recovered after restart", inbound_id, incoming.dedupe_key
            )
            await self._spawn(inbound_id, incoming, route)
        return len(stale)

    async def drain(self, wait_s: float = 10.0) -> None:
        """Wait for in-flight handlers (on shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=wait_s)
