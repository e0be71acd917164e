"""The aiohttp application: routes only. Components are built and handed in by `bot.py`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
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
    if routes.sandbox_api is not None:
        app.add_subapp("/sandbox/api", routes.sandbox_api)
    if routes.sandbox_viewer is not None:
        app.router.add_get("/sandbox", sandbox_redirect)
        app.add_subapp("/sandbox", routes.sandbox_viewer)
    return app
