"""The callback endpoint: GET URL verification, POST messages and events.

Wrong signature or corp id → 403; malformed, garbled or over-long → 400; too large → 413;
body not received in time → 408; otherwise 200, with an encrypted passive reply or an empty
body. 503 only when storage is down (WeCom retries). Never another 5xx, never a stack trace,
one log line per refusal with no signature, nonce, timestamp or echostr in it, and a refused
request changes nothing (issue 8 item 6).

Replay protection: a callback whose `timestamp` is older than `max_age_s` or more than
`future_skew_s` ahead of the clock is refused (403) before it is decrypted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import StreamReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from liuan_bot.clock import Clock
from liuan_bot.messages import Reply
from liuan_bot.wecom.crypto import CallbackCrypto, CallbackMalformed, CallbackRejected
from liuan_bot.wecom.inbound import (
    Incoming,
    NotACallback,
    parse_incoming,
    text_reply_xml,
    update_button_xml,
)

log = logging.getLogger("liuan_bot.wecom.callback")

Accept = Callable[[Incoming, datetime], Awaitable[Reply | None]]  # (message, its arrival)
_PARAMS = ("msg_signature", "timestamp", "nonce")
_STATUS_TEXT = {
    400: "bad request",
    403: "forbidden",
    408: "request timeout",
    413: "too large",
}
# WeCom's documented limits, in UTF-8 bytes (wecom-facts §2, §3.2; WeCom 成员 userid 1–64 bytes).
FIELD_LIMITS: dict[str, int] = {
    "from_user": 64,  # UserID
    "msg_type": 32,
    "event": 64,
    "event_key": 1024,  # card button key ≤1024 bytes (menu keys ≤128)
    "task_id": 128,
    "card_type": 64,
    "response_code": 1024,
    "agent_id": 20,
}
_QUERY_MAX = 128  # msg_signature is 40 hex, timestamp ~10 digits, nonce a short number


def field_problem(incoming: Incoming) -> str | None:
    """Which field of a decrypted callback breaks WeCom's documented limits, if any."""
    for name, limit in FIELD_LIMITS.items():
        value = getattr(incoming, name)
        if value is not None and len(str(value).encode("utf-8", "surrogatepass")) > limit:
            return f"{name} longer than {limit} bytes"
    if incoming.msg_id is not None and not (
        incoming.msg_id.isdigit() and len(incoming.msg_id) <= 20
    ):
        return "msg_id is not a 64-bit integer"
    if incoming.agent_id is not None and not incoming.agent_id.lstrip("-").isdigit():
        return "agent_id is not an integer"
    return None


async def _read_up_to(content: StreamReader, limit: int) -> bytes:
    """The body as it arrives, up to `limit` bytes (read() returns what has arrived so far)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


# where a callback request keeps the dedupe key of the message it carried: the access log
# line names it, so each message has one line in the log (liuan_bot.app.PathOnlyAccessLogger)
INBOUND_KEY = web.RequestKey("liuan_inbound_key", str)


class CallbackView:
    """aiohttp handlers for `/wecom/callback`."""

    def __init__(
        self,
        crypto: CallbackCrypto,
        accept: Accept,
        clock: Clock,
        *,
        max_body_bytes: int,
        max_age_s: float = 300.0,
        future_skew_s: float = 60.0,
        body_timeout_s: float = 10.0,
        on_outcome: Callable[[str], None] = lambda outcome: None,
        replay_clock: Clock | None = None,
    ) -> None:
        self._crypto = crypto
        self._accept = accept
        self._clock = clock
        self._replay_clock = replay_clock or clock
        self._max_body = max_body_bytes
        self._max_age = max_age_s
        self._skew = future_skew_s
        self._body_timeout = body_timeout_s
        self._outcome = on_outcome

    def _refuse(self, status: int, outcome: str, reason: str) -> web.Response:
        self._outcome(outcome)
        log.warning("callback refused status=%s reason=%s", status, reason)
        return web.Response(status=status, text=_STATUS_TEXT[status])

    def _stale(self, timestamp: str) -> str | None:
        """Why `timestamp` is refused (replay protection), or None."""
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:  # "²"
            return "timestamp is not a number"
        if self._max_age <= 0:
            return None
        age = self._replay_clock.now().timestamp() - int(timestamp)
        if age > self._max_age:
            return "timestamp older than the allowed age"
        if -age > self._skew:
            return "timestamp in the future"
        return None

    def _query_problem(self, request: web.Request, names: tuple[str, ...]) -> str | None:
        query = request.query
        for name in names:
            value = query.get(name, "")
            if not value:
                return "missing query parameter"
            if name != "echostr" and len(value) > _QUERY_MAX:
                return "query parameter too long"
        return None

    async def verify(self, request: web.Request) -> web.Response:
        query = request.query
        problem = self._query_problem(request, (*_PARAMS, "echostr"))
        if problem:
            return self._refuse(400, "malformed", problem)
        stale = self._stale(query["timestamp"])
        if stale:
            return self._refuse(403, "rejected", stale)
        try:
            echo = self._crypto.verify_url(
                query["msg_signature"], query["timestamp"], query["nonce"], query["echostr"]
            )
        except CallbackRejected as exc:
            return self._refuse(403, "rejected", str(exc))
        except CallbackMalformed as exc:
            return self._refuse(400, "malformed", str(exc))
        self._outcome("verified")
        return web.Response(body=echo.encode(), content_type="text/plain")

    async def _read_body(self, request: web.Request) -> bytes | web.Response:
        if request.content_length is not None and request.content_length > self._max_body:
            return self._refuse(413, "too_large", "content-length over limit")
        content = request.content
        limit = self._max_body + 1  # read one byte past the limit to see it is past
        try:
            if content.is_eof():  # all of it came with the headers (a callback is small)
                body = content.read_nowait(limit)
            else:
                async with asyncio.timeout(self._body_timeout):
                    body = await _read_up_to(content, limit)
        except TimeoutError:
            return self._refuse(408, "malformed", "body not received in time")
        except (HttpProcessingError, RequestPayloadError, ValueError) as exc:  # corrupt gzip
            return self._refuse(400, "malformed", f"unreadable body ({type(exc).__name__})")
        if len(body) > self._max_body:
            return self._refuse(413, "too_large", "body over limit")
        return body

    async def receive(self, request: web.Request) -> web.Response:
        arrived = self._clock.now()  # the reply budget counts from here (issue 8.3)
        query = request.query
        body = await self._read_body(request)
        if isinstance(body, web.Response):
            return body
        problem = self._query_problem(request, _PARAMS) or ("" if body else "empty body")
        if problem:
            return self._refuse(400, "malformed", problem)
        stale = self._stale(query["timestamp"])
        if stale:
            return self._refuse(403, "rejected", stale)
        try:
            plaintext = self._crypto.decrypt(
                body, query["msg_signature"], query["timestamp"], query["nonce"]
            )
            incoming = parse_incoming(plaintext)
        except CallbackRejected as exc:
            return self._refuse(403, "rejected", str(exc))
        except (CallbackMalformed, NotACallback) as exc:
            return self._refuse(400, "malformed", f"{type(exc).__name__}: {exc}"[:200])
        if incoming.corp_id and incoming.corp_id != self._crypto.corp_id:
            return self._refuse(403, "rejected", "plaintext ToUserName is not our corp id")
        too_long = field_problem(incoming)
        if too_long:
            return self._refuse(400, "malformed", too_long)
        request[INBOUND_KEY] = incoming.dedupe_key
        try:
            reply = await self._accept(incoming, arrived)
        except Exception as exc:  # storage down: non-200 so WeCom retries; one line, no trace
            log.error(
                "callback key=%s could not be stored: %s: %s",
                incoming.dedupe_key,
                type(exc).__name__,
                str(exc).splitlines()[0][:200] if str(exc) else "",
            )
            self._outcome("unavailable")
            return web.Response(status=503, text="busy, retry")
        return self._answer(incoming, reply)

    def _answer(self, incoming: Incoming, reply: Reply | None) -> web.Response:
        if reply is None or (reply.text is None and reply.button_label is None):
            return web.Response(status=200, body=b"")
        now = int(self._clock.now().timestamp())
        if reply.button_label is not None:
            plaintext = update_button_xml(incoming, reply.button_label, now=now)
        else:
            plaintext = text_reply_xml(incoming, reply.text or "", now=now)
        envelope = self._crypto.encrypt(plaintext, timestamp=now)
        return web.Response(body=envelope.encode(), content_type="application/xml")
