"""A fake WeCom API server (aiohttp) for tests and the bot's sandbox mode.

It speaks the subset of the API the bot uses (gettoken, message/send, update_template_card,
appchat/send, webhook/send), records every request and every message it "delivered", applies
WeCom's duplicate check, and can be told to fail: errcodes, HTTP errors, slow answers, expired
tokens. `sandbox_routes()` shows the delivered messages (沙箱消息): cards with their fields
and buttons that send a real encrypted card-event callback to the bot (`on_click`, wired by
bot.py), filtered by person, in pages, kept across restarts in a JSONL journal (issue 9 C2).

Routes are relative to the application root, so `app()` can be served alone or mounted as a
sub-app (e.g. at `/sandbox/api`).
"""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

from aiohttp import web

from liuan_bot.clock import Clock

DeliveryKind = Literal["app", "appchat", "webhook", "card_update", "card_click"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# (user, button key, task id, card type) -> the label the bot's reply puts on the button
CardClick = Callable[[str, str, str, str], Awaitable[str | None]]
PAGE_SIZE = 30

GETTOKEN = "/cgi-bin/gettoken"
MESSAGE_SEND = "/cgi-bin/message/send"
UPDATE_CARD = "/cgi-bin/message/update_template_card"
APPCHAT_SEND = "/cgi-bin/appchat/send"
WEBHOOK_SEND = "/cgi-bin/webhook/send"
SCHEDULE = "/cgi-bin/oa/schedule/"
GETUSERINFO = "/cgi-bin/auth/getuserinfo"
AUTHORIZE = "/connect/oauth2/authorize"
WORKBENCH_TEMPLATE = "/cgi-bin/agent/set_workbench_template"
WORKBENCH_DATA = "/cgi-bin/agent/set_workbench_data"
WORKBENCH_PER_USER_PER_MINUTE = 10

TOKEN_LIFETIME_S = 7200
MAX_DUPLICATE_INTERVAL_S = 4 * 3600
INTERACTIVE_CARDS = frozenset({"button_interaction", "vote_interaction", "multiple_interaction"})
KIND_LABELS: dict[str, str] = {
    "app": "应用消息",
    "appchat": "群聊",
    "webhook": "群机器人",
    "card_update": "卡片更新",
    "card_click": "点击按钮",
}


@dataclass(frozen=True)
class RecordedRequest:
    """A request as received (secrets in the query are replaced by `***`)."""

    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None
    at: datetime


@dataclass(frozen=True)
class DeliveredMessage:
    """One message that reached one recipient (user, chat, robot key)."""

    seq: int
    kind: DeliveryKind
    to: str
    msgtype: str
    content: dict[str, Any]
    body: dict[str, Any]
    at: datetime

    @property
    def text(self) -> str:
        """What a person would read (see `message_text`)."""
        return message_text(self.msgtype, self.content)


def message_text(msgtype: str, content: dict[str, Any]) -> str:
    """Human-readable text: text/markdown content, textcard and template_card titles."""
    if msgtype == "template_card":
        main_title = content.get("main_title") or {}
        parts = [str(main_title.get("title", "")), str(content.get("sub_title_text", ""))]
        return "\n".join(part for part in parts if part)
    if msgtype == "textcard":
        parts = [str(content.get("title", "")), str(content.get("description", ""))]
        return "\n".join(part for part in parts if part)
    if msgtype == "button":  # update_template_card with button.replace_name
        return str(content.get("replace_name", ""))
    if "content" in content:
        return str(content["content"])
    return json.dumps(content, ensure_ascii=False, sort_keys=True)


@dataclass
class _Fault:
    path: str | None
    times: int
    errcode: int | None = None
    errmsg: str = ""
    http_status: int | None = None
    delay_s: float | None = None

    def matches(self, path: str) -> bool:
        # An unscoped fault targets the sending endpoints, not the token fetch that the
        # client makes first; scope it to GETTOKEN to fail token fetches.
        return path != GETTOKEN if self.path is None else self.path == path


@dataclass
class _State:
    requests: list[RecordedRequest] = field(default_factory=list)
    delivered: list[DeliveredMessage] = field(default_factory=list)
    faults: list[_Fault] = field(default_factory=list)
    tokens: dict[str, datetime] = field(default_factory=dict)
    expired: set[str] = field(default_factory=set)
    last_sent: dict[tuple[str, str, str], datetime] = field(default_factory=dict)


class FakeWeCom:
    """In-memory WeCom: issues tokens, "delivers" messages, injects faults on request."""

    def __init__(
        self,
        *,
        corp_id: str | None = None,
        secret: str | None = None,
        known_users: set[str] | None = None,
        clock: Clock | None = None,
        duplicate_check: bool = True,
        journal: Path | None = None,
    ) -> None:
        self.corp_id = corp_id
        self.secret = secret
        self.known_users = known_users
        self.clock = clock
        self.duplicate_check = duplicate_check
        self._state = _State()
        # Counters survive reset(): old tokens must not become valid again, and sandbox
        # pollers keep their `since` cursor meaningful.
        self._token_seq = 0
        self._msg_seq = 0
        self._delivery_seq = 0
        self._response_code_seq = 0
        self.schedules: dict[str, dict[str, Any]] = {}
        self._schedule_seq = 0
        self.on_click: CardClick | None = None  # the sandbox's buttons (set by bot.py)
        self._clicked: dict[tuple[str, str], str] = {}  # (user, task id) -> button label
        self._journal = journal
        if journal is not None:
            self._load_journal(journal)

        # Web sign-in (OAuth2 snsapi_base): single-use codes, and who "opens" the app.
        self.oauth_codes: dict[str, str] = {}
        self.oauth_user: str | None = None
        self._code_seq = 0
        # The workbench tile: the app's template and each user's latest data.
        self.workbench_template: dict[str, Any] | None = None
        self.workbench_data: dict[str, dict[str, Any]] = {}
        self._workbench_calls: dict[str, list[datetime]] = {}

    # -- inspection ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._state.requests

    @property
    def delivered(self) -> list[DeliveredMessage]:
        return self._state.delivered

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """Recorded requests for one endpoint, e.g. `"/cgi-bin/gettoken"`."""
        path = _norm_path(path)
        return [r for r in self._state.requests if r.path == path]

    def delivered_to(self, user: str) -> list[DeliveredMessage]:
        return [m for m in self._state.delivered if m.to == user]

    def texts_to(self, user: str) -> list[str]:
        return [m.text for m in self.delivered_to(user)]

    def mint_code(self, userid: str) -> str:
        """A single-use sign-in code for `userid`, as WeCom would append to redirect_uri."""
        self._code_seq += 1
        code = f"code-{self._code_seq}-{userid}"
        self.oauth_codes[code] = userid
        return code

    # -- fault injection -----------------------------------------------------------------

    def fail_next(
        self,
        errcode: int,
        *,
        path: str | None = None,
        times: int = 1,
        errmsg: str = "fake failure",
    ) -> None:
        """Answer the next `times` matching requests with `errcode` (HTTP 200), not delivering.

        `path=None` matches every endpoint except gettoken.
        """
        self._add_fault(_Fault(path, times, errcode=errcode, errmsg=errmsg))

    def fail_http(self, status: int, *, path: str | None = None, times: int = 1) -> None:
        """Answer the next matching requests with HTTP `status` and a non-JSON body."""
        self._add_fault(_Fault(path, times, http_status=status))

    def delay_next(self, seconds: float, *, path: str | None = None, times: int = 1) -> None:
        """Deliver as usual, then wait `seconds` (real time) before answering."""
        self._add_fault(_Fault(path, times, delay_s=seconds))

    def fail_always(
        self, errcode: int, *, path: str | None = None, errmsg: str = "fake failure"
    ) -> None:
        """Answer every matching request with `errcode` until `clear_faults()` (an outage or
        a configuration error that lasts)."""
        self.fail_next(errcode, path=path, times=1 << 62, errmsg=errmsg)

    def clear_faults(self) -> None:
        """End every injected fault (the outage is over, the configuration fixed)."""
        self._state.faults.clear()

    def expire_tokens(self) -> None:
        """Every token issued so far answers 42001 from now on."""
        self._state.expired.update(self._state.tokens)

    def reset(self) -> None:
        """Forget requests, deliveries, faults, tokens and duplicate-check history."""
        self._state = _State()

    def _add_fault(self, fault: _Fault) -> None:
        if fault.path is not None:
            fault.path = _norm_path(fault.path)
        if fault.times > 0:
            self._state.faults.append(fault)

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._state.faults:
            if fault.matches(path):
                fault.times -= 1
                if fault.times <= 0:
                    self._state.faults.remove(fault)
                return fault
        return None

    # -- the API application -------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(GETTOKEN, self._endpoint(GETTOKEN, self._gettoken, auth=False))
        app.router.add_post(MESSAGE_SEND, self._endpoint(MESSAGE_SEND, self._message_send))
        app.router.add_post(UPDATE_CARD, self._endpoint(UPDATE_CARD, self._update_card))
        app.router.add_post(APPCHAT_SEND, self._endpoint(APPCHAT_SEND, self._appchat_send))
        for action in ("add", "update", "del"):
            path = SCHEDULE + action
            app.router.add_post(path, self._endpoint(path, self._schedule))
        app.router.add_post(
            WEBHOOK_SEND, self._endpoint(WEBHOOK_SEND, self._webhook_send, auth=False)
        )
        app.router.add_get(GETUSERINFO, self._endpoint(GETUSERINFO, self._getuserinfo))
        app.router.add_get(AUTHORIZE, self._authorize)
        app.router.add_post(
            WORKBENCH_TEMPLATE, self._endpoint(WORKBENCH_TEMPLATE, self._workbench_template)
        )
        app.router.add_post(WORKBENCH_DATA, self._endpoint(WORKBENCH_DATA, self._workbench_data))
        return app

    def _workbench_template(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("type") not in ("keydata", "image", "list", "webview", "normal"):
            return _error(40058, "invalid type")
        self.workbench_template = body
        return {"errcode": 0, "errmsg": "ok"}

    def _workbench_data(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        userid = str(body.get("userid", ""))
        if not userid:
            return _error(40003, "invalid userid")
        items = (body.get("keydata") or {}).get("items", [])
        if body.get("type") == "keydata" and len(items) > 4:
            return _error(40058, "keydata holds at most 4 items")
        now = self._now()
        recent = [
            t for t in self._workbench_calls.get(userid, []) if now - t < timedelta(minutes=1)
        ]
        if len(recent) >= WORKBENCH_PER_USER_PER_MINUTE:
            return _error(45009, "api freq out of limit")
        self._workbench_calls[userid] = [*recent, now]
        self.workbench_data[userid] = body
        return {"errcode": 0, "errmsg": "ok"}

    def _getuserinfo(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        userid = self.oauth_codes.pop(request.query.get("code", ""), None)
        if userid is None:
            return _error(40029, "invalid code")
        return {"errcode": 0, "errmsg": "ok", "userid": userid, "user_ticket": "fake-ticket"}

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        """The browser side of WeCom's sign-in: mint a code for `oauth_user` and send the
        browser back to `redirect_uri?code=…&state=…` (what WeCom's client does silently)."""
        self._record(request, AUTHORIZE, None)
        redirect_uri = request.query.get("redirect_uri", "")
        if self.oauth_user is None or not redirect_uri:
            return web.Response(status=400, text="no user is signed in to the fake WeCom")
        code = self.mint_code(self.oauth_user)
        state = request.query.get("state", "")
        sep = "&" if "?" in redirect_uri else "?"
        return web.Response(
            status=302, headers={"Location": f"{redirect_uri}{sep}code={code}&state={state}"}
        )

    def _endpoint(
        self,
        path: str,
        handle: Callable[[web.Request, dict[str, Any]], dict[str, Any]],
        *,
        auth: bool = True,
    ) -> Handler:
        """Wrap an endpoint: record, apply faults, check the token, then answer."""

        async def handler(request: web.Request) -> web.StreamResponse:
            body = await _json_body(request)
            self._record(request, path, body)
            fault = self._take_fault(path)
            if fault is not None and fault.http_status is not None:
                return web.Response(status=fault.http_status, text="<html>fake upstream</html>")
            if fault is not None and fault.errcode is not None:
                return web.json_response({"errcode": fault.errcode, "errmsg": fault.errmsg})
            if body is None and request.method == "POST":
                answer = _error(47001, "data format error")
            else:
                token_error = self._check_token(request) if auth else None
                answer = token_error or handle(request, body or {})
            if fault is not None and fault.delay_s is not None:
                await asyncio.sleep(fault.delay_s)
            return web.json_response(answer)

        return handler

    def _record(self, request: web.Request, path: str, body: dict[str, Any] | None) -> None:
        query = {
            name: "***" if name in ("access_token", "corpsecret") else value
            for name, value in request.query.items()
        }
        self._state.requests.append(
            RecordedRequest(request.method, path, query, body, self._now())
        )

    def _check_token(self, request: web.Request) -> dict[str, Any] | None:
        token = request.query.get("access_token")
        if not token:
            return _error(41001, "access_token missing")
        expires_at = self._state.tokens.get(token)
        if expires_at is None:
            return _error(40014, "invalid access_token")
        if token in self._state.expired or self._now() >= expires_at:
            return _error(42001, "access_token expired")
        return None

    def _gettoken(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        corp_ok = self.corp_id is None or request.query.get("corpid") == self.corp_id
        secret_ok = self.secret is None or request.query.get("corpsecret") == self.secret
        if not (corp_ok and secret_ok):
            return _error(40001, "invalid credential")
        self._token_seq += 1
        token = f"tok-{self._token_seq}"
        self._state.tokens[token] = self._now() + timedelta(seconds=TOKEN_LIFETIME_S)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "access_token": token,
            "expires_in": TOKEN_LIFETIME_S,
        }

    def _message_send(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        msgtype, content = _content_of(body)
        if content is None:
            return _error(40008, "invalid message type")
        users = _split(body.get("touser"))
        if users == ["@all"] and self.known_users is not None:
            users = sorted(self.known_users)
        invalid = [u for u in users if self.known_users is not None and u not in self.known_users]
        recipients = [u for u in users if u not in invalid]
        recipients += [f"party:{p}" for p in _split(body.get("toparty"))]
        recipients += [f"tag:{t}" for t in _split(body.get("totag"))]
        answer: dict[str, Any] = {"invaliduser": "|".join(invalid)}
        if not recipients:
            return {**_error(81013, "user & party & tag all invalid"), **answer}
        check = self.duplicate_check and _flag(body.get("enable_duplicate_check"))
        interval = _interval(body.get("duplicate_check_interval")) if check else None
        for user in recipients:
            self._deliver("app", user, msgtype, content, body, duplicate_interval_s=interval)
        self._msg_seq += 1
        answer.update(
            errcode=0,
            errmsg="ok",
            invalidparty="",
            invalidtag="",
            unlicenseduser="",
            msgid=f"msg-{self._msg_seq}",
        )
        if msgtype == "template_card" and content.get("card_type") in INTERACTIVE_CARDS:
            self._response_code_seq += 1
            answer["response_code"] = f"rc-{self._response_code_seq}"
        return answer

    def _update_card(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        if isinstance(body.get("template_card"), dict):
            msgtype, content = "template_card", body["template_card"]
        elif isinstance(body.get("button"), dict):
            msgtype, content = "button", body["button"]
        else:
            return _error(40008, "invalid message type")
        recipients = [str(u) for u in body.get("userids") or []]
        recipients += [f"party:{p}" for p in body.get("partyids") or []]
        recipients += [f"tag:{t}" for t in body.get("tagids") or []]
        if not recipients and _flag(body.get("atall")):
            recipients = ["@all"]
        for user in recipients:
            self._deliver("card_update", user, msgtype, content, body)
        return {"errcode": 0, "errmsg": "ok", "invaliduser": []}

    def _schedule(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        """oa/schedule/add|update|del: calendar events, kept in `schedules` by id."""
        action = request.path.rsplit("/", 1)[-1]
        if action == "del":
            schedule_id = str(body.get("schedule_id", ""))
            if self.schedules.pop(schedule_id, None) is None:
                return _error(400058, "schedule not found")
            return {"errcode": 0, "errmsg": "ok"}
        schedule = body.get("schedule")
        if not isinstance(schedule, dict):
            return _error(40058, "missing schedule")
        if int(schedule.get("end_time", 0)) < int(schedule.get("start_time", 0)):
            return _error(40058, "missing paramters start_time")
        if action == "update":
            schedule_id = str(schedule.get("schedule_id", ""))
            if schedule_id not in self.schedules:
                return _error(400058, "schedule not found")
            self.schedules[schedule_id] = dict(schedule)
            return {"errcode": 0, "errmsg": "ok"}
        self._schedule_seq += 1
        schedule_id = f"sch-{self._schedule_seq}"
        self.schedules[schedule_id] = {**schedule, "schedule_id": schedule_id}
        return {"errcode": 0, "errmsg": "ok", "schedule_id": schedule_id}

    def _appchat_send(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        chatid = body.get("chatid")
        msgtype, content = _content_of(body)
        if not isinstance(chatid, str) or not chatid:
            return _error(86003, "chat not found")
        if content is None:
            return _error(40008, "invalid message type")
        self._deliver("appchat", chatid, msgtype, content, body)
        return {"errcode": 0, "errmsg": "ok"}

    def _webhook_send(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        key = request.query.get("key")
        msgtype, content = _content_of(body)
        if not key:
            return _error(93000, "invalid webhook url")
        if content is None:
            return _error(40008, "invalid message type")
        self._deliver("webhook", key, msgtype, content, body)
        return {"errcode": 0, "errmsg": "ok"}

    def _deliver(
        self,
        kind: DeliveryKind,
        to: str,
        msgtype: str,
        content: dict[str, Any],
        body: dict[str, Any],
        *,
        duplicate_interval_s: float | None = None,
    ) -> None:
        """Record a delivery, unless WeCom's duplicate check would swallow it (still errcode 0).

        `duplicate_interval_s` is None when the sender did not ask for the check.
        """
        now = self._now()
        key = (to, msgtype, json.dumps(content, ensure_ascii=False, sort_keys=True))
        if kind == "app":
            first = self._state.last_sent.get(key)
            if (
                duplicate_interval_s is not None
                and first is not None
                and now - first < timedelta(seconds=duplicate_interval_s)
            ):
                return
            self._state.last_sent[key] = now
        self._delivery_seq += 1
        message = DeliveredMessage(self._delivery_seq, kind, to, msgtype, content, body, now)
        self._state.delivered.append(message)
        if self._journal is not None:
            self._write_journal(message)

    def _load_journal(self, path: Path) -> None:
        """Messages of earlier runs (sandbox mode), so the viewer survives a restart."""
        if not path.exists():
            return
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                message = DeliveredMessage(
                    int(row["seq"]),
                    row["kind"],
                    str(row["to"]),
                    str(row["msgtype"]),
                    dict(row["content"]),
                    {},
                    datetime.fromisoformat(row["at"]),
                )
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line after a crash
            if message.kind == "card_click":
                self._clicked[(message.to, str(message.content.get("task_id")))] = str(
                    message.content.get("replace_name", "")
                )
            self._state.delivered.append(message)
            self._delivery_seq = max(self._delivery_seq, message.seq)

    def _write_journal(self, message: DeliveredMessage) -> None:
        assert self._journal is not None
        row = {
            "seq": message.seq,
            "kind": message.kind,
            "to": message.to,
            "msgtype": message.msgtype,
            "content": message.content,
            "at": message.at.isoformat(),
        }
        self._journal.parent.mkdir(parents=True, exist_ok=True)
        with self._journal.open("a", encoding="utf-8") as out:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")

    def _now(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(UTC)

    # -- sandbox viewer ------------------------------------------------------------------

    def sandbox_routes(self) -> web.Application:
        """Viewer sub-app (mount at `/sandbox`): `GET /` page (`?to=` a person, `?page=`),
        `GET /messages.json`, and `POST /click` for a card's button."""
        app = web.Application()
        app.router.add_get("/", self._sandbox_page)
        app.router.add_get("/messages.json", self._sandbox_messages)
        app.router.add_post("/click", self._sandbox_click)
        return app

    async def _sandbox_page(self, request: web.Request) -> web.StreamResponse:
        to = request.query.get("to") or None
        try:
            page = max(1, int(request.query.get("page", "1")))
        except ValueError:
            page = 1
        shown = [
            m
            for m in reversed(self._state.delivered)
            if m.kind != "card_click" and (to is None or m.to == to)
        ]
        pages = max(1, -(-len(shown) // PAGE_SIZE))
        page = min(page, pages)
        rows = "\n".join(
            self._html_row(m) for m in shown[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        )
        people = sorted({m.to for m in self._state.delivered if m.kind == "app"})
        links = ['<a href="./">全部</a>'] + [
            f'<a href="./?{urlencode({"to": p})}">{html.escape(p)}</a>' for p in people
        ]
        nav = []
        for label, number in (("上一页", page - 1), ("下一页", page + 1)):
            if 1 <= number <= pages:
                query = urlencode({**({"to": to} if to else {}), "page": number})
                nav.append(f'<a href="./?{query}">{label}</a>')
        page_html = _PAGE.format(
            rows=rows or '<tr><td colspan="5">暂无消息</td></tr>',
            people=" · ".join(links),
            who=html.escape(f"发给 {to} 的消息" if to else "全部消息"),
            nav=" ".join(nav),
            position=f"第 {page}/{pages} 页，共 {len(shown)} 条",
            refresh='<meta http-equiv="refresh" content="5">' if page == 1 else "",
        )
        return web.Response(text=page_html, content_type="text/html", charset="utf-8")

    async def _sandbox_click(self, request: web.Request) -> web.StreamResponse:
        """A button pressed in the viewer: a real encrypted card event goes to the bot."""
        form = await request.post()
        user, key = str(form.get("user", "")), str(form.get("key", ""))
        task_id, card_type = str(form.get("task_id", "")), str(form.get("card_type", ""))
        if not (user and key and task_id):
            raise web.HTTPBadRequest(text="缺少按钮信息")
        if self.on_click is None:
            raise web.HTTPConflict(text="沙箱未接入机器人，按钮无法使用")
        label = await self.on_click(user, key, task_id, card_type or "button_interaction")
        if label:
            self._clicked[(user, task_id)] = label
            self._deliver(
                "card_click",
                user,
                "button",
                {"task_id": task_id, "key": key, "replace_name": label},
                {},
            )
        raise web.HTTPSeeOther(f"./?{urlencode({'to': user})}")

    def _html_row(self, message: DeliveredMessage) -> str:
        cells = [
            message.at.strftime("%Y-%m-%d %H:%M:%S"),
            KIND_LABELS.get(message.kind, message.kind),
            message.to,
            message.msgtype,
        ]
        tds = "".join(f"<td>{html.escape(cell)}</td>" for cell in cells)
        if message.msgtype == "template_card":
            content = _card_html(message, self._clicked)
        else:
            content = html.escape(message.text)
        return f'<tr>{tds}<td class="content">{content}</td></tr>'

    async def _sandbox_messages(self, request: web.Request) -> web.StreamResponse:
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text="since 必须是整数") from None
        to = request.query.get("to")
        messages = [
            {
                "seq": m.seq,
                "kind": m.kind,
                "to": m.to,
                "msgtype": m.msgtype,
                "text": m.text,
                "at": m.at.isoformat(),
            }
            for m in self._state.delivered
            if m.seq > since and (to is None or m.to == to) and m.kind != "card_click"
        ]
        return web.json_response({"messages": messages}, dumps=_dumps)


_PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
{refresh}
<title>沙箱消息</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #ccc; padding: 0.4em; text-align: left; vertical-align: top; }}
td.content {{ white-space: pre-wrap; }}
.card {{ border: 1px solid #9ab; border-radius: 6px; padding: 0.5em; background: #f7fafc; }}
.card h3 {{ margin: 0 0 0.3em; font-size: 1.05em; }}
.card .desc {{ color: #555; }}
.card form {{ display: inline; }}
.card button {{ margin: 0.3em 0.3em 0 0; }}
</style>
</head>
<body>
<h1>沙箱消息</h1>
<p>按人查看：{people}</p>
<p>{who}（最新的在最上面；第一页每 5 秒自动刷新）。{position} {nav}</p>
<table>
<thead><tr><th>时间</th><th>类型</th><th>接收方</th><th>消息类型</th><th>内容</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<p>{nav}</p>
</body>
</html>
"""


def _card_html(message: DeliveredMessage, clicked: dict[tuple[str, str], str]) -> str:
    """A template card with its fields, and its buttons as forms that click for real."""
    card = message.content
    title = card.get("main_title") or {}
    parts = ['<div class="card">']
    source = (card.get("source") or {}).get("desc")
    if source:
        parts.append(f'<div class="desc">{html.escape(str(source))}</div>')
    parts.append(f"<h3>{html.escape(str(title.get('title', '')))}</h3>")
    if title.get("desc"):
        parts.append(f'<div class="desc">{html.escape(str(title["desc"]))}</div>')
    if card.get("sub_title_text"):
        parts.append(f"<div>{html.escape(str(card['sub_title_text']))}</div>")
    for item in card.get("horizontal_content_list") or []:
        key, value = (
            html.escape(str(item.get("keyname", ""))),
            html.escape(str(item.get("value", ""))),
        )
        parts.append(f"<div>{key}：{value}</div>")
    task_id = str(card.get("task_id", ""))
    done = clicked.get((message.to, task_id))
    buttons = card.get("button_list") or []
    if done:
        parts.append(f"<div><strong>{html.escape(done)}</strong></div>")
    elif message.kind == "app":
        for button in buttons:
            fields = {
                "user": message.to,
                "key": str(button.get("key", "")),
                "task_id": task_id,
                "card_type": str(card.get("card_type", "")),
            }
            hidden = "".join(
                f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
                for name, value in fields.items()
            )
            label = html.escape(str(button.get("text", "")))
            parts.append(
                f'<form method="post" action="click">{hidden}<button type="submit">{label}'
                "</button></form>"
            )
    parts.append("</div>")
    return "".join(parts)


async def _json_body(request: web.Request) -> dict[str, Any] | None:
    if not request.body_exists:
        return None
    try:
        data = json.loads(await request.read())
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _content_of(body: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    msgtype = str(body.get("msgtype", ""))
    content = body.get(msgtype) if msgtype else None
    return msgtype, content if isinstance(content, dict) else None


def _error(errcode: int, errmsg: str) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": errmsg}


def _split(value: object) -> list[str]:
    if not isinstance(value, str):
        return []
    return [part for part in value.split("|") if part]


def _flag(value: object) -> bool:
    return value in (1, "1", True)


def _interval(value: object) -> float:
    try:
        seconds = float(value) if isinstance(value, int | float | str) else 1800.0
    except ValueError:
        seconds = 1800.0
    return min(max(seconds, 0.0), MAX_DUPLICATE_INTERVAL_S)


def _norm_path(path: str) -> str:
    return "/" + path.lstrip("/")


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)
