"""The relay end to end over encrypted callbacks (issue 5; R19–R23): conference held → pieces
to the editors → two channels confirmed → the third reminded after 24 h → the digest lists it
as missing."""

from __future__ import annotations

import asyncio
import re

from sqlmodel import select

from handlers.reminders import sweep
from storage.tables import OutboxMessage, ReleaseChannel
from tests.support import Harness

KEY_POINTS = (
    "今年我市秋粮收购从10月1日开始，至2027年3月31日结束。中晚籼稻最低收购价为每斤1.26元，"
    "与去年持平。全市设立收购网点126个，做到应收尽收，不压级压价、不打白条。"
)


async def warm(h: Harness) -> None:
    """Load jieba before 已召开, so its first load (seconds on a busy machine) does not push
    the answer past the passive-reply budget: no test here depends on the machine's speed."""
    composer = h.bot.deps.relay.composer
    if composer is not None and not composer.loaded:
        await asyncio.to_thread(composer.load)


async def ok(h: Harness, user: str, text: str) -> str:
    status, reply = await h.send_text(user, text)
    assert status == 200
    assert reply is not None
    return reply


def texts(h: Harness, user: str, needle: str) -> list[str]:
    """What `user` read containing `needle`: texts, and reminders sent as cards (C1)."""
    return [
        d.text
        for d in h.fake.delivered_to(user)
        if d.msgtype in ("text", "template_card") and needle in d.text
    ]


async def test_r23_relay_pieces_confirmations_reminder_and_digest(harness: Harness) -> None:
    h = harness
    await ok(
        h,
        "demo",
        "备案 主题：2026年秋粮收购政策解读 时间：今天下午2点 地点：市财政局三楼会议室 "
        "发布人：郑学军",
    )
    h.clock.advance(hours=4, minutes=30)  # 14:30
    await warm(h)
    held = await ok(
        h,
        "demo",
        f"已召开 BA-2026-0001 发布人：郑学军、鲍克勤 要点：{KEY_POINTS} "
        "实录：https://www.luan.gov.cn/xwfb/1.html",
    )
    assert "已将发布素材发给" in held
    await h.deliver_outbox()
    for editor, channel in (
        ("zhushoucheng", "皖西日报"),
        ("wanglin2", "广播电视台"),
        ("daijing", "微博"),
    ):
        [piece] = [t for t in texts(h, editor, "【发布素材") if channel in t]
        assert "发布后请回复：已发布 BA-2026-0001" in piece
    radio = texts(h, "wanglin2", "【发布素材")[0]
    assert "https://" not in radio.split("发布后请回复")[0]  # R20: no links on air

    assert "已确认：皖西日报" in await ok(
        h,
        "zhushoucheng",
        "已发布 BA-2026-0001 渠道：皖西日报 链接：https://www.wxrb.com/zwfb/1.html",
    )
    assert "已确认：微博" in await ok(
        h, "daijing", "已发布 ba1 渠道：微博 链接：https://weibo.com/luanfabu/1"
    )
    assert "您不是" in await ok(h, "daijing", "已发布 ba1 渠道：广播电视台 链接：https://x.cn/1")
    status = await ok(h, "newsoffice", "发布情况 BA-2026-0001")
    assert "皖西日报“政务发布”专栏：已发布" in status
    assert "六安市广播电视台：已发送，待确认" in status

    engine = h.bot.reminders
    assert engine is not None
    h.clock.advance(hours=3)  # 17:30: today's digest
    await sweep(engine, h.clock.now())
    await h.deliver_outbox()
    [digest] = texts(h, "newsoffice", "今日发布转发情况")
    assert "已发布（2）：皖西日报“政务发布”专栏、微博“六安市人民政府发布”" in digest
    assert "六安市广播电视台" in digest.split("未发布")[1]

    h.clock.advance(hours=21, minutes=5)  # the next day 14:35: 24 h after the pieces went out
    await sweep(engine, h.clock.now())
    await h.deliver_outbox()
    [reminder] = texts(h, "wanglin2", "转发提醒")
    assert "六安市广播电视台" in reminder
    assert texts(h, "zhushoucheng", "转发提醒") == []  # confirmed: not reminded
    await sweep(engine, h.clock.now())  # a second sweep sends nothing twice
    await h.deliver_outbox()
    assert len(texts(h, "wanglin2", "转发提醒")) == 1

    h.clock.advance(hours=3)  # 17:35 the next day: the digest still lists the missing channel
    await sweep(engine, h.clock.now())
    await h.deliver_outbox()
    digests = texts(h, "newsoffice", "今日发布转发情况")
    assert len(digests) == 2
    assert "六安市广播电视台" in digests[1].split("未发布")[1]
    async with h.bot.deps.sessions() as session:
        states = {r.channel: r.state for r in (await session.exec(select(ReleaseChannel))).all()}
    assert states["newspaper"] == states["weibo"] == "published"
    assert states["radio_tv"] == "sent"
    assert states["county_sites"] == "undelivered"  # R21 notice: no county robot key here (B2)


async def test_r21_scheduling_sends_the_release_preview_to_the_website_channels(
    harness: Harness,
) -> None:
    h = harness
    reply = await ok(
        h, "demo", "申请发布会 主题：医保新政解读 时间：12月3日上午10点 发布人：郑学军 直播：是"
    )
    found = re.search(r"SQ-2026-\d{4}", reply)
    assert found
    rid = found.group(0)
    await ok(h, "newsoffice", f"审核 {rid} 通过")
    await ok(h, "approver", f"审批 {rid} 同意")
    await ok(h, "newsoffice", f"排期 {rid} 时间：12月3日上午10点 地点：市政府新闻发布厅")
    await h.deliver_outbox()
    previews = texts(h, "yufang", "【发布预告】") + texts(h, "xujing", "【发布预告】")
    assert any("六安市人民政府网站" in p for p in previews)  # portal (R21)
    assert any("六安新闻网专题页" in p for p in previews)  # news site (R21)
    assert all("医保新政解读" in p and "网络直播" in p for p in previews)
    assert texts(h, "zhushoucheng", "【发布预告】") == []  # the newspaper gets the record later
    assert texts(h, "baokeqin", "【发布预告】") == []  # spokespersons only when configured


async def _held(h: Harness) -> None:
    await ok(
        h,
        "demo",
        "备案 主题：2026年秋粮收购政策解读 时间：今天下午2点 地点：市财政局三楼会议室 "
        "发布人：郑学军",
    )
    await h.deliver_outbox()
    h.clock.advance(hours=4, minutes=30)
    await warm(h)
    await ok(h, "demo", f"已召开 BA-2026-0001 发布人：郑学军 要点：{KEY_POINTS}")


async def test_b2_a_county_notice_without_a_reachable_robot_is_shown_undelivered(
    harness: Harness,
) -> None:
    """Issue 9 B2: the county robot's key is not configured, so the notice cannot go out;
    发布情况 must not say 已通知转载, and the news office is told."""
    h = harness
    await _held(h)
    await h.deliver_outbox()
    async with h.bot.deps.sessions() as session:
        sources = [r.source for r in (await session.exec(select(OutboxMessage))).all()]
        failed = [r for r in (await session.exec(select(OutboxMessage))).all()]
    assert not any("unknown target" in (r.last_error or "") for r in failed)
    assert not any(s.endswith(":county_sites") for s in sources)
    status = await ok(h, "newsoffice", "发布情况 BA-2026-0001")
    county = [line for line in status.splitlines() if "县区政府网站" in line]
    assert county
    assert "已通知转载" not in county[0]
    assert "未送达" in county[0]
    assert texts(h, "newsoffice", "未送达")


async def test_b2_a_channel_message_wecom_refuses_is_shown_failed_and_reported(
    harness: Harness,
) -> None:
    """Issue 9 B2: WeCom refuses the newspaper editor's piece for good (40003, invalid
    recipient): 发布情况 shows it undelivered and the news office hears of it once, from the
    sweep."""
    h = harness
    await _held(h)
    h.fake.fail_next(40003, path="/cgi-bin/message/send", errmsg="invalid userid")
    await h.deliver_outbox()
    engine = h.bot.reminders
    assert engine is not None
    await sweep(engine, h.clock.now())
    await h.deliver_outbox()
    [notice] = texts(h, "newsoffice", "【转发消息未送达】")
    assert "皖西日报" in notice
    assert "40003" in notice
    await sweep(engine, h.clock.now())  # reported once
    await h.deliver_outbox()
    assert len(texts(h, "newsoffice", "【转发消息未送达】")) == 1
    status = await ok(h, "newsoffice", "发布情况 BA-2026-0001")
    [paper] = [line for line in status.splitlines() if "皖西日报" in line]
    assert "未送达" in paper
    assert "已发送" not in paper


async def test_e7_release_status_of_another_units_record_reveals_nothing(
    harness: Harness,
) -> None:
    h = harness
    await _held(h)
    own = await ok(h, "demo", "发布情况 BA-2026-0001")
    assert "秋粮收购" in own
    other = await ok(h, "liulei", "发布情况 BA-2026-0001")  # 市发展改革委's spokesperson
    missing = await ok(h, "liulei", "发布情况 BA-2026-0099")
    assert "秋粮收购" not in other
    assert other == missing.replace("0099", "0001")
    assert "秋粮收购" in await ok(h, "zhushoucheng", "发布情况 BA-2026-0001")  # an editor


async def _scheduled(h: Harness) -> str:
    reply = await ok(
        h, "demo", "申请发布会 主题：医保新政解读 时间：12月3日上午10点 发布人：郑学军"
    )
    found = re.search(r"SQ-2026-\d{4}", reply)
    assert found
    rid = found.group(0)
    await ok(h, "newsoffice", f"审核 {rid} 通过")
    await ok(h, "approver", f"审批 {rid} 同意")
    await ok(h, "newsoffice", f"排期 {rid} 时间：12月3日上午10点 地点：市政府新闻发布厅")
    await h.deliver_outbox()
    return rid


def _sequence(raw: bytes, rid: str) -> tuple[str, int]:
    text = raw.decode().replace("\r\n ", "")
    event = text.split(f"UID:{rid}@liuan-bot")[1].split("END:VEVENT")[0]
    status = re.search(r"STATUS:(\w+)", event)
    sequence = re.search(r"SEQUENCE:(\d+)", event)
    assert status
    assert sequence
    return status.group(1), int(sequence.group(1))


async def test_b1_rescheduling_corrects_the_preview_and_bumps_the_ics_sequence(
    harness: Harness,
) -> None:
    h = harness
    rid = await _scheduled(h)
    first = _sequence(await (await h.client.get("/feeds/conferences.ics")).read(), rid)
    await ok(h, "newsoffice", f"排期 {rid} 时间：12月4日下午3点 地点：市政府新闻发布厅")
    await h.deliver_outbox()
    [correction] = texts(h, "yufang", "【改期】")
    assert "医保新政解读" in correction
    assert "原定于" in correction
    assert "现改为" in correction
    assert "15:00" in correction.split("现改为")[1]
    assert len(texts(h, "yufang", "【发布预告】")) == 1  # no second preview
    second = _sequence(await (await h.client.get("/feeds/conferences.ics")).read(), rid)
    assert second[0] == "CONFIRMED"
    assert second[1] > first[1]


async def test_b1_withdrawing_retracts_the_preview_and_the_ics_marks_it_cancelled(
    harness: Harness,
) -> None:
    h = harness
    rid = await _scheduled(h)
    before = _sequence(await (await h.client.get("/feeds/conferences.ics")).read(), rid)
    await ok(h, "demo", f"撤回 {rid} 理由：会议推迟")
    await h.deliver_outbox()
    for editor in ("yufang", "xujing"):
        [notice] = texts(h, editor, "【取消】")
        assert "医保新政解读" in notice
        assert "已取消" in notice
        assert "会议推迟" not in notice  # the internal reason stays internal
    assert texts(h, "zhushoucheng", "【取消】") == []  # the newspaper never had the preview
    status, sequence = _sequence(await (await h.client.get("/feeds/conferences.ics")).read(), rid)
    assert status == "CANCELLED"
    assert sequence > before[1]


async def test_b1_withdrawing_before_any_preview_tells_the_websites_nothing(
    harness: Harness,
) -> None:
    h = harness
    reply = await ok(
        h, "demo", "申请发布会 主题：医保新政解读 时间：12月3日上午10点 发布人：郑学军"
    )
    found = re.search(r"SQ-2026-\d{4}", reply)
    assert found
    await ok(h, "demo", f"撤回 {found.group(0)}")
    await h.deliver_outbox()
    assert texts(h, "yufang", "【取消】") == []
    raw = await (await h.client.get("/feeds/conferences.ics")).read()
    assert found.group(0) not in raw.decode()  # never public: not on the calendar


async def test_b1_an_editor_of_two_website_channels_gets_one_preview(harness: Harness) -> None:
    h = harness
    await _scheduled(h)
    [preview] = texts(h, "yufang", "【发布预告】")  # portal and news site: one message
    assert "六安市人民政府网站" in preview
    assert "六安新闻网专题页" in preview
