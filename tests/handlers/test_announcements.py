"""公告, 回执, 补发 (issue 5): by user id, in batches of ≤1000, with receipts."""

from __future__ import annotations

import re
from pathlib import Path

from sqlmodel import select

from liuan_bot.clock import FixedClock
from liuan_bot.domain.roles import Role
from liuan_bot.domain.roster import RosterRow, UnitType
from liuan_bot.wecom.fake_server import FakeWeCom
from storage.engine import make_engine, make_session_factory, transaction
from storage.migrate import upgrade
from storage.roster_store import import_roster
from storage.tables import AnnouncementRecipient
from tests.conftest import load_demo_roster
from tests.support import ROOT, Harness, make_settings, running_bot


async def ok(h: Harness, user: str, text: str) -> str:
    status, reply = await h.send_text(user, text)
    assert status == 200
    assert reply is not None
    return reply


async def reply_by_any_route(h: Harness, user: str, text: str) -> str:
    """The answer to `text`: the passive reply, or (past the reply budget) what the outbox
    brought the sender (all of it: the answer may share a round with other messages)."""
    before = len(h.fake.texts_to(user))
    status, reply = await h.send_text(user, text)
    assert status == 200
    if reply is not None:
        return reply
    await h.bot.inbox.drain(600)  # waits for the handler to finish; no time budget
    await h.deliver_outbox(rounds=1)
    later = h.fake.texts_to(user)[before:]
    assert later, "no answer by either route"
    return "\n".join(later)


def gg(reply: str) -> str:
    found = re.search(r"GG-2026-\d{4}", reply)
    assert found, reply
    return found.group(0)


async def test_an_announcement_reaches_everyone_by_user_id_with_read_receipts(
    harness: Harness,
) -> None:
    h = harness
    reply = await ok(
        h, "newsoffice", "公告 对象：联络员 内容：请于12月10日前报送发布计划。 回执：是"
    )
    record = gg(reply)
    await h.deliver_outbox()
    sends = h.fake.requests_to("/cgi-bin/message/send")
    assert all("@all" not in r.body["touser"] for r in sends)
    liaisons = {d.to for d in h.fake.delivered if d.msgtype == "text"}
    assert "demo" in liaisons
    assert "zhengxuejun" not in liaisons  # a main leader, not a liaison
    [card] = [d for d in h.fake.delivered_to("demo") if d.msgtype == "template_card"]
    status, clicked = await h.send_event(
        "demo",
        "template_card_event",
        event_key=card.content["button_list"][0]["key"],
        task_id=card.content["task_id"],
        card_type="button_interaction",
    )
    assert clicked is not None
    assert clicked["ReplaceName"] == "已阅"
    receipts = await ok(h, "newsoffice", f"回执 {record}")
    assert f"共 {len(liaisons)} 人，已阅 1 人，未阅 {len(liaisons) - 1} 人" in receipts
    before = len(h.fake.delivered)
    asked = await ok(h, "newsoffice", f"补发 {record}")
    assert f"确认请发送：补发 {record} 确认" in asked
    await h.deliver_outbox()
    assert h.fake.delivered[before:] == []  # C3: nothing before the confirmation
    resent = await ok(h, "newsoffice", f"补发 {record} 确认")
    assert f"已向 {len(liaisons) - 1} 位未阅的人补发" in resent
    await h.deliver_outbox()
    again = {d.to for d in h.fake.delivered[before:] if d.msgtype == "text"}
    assert again == liaisons - {"demo"}


async def test_c3_resend_cannot_be_repeated_within_the_interval(harness: Harness) -> None:
    h = harness
    record = gg(await ok(h, "newsoffice", "公告 对象：联络员 内容：请报送计划。 回执：是"))
    assert "已向" in await ok(h, "newsoffice", f"补发 {record} 确认")
    await h.deliver_outbox()
    sent = len(h.fake.delivered)
    h.clock.advance(minutes=30)
    refused = await ok(h, "newsoffice", f"补发 {record} 确认")
    assert "已于" in refused
    assert "以后才能再次补发" in refused
    await h.deliver_outbox()
    assert len(h.fake.delivered) == sent
    h.clock.advance(minutes=31)  # past the default 60 minutes
    assert "第 2 次补发" in await ok(h, "newsoffice", f"补发 {record} 确认")


async def test_c2_typed_read_acknowledges_an_announcement(harness: Harness) -> None:
    h = harness
    record = gg(await ok(h, "newsoffice", "公告 对象：联络员 内容：请报送计划。 回执：是"))
    second = gg(await ok(h, "newsoffice", "公告 对象：联络员 内容：周五开会。 回执：是"))
    assert "请写明编号" in await ok(h, "demo", "已阅")  # two unread: which one?
    assert f"已确认阅读公告 {record}" in await ok(h, "demo", f"已阅 {record}")
    assert f"已确认阅读公告 {second}" in await ok(h, "demo", "已阅")  # the only one left
    assert "没有待确认的公告" in await ok(h, "demo", "已阅")
    assert "不是发给您的" in await ok(h, "zhengxuejun", f"已阅 {record}")
    receipts = await ok(h, "newsoffice", f"回执 {record}")
    assert "已阅 1 人" in receipts


async def test_e7_receipts_list_units_in_the_roster_order(harness: Harness) -> None:
    h = harness
    record = gg(await ok(h, "newsoffice", "公告 对象：联络员 内容：请报送计划。 回执：是"))
    receipts = await ok(h, "newsoffice", f"回执 {record}")
    listed = [line[2:].split("：")[0] for line in receipts.splitlines() if line.startswith("· ")]
    roster_units: list[str] = []
    for line in (ROOT / "config" / "demo-roster.csv").read_text(encoding="utf-8").splitlines()[1:]:
        unit = line.split(",")[0]
        if unit in listed and unit not in roster_units:
            roster_units.append(unit)
    assert len(listed) > 3
    assert listed == roster_units


async def test_unknown_audiences_are_refused_and_nothing_is_sent(harness: Harness) -> None:
    reply = await ok(harness, "newsoffice", "公告 对象：外星人 内容：测试")
    assert "没有找到“外星人”" in reply
    await harness.deliver_outbox()
    assert harness.fake.delivered == []
    assert "仅限" in await ok(harness, "demo", "公告 对象：全体 内容：测试")


async def test_invalid_accounts_are_recorded_and_reported_to_the_sender(harness: Harness) -> None:
    h = harness
    h.fake.known_users = {"demo", "newsoffice", "baokeqin"}  # everyone else is unknown to WeCom
    record = gg(await ok(h, "newsoffice", "公告 对象：市财政局 内容：周五开会 回执：是"))
    await h.deliver_outbox()
    await h.deliver_outbox()  # the sender's notice was enqueued after the delivery
    notices = [t for t in h.fake.texts_to("newsoffice") if "无法送达" in t]
    assert len(notices) == 1
    assert "郑学军（zhengxuejun）" in notices[0]
    async with h.bot.deps.sessions() as session:
        rows = (await session.exec(select(AnnouncementRecipient))).all()
    assert {r.userid for r in rows if r.invalid} == {"zhengxuejun"}
    assert "账号无效 1 人" in await ok(h, "newsoffice", f"回执 {record}")


async def test_a_group_robot_gets_long_text_split_at_paragraphs(
    sqlite_url: str, tmp_path: Path, clock: FixedClock, fake_wecom: FakeWeCom
) -> None:
    await load_demo_roster(sqlite_url)
    settings = make_settings(sqlite_url, tmp_path, LIUAN_WECOM_SECRET="test-secret")
    env = {"LIUAN_ROBOT_NEWSROOM": "robot-key-1"}
    paragraph = "各单位要高度重视新闻发布工作，按照“4·2·1+N”要求做好发布会组织。" * 12
    content = "\n\n".join([paragraph] * 4)  # ~4.6 KB: more than one robot message
    async with running_bot(settings, clock, fake_wecom, environ=env) as h:
        await ok(h, "newsoffice", f"公告 对象：全市新闻发言人群 内容：{content}")
        await h.deliver_outbox()
        robot = [d for d in h.fake.delivered if d.kind == "webhook"]
    assert len(robot) >= 3
    assert {d.to for d in robot} == {"robot-key-1"}
    for d in robot:
        assert len(d.text.encode()) <= 2048
    joined = "".join(d.text for d in robot)
    assert joined.count(paragraph) == 4  # nothing lost, no paragraph cut


async def test_a_broadcast_to_5000_users_takes_at_most_5_api_calls(
    tmp_path: Path, clock: FixedClock, fake_wecom: FakeWeCom
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/big.db"
    engine = make_engine(url)
    await upgrade(engine)
    rows = [
        RosterRow(
            line=i + 2,
            unit=f"单位{i // 50:03d}",
            unit_type=UnitType.OTHER,
            key_unit=False,
            name=f"人员{i:04d}",
            userid=f"u{i:04d}",
            roles=frozenset({Role.LIAISON}),
            title="",
            mobile="",
            public=False,
        )
        for i in range(4999)
    ]
    rows.append(
        RosterRow(
            line=5001,
            unit="市政府新闻办",
            unit_type=UnitType.NEWS_OFFICE,
            key_unit=False,
            name="李新闻",
            userid="newsoffice",
            roles=frozenset({Role.NEWS_OFFICE}),
            title="",
            mobile="",
            public=False,
        )
    )
    async with transaction(make_session_factory(engine)) as session:
        await import_roster(session, rows, clock.now())
    await engine.dispose()
    # Issue 9 F3: budget 0 is a machine so busy that no reply makes the passive window; the
    # answer then arrives through the outbox, and the test reads it from wherever it arrives.
    settings = make_settings(
        url, tmp_path, LIUAN_WECOM_SECRET="test-secret", LIUAN_REPLY_BUDGET_S="0"
    )
    async with running_bot(settings, clock, fake_wecom) as h:
        text = "公告 对象：全体 内容：请注意查收年度考核通知。"
        reply = await reply_by_any_route(h, "newsoffice", text)
        assert "5000 人（5 批）" in reply
        await h.deliver_outbox(rounds=20)
        sends = [
            r for r in h.fake.requests_to("/cgi-bin/message/send") if "年度考核通知" in str(r.body)
        ]
        assert len(sends) == 5
        reached = {d.to for d in h.fake.delivered if "年度考核通知" in d.text}
        assert len(reached) == 5000
