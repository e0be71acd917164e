"""What issue 9 still lacked after the first round, over real encrypted callbacks: refusals that
name the state (E2), 批准 as a decision (E5), a bare 是 answering the speaker question (A1),
修改 correcting the website preview (B1), and relay pieces WeCom could deliver to nobody (B2)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot import configured_lexicons
from handlers import announcements
from handlers.registry import build_registry
from handlers.reminders import sweep
from liuan_bot.clock import SHANGHAI
from liuan_bot.commands.fields import match_name
from liuan_bot.commands.registry import understand
from liuan_bot.relay import load_channels
from storage.tables import Conference, OutboxMessage, Person
from tests.handlers.test_records_issue9 import (
    EDU_APPLY,
    EDU_LIAISON,
    conference,
    rid_of,
    say,
    scheduled_education_conference,
)
from tests.handlers.test_relay import _held, _scheduled, ok, texts
from tests.support import Harness

# --- E2 -----------------------------------------------------------------------------------


async def test_e2_r15_scheduling_an_application_under_review_says_it_waits_for_review(
    harness: Harness,
) -> None:
    h = harness
    rid = rid_of(await say(h, EDU_LIAISON, EDU_APPLY))
    reply = await say(h, "newsoffice", f"排期 {rid} 时间：12月3日上午10点 地点：市政府新闻发布厅")
    assert f"{rid} 还在等待市政府新闻办审核，审核并经副秘书长审批后才能排期" in reply
    assert "不能再" not in reply
    assert (await conference(h, rid)).state == "submitted"


# --- E5: 批准 is a decision ----------------------------------------------------------------


async def test_e5_r15_approval_typed_as_the_command_word_pizhun_counts_as_agreed(
    harness: Harness,
) -> None:
    h = harness
    rid = rid_of(await say(h, EDU_LIAISON, EDU_APPLY))
    await say(h, "newsoffice", f"审核 {rid} 通过")
    reply = await say(h, "approver", f"批准 {rid}")
    assert "已获批准" in reply
    assert (await conference(h, rid)).state == "approved"


async def test_e5_r15_pizhun_with_an_explicit_refusal_keeps_the_refusal(harness: Harness) -> None:
    h = harness
    rid = rid_of(await say(h, EDU_LIAISON, EDU_APPLY))
    await say(h, "newsoffice", f"审核 {rid} 通过")
    assert "未获批准" in await say(h, "approver", f"批准 {rid} 不同意 意见：时机不成熟")
    assert (await conference(h, rid)).state == "declined"


def test_e5_parse_of_pizhun_reports_no_missing_decision(harness: Harness) -> None:
    registry = build_registry()
    now: datetime = harness.clock.now()
    got = understand(registry, "批准 SQ-2026-0001", now)
    assert got["errors"] == []
    assert got["fields"]["结论"] == "同意"
    assert understand(registry, "审批 SQ-2026-0001", now)["errors"]  # 审批 still asks


# --- A1: a bare 是 ---------------------------------------------------------------------------


async def test_a1_a_bare_shi_after_the_speaker_question_confirms_it(harness: Harness) -> None:
    h = harness
    rid = await scheduled_education_conference(h)
    question = await say(h, EDU_LIAISON, f"已召开 {rid} 发布人：郭学君局长、徐启航")
    assert "是否是 郭学军（市教育局党组书记、局长）？" in question
    reply = await say(h, EDU_LIAISON, "是的。")
    assert "主要负责人年度出席（R10）" in reply
    conf = await conference(h, rid)
    assert conf.state == "held"
    assert conf.held_speakers == ["郭学军", "徐启航"]


async def test_a1_a_bare_shi_without_a_question_stays_free_text(harness: Harness) -> None:
    h = harness
    rid = await scheduled_education_conference(h)
    await say(h, EDU_LIAISON, f"已召开 {rid} 发布人：郭学君局长、徐启航")
    reply = await say(h, "demo", "是")  # demo was asked nothing
    assert "没有需要您确认" not in reply
    assert "已记录" not in reply
    assert (await conference(h, rid)).state == "scheduled"
    async with h.bot.deps.sessions() as session:
        held = select(Conference).where(col(Conference.state) == "held")
        assert (await session.exec(held)).all() == []


# --- B1: 修改 corrects the website preview ----------------------------------------------------


async def test_b1_r21_amending_the_time_of_a_scheduled_conference_sends_a_gaiqi_correction(
    harness: Harness,
) -> None:
    h = harness
    rid = await _scheduled(h)
    reply = await ok(h, "demo", f"修改 {rid} 时间：12月4日下午3点")
    assert "【改期】" in reply
    await h.deliver_outbox()
    [correction] = texts(h, "yufang", "【改期】")
    assert "医保新政解读" in correction
    assert "15:00" in correction.split("现改为")[1]
    assert texts(h, "zhushoucheng", "【改期】") == []  # the newspaper never had the preview
    assert len(texts(h, "yufang", "【发布预告】")) == 1


async def test_b1_r21_amending_the_venue_sends_a_biangeng_and_other_fields_send_nothing(
    harness: Harness,
) -> None:
    h = harness
    rid = await _scheduled(h)
    await ok(h, "demo", f"修改 {rid} 内容：介绍医保报销比例调整")
    await h.deliver_outbox()
    assert texts(h, "yufang", "【变更】") == []
    assert texts(h, "yufang", "【改期】") == []
    await ok(h, "demo", f"修改 {rid} 地点：市行政中心第一会议室")
    await h.deliver_outbox()
    [change] = texts(h, "yufang", "【变更】")
    assert "由市政府新闻发布厅变更为市行政中心第一会议室" in change
    assert texts(h, "yufang", "【改期】") == []


async def test_b1_r21_rescheduled_after_an_amendment_the_websites_are_not_told_twice(
    harness: Harness,
) -> None:
    h = harness
    rid = await _scheduled(h)
    await ok(h, "demo", f"修改 {rid} 时间：12月4日下午3点")
    await ok(h, "newsoffice", f"审核 {rid} 通过")
    await ok(h, "approver", f"审批 {rid} 同意")
    await ok(h, "newsoffice", f"排期 {rid} 时间：12月4日下午3点 地点：市政府新闻发布厅")
    await h.deliver_outbox()
    assert len(texts(h, "yufang", "【改期】")) == 1
    assert len(texts(h, "yufang", "【发布预告】")) == 1


async def test_b1_r21_a_correction_of_the_venue_by_the_news_office_corrects_the_preview(
    harness: Harness,
) -> None:
    h = harness
    rid = await _scheduled(h)
    reply = await ok(h, "newsoffice", f"更正 {rid} 地点：市行政中心第一会议室 原因：会场调整")
    assert "【变更】" in reply
    await h.deliver_outbox()
    [change] = texts(h, "yufang", "【变更】")
    assert "市行政中心第一会议室" in change
    assert "会场调整" not in change  # the internal reason stays internal


# --- B2: sent, but to nobody ------------------------------------------------------------------


async def test_b2_r23_a_piece_wecom_answered_81013_is_shown_undelivered_and_reported(
    harness: Harness,
) -> None:
    """The newspaper editor is not in WeCom's directory: message/send answers 81013 (returned,
    not raised), the outbox row is `sent` with every user invalid — still nobody got it."""
    h = harness
    async with h.bot.deps.sessions() as session:
        people = {p.userid for p in (await session.exec(select(Person))).all()}
    h.fake.known_users = people - {"zhushoucheng"}
    await _held(h)
    await h.deliver_outbox()
    async with h.bot.deps.sessions() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    [paper_row] = [r for r in rows if r.source.endswith(":newspaper") and r.kind == "app"]
    assert (paper_row.status, paper_row.invalid_users) == ("sent", ["zhushoucheng"])

    engine = h.bot.reminders
    assert engine is not None
    await sweep(engine, h.clock.now())
    await h.deliver_outbox()
    [notice] = texts(h, "newsoffice", "【转发消息未送达】")
    assert "皖西日报" in notice
    assert "不在企业微信通讯录中" in notice
    await sweep(engine, h.clock.now())  # reported once
    await h.deliver_outbox()
    assert len(texts(h, "newsoffice", "【转发消息未送达】")) == 1
    status = await ok(h, "newsoffice", "发布情况 BA-2026-0001")
    [paper] = [line for line in status.splitlines() if "皖西日报" in line]
    assert "未送达" in paper
    assert "已发送" not in paper
    [weibo] = [line for line in status.splitlines() if "微博" in line]
    assert "已发送" in weibo  # delivered channels are untouched


# --- E4: one short-name rule for units ------------------------------------------------------


def test_e4_announcement_audiences_resolve_units_with_the_shared_match_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """公告 keeps no copy of the unit short-name rule: it asks `match_name` (the rule every
    other command uses), so a change to that rule reaches 公告 too."""
    people = [
        ("u1", "甲", "市财政局", frozenset()),
        ("u2", "乙", "市教育局", frozenset()),
    ]
    asked: list[tuple[str, tuple[str, ...]]] = []

    def spy(token: str, names: Iterable[str]) -> str | None:
        names = tuple(sorted(names))
        asked.append((token, names))
        return match_name(token, names)

    monkeypatch.setattr(announcements, "match_name", spy)
    users, _groups, unknown = announcements._resolve(["财政局", "局"], people, {})
    assert users == ["u1"]
    assert unknown == ["局"]  # two units contain it: names nothing
    assert asked == [("财政局", ("市教育局", "市财政局")), ("局", ("市教育局", "市财政局"))]


# --- E4: the README explains channel aliases -------------------------------------------------


def test_e4_the_readme_notes_channel_aliases_and_every_alias_it_cites_resolves() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "Channel aliases:" in readme
    note = readme.split("Channel aliases:")[1].split("\n\n")[0]
    assert "config/channels.toml" in note
    cited = [w.rstrip("…") for w in re.findall(r"`([^`\sA-Za-z：]+)`", note)]
    assert {"广电", "门户网站", "新闻网"} <= set(cited)
    channels = load_channels(root / "config" / "channels.toml")
    registry = build_registry(configured_lexicons(channels))
    names = {c.name for c in channels}
    now = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
    for alias in cited:
        got = understand(registry, f"已发布 SQ12 渠道：{alias} 链接：https://x.cn/1", now)
        assert got["errors"] == [], alias
        assert got["fields"]["渠道"] in names, alias
    assert "渠道：广电` is 六安市广播电视台" in note.replace("\n", " ")
