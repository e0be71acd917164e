"""The outbox worker: every outbound message is a database row first, then delivered once.

Rows are claimed with a lease (`status='sending'`, `lease_until`, a claim token). Before each
row is sent its lease is renewed under the claim token, so a batch sent one row at a time
against a slow API is never re-claimed and re-sent by another instance: a row whose lease ran
out and was taken over fails the renewal and is skipped. A worker that dies after WeCom
accepted a message but before the row was marked sent leaves a lease that expires; the message
is then sent again with WeCom's duplicate check on, which drops the copy inside its window.
Replies (source `inbound:…`) ask for the duplicate check only on such a re-send, so the same
answer to the same question asked twice is delivered twice.

Errors are classed (docs/outbox-errors.md, `liuan_bot.wecom.api.classify`): token and backoff
errors retry with capped backoff and no attempt limit; permanent errors and repeated unknown
errcodes park the row (dead letter, re-driven by `bot.py outbox retry`); configuration errors
keep every row, pause sending, tell the operators (log, /healthz, /metrics) and probe until
the configuration is fixed. Pacing defers, never drops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from liuan_bot.clock import Clock
from liuan_bot.pacing import InProcessPacer, Pacer
from liuan_bot.wecom.api import (
    WEBHOOK_PATH,
    ErrorClass,
    WeComApi,
    WeComApiError,
    WeComRateLimited,
    WeComTransportError,
)

log = logging.getLogger("liuan_bot.outbox")

REPLY_SOURCE_PREFIX = "inbound:"
# Longer than one send can take (token fetch + send + refresh + send + 3 busy retries, each
# bounded by the client's 10 s timeout, ≈ 75 s), so a lease renewed before a send never runs
# out while that send is in flight.
LEASE = timedelta(seconds=120)
MAX_DUPLICATE_CHECK_INTERVAL_S = 4 * 3600  # WeCom's maximum (wecom-facts §3.1)
PARKED_REPORT_SOURCE = "outbox:parked-report"

# Why a row was parked or held, in the words the operators and the news office read.
ERRCODE_REASONS: dict[int, str] = {
    81013: "收件人全部无效",
    40003: "收件人账号无效",
    40031: "收件人名单无效",
    60111: "收件人账号不存在",
    81011: "收件人不在应用的可见范围内",
    86003: "群聊不存在",
    40008: "消息类型无效",
    44004: "消息内容为空",
    45002: "消息内容过长",
    40058: "消息参数不合法",
    400058: "日程不存在",
    40001: "应用的 Secret 不正确",
    40013: "企业 ID（CorpID）不正确",
    40056: "应用的 AgentId 不正确",
    40091: "应用的 Secret 不正确",
    41002: "缺少企业 ID（CorpID）",
    41004: "缺少应用的 Secret",
    48001: "应用未获授权调用该接口",
    48002: "该接口已被禁用",
    60011: "应用没有相应权限（请检查可见范围和接口权限）",
    60020: "服务器的 IP 不在企业可信 IP 名单中",
    93000: "群机器人地址（Webhook Key）无效",
    301002: "没有操作该应用的权限",
}
ERRCODE_REASONS_EN: dict[int, str] = {
    40001: "wrong app secret (gettoken 40001)",
    40013: "wrong corp id (40013)",
    40056: "wrong agent id (40056)",
    40091: "wrong app secret (40091)",
    41002: "corp id missing (41002)",
    41004: "secret missing (41004)",
    48001: "API not authorised for the app (48001)",
    48002: "API forbidden (48002)",
    60011: "no privilege: check the app's visible range and API permissions (60011)",
    60020: "server IP not in the trusted IP list (60020)",
    93000: "invalid group robot webhook key (93000)",
    301002: "no permission for this app (301002)",
}


def reason_zh(errcode: int | None) -> str:
    if errcode is None:
        return "企业微信暂时无法访问"
    known = ERRCODE_REASONS.get(errcode)
    return f"{known}（错误码 {errcode}）" if known else f"企业微信返回未知错误码 {errcode}"


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


@dataclass(frozen=True)
class ConfigProblem:
    """A configuration error that holds sending until it is fixed (shown on /healthz)."""

    scope: str  # "app" (every app call) or "robot:<name>"
    errcode: int
    since: datetime

    @property
    def reason(self) -> str:
        where = "企业微信应用配置错误" if self.scope == "app" else "群机器人配置错误"
        return f"{where}：{reason_zh(self.errcode)}，消息已暂存，修正后自动继续发送"

    @property
    def reason_en(self) -> str:
        detail = ERRCODE_REASONS_EN.get(self.errcode, f"errcode {self.errcode}")
        return f"WeCom configuration error ({self.scope}): {detail}; rows kept, sending held"


class Wake(Protocol):
    """Tell the worker that rows were committed; `targets`, when known, are theirs."""

    def __call__(self, targets: Collection[str] | None = None) -> None: ...


def no_wake(targets: Collection[str] | None = None) -> None:
    """The `Wake` of a process without an outbox worker."""


class OutboxStore(Protocol):
    async def claim_due(
        self,
        now: datetime,
        worker: str,
        lease_until: datetime,
        limit: int,
        *,
        skip_targets: Collection[str] = (),
    ) -> list[Claimed]: ...

    async def renew(self, row_id: int, claim: str, lease_until: datetime) -> bool: ...

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

    async def defer_target(self, row_id: int, claim: str, target: str, at: datetime) -> None: ...

    async def release(self, claim: str, at: datetime) -> None: ...

    async def park(
        self,
        row_id: int,
        claim: str,
        now: datetime,
        reason: str,
        error: str,
        errcode: int | None,
    ) -> None: ...


def backoff_s(attempts: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential backoff after `attempts` failed tries: 2, 4, 8 … capped at 5 minutes."""
    return float(min(cap, base ** min(max(1, attempts), 32)))


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
        lease: timedelta = LEASE,
        unknown_attempts: int = 8,
        config_probe: timedelta = timedelta(seconds=60),
        pacer: Pacer | None = None,
        on_sent: Callable[[float], None] = lambda latency: None,
        on_result: Callable[[Claimed, Delivered], Awaitable[None]] | None = None,
        housekeeping: Callable[[datetime], Awaitable[object]] | None = None,
        housekeeping_every: timedelta = timedelta(minutes=10),
    ) -> None:
        self._on_result = on_result
        self._store = store
        self._api = api
        self._clock = clock
        self.worker_id = worker_id
        self._webhook_keys = dict(webhook_keys or {})
        self._batch = batch
        self._lease = lease
        self._unknown_attempts = unknown_attempts
        self._config_probe = config_probe
        self._pacer: Pacer = pacer or InProcessPacer()
        self._on_sent = on_sent
        self._housekeeping = housekeeping
        self._housekeeping_every = housekeeping_every
        self._next_housekeeping: datetime | None = None
        self._wakeup = asyncio.Event()
        self.problems: dict[str, ConfigProblem] = {}
        self._held_until: dict[str, datetime] = {}
        # targets this worker deferred for pacing, and until when: rows enqueued for them since
        # are not claimed only to be deferred again (under a stream of new rows for a paced
        # member, each commit would otherwise cost a claim and a deferral: issue 11 §2)
        self._paced_until: dict[str, datetime] = {}

    def wake(self, targets: Collection[str] | None = None) -> None:
        """New rows were committed: look now rather than at the next poll. Rows only for
        targets this worker is pacing would not be claimed (`claim_due(skip_targets=…)`), so
        they wake nothing: a stream of messages to a paced member costs no claim query."""
        if targets and self._paced_until and set(targets) <= self._still_paced(self._clock.now()):
            return
        self._wakeup.set()

    async def run_once(self) -> int:
        """Deliver what is due now; the number of rows claimed."""
        now = self._clock.now()
        await self._housekeep(now)
        held = self._held_until.get("app")
        if held is not None and now < held:
            return 0  # a configuration error holds every app call; probe when it is due
        paced = self._still_paced(now)
        rows = await self._store.claim_due(
            now, self.worker_id, now + self._lease, self._batch, skip_targets=paced
        )
        released: set[str] = set()  # targets whose rows of this claim went back to pending
        for row in rows:
            if "app" in self._held_until and self._clock.now() < self._held_until["app"]:
                await self._store.release(row.claim, self._held_until["app"])
                break
            if row.target in released:
                continue
            if await self._deliver(row):
                released.add(row.target)
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

    @property
    def woken(self) -> bool:
        """Whether a wake-up is pending (the next sweep runs at once rather than at the poll)."""
        return self._wakeup.is_set()

    def _still_paced(self, now: datetime) -> frozenset[str]:
        """The targets whose pacing deferral has not run out (expired entries dropped)."""
        for target in [t for t, until in self._paced_until.items() if until <= now]:
            del self._paced_until[target]
        return frozenset(self._paced_until)

    async def _housekeep(self, now: datetime) -> None:
        if self._housekeeping is None:
            return
        if self._next_housekeeping is not None and now < self._next_housekeeping:
            return
        self._next_housekeeping = now + self._housekeeping_every
        try:
            await self._housekeeping(now)
        except Exception:
            log.exception("outbox housekeeping (parked report) failed")

    async def _deliver(self, row: Claimed) -> bool:
        """Send one row; True when the row's target was deferred with its siblings."""
        now = self._clock.now()
        if not await self._store.renew(row.id, row.claim, now + self._lease):
            log.warning("outbox id=%s: claim lost before sending, skipped", row.id)
            return False
        scope = f"robot:{row.target}" if row.kind == "webhook" else "app"
        held = self._held_until.get(scope)
        if held is not None and now < held:
            await self._store.defer_target(row.id, row.claim, row.target, held)
            return True
        wait = await self._pacer.reserve(row.kind, row.target, now)
        if wait > 0:
            log.info("outbox id=%s paced for %.1fs (with its target's other rows)", row.id, wait)
            until = now + timedelta(seconds=wait)
            await self._store.defer_target(row.id, row.claim, row.target, until)
            self._paced_until[row.target] = until
            return True
        log.info("outbox id=%s attempt=%s kind=%s", row.id, row.attempts, row.kind)
        try:
            result = await self._send(row)
        except WeComRateLimited as exc:
            await self._retry(row, exc.retry_after_s, f"rate limited: {exc.errcode}", exc.errcode)
        except WeComApiError as exc:
            return await self._failed(row, exc, scope)
        except WeComTransportError as exc:
            await self._retry(row, backoff_s(row.attempts), str(exc), None)
        except KeyError as exc:
            reason = (
                "找不到这个群机器人的地址（Webhook Key 未配置）"
                if row.kind == "webhook"
                else "无法识别的消息类型"
            )
            await self._park(row, reason, f"unknown target {exc}", None)
        except ValueError as exc:
            await self._park(row, "消息不符合企业微信的要求", str(exc), None)
        else:
            done = self._clock.now()
            await self._store.mark_sent(row.id, row.claim, done, result)
            self._resolved(scope)
            self._on_sent((done - row.created_at).total_seconds())
            await self._follow_up(row, result)
            log.info("outbox id=%s sent msgid=%s", row.id, result.msgid)
        return False

    async def _failed(self, row: Claimed, exc: WeComApiError, scope: str) -> bool:
        cls = exc.error_class
        if cls in (ErrorClass.TOKEN, ErrorClass.BACKOFF):
            await self._retry(row, backoff_s(row.attempts), str(exc), exc.errcode)
        elif cls is ErrorClass.CONFIG:
            return await self._hold(row, exc, scope)
        elif cls is ErrorClass.RECIPIENT:
            log.error("outbox id=%s parked: errcode=%s (recipient)", row.id, exc.errcode)
            await self._park(row, reason_zh(exc.errcode), str(exc), exc.errcode)
            if row.kind == "app":  # the sender is told, as for WeCom's `invaliduser`
                users = tuple(u for u in str(row.body.get("touser", "")).split("|") if u)
                await self._follow_up(row, Delivered(invalid_users=users))
        elif row.attempts >= self._unknown_attempts:
            log.error(
                "outbox id=%s parked after %s attempts: unknown errcode %s",
                row.id,
                row.attempts,
                exc.errcode,
            )
            await self._park(row, reason_zh(exc.errcode), str(exc), exc.errcode)
        else:
            await self._retry(row, backoff_s(row.attempts), str(exc), exc.errcode)
        return False

    async def _hold(self, row: Claimed, exc: WeComApiError, scope: str) -> bool:
        """A configuration error: keep the row (and its batch), pause, tell the operators."""
        now = self._clock.now()
        if scope == "app" and exc.path == WEBHOOK_PATH:
            scope = f"robot:{row.target}"
        problem = self.problems.get(scope)
        if problem is None or problem.errcode != exc.errcode:
            problem = ConfigProblem(scope, exc.errcode, now)
            self.problems[scope] = problem
            log.error("outbox held: %s (%s)", problem.reason_en, exc)
        until = now + self._config_probe
        self._held_until[scope] = until
        await self._store.reschedule(
            row.id, row.claim, until, error=str(exc), errcode=exc.errcode, uncount=True
        )
        if scope == "app":
            await self._store.release(row.claim, until)
            return False
        await self._store.defer_target(row.id, row.claim, row.target, until)
        return True

    def _resolved(self, scope: str) -> None:
        self._held_until.pop(scope, None)
        if self.problems.pop(scope, None) is not None:
            log.warning("outbox resumed: the %s configuration works again", scope)

    async def _retry(self, row: Claimed, delay: float, error: str, errcode: int | None) -> None:
        log.warning("outbox id=%s retry in %.0fs: %s", row.id, delay, error)
        at = self._clock.now() + timedelta(seconds=delay)
        await self._store.reschedule(row.id, row.claim, at, error=error, errcode=errcode)

    async def _park(self, row: Claimed, reason: str, error: str, errcode: int | None) -> None:
        await self._store.park(row.id, row.claim, self._clock.now(), reason, error, errcode)

    async def _follow_up(self, row: Claimed, result: Delivered) -> None:
        if self._on_result is None:
            return
        try:
            await self._on_result(row, result)
        except Exception:
            log.exception("outbox id=%s: follow-up of the delivery failed", row.id)

    def _app_body(self, row: Claimed) -> dict[str, Any]:
        body = dict(row.body)
        if row.attempts > 1:
            # A re-send: an earlier attempt may have been delivered (timeout, crash). WeCom's
            # check drops the copy; its longest window covers re-sends after long outages.
            body.setdefault("enable_duplicate_check", 1)
            body.setdefault("duplicate_check_interval", MAX_DUPLICATE_CHECK_INTERVAL_S)
        elif row.source.startswith(REPLY_SOURCE_PREFIX):
            # A reply is new by construction on its first attempt: the same answer to the
            # same question asked twice must arrive twice.
            body.setdefault("enable_duplicate_check", 0)
        return body

    async def _send(self, row: Claimed) -> Delivered:
        if row.kind == "app":
            sent = await self._api.send_message(self._app_body(row))
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
