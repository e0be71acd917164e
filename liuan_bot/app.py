"""The aiohttp application: routes only. Components are built and handed in by `bot.py`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from liuan_bot.wecom.callback import CallbackView


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


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Access log without query strings: they carry signatures, tokens and secrets."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %.1fms", request.method, request.path, response.status, time * 1000
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(20)


def create_app(routes: Routes) -> web.Application:
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
