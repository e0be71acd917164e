"""The outbox worker: every outbound message is a database row first, then delivered once.

Rows are claimed with a lease (`status='sending'`, `lease_until`); a worker that dies after
WeCom accepted a message but before the row was marked sent leaves a lease that expires, and
the message is sent again with `enable_duplicate_check`, which makes WeCom drop the copy.
Errors back off; WeCom's per-member and per-robot limits are respected by pacing, never by
dropping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from liuan_bot.clock import Clock
from liuan_bot.pacing import APP_LIMITS, ROBOT_LIMITS, WORKBENCH_LIMITS, SlidingWindowLimiter
from liuan_bot.wecom.api import (
    WeComApi,
    WeComApiError,
    WeComRateLimited,
    WeComTransportError,
)

log = logging.getLogger("liuan_bot.outbox")


@dataclass(frozen=True)
class Claimed:
    """A row claimed for delivery."""

    id: int
    kind: str
    target: str
    body: dict[str, Any]
    attempts: int
    created_at: datetime
    claim: str  # the claim token; only its holder may record the outcome
    source: str = ""  # what enqueued it (inbound:12, reminder:…, announcement:GG-…)


@dataclass(frozen=True)
class Delivered:
    msgid: str | None = None
    response_code: str | None = None
    invalid_users: tuple[str, ...] = ()


class OutboxStore(Protocol):
    async def claim_due(
        self, now: datetime, worker: str, lease_until: datetime, limit: int
    ) -> list[Claimed]: ...

    async def mark_sent(
        self, row_id: int, claim: str, now: datetime, result: Delivered
    ) -> None: ...

    async def reschedule(
        self,
        row_id: int,
        claim: str,
        at: datetime,
        *,
        error: str | None = None,
        errcode: int | None = None,
        uncount: bool = False,
    ) -> None: ...

    async def mark_failed(
        self, row_id: int, claim: str, now: datetime, error: str, errcode: int | None
    ) -> None: ...


def backoff_s(attempts: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential backoff after `attempts` failed tries: 2, 4, 8 … capped at 5 minutes."""
    return float(min(cap, base ** max(1, attempts)))


class OutboxWorker:
    """Claims due rows and delivers them through the WeCom API."""

    def __init__(
        self,
        store: OutboxStore,
        api: WeComApi,
        clock: Clock,
        *,
        worker_id: str,
        webhook_keys: Mapping[str, str] | None = None,
        batch: int = 50,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 60,
        on_sent: Callable[[float], None] = lambda latency: None,
        on_result: Callable[[Claimed, Delivered], Awaitable[None]] | None = None,
    ) -> None:
        self._on_result = on_result
        self._store = store
        self._api = api
        self._clock = clock
        self.worker_id = worker_id
        self._webhook_keys = dict(webhook_keys or {})
        self._batch = batch
        self._lease = lease
        self._max_attempts = max_attempts
        self._on_sent = on_sent
        self._app_limiter = SlidingWindowLimiter(APP_LIMITS)
        self._robot_limiter = SlidingWindowLimiter(ROBOT_LIMITS)
        self._workbench_limiter = SlidingWindowLimiter(WORKBENCH_LIMITS)
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """New rows were committed: look now rather than at the next poll."""
        self._wakeup.set()

    async def run_once(self) -> int:
        """Deliver what is due now; the number of rows claimed."""
        now = self._clock.now()
        rows = await self._store.claim_due(now, self.worker_id, now + self._lease, self._batch)
        for row in rows:
            await self._deliver(row)
        return len(rows)

    async def run_forever(self, poll_s: float = 1.0) -> None:
        while True:
            try:
                claimed = await self.run_once()
            except Exception:
                log.exception("outbox sweep failed")
                claimed = 0
            if claimed == 0:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=poll_s)
                except TimeoutError:
                    pass

    def _pacing(self, row: Claimed) -> tuple[SlidingWindowLimiter | None, list[str]]:
        if row.kind == "app":
            return self._app_limiter, [u for u in row.target.split("|") if u]
        if row.kind == "webhook":
            return self._robot_limiter, [row.target]
        if row.kind == "workbench" and row.body.get("action") == "data":
            return self._workbench_limiter, [row.target]
        return None, []

    async def _deliver(self, row: Claimed) -> None:
        now = self._clock.now()
        limiter, keys = self._pacing(row)
        if limiter is not None:
            wait = limiter.delay(keys, now.timestamp())
            if wait > 0:
                log.info("outbox id=%s paced for %.1fs", row.id, wait)
                at = now + timedelta(seconds=wait)
                await self._store.reschedule(row.id, row.claim, at, uncount=True)
                return
            limiter.record(keys, now.timestamp())
        log.info("outbox id=%s attempt=%s kind=%s", row.id, row.attempts, row.kind)
        try:
            result = await self._send(row)
        except WeComRateLimited as exc:
            await self._retry(row, exc.retry_after_s, f"rate limited: {exc.errcode}", exc.errcode)
        except WeComApiError as exc:
            if exc.retryable:
                await self._retry(row, backoff_s(row.attempts), str(exc), exc.errcode)
            else:
                log.error("outbox id=%s failed errcode=%s", row.id, exc.errcode)
                await self._store.mark_failed(row.id, row.claim, now, str(exc), exc.errcode)
        except WeComTransportError as exc:
            await self._retry(row, backoff_s(row.attempts), str(exc), None)
        except KeyError as exc:
            await self._store.mark_failed(row.id, row.claim, now, f"unknown target {exc}", None)
        else:
            done = self._clock.now()
            await self._store.mark_sent(row.id, row.claim, done, result)
            self._on_sent((done - row.created_at).total_seconds())
            if self._on_result is not None:
                try:
                    await self._on_result(row, result)
                except Exception:
                    log.exception("outbox id=%s: follow-up of the delivery failed", row.id)
            log.info("outbox id=%s sent msgid=%s", row.id, result.msgid)

    async def _retry(self, row: Claimed, delay: float, error: str, errcode: int | None) -> None:
        now = self._clock.now()
        if row.attempts >= self._max_attempts:
            log.error("outbox id=%s gave up after %s attempts: %s", row.id, row.attempts, error)
            await self._store.mark_failed(row.id, row.claim, now, error, errcode)
            return
        log.warning("outbox id=%s retry in %.0fs: %s", row.id, delay, error)
        at = now + timedelta(seconds=delay)
        await self._store.reschedule(row.id, row.claim, at, error=error, errcode=errcode)

    async def _send(self, row: Claimed) -> Delivered:
        if row.kind == "app":
            sent = await self._api.send_message(dict(row.body))
            if sent.invalid_users:
                log.warning("outbox id=%s invalid users: %s", row.id, "|".join(sent.invalid_users))
            return Delivered(sent.msgid, sent.response_code, sent.invalid_users)
        if row.kind == "card_update":
            await self._api.update_template_card(dict(row.body))
        elif row.kind == "appchat":
            await self._api.send_appchat(dict(row.body))
        elif row.kind == "webhook":
            await self._api.send_webhook(self._webhook_keys[row.target], dict(row.body))
        elif row.kind == "workbench":  # issue 10 §3: the app's workbench tile
            await self._api.workbench(str(row.body["action"]), dict(row.body["body"]))
        elif row.kind == "calendar":
            done = await self._api.calendar(str(row.body["action"]), dict(row.body["body"]))
            return Delivered(msgid=str(done.get("schedule_id") or "") or None)
        else:
            raise KeyError(row.kind)
        return Delivered()
