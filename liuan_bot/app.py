"""The aiohttp application: routes, and the server that runs it behind timeouts, a connection
cap and a log filter. Components are built and handed in by `bot.py`."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import resource
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import cast

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from aiohttp.web_server import Server

from liuan_bot.heap import settle_heap
from liuan_bot.wecom.callback import INBOUND_KEY, CallbackView


@dataclass(frozen=True)
class Routes:
    """What the HTTP layer needs."""

    callback: CallbackView
    health: Callable[[], Awaitable[dict[str, object]]]
    metrics: Callable[[], Awaitable[str]]
    sandbox_viewer: web.Application | None = None
    sandbox_api: web.Application | None = None
    # Public GET routes, path -> () -> (content type, body): calendar, feeds, directory.
    feeds: Mapping[str, Callable[[], Awaitable[tuple[str, str]]]] | None = None
    console: web.Application | None = None  # the web console, mounted at /console (issue 10)


FEED_CACHE_CONTROL = "public, max-age=300"


def _etag_matches(header: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (weak comparison, RFC 9110 §13.1.2)."""
    if not header:
        return False
    candidates = [part.strip() for part in header.split(",")]
    return any(c == "*" or c.removeprefix("W/") == etag for c in candidates)


def feed_handler(
    feed: Callable[[], Awaitable[tuple[str, str]]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A GET handler for a public feed: cacheable for 5 minutes, with an ETag over the body
    and 304 Not Modified when the client already has it."""

    async def handle(request: web.Request) -> web.Response:
        content_type, text = await feed()
        body = text.encode("utf-8")
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": FEED_CACHE_CONTROL}
        if _etag_matches(request.headers.get("If-None-Match"), etag):
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, headers={**headers, "Content-Type": content_type})

    return handle


_REDACTED = {"redacted": True}  # a record's `extra`: nothing in it left to redact
_ACCESS_FORMAT = "%s %s %s %.1fms"  # method, path (never the query string), status, duration
# a callback's line also names its message (`CallbackView` sets it): one line per message
_ACCESS_FORMAT_KEYED = _ACCESS_FORMAT + " inbound=%s"  # not "key=": redacted as a secret


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Access log without query strings: they carry signatures, tokens and secrets."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        # One record per request, built directly: `Logger.info` would walk the stack for the
        # caller (`findCaller`) on every request to fill in a file and line that are always
        # these. Filters and handlers (the redaction filter among them) run as for any record.
        logger = self.logger
        if logger.isEnabledFor(logging.INFO):
            # the one part a client chooses is redacted here (RedactingFilter skips the line)
            path = redact(request.path)
            args: tuple[object, ...] = (request.method, path, response.status, time * 1000)
            key = request.get(INBOUND_KEY)
            if key is not None:
                args = (*args, key)
            logger.handle(
                logger.makeRecord(
                    logger.name,
                    logging.INFO,
                    __file__,
                    _ACCESS_LINE,
                    _ACCESS_FORMAT if key is None else _ACCESS_FORMAT_KEYED,
                    args,
                    None,
                    "PathOnlyAccessLogger.log",
                    _REDACTED,
                )
            )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(20)


_ACCESS_LINE = PathOnlyAccessLogger.log.__code__.co_firstlineno  # the record's lineno


def create_app(routes: Routes) -> web.Application:
    install_log_redaction()
    app = web.Application(client_max_size=1024 * 1024)

    async def healthz(_request: web.Request) -> web.Response:
        report = await routes.health()
        status = 200 if report.get("status") == "ok" else 503
        return web.Response(
            status=status,
            text=json.dumps(report, ensure_ascii=False),
            content_type="application/json",
        )

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(text=await routes.metrics(), content_type="text/plain")

    async def index(_request: web.Request) -> web.Response:
        text = "六安市政务新闻发布助手 liuan-bot：回调地址 /wecom/callback，健康检查 /healthz"
        if routes.console is not None:
            text += "，控制台 /console/"
        if routes.sandbox_viewer is not None:
            text += "，沙箱消息 /sandbox/"
        return web.Response(text=text)

    async def sandbox_redirect(_request: web.Request) -> web.Response:
        raise web.HTTPFound("/sandbox/")

    app.router.add_get("/", index)
    app.router.add_get("/wecom/callback", routes.callback.verify)
    app.router.add_post("/wecom/callback", routes.callback.receive)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    for path, feed in (routes.feeds or {}).items():
        app.router.add_get(path, feed_handler(feed))
    if routes.console is not None:

        async def console_redirect(_request: web.Request) -> web.Response:
            raise web.HTTPFound("/console/")

        app.router.add_get("/console", console_redirect)
        app.add_subapp("/console", routes.console)
    if routes.sandbox_api is not None:
        app.add_subapp("/sandbox/api", routes.sandbox_api)
    if routes.sandbox_viewer is not None:
        app.router.add_get("/sandbox", sandbox_redirect)
        app.add_subapp("/sandbox", routes.sandbox_viewer)
    return app


# --- Server hardening (issue 8 item 6): timeouts, a connection cap, log redaction ---------

_SECRET_PARAMS = re.compile(
    r"(msg_signature|signature|timestamp|nonce|echostr|access_token|corpsecret|key)"
    r"(=|%3D)[^&\s'\"\\]*",
    re.IGNORECASE,
)
_AIOHTTP_LOGGERS = ("aiohttp.server", "aiohttp.access", "aiohttp.web", "aiohttp.internal")


def redact(text: str) -> str:
    """`text` with the values of signature, nonce, timestamp, echostr and tokens removed."""
    if "=" not in text and "%3" not in text:  # every match has "=" or "%3D"/"%3d": none here
        return text
    return _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}{m.group(2)}…", text)


class RedactingFilter(logging.Filter):
    """For aiohttp's own loggers: one line per record, no traceback, no request line.

    aiohttp logs a malformed request (`LineTooLong`, `BadStatusLine`, …) with the offending
    bytes in the exception text and a full traceback; both can carry `msg_signature`, `nonce`
    and `echostr`. The record keeps its message, the exception only by its type name.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "redacted", False):  # made of redacted parts (PathOnlyAccessLogger)
            return True
        message = redact(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            message += f" ({type(record.exc_info[1]).__name__})"
        record.msg, record.args = message, ()
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def install_log_redaction() -> None:
    """Attach `RedactingFilter` to aiohttp's loggers (idempotent)."""
    for name in _AIOHTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


@dataclass(frozen=True)
class ServerLimits:
    """How long a client may take and how many may be connected at once.

    `header_timeout_s` is aiohttp's keep-alive timeout, which also runs from the moment a
    connection opens: a connection that has not delivered a complete request head by then is
    closed (and an idle keep-alive connection after it). The body timeout is enforced by the
    callback view. `max_connections` is clamped below the process's file-descriptor limit.
    """

    header_timeout_s: float = 10.0
    max_connections: int = 512

    def effective_max_connections(self) -> int:
        try:
            soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        except (OSError, ValueError):  # pragma: no cover - not on this platform
            return self.max_connections
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(8, min(self.max_connections, soft - 128))


class _Refuse(asyncio.Protocol):
    """Closes a connection over the cap at once: no request is read, no fd is kept."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class _CappedServer:
    """Wraps aiohttp's protocol factory: at the cap, the oldest connection that is not
    inside a handler (idle, or still dribbling its request head) is closed to make room;
    if every connection is busy, the new one is refused."""

    def __init__(self, server: Server, cap: int) -> None:
        self._server = server
        self._cap = cap
        # RequestHandler has __slots__ without __weakref__: plain containers, pruned below
        self._born: dict[RequestHandler, int] = {}
        self._seq = 0
        self.busy: set[object] = set()
        self.evicted = 0
        self.refused = 0

    def __call__(self) -> asyncio.BaseProtocol:
        connections = self._server.connections
        if len(connections) >= self._cap:
            idle = [c for c in connections if c not in self.busy]
            if not idle:
                self.refused += 1
                return _Refuse()
            oldest = min(idle, key=lambda c: self._born.get(c, 0))
            oldest.force_close()
            self.evicted += 1
        if len(self._born) > 2 * self._cap:
            live = set(connections)
            self._born = {c: n for c, n in self._born.items() if c in live}
        handler = self._server()
        self._seq += 1
        self._born[handler] = self._seq
        return handler

    def __getattr__(self, name: str) -> object:
        return getattr(self._server, name)


class GuardedRunner(web.AppRunner):
    """An `AppRunner` whose server caps connections (see `_CappedServer`)."""

    def __init__(self, app: web.Application, limits: ServerLimits, **kwargs: object) -> None:
        # lingering_time: after a refusal (408, 413) an unread body is drained for at most
        # a second, not aiohttp's default ten, before the connection is closed
        super().__init__(
            app,
            keepalive_timeout=limits.header_timeout_s,
            lingering_time=1.0,
            **kwargs,  # type: ignore[arg-type]
        )
        self.limits = limits
        self.capped: _CappedServer | None = None

        @web.middleware
        async def mark_busy(
            request: web.Request, handler: Callable[[web.Request], Awaitable[StreamResponse]]
        ) -> StreamResponse:
            if self.capped is not None:
                self.capped.busy.add(request.protocol)
            try:
                return await handler(request)
            finally:
                if self.capped is not None:
                    self.capped.busy.discard(request.protocol)

        app.middlewares.append(mark_busy)

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        self.capped = _CappedServer(server, self.limits.effective_max_connections())
        return cast(Server, self.capped)


async def start_guarded(
    app: web.Application,
    host: str,
    port: int,
    limits: ServerLimits,
    *,
    sock: socket.socket | None = None,
    **kwargs: object,
) -> GuardedRunner:
    """Set up and start `app` on host:port (or on `sock`, already bound) behind the limits;
    the caller cleans up."""
    install_log_redaction()
    runner = GuardedRunner(app, limits, **kwargs)
    await runner.setup()
    site = web.SockSite(runner, sock) if sock is not None else web.TCPSite(runner, host, port)
    await site.start()
    return runner


def run_guarded(
    app: web.Application,
    host: str,
    port: int,
    limits: ServerLimits,
    *,
    sock: socket.socket | None = None,
    **kwargs: object,
) -> None:
    """Like `web.run_app`, behind `ServerLimits`, with the collector settled once started
    (`liuan_bot.heap`); returns on SIGINT/SIGTERM after cleanup."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    runner: GuardedRunner | None = None

    async def main() -> None:
        nonlocal runner
        runner = await start_guarded(
            app, host, port, limits, sock=sock, handle_signals=True, **kwargs
        )
        settle_heap()  # started: what exists now lives as long as the process
        await asyncio.Event().wait()

    task = loop.create_task(main())
    try:
        loop.run_until_complete(task)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(task)
        if runner is not None:
            loop.run_until_complete(runner.cleanup())
        rest = asyncio.all_tasks(loop)
        for leftover in rest:
            leftover.cancel()
        if rest:
            loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
