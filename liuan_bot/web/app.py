"""The console sub-application (`/console/`): sign-in, pages, actions, static assets.

Server-rendered with aiohttp-jinja2 (autoescape on for everything); no inline script, so the
CSP forbids it. Live mode signs in through WeCom OAuth2 (snsapi_base, wecom-facts "Web pages
inside WeCom"); sandbox mode through a picker of roster members (never in live mode).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web

from liuan_bot.clock import Clock
from liuan_bot.domain.members import Member
from liuan_bot.domain.roles import Role
from liuan_bot.errors import NotFound, PermissionDenied, UsageError, UserError
from liuan_bot.web.backend import CodeExchange, ConsoleBackend, ConsoleConfig
from liuan_bot.web.security import (
    PRE_COOKIE,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    OAuthStates,
    RateLimiter,
    Signer,
)

log = logging.getLogger("liuan_bot.web")
HERE = Path(__file__).resolve().parent
AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
PREFIX = "/console"
MEMBER_KEY = web.RequestKey("member", Member)
CSRF_KEY = web.RequestKey("csrf", str)
NONCE_KEY = web.RequestKey("nonce", str)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'self'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
}
NAV = (
    ("home", "待办", "/console/"),
    ("board", "4·2·1", "/console/board"),
    ("applications", "申请", "/console/applications"),
    ("incidents", "突发事件", "/console/incidents"),
    ("calendar", "日历", "/console/calendar"),
    ("releases", "发布", "/console/releases"),
    ("roster", "名册", "/console/roster"),
    ("reminders", "提醒记录", "/console/reminders"),
    ("announcements", "公告", "/console/announcements"),
    ("evaluation", "评估与问责", "/console/evaluation"),
)
TITLES = {key: label for key, label, _ in NAV} | {"unit": "单位详情", "home": "待办"}
ACTIONS = ("review_pass", "review_reject", "approve", "disapprove", "schedule")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _safe_next(path: str | None) -> str:
    """Only a path inside the console is a place to return to after sign-in."""
    if path and path.startswith(PREFIX + "/") and "//" not in path and "\\" not in path:
        return path
    return PREFIX + "/"


def create_console_app(
    backend: ConsoleBackend,
    config: ConsoleConfig,
    clock: Clock,
    exchange_code: CodeExchange,
) -> web.Application:
    """The console, to be mounted at `/console` (see liuan_bot.app.Routes.console)."""
    signer = Signer(config.signing_key, clock)
    states = OAuthStates(clock)
    limiter = RateLimiter(clock)

    @web.middleware
    async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            for name, value in SECURITY_HEADERS.items():
                exc.headers.setdefault(name, value)
            raise
        except PermissionDenied as exc:
            response = page_error(request, 403, "没有权限", exc.message)
        except NotFound as exc:
            response = page_error(request, 404, "找不到", exc.message)
        except UserError as exc:
            response = page_error(request, 400, "输入有误", exc.message)
        except Exception:
            log.exception("console page %s failed", request.path)
            response = page_error(
                request, 500, "出错了", "页面暂时无法显示，已记录下来。请稍后再试。"
            )
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.path.startswith(PREFIX + "/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app = web.Application(middlewares=[headers])
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # templates are read once; no stat() on the event loop per page
    )
    env.globals["nav"] = NAV
    app.router.add_static("/static/", HERE / "static", append_version=False)

    def page_error(request: web.Request, status: int, title: str, message: str) -> web.Response:
        member = request.get(MEMBER_KEY)
        return aiohttp_jinja2.render_template(
            "error.html",
            request,
            {
                "title": title,
                "message": message,
                "member": member,
                "csrf": request.get(CSRF_KEY, ""),
                "active": "",
                "sandbox": config.sandbox,
            },
            status=status,
        )

    def _client(request: web.Request) -> str:
        return request.remote or "?"

    def redirect(location: str) -> web.Response:
        return web.Response(status=302, headers={"Location": location})

    def start_sign_in(request: web.Request, next_path: str | None = None) -> web.Response:
        next_path = _safe_next(next_path or request.path_qs)
        if config.sandbox:
            return redirect(f"{PREFIX}/login?{urlencode({'next': next_path})}")
        state = states.new(next_path)
        redirect_uri = f"{config.link_base}{PREFIX}/oauth"
        query = (
            f"appid={quote(config.corp_id, safe='')}"
            f"&redirect_uri={quote(redirect_uri, safe='')}"
            f"&response_type=code&scope=snsapi_base&state={state}"
            f"&agentid={config.agent_id}#wechat_redirect"
        )
        return redirect(f"{AUTHORIZE_URL}?{query}")

    def signed_in(member: Member, next_path: str) -> web.StreamResponse:
        cookie, _ = signer.issue(member.userid)
        response = redirect(next_path)
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=int(SESSION_LIFETIME.total_seconds()),
            path=PREFIX + "/",
            httponly=True,
            samesite="Lax",
            secure=config.secure_cookies,
        )
        response.del_cookie(PRE_COOKIE, path=PREFIX + "/")
        log.info("console sign-in of %s", member.userid)
        return response

    async def current(request: web.Request) -> Member | None:
        session = signer.read(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        member = await backend.member(session.userid)
        if member is not None:
            request[MEMBER_KEY] = member
            request[CSRF_KEY] = signer.csrf(session.nonce)
            request[NONCE_KEY] = session.nonce
        return member

    def render(
        request: web.Request,
        template: str,
        active: str,
        data: dict[str, Any],
        *,
        status: int = 200,
        flash: str = "",
        flash_ok: bool = True,
    ) -> web.Response:
        member = request[MEMBER_KEY]
        context = {
            **data,
            "member": member,
            "csrf": request[CSRF_KEY],
            "active": active,
            "title": TITLES.get(active, "控制台"),
            "flash": flash,
            "flash_ok": flash_ok,
            "sandbox": config.sandbox,
            "city_wide": member.city_wide,
            "is_news": Role.NEWS_OFFICE in member.roles,
            "is_approver": Role.APPROVER in member.roles,
        }
        return aiohttp_jinja2.render_template(template, request, context, status=status)

    def page(name: str) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            member = await current(request)
            if member is None:
                return start_sign_in(request)
            data = await backend.page(name, member, dict(request.query))
            return render(request, f"{name}.html", name, data)

        return handle

    async def unit_handler(request: web.Request) -> web.StreamResponse:
        member = await current(request)
        if member is None:
            return start_sign_in(request)
        data = await backend.page("unit", member, {"unit": request.match_info["unit"]})
        return render(request, "unit.html", "board", data)

    async def download(request: web.Request) -> web.StreamResponse:
        member = await current(request)
        if member is None:
            return start_sign_in(request)
        content_type, name, body = await backend.download(member, dict(request.query))
        return web.Response(
            body=body,
            headers={
                "Content-Type": content_type,
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            },
        )

    async def act(request: web.Request) -> web.StreamResponse:
        member = await current(request)
        if member is None:
            return start_sign_in(request)
        form = await request.post()
        fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        if not signer.csrf_ok(request[NONCE_KEY], fields.get("csrf")):
            raise UsageError("页面已过期，请刷新后重试。")
        action = request.match_info["action"]
        if action not in ACTIONS:
            raise NotFound("没有这个操作。")
        result = await backend.act(member, action, request.match_info["record_id"], fields)
        data = await backend.page("applications", member, {})
        status = 200 if result.ok else (403 if result.denied else 400)
        return render(
            request,
            "applications.html",
            "applications",
            data,
            status=status,
            flash=result.text,
            flash_ok=result.ok,
        )

    async def login_page(request: web.Request) -> web.StreamResponse:
        next_path = _safe_next(request.query.get("next"))
        if not config.sandbox:
            if await current(request) is not None:
                return redirect(next_path)
            return start_sign_in(request, next_path)
        pre = request.cookies.get(PRE_COOKIE) or signer.issue("-")[1].nonce
        context = {
            "people": await backend.sign_in_choices(),
            "next": next_path,
            "csrf": signer.csrf("login:" + pre),
            "member": None,
            "active": "",
            "title": "登录",
            "sandbox": True,
        }
        response = aiohttp_jinja2.render_template("login.html", request, context)
        response.set_cookie(
            PRE_COOKIE,
            pre,
            path=PREFIX + "/",
            httponly=True,
            samesite="Lax",
            secure=config.secure_cookies,
        )
        return response

    async def login_post(request: web.Request) -> web.StreamResponse:
        if not config.sandbox:
            raise NotFound("正式模式请从企业微信工作台打开控制台登录。")
        if not limiter.allow(_client(request)):
            return page_error(request, 429, "请稍后再试", "登录尝试过于频繁，请一分钟后再试。")
        form = await request.post()
        pre = request.cookies.get(PRE_COOKIE, "")
        if not pre or not signer.csrf_ok("login:" + pre, str(form.get("csrf", ""))):
            raise UsageError("登录页面已过期，请刷新后重新选择。")
        member = await backend.member(str(form.get("userid", "")))
        if member is None:
            return page_error(request, 403, "无法登录", "名册里没有这个账号。")
        return signed_in(member, _safe_next(str(form.get("next", ""))))

    async def oauth_return(request: web.Request) -> web.StreamResponse:
        if not limiter.allow(_client(request)):
            return page_error(request, 429, "请稍后再试", "登录尝试过于频繁，请一分钟后再试。")
        next_path = states.take(request.query.get("state"))
        if next_path is None:
            return page_error(
                request,
                400,
                "登录链接已失效",
                "这个登录链接已经用过或已过期。请从企业微信工作台重新打开控制台。",
            )
        code = request.query.get("code", "")
        userid = await exchange_code(code) if code else None
        if userid is None:
            return page_error(
                request,
                400,
                "登录未成功",
                "企业微信没有确认您的身份（登录凭据无效或已过期）。请从企业微信工作台重新打开控制台。",
            )
        member = await backend.member(userid)
        if member is None:
            log.warning("console sign-in refused: %s is not in the roster", userid)
            return page_error(
                request,
                403,
                "无法登录",
                "您还不在六安市新闻发布工作名册中，无法使用控制台。请联系市政府新闻办登记。",
            )
        return signed_in(member, next_path)

    async def logout(request: web.Request) -> web.StreamResponse:
        member = await current(request)
        if member is not None:
            form = await request.post()
            if not signer.csrf_ok(request[NONCE_KEY], str(form.get("csrf", ""))):
                raise UsageError("页面已过期，请刷新后重试。")
        response = aiohttp_jinja2.render_template(
            "error.html",
            request,
            {
                "title": "已退出",
                "message": "您已退出控制台。",
                "member": None,
                "csrf": "",
                "active": "",
                "sandbox": config.sandbox,
            },
        )
        response.del_cookie(SESSION_COOKIE, path=PREFIX + "/")
        return response

    app.router.add_get("/", page("home"))
    for key, _label, _href in NAV[1:]:
        app.router.add_get(f"/{key}", page(key))
    app.router.add_get("/units/{unit}", unit_handler)
    app.router.add_get("/evaluation/download", download)
    app.router.add_post("/applications/{record_id}/{action}", act)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_post)
    app.router.add_get("/oauth", oauth_return)
    app.router.add_post("/logout", logout)
    return app
