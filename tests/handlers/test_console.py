"""The web console (issue 10 §1): WeCom OAuth2 sign-in, R1 scoping, the same use case behind
chat and console (same permission check, same audit), autoescaping and security headers."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import col, select

from liuan_bot.clock import FixedClock
from liuan_bot.pacing import WINDOW_MARGIN_S
from liuan_bot.settings import SettingsError, load_settings
from liuan_bot.wecom.fake_server import FakeWeCom
from storage.tables import AuditEntry, Conference
from tests.conftest import load_demo_roster
from tests.support import Harness, make_settings, running_bot

PUBLIC = "https://xwb.example.gov.cn"
APPLY = (
    "申请发布会\n主题：2026年秋粮收购政策解读\n时间：12月3日上午10点\n"
    "发布人：郑学军、鲍克勤\n地点：市政府新闻发布厅"
)


async def begin(h: Harness, path: str = "/console/") -> dict[str, list[str]]:
    """Open a console page without a session: the query of WeCom's authorize URL."""
    resp = await h.client.get(path, allow_redirects=False)
    assert resp.status == 302
    location = resp.headers["Location"]
    assert location.startswith("https://open.weixin.qq.com/connect/oauth2/authorize?")
    assert location.endswith("#wechat_redirect")
    return parse_qs(urlsplit(location.removesuffix("#wechat_redirect")).query)


async def sign_in(h: Harness, userid: str) -> str:
    """The whole OAuth round trip for `userid`; the session cookie header to send."""
    query = await begin(h)
    code = h.fake.mint_code(userid)
    resp = await h.client.get(
        "/console/oauth", params={"code": code, "state": query["state"][0]}, allow_redirects=False
    )
    assert resp.status == 302, await resp.text()
    morsel = resp.cookies["liuan_console"]
    return f"liuan_console={morsel.value}"


async def get(h: Harness, path: str, cookie: str, **params: str) -> tuple[int, str]:
    h.client.session.cookie_jar.clear()
    resp = await h.client.get(
        path, params=params, headers={"Cookie": cookie}, allow_redirects=False
    )
    return resp.status, await resp.text()


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


async def post(h: Harness, path: str, cookie: str, data: dict[str, str]) -> tuple[int, str]:
    h.client.session.cookie_jar.clear()
    resp = await h.client.post(path, data=data, headers={"Cookie": cookie}, allow_redirects=False)
    return resp.status, await resp.text()


async def apply(h: Harness, text: str = APPLY) -> str:
    _, reply = await h.send_text("demo", text)
    assert reply is not None
    found = re.search(r"SQ-\d{4}-\d{4}", reply)
    assert found, reply
    return found.group(0)


async def state_of(h: Harness, rid: str) -> str:
    async with h.bot.deps.sessions() as session:
        conf = (
            await session.exec(select(Conference).where(col(Conference.record_id) == rid))
        ).one()
        return conf.state


# ---------------------------------------------------------------- sign-in


async def test_without_a_session_the_console_redirects_to_wecom_oauth(harness: Harness) -> None:
    query = await begin(harness, "/console/board")
    assert query["appid"] == ["wx5823bf96d3bd56c7"]
    assert query["redirect_uri"] == [f"{PUBLIC}/console/oauth"]
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["snsapi_base"]
    assert query["agentid"] == ["1000002"]
    assert re.fullmatch(r"[a-zA-Z0-9]{16,128}", query["state"][0])
    resp = await harness.client.get("/console/", allow_redirects=False)
    location = resp.headers["Location"]
    assert "redirect_uri=https%3A%2F%2Fxwb.example.gov.cn%2Fconsole%2Foauth" in location
    assert parse_qs(urlsplit(location).query.split("#")[0])["state"] != query["state"]


async def test_oauth_return_starts_an_eight_hour_signed_httponly_lax_secure_session(
    harness: Harness,
) -> None:
    query = await begin(harness, "/console/board")
    code = harness.fake.mint_code("newsoffice")
    resp = await harness.client.get(
        "/console/oauth", params={"code": code, "state": query["state"][0]}, allow_redirects=False
    )
    assert resp.status == 302
    assert resp.headers["Location"] == "/console/board"  # back where the person was going
    header = resp.headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" in header  # LIUAN_PUBLIC_URL is https
    assert "Max-Age=28800" in header
    calls = harness.fake.requests_to("/cgi-bin/auth/getuserinfo")
    assert [c.query["code"] for c in calls] == [code]
    assert calls[0].query["access_token"] == "***"  # the server's token, never the browser's
    cookie = f"liuan_console={resp.cookies['liuan_console'].value}"
    status, page = await get(harness, "/console/", cookie)
    assert status == 200
    assert "李新闻" in page
    # a forged cookie is no session
    status, _ = await get(harness, "/console/", cookie[:-3] + "AAA")
    assert status == 302


async def test_a_used_or_wrong_state_gives_a_chinese_page_and_no_session(
    harness: Harness,
) -> None:
    query = await begin(harness)
    state = query["state"][0]
    first = await harness.client.get(
        "/console/oauth",
        params={"code": harness.fake.mint_code("newsoffice"), "state": state},
        allow_redirects=False,
    )
    assert first.status == 302
    for wrong in (state, "notastate"):  # used once already; never issued
        resp = await harness.client.get(
            "/console/oauth",
            params={"code": harness.fake.mint_code("newsoffice"), "state": wrong},
            allow_redirects=False,
        )
        assert resp.status == 400
        assert "liuan_console" not in resp.cookies
        text = await resp.text()
        assert "登录链接已失效" in text
        assert "Traceback" not in text


async def test_an_invalid_code_40029_and_a_stranger_get_no_session(harness: Harness) -> None:
    query = await begin(harness)
    resp = await harness.client.get(
        "/console/oauth",
        params={"code": "forged", "state": query["state"][0]},
        allow_redirects=False,
    )
    assert resp.status == 400
    assert "liuan_console" not in resp.cookies
    assert "登录未成功" in await resp.text()
    query = await begin(harness)
    resp = await harness.client.get(
        "/console/oauth",
        params={"code": harness.fake.mint_code("stranger"), "state": query["state"][0]},
        allow_redirects=False,
    )
    assert resp.status == 403
    assert "liuan_console" not in resp.cookies
    assert "名册" in await resp.text()


async def test_sign_in_attempts_are_rate_limited(harness: Harness) -> None:
    statuses = []
    for _ in range(12):
        resp = await harness.client.get(
            "/console/oauth", params={"code": "x", "state": "y"}, allow_redirects=False
        )
        statuses.append(resp.status)
    assert statuses[:10] == [400] * 10
    assert statuses[10:] == [429, 429]
    harness.clock.advance(seconds=61)
    resp = await harness.client.get("/console/oauth", params={"code": "x", "state": "y"})
    assert resp.status == 400


async def test_live_mode_has_no_sandbox_picker(harness: Harness) -> None:
    resp = await harness.client.get("/console/login", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"].startswith("https://open.weixin.qq.com/")
    resp = await harness.client.post(
        "/console/login", data={"userid": "newsoffice", "csrf": "x"}, allow_redirects=False
    )
    assert resp.status == 404
    assert "liuan_console" not in resp.cookies


async def test_sandbox_picker_signs_in_a_roster_member_with_a_csrf_token(
    sqlite_url: str, tmp_path: Path, clock: FixedClock, fake_wecom: FakeWeCom
) -> None:
    await load_demo_roster(sqlite_url)
    settings = make_settings(sqlite_url, tmp_path, LIUAN_PUBLIC_URL="")
    assert settings.sandbox
    async with running_bot(settings, clock, fake_wecom) as h:
        resp = await h.client.get("/console/roster", allow_redirects=False)
        assert resp.status == 302
        assert resp.headers["Location"].startswith("/console/login?next=")
        page = await (await h.client.get("/console/login")).text()
        assert "李新闻" in page
        refused = await h.client.post(
            "/console/login",
            data={"userid": "newsoffice", "csrf": "forged"},
            allow_redirects=False,
        )
        assert refused.status == 400
        resp = await h.client.post(
            "/console/login",
            data={"userid": "newsoffice", "csrf": csrf_of(page), "next": "/console/roster"},
            allow_redirects=False,
        )
        assert resp.status == 302
        assert resp.headers["Location"] == "/console/roster"
        assert "Secure" not in resp.headers["Set-Cookie"]  # sandbox: plain http
        assert "HttpOnly" in resp.headers["Set-Cookie"]


# ---------------------------------------------------------------- R1, escaping, headers


async def test_r1_a_unit_member_sees_only_their_own_unit(harness: Harness) -> None:
    cookie = await sign_in(harness, "demo")  # 市财政局
    status, page = await get(harness, "/console/units/市教育局", cookie)
    assert status == 403
    assert "其他单位" in page
    assert "徐启航" not in page
    status, page = await get(harness, "/console/board", cookie, unit="市教育局")
    assert status == 403
    status, page = await get(harness, "/console/board", cookie)
    assert status == 200
    assert "市财政局" in page
    assert "市教育局" not in page
    status, page = await get(harness, "/console/roster", cookie)
    assert "张演示" in page
    assert "徐启航" not in page


async def test_r1_the_news_and_disclosure_offices_see_every_unit(harness: Harness) -> None:
    for user in ("newsoffice", "huangting"):
        cookie = await sign_in(harness, user)
        status, page = await get(harness, "/console/board", cookie)
        assert status == 200
        assert "市财政局" in page
        assert "市教育局" in page
        status, page = await get(harness, "/console/units/市教育局", cookie)
        assert status == 200
        _, page = await get(harness, "/console/roster", cookie)
        assert "市教育局" in page  # every unit's R4/R5/R7 state …
        assert "徐启航" in page  # … (the public directory preview lists him)
        _, page = await get(harness, "/console/roster", cookie, unit="市教育局")
        assert "宣传科科长" in page  # … and one unit's people on demand


async def test_typed_markup_is_shown_as_text_and_headers_forbid_inline_script(
    harness: Harness,
) -> None:
    rid = await apply(
        harness, APPLY.replace("2026年秋粮收购政策解读", "<script>alert(1)</script>")
    )
    cookie = await sign_in(harness, "newsoffice")
    harness.client.session.cookie_jar.clear()
    resp = await harness.client.get("/console/applications", headers={"Cookie": cookie})
    page = await resp.text()
    assert rid in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in page.replace('<script src="/console/static/console.js" defer>', "")
    js = await harness.client.get("/console/static/console.js")
    assert js.status == 200


# ---------------------------------------------------------------- one use case, two doors


async def test_review_and_approval_through_the_console_are_the_chat_commands(
    harness: Harness,
) -> None:
    rid = await apply(harness)
    news = await sign_in(harness, "newsoffice")
    _, page = await get(harness, "/console/", news)
    assert rid in page
    assert "待您审核" in page
    _, page = await get(harness, "/console/applications", news)
    status, page = await post(
        harness, f"/console/applications/{rid}/review_pass", news, {"csrf": csrf_of(page)}
    )
    assert status == 200
    assert f"{rid} 已通过审核" in page
    assert await state_of(harness, rid) == "reviewed"
    # the approver's console shows what waits for them
    approver = await sign_in(harness, "approver")
    _, page = await get(harness, "/console/", approver)
    assert rid in page
    assert "待您审批" in page
    _, page = await get(harness, "/console/applications", approver)
    status, page = await post(
        harness,
        f"/console/applications/{rid}/approve",
        approver,
        {"csrf": csrf_of(page), "note": "请做好政策解读"},
    )
    assert status == 200
    assert await state_of(harness, rid) == "approved"
    async with harness.bot.deps.sessions() as session:
        rows = (
            await session.exec(select(AuditEntry).where(col(AuditEntry.record_id) == rid))
        ).all()
    by_action = {r.action: r for r in rows}
    assert by_action["review"].actor == "newsoffice"
    assert by_action["review"].source is not None
    assert by_action["review"].source.startswith("console:")
    assert by_action["approve"].actor == "approver"
    assert by_action["approve"].detail["opinion"] == "请做好政策解读"
    # pushes went to the outbox like chat's: the filer hears about it
    await harness.deliver_outbox()
    assert any("已获批准" in t for t in harness.fake.texts_to("demo"))


async def test_a_console_action_is_refused_by_the_same_permission_check(
    harness: Harness,
) -> None:
    rid = await apply(harness)
    cookie = await sign_in(harness, "demo")
    _, page = await get(harness, "/console/applications", cookie)
    status, page = await post(
        harness, f"/console/applications/{rid}/review_pass", cookie, {"csrf": csrf_of(page)}
    )
    assert status == 403
    assert "“审核”仅限" in page  # the same refusal as in chat (R1; A8 may add 政务公开办)
    assert await state_of(harness, rid) == "submitted"


async def test_a_post_without_the_csrf_token_changes_nothing(harness: Harness) -> None:
    rid = await apply(harness)
    cookie = await sign_in(harness, "newsoffice")
    for data in ({}, {"csrf": "forged"}):
        status, page = await post(
            harness, f"/console/applications/{rid}/review_pass", cookie, data
        )
        assert status == 400
        assert "页面已过期" in page
    assert await state_of(harness, rid) == "submitted"


async def test_bad_input_in_a_console_form_gets_the_chat_reply_and_loses_nothing(
    harness: Harness,
) -> None:
    rid = await apply(harness)
    cookie = await sign_in(harness, "newsoffice")
    _, page = await get(harness, "/console/applications", cookie)
    status, page = await post(
        harness, f"/console/applications/{rid}/review_reject", cookie, {"csrf": csrf_of(page)}
    )
    assert status == 400
    assert "驳回需要写明理由" in page
    assert await state_of(harness, rid) == "submitted"


# ---------------------------------------------------------------- pages


async def test_every_page_answers_in_chinese_for_every_kind_of_member(harness: Harness) -> None:
    await apply(harness)
    pages = (
        "/console/",
        "/console/board",
        "/console/applications",
        "/console/incidents",
        "/console/calendar",
        "/console/releases",
        "/console/roster",
        "/console/reminders",
        "/console/announcements",
        "/console/evaluation",
        "/console/units/市财政局",
    )
    for user in ("newsoffice", "demo", "approver"):
        cookie = await sign_in(harness, user)
        for path in pages:
            status, page = await get(harness, path, cookie)
            if user == "approver" and path.endswith("市财政局"):
                assert status == 403
                continue
            assert status == 200, (user, path, page[:300])
            assert "控制台" in page


async def test_the_board_shows_the_forecast_and_the_calendar_the_scheduled_conference(
    harness: Harness,
) -> None:
    rid = await apply(harness)
    for command in (f"审核 {rid} 通过",):
        await harness.send_text("newsoffice", command)
    await harness.send_text("approver", f"审批 {rid} 同意")
    await harness.send_text(
        "newsoffice", f"排期 {rid} 时间：12月3日上午10点 地点：市政府新闻发布厅"
    )
    assert await state_of(harness, rid) == "scheduled"
    cookie = await sign_in(harness, "newsoffice")
    _, page = await get(harness, "/console/board", cookie)
    row = page.split("市财政局</a>", 1)[1].split("</tr>", 1)[0]
    assert "有风险" in row
    assert "已安排 1 场，召开即可完成" in row
    assert 'title="SQ-2026-0001"' in row  # the conference that would count
    status, page = await get(harness, "/console/calendar", cookie, month="2026-12")
    assert status == 200
    assert "2026年秋粮收购政策解读" in page
    assert "会场冲突" not in page
    status, page = await get(harness, "/console/calendar", cookie, month="2026-13")
    assert status == 400
    assert "月份格式" in page


async def test_an_incident_shows_its_24_hour_deadline(harness: Harness) -> None:
    _, reply = await harness.send_text(
        "demo", "突发事件 标题：城区供水管道爆裂 级别：较大 发生时间：今天上午9点"
    )
    assert reply is not None
    cookie = await sign_in(harness, "newsoffice")
    status, page = await get(harness, "/console/incidents", cookie)
    assert status == 200, page
    assert "城区供水管道爆裂" in page, reply
    assert 'data-deadline="2026-11-27T09:00:00+08:00"' in page
    # the ladder: who was reminded of what, delivered and acknowledged when
    from storage.engine import transaction
    from storage.tables import ReminderDelivery, ReminderInstance

    rid = re.search(r"TF-\d{4}-\d{4}", reply).group(0)  # type: ignore[union-attr]
    at = harness.clock.now()
    async with transaction(harness.bot.deps.sessions) as session:
        instance = ReminderInstance(
            key=f"R17|incident:{rid}|2026-11-26|h2",
            rule="R17",
            kind="incident_2h",
            unit_id=None,
            status="sent",
            due_at=at,
            recorded_at=at,
            recipients=["demo"],
            text="事件发生已2小时，请尽快首发。",
        )
        session.add(instance)
        await session.flush()
        assert instance.id is not None
        session.add(
            ReminderDelivery(instance_id=instance.id, userid="demo", batch="b1", acked_at=at)
        )
    _, page = await get(harness, "/console/incidents", cookie)
    assert "事件发生已2小时，请尽快首发。" in page
    assert "张演示：送达 —，收到 2026-11-26 10:00" in page


# ---------------------------------------------------------------- LIUAN_PUBLIC_URL (§5)


def test_live_mode_without_a_public_url_is_a_clear_start_up_error(tmp_path: Path) -> None:
    env = {
        "LIUAN_WECOM_CORP_ID": "ww1436e0e65a779aee",
        "LIUAN_WECOM_AGENT_ID": "1000002",
        "LIUAN_WECOM_SECRET": "s",
        "LIUAN_WECOM_TOKEN": "t",
        "LIUAN_WECOM_AES_KEY": "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
    }
    with pytest.raises(SettingsError, match="LIUAN_PUBLIC_URL"):
        load_settings(env, data_dir=tmp_path)
    with pytest.raises(SettingsError, match="LIUAN_PUBLIC_URL 应以"):
        load_settings({**env, "LIUAN_PUBLIC_URL": "xwb.example.gov.cn"}, data_dir=tmp_path)
    settings = load_settings(
        {**env, "LIUAN_PUBLIC_URL": "https://xwb.example.gov.cn/"}, data_dir=tmp_path
    )
    assert settings.link_base == "https://xwb.example.gov.cn"
    assert settings.secure_cookies


def test_sandbox_links_default_to_the_local_address(tmp_path: Path) -> None:
    settings = load_settings({"LIUAN_HTTP_PORT": "8090"}, data_dir=tmp_path)
    assert settings.sandbox
    assert settings.link_base == "http://127.0.0.1:8090"
    assert not settings.secure_cookies


async def test_feeds_and_relay_pieces_link_to_the_public_url(harness: Harness) -> None:
    resp = await harness.client.get("/feeds/releases.atom")
    body = await resp.text()
    assert f'href="{PUBLIC}/feeds/releases.atom"' in body
    assert "127.0.0.1" not in body
    assert harness.bot.deps.relay.directory_url == f"{PUBLIC}/directory"
    _, reply = await harness.send_text("newsoffice", "报表 2026Q4")
    assert reply is not None
    assert f"{PUBLIC}/console/evaluation?period=2026Q4" in reply  # the report link too


# ---------------------------------------------------------------- (i) evaluation, downloads


async def test_the_evaluation_page_and_its_downloads_follow_r1(harness: Harness) -> None:
    news = await sign_in(harness, "newsoffice")
    status, page = await get(harness, "/console/evaluation", news, period="2026Q4")
    assert status == 200, page[:400]
    assert "2026年第四季度" in page
    assert "市教育局" in page
    assert "问责清单" in page
    assert 'data-chart="{' in page  # Chart.js configuration as JSON, escaped into the attribute
    for fmt, kind in (("md", "text/markdown"), ("csv", "text/csv"), ("xlsx", "spreadsheetml")):
        harness.client.session.cookie_jar.clear()
        resp = await harness.client.get(
            "/console/evaluation/download",
            params={"period": "2026Q4", "format": fmt},
            headers={"Cookie": news},
        )
        assert resp.status == 200
        assert kind in resp.headers["Content-Type"]
        assert "attachment" in resp.headers["Content-Disposition"]
        body = await resp.read()
        if fmt == "xlsx":
            assert body[:2] == b"PK"
        else:
            assert "市教育局" in body.decode("utf-8-sig")
    status, page = await get(harness, "/console/evaluation", news, period="2026Q5")
    assert status == 400
    assert "不是一个考核期" in page
    demo = await sign_in(harness, "demo")
    status, page = await get(harness, "/console/evaluation", demo, period="2026")
    assert status == 200
    assert "市财政局" in page
    assert "市教育局" not in page
    status, _ = await get(harness, "/console/evaluation", demo, unit="市教育局")
    assert status == 403
    harness.client.session.cookie_jar.clear()
    resp = await harness.client.get(
        "/console/evaluation/download",
        params={"period": "2026", "format": "csv", "unit": "市教育局"},
        headers={"Cookie": demo},
    )
    assert resp.status == 403


async def test_r14_the_page_and_its_three_downloads_share_one_evaluation_per_data_stamp(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """issue 10 §4: the md, csv and xlsx downloads render the evaluation the page computed;
    a data change computes it again."""
    import handlers.evaluation

    calls: list[str] = []
    original = handlers.evaluation.report_data

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        return await original(*args, **kwargs)

    async def download(h: Harness, cookie: str, fmt: str) -> int:
        h.client.session.cookie_jar.clear()
        resp = await h.client.get(
            "/console/evaluation/download",
            params={"period": "2026", "format": fmt},
            headers={"Cookie": cookie},
        )
        await resp.read()
        return resp.status

    monkeypatch.setattr(handlers.evaluation, "report_data", counting)
    news = await sign_in(harness, "newsoffice")
    status, _ = await get(harness, "/console/evaluation", news, period="2026")
    assert status == 200
    for fmt in ("md", "csv", "xlsx"):
        status = await download(harness, news, fmt)
        assert status == 200
    assert calls == ["2026"]
    status = await download(harness, news, "pdf")
    assert status == 400
    assert calls == ["2026"]  # a wrong format computes nothing
    _, reply = await harness.send_text(
        "demo",
        "备案 主题：财政预算执行情况 时间：今天下午3点 地点：市财政局三楼会议室 发布人：郑学军",
    )
    assert reply is not None
    assert "BA-2026-" in reply
    status = await download(harness, news, "md")
    assert status == 200
    assert calls == ["2026", "2026"]


async def test_r14_opening_the_console_warms_jieba_and_openpyxl_once_off_the_loop(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """issue 10 §4: no report request pays for loading jieba or openpyxl; the warm-up starts
    with the first console request, in a worker thread, once per console."""
    import handlers.console

    loop_thread = threading.get_ident()
    threads: list[int] = []
    done = threading.Event()

    def recording() -> None:
        threads.append(threading.get_ident())
        done.set()

    monkeypatch.setattr(handlers.console, "warm_reports", recording)
    news = await sign_in(harness, "newsoffice")
    await get(harness, "/console/", news)
    assert await asyncio.to_thread(done.wait, 30)
    await get(harness, "/console/board", news)
    assert len(threads) == 1
    assert threads[0] != loop_thread


async def test_a_cached_board_changes_as_soon_as_a_chat_command_changes_the_data(
    harness: Harness,
) -> None:
    cookie = await sign_in(harness, "newsoffice")
    _, before = await get(harness, "/console/board", cookie)
    row = before.split("市财政局</a>", 1)[1].split("</tr>", 1)[0]
    assert "召开即可完成" not in row
    _, again = await get(harness, "/console/board", cookie)
    assert again == before  # served from the cache: nothing changed
    _, reply = await harness.send_text(
        "demo",
        "备案 主题：财政预算执行情况 时间：今天下午3点 地点：市财政局三楼会议室 发布人：郑学军",
    )
    assert reply is not None
    assert "BA-2026-" in reply
    _, after = await get(harness, "/console/board", cookie)  # the same instant: no TTL expiry
    row = after.split("市财政局</a>", 1)[1].split("</tr>", 1)[0]
    assert "已安排 1 场，召开即可完成" in row


# ---------------------------------------------------------------- the workbench tile (§3)


async def test_workbench_tiles_show_unit_figures_and_change_only_when_a_figure_does(
    harness: Harness,
) -> None:
    from handlers.console import workbench_sync

    deps = harness.bot.deps
    first = await workbench_sync(deps)
    assert first > 1  # the template, then every liaison's and spokesperson's data
    await harness.deliver_outbox(rounds=20)
    template = harness.fake.workbench_template
    assert template is not None
    assert template["type"] == "keydata"
    assert template["agentid"] == 1000002
    tile = harness.fake.workbench_data["demo"]  # 市财政局's liaison and spokesperson
    items = {i["key"]: i["data"] for i in tile["keydata"]["items"]}
    assert items == {"本季度发布会": "0", "半年出席": "0", "全年出席": "0", "未结突发事件": "0"}
    assert len(tile["keydata"]["items"]) <= 4
    assert tile["keydata"]["items"][0]["jump_url"] == f"{PUBLIC}/console/board"
    assert "newsoffice" not in harness.fake.workbench_data  # liaisons and spokespersons only
    assert await workbench_sync(deps) == 0  # nothing changed: no call
    _, reply = await harness.send_text(
        "demo", "突发事件 标题：城区供水管道爆裂 级别：较大 发生时间：今天上午9点"
    )
    assert reply is not None
    changed = await workbench_sync(deps)
    assert changed == 2  # 市财政局's spokespersons and liaison: 鲍克勤 and 张演示
    await harness.deliver_outbox(rounds=20)
    items = {i["key"]: i["data"] for i in harness.fake.workbench_data["demo"]["keydata"]["items"]}
    assert items["未结突发事件"] == "1"


async def test_workbench_data_keeps_ten_calls_a_minute_per_user(harness: Harness) -> None:
    from liuan_bot.messages import Outgoing
    from storage.engine import transaction
    from storage.outbox_store import enqueue

    body = {"userid": "demo", "type": "keydata", "keydata": {"items": []}}
    async with transaction(harness.bot.deps.sessions) as session:
        await enqueue(
            session,
            [Outgoing("workbench", "demo", {"action": "data", "body": body}) for _ in range(12)],
            harness.clock.now(),
            source="test",
        )
    await harness.deliver_outbox(rounds=5)
    calls = harness.fake.requests_to("/cgi-bin/agent/set_workbench_data")
    assert len(calls) == 10  # the 11th and 12th wait for the window, none refused by WeCom
    harness.clock.advance(seconds=61 + WINDOW_MARGIN_S)  # the minute and the pacer's margin
    await harness.deliver_outbox(rounds=5)
    assert len(harness.fake.requests_to("/cgi-bin/agent/set_workbench_data")) == 12


async def test_every_page_and_download_on_sqlite_and_postgresql(
    database_url: str, tmp_path: Path, clock: FixedClock, fake_wecom: FakeWeCom
) -> None:
    from handlers.console import workbench_sync

    await load_demo_roster(database_url)
    settings = make_settings(
        database_url, tmp_path, LIUAN_WECOM_SECRET="test-secret", LIUAN_WORKBENCH="true"
    )
    async with running_bot(settings, clock, fake_wecom) as h:
        rid = await apply(h)
        await h.send_text(
            "demo", "突发事件 标题：城区供水管道爆裂 级别：较大 发生时间：今天上午9点"
        )
        assert await workbench_sync(h.bot.deps) > 1
        assert await workbench_sync(h.bot.deps) == 0
        cookie = await sign_in(h, "newsoffice")
        for path in (
            "/console/",
            "/console/board",
            "/console/applications",
            "/console/incidents",
            "/console/calendar",
            "/console/releases",
            "/console/roster",
            "/console/reminders?unit=市财政局",
            "/console/announcements",
            "/console/evaluation?period=2026",
            "/console/evaluation/download?period=2026&format=xlsx",
        ):
            h.client.session.cookie_jar.clear()
            resp = await h.client.get(path, headers={"Cookie": cookie}, allow_redirects=False)
            assert resp.status == 200, path
        _, page = await get(h, "/console/applications", cookie)
        assert rid in page
        status, _ = await post(
            h, f"/console/applications/{rid}/review_pass", cookie, {"csrf": csrf_of(page)}
        )
        assert status == 200
        assert await state_of(h, rid) == "reviewed"


async def test_issue10_console_pages_read_through_their_own_threaded_engine_on_sqlite(
    harness: Harness,
) -> None:
    """The callback's engine runs SQLite on the event loop (issue 11); the console's must not
    (issue 10 §1: pages answer without blocking the callback)."""
    from storage.engine import InlineConnection

    engine = harness.bot.console_engine
    assert engine is not None
    assert engine is not harness.bot.engine
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert not isinstance(raw.driver_connection, InlineConnection)
