"""The console in a real browser (issue 10 §4): sign in through WeCom's OAuth flow against the
fake WeCom and through the sandbox picker, open the board, follow a unit, approve through the
console, file through chat (an encrypted callback), see the board change. Phone and desktop."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import ARTIFACTS, DESKTOP, PHONE, Served

WECOM_AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize?"
APPLY = (
    "申请发布会\n主题：2026年秋粮收购政策解读\n时间：12月3日上午10点\n"
    "发布人：郑学军、鲍克勤\n地点：市政府新闻发布厅"
)


async def wecom_context(
    browser: Any, served: Served, userid: str, viewport: dict[str, int]
) -> Any:
    """A browser context in which WeCom's client "is" `userid`: the console's redirect to
    open.weixin.qq.com is sent to the fake WeCom's authorize page instead (the one host this
    machine cannot reach), which mints a code and sends the browser back with it."""
    context = await browser.new_context(viewport=viewport, locale="zh-CN")
    fake_authorize = served.fake_url.rstrip("/") + "/connect/oauth2/authorize"

    async def via_fake_wecom(route: Any) -> None:
        response = await route.fetch(max_redirects=0)
        location = response.headers.get("location", "")
        if response.status == 302 and location.startswith(WECOM_AUTHORIZE):
            query = location.split("?", 1)[1].split("#", 1)[0]
            await route.fulfill(status=302, headers={"Location": f"{fake_authorize}?{query}"})
            return
        await route.fulfill(response=response)

    await context.route(f"{served.url}/console/**", via_fake_wecom)
    served.harness.fake.oauth_user = userid
    return context


async def shot(page: Any, name: str) -> None:
    """The whole page, and (for reading it as a person would) the first screen."""
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}-screen.png"))


async def test_oauth_sign_in_board_unit_approval_and_a_chat_filing(
    browser: Any, served: Served
) -> None:
    h = served.harness
    _, reply = await h.send_text("demo", APPLY)
    assert reply is not None
    rid = re.search(r"SQ-\d{4}-\d{4}", reply).group(0)  # type: ignore[union-attr]

    # the news office opens the console from WeCom: OAuth round trip, then the board
    news = await wecom_context(browser, served, "newsoffice", DESKTOP)
    page = await news.new_page()
    problems: list[str] = []  # CSP violations and script errors show up in the console
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    await page.goto(f"{served.url}/console/board")
    assert page.url == f"{served.url}/console/board"
    await page.wait_for_selector("table.board")
    row = page.locator("table.board tr", has_text="市财政局")
    assert "有风险" in await row.inner_text()
    await shot(page, "board-desktop-before")

    # follow a unit
    await row.get_by_role("link", name="市财政局").click()
    await page.wait_for_selector("h1:has-text('市财政局')")
    await shot(page, "unit-desktop")

    # review through the console
    await page.get_by_role("link", name="申请").click()
    await page.locator(f"#{rid}").get_by_role("button", name="通过审核").click()
    await page.wait_for_selector(".flash.ok")
    assert "已通过审核" in await page.inner_text(".flash")
    await shot(page, "applications-desktop-reviewed")

    # the approver, on a phone, sees what waits and approves
    approver = await wecom_context(browser, served, "approver", PHONE)
    phone = await approver.new_page()
    await phone.goto(f"{served.url}/console/")
    assert "待您审批" in await phone.inner_text("main")
    await shot(phone, "home-phone-approver")
    await phone.goto(f"{served.url}/console/applications")
    await phone.locator(f"#{rid}").get_by_role("textbox", name="审批意见").fill("请做好政策解读")
    await phone.locator(f"#{rid}").get_by_role("button", name="同意", exact=True).click()
    await phone.wait_for_selector(".flash.ok")
    assert "已获批准" in await phone.inner_text(".flash")
    await shot(phone, "applications-phone-approved")

    # a unit files and holds a self-held conference through chat (encrypted callbacks)
    _, reply = await h.send_text(
        "demo",
        "备案 主题：财政预算执行情况 时间：今天下午3点 地点：市财政局三楼会议室 发布人：郑学军",
    )
    assert reply is not None
    ba = re.search(r"BA-\d{4}-\d{4}", reply).group(0)  # type: ignore[union-attr]
    h.clock.advance(6 * 3600)
    status, _ = await h.send_text("demo", f"已召开 {ba} 发布人：郑学军")
    assert status == 200  # the reply may go through the outbox (the relay loads jieba once)
    await h.bot.inbox.drain()

    # the board changes
    await page.goto(f"{served.url}/console/board")
    row = page.locator("table.board tr", has_text="市财政局")
    cells = row.locator("td.st")
    assert "已完成" in await cells.nth(0).inner_text()
    await shot(page, "board-desktop-after")
    await page.goto(f"{served.url}/console/evaluation?period=2026")
    await page.wait_for_function("document.querySelectorAll('canvas').length === 3")
    # Chart.js (vendored, served by the bot) drew every chart: the canvases have pixels
    drawn = await page.evaluate(
        "Array.from(document.querySelectorAll('canvas')).every(c => window.Chart.getChart(c))"
    )
    assert drawn
    await shot(page, "evaluation-desktop")
    assert problems == []
    phone_board = await news.new_page()
    await phone_board.set_viewport_size(PHONE)
    await phone_board.goto(f"{served.url}/console/board")
    await shot(phone_board, "board-phone")
    # nothing overflows the phone's width but the scrollable table
    width = await phone_board.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    # an incident filed through chat gets a live 24-hour countdown (static JS, no inline script)
    _, reply = await h.send_text(
        "demo", "突发事件 标题：城区供水管道爆裂 级别：较大 发生时间：今天下午3点半"
    )
    assert reply is not None
    await phone_board.goto(f"{served.url}/console/incidents")
    countdown = phone_board.locator(".countdown").first
    await countdown.wait_for()
    await expect(countdown).to_contain_text("距24小时时限还剩")  # no eval: the CSP forbids it
    first = await countdown.inner_text()
    assert re.search(r"还剩 2\d 小时", first), first  # 15:30 + 24 h, seen from about 16:00
    await expect(countdown).not_to_have_text(first)  # it ticks
    for path in ("incidents", "calendar", "roster", "releases", "evaluation"):
        await phone_board.goto(f"{served.url}/console/{path}")
        await shot(phone_board, f"{path}-phone")
    await news.close()
    await approver.close()


@pytest.mark.parametrize("served", ["sandbox"], indirect=True)
async def test_sandbox_picker_signs_in_and_a_unit_sees_only_itself(
    browser: Any, served: Served
) -> None:
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{served.url}/console/board")
    assert "/console/login" in page.url
    await shot(page, "login-phone-sandbox")
    await page.get_by_role("button", name=re.compile("张演示")).click()
    await page.wait_for_selector("table.board")
    assert page.url.endswith("/console/board")
    text = await page.inner_text("main")
    assert "市财政局" in text
    assert "市教育局" not in text
    response = await page.goto(f"{served.url}/console/units/市教育局")
    assert response is not None
    assert response.status == 403
    assert "其他单位" in await page.inner_text("main")
    await shot(page, "forbidden-phone")
    await context.close()
