"""The callback endpoint: GET URL verification, POST messages and events.

Wrong signature or corp id → 403; malformed → 400; too large → 413; otherwise 200, with an
encrypted passive reply or an empty body. Never a 5xx, never a stack trace, and a rejected
request changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web

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


class CallbackView:
    """aiohttp handlers for `/wecom/callback`."""

    def __init__(
        self,
        crypto: CallbackCrypto,
        accept: Accept,
        clock: Clock,
        *,
        max_body_bytes: int,
        max_age_s: float = 0.0,
        on_outcome: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self._crypto = crypto
        self._accept = accept
        self._clock = clock
        self._max_body = max_body_bytes
        self._max_age = max_age_s
        self._outcome = on_outcome

    def _refuse(self, status: int, outcome: str, reason: str) -> web.Response:
        self._outcome(outcome)
        log.warning("callback refused status=%s reason=%s", status, reason)
        return web.Response(
            status=status, text={400: "bad request", 403: "forbidden", 413: "too large"}[status]
        )

    def _too_old(self, timestamp: str) -> bool:
        if self._max_age <= 0:
            return False
        try:
            return abs(self._clock.now().timestamp() - int(timestamp)) > self._max_age
        except ValueError:
            return True

    async def verify(self, request: web.Request) -> web.Response:
        query = request.query
        if any(not query.get(k) for k in (*_PARAMS, "echostr")):
            return self._refuse(400, "malformed", "missing query parameter")
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

    async def receive(self, request: web.Request) -> web.Response:
        arrived = self._clock.now()  # the reply budget counts from here (issue 8.3)
        query = request.query
        if request.content_length is not None and request.content_length > self._max_body:
            return self._refuse(413, "too_large", f"content-length {request.content_length}")
        body = await request.content.read(self._max_body + 1)
        if len(body) > self._max_body:
            return self._refuse(413, "too_large", "body over limit")
        if any(not query.get(k) for k in _PARAMS) or not body:
            return self._refuse(400, "malformed", "missing query parameter or body")
        if self._too_old(query["timestamp"]):
            return self._refuse(403, "rejected", "timestamp outside the allowed age")
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
        try:
            reply = await self._accept(incoming, arrived)
        except Exception:  # storage down: answer non-200 so WeCom retries; no stack trace out
            log.exception("callback key=%s could not be stored", incoming.dedupe_key)
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
