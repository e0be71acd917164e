"""突发, 首发, 续报 and 舆情 over real encrypted callbacks (R11, R17, R24, R1, R3)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TypeVar

import pytest
from sqlmodel import SQLModel, col, select

from liuan_bot.clock import SHANGHAI
from storage.tables import AuditEntry, HotIssue, Incident, IncidentRelease, Unit
from tests.conftest import NOW
from tests.support import Harness

T = TypeVar("T", bound=SQLModel)

FINANCE_UNIT_ROLES = ("zhengxuejun", "baokeqin")  # 市财政局 main leader, spokesperson
NEWS_OFFICE = ("caozhiqiang", "chenshulin", "newsoffice", "baochuanhua")
OPEN = "突发\n事件：网传我市惠民补贴停发\n级别：重大"  # R17: the 24-hour clock levels


async def say(harness: Harness, user: str, text: str) -> str:
    composer = harness.bot.deps.relay.composer  # jieba, loaded by the first 已召开: load it
    if composer is not None and not composer.loaded:  # first, whatever the machine's speed
        await asyncio.to_thread(composer.load)
    status, reply = await harness.send_text(user, text)
    assert status == 200
    assert reply is not None
    return reply


async def rows(harness: Harness, table: type[T]) -> list[T]:
    async with harness.bot.deps.sessions() as session:
        return list((await session.exec(select(table))).all())


async def unit_of(harness: Harness, incident: Incident) -> str:
    async with harness.bot.deps.sessions() as session:
        unit = await session.get(Unit, incident.unit_id)
    assert unit is not None
    return unit.name


async def audit_actions(harness: Harness, record_id: str) -> list[tuple[str, str | None]]:
    async with harness.bot.deps.sessions() as session:
        entries = (
            await session.exec(
                select(AuditEntry)
                .where(col(AuditEntry.record_id) == record_id)
                .order_by(col(AuditEntry.id))
            )
        ).all()
    return [(e.action, e.new_state) for e in entries]


async def pushed(harness: Harness, user: str) -> list[str]:
    await harness.deliver_outbox()
    return harness.fake.texts_to(user)


# --- 突发 -----------------------------------------------------------------------------------


async def test_r17_opening_an_incident_tells_the_unit_and_the_news_office_the_deadline(
    harness: Harness,
) -> None:
    reply = await say(harness, "demo", OPEN)

    assert "已登记突发事件 TF-2026-0001《网传我市惠民补贴停发》" in reply
    assert "发生时间：11月26日（周四）10:00" in reply
    assert "24小时发布时限：11月27日（周五）10:00（还剩24小时）" in reply
    assert "首发 TF-2026-0001" in reply
    assert "事件：TF-2026-0001" in reply
    assert "已召开" in reply
    [incident] = await rows(harness, Incident)
    assert (incident.record_id, incident.state, incident.level) == ("TF-2026-0001", "open", "重大")
    assert (incident.filer, incident.occurred_at) == ("demo", NOW)
    assert await unit_of(harness, incident) == "市财政局"
    assert await audit_actions(harness, "TF-2026-0001") == [("incident_open", "open")]
    for user in (*FINANCE_UNIT_ROLES, *NEWS_OFFICE):
        [text] = await pushed(harness, user)
        assert "【突发事件】TF-2026-0001《网传我市惠民补贴停发》" in text
        assert "11月27日（周五）10:00" in text
        assert "登记人：张演示（市财政局）" in text
    assert await pushed(harness, "demo") == []  # the sender has the reply already
    assert await pushed(harness, "xuqihang") == []  # another unit hears nothing


@pytest.mark.parametrize(
    ("said", "shown", "deadline", "occurred"),
    [
        ("昨天晚上8点", "11月25日（周三）20:00", "11月26日（周四）20:00（还剩10小时）", (25, 20)),
        ("两个小时前", "11月26日（周四）08:00", "11月27日（周五）08:00（还剩22小时）", (26, 8)),
    ],
)
async def test_r17_a_past_occurrence_time_starts_the_24_hour_clock_then(
    harness: Harness, said: str, shown: str, deadline: str, occurred: tuple[int, int]
) -> None:
    reply = await say(harness, "demo", f"{OPEN}\n发生时间：{said}")

    assert f"发生时间：{shown}" in reply
    assert f"24小时发布时限：{deadline}" in reply
    [incident] = await rows(harness, Incident)
    day, hour = occurred
    assert incident.occurred_at == datetime(2026, 11, day, hour, 0, tzinfo=SHANGHAI)


async def test_r17_an_incident_older_than_seven_days_is_accepted_and_the_deadline_is_past(
    harness: Harness,
) -> None:
    reply = await say(harness, "demo", f"{OPEN}\n时间：11月16日上午8点")

    assert "已登记突发事件 TF-2026-0001" in reply
    assert "24小时发布时限已过：11月17日（周二）08:00到期，已超时9天2小时" in reply
    [incident] = await rows(harness, Incident)
    assert incident.occurred_at == datetime(2026, 11, 16, 8, 0, tzinfo=SHANGHAI)
    [text] = await pushed(harness, "zhengxuejun")
    assert "24小时发布时限已过" in text


async def test_r17_an_occurrence_time_in_the_future_is_refused(harness: Harness) -> None:
    reply = await say(harness, "demo", f"{OPEN}\n发生时间：明天上午9点")

    assert "发生时间" in reply
    assert "还没到" in reply
    assert await rows(harness, Incident) == []


async def test_r11_an_incident_without_fields_lists_every_missing_one_with_an_example(
    harness: Harness,
) -> None:
    reply = await say(harness, "demo", "突发")

    assert "还缺少：事件、级别。" in reply
    assert "突发\n事件：（请填写，例如 网传我市惠民补贴停发）\n级别：（请填写" in reply
    assert await rows(harness, Incident) == []


async def test_r11_a_level_outside_the_four_grades_is_refused(harness: Harness) -> None:
    reply = await say(harness, "demo", "突发 事件：网传我市惠民补贴停发 级别：严重")

    assert "级别：只能是特别重大、重大、较大、一般之一" in reply
    assert await rows(harness, Incident) == []


async def test_r1_a_unit_user_cannot_open_an_incident_for_another_unit(harness: Harness) -> None:
    reply = await say(harness, "demo", f"{OPEN}\n责任单位：市教育局")

    assert "您只能为本单位（市财政局）登记突发事件" in reply
    assert await rows(harness, Incident) == []


async def test_r11_a_role_without_unit_duties_cannot_open_an_incident(harness: Harness) -> None:
    reply = await say(harness, "approver", OPEN)

    assert "“突发”仅限" in reply
    assert await rows(harness, Incident) == []


async def test_r1_the_news_office_opens_an_incident_for_any_unit_and_that_unit_is_told(
    harness: Harness,
) -> None:
    reply = await say(harness, "newsoffice", f"{OPEN}\n责任单位：市教育局")

    assert "责任单位：市教育局" in reply
    assert "已通知市教育局主要负责人、新闻发言人、联络员和市政府新闻办" in reply
    [incident] = await rows(harness, Incident)
    assert await unit_of(harness, incident) == "市教育局"
    for user in ("guoxuejun", "xuqihang", "hanchao", "luoshiyou", "caozhiqiang"):
        assert len(await pushed(harness, user)) == 1
    assert await pushed(harness, "newsoffice") == []
    assert await pushed(harness, "zhengxuejun") == []


async def test_r3_the_news_office_must_name_the_responsible_unit(harness: Harness) -> None:
    reply = await say(harness, "newsoffice", OPEN)

    assert "请写明由哪个单位负责" in reply
    assert await rows(harness, Incident) == []


@pytest.mark.parametrize(
    ("named", "hint"),
    # 财政局 alone is 市财政局, as in 公告 (issue 9 E4; tests/commands/test_vocabulary.py)
    [("市教育厅", "市教育局"), ("火星局", "请填写名册中的单位全称")],
)
async def test_r3_an_unknown_responsible_unit_is_answered_with_close_names(
    harness: Harness, named: str, hint: str
) -> None:
    reply = await say(harness, "newsoffice", f"{OPEN}\n责任单位：{named}")

    assert f"名册里没有“{named}”这个单位。" in reply
    assert hint in reply
    assert await rows(harness, Incident) == []


# --- 舆情 -----------------------------------------------------------------------------------

HOT = "舆情\n内容：网民反映我市部分惠民补贴未按时发放\n来源：新浪微博\n链接：https://weibo.com/123"


async def test_r24_a_hot_issue_report_reaches_every_news_office_member_at_once(
    harness: Harness,
) -> None:
    reply = await say(harness, "demo", HOT)

    assert "已报告舆情 YQ-2026-0001" in reply
    assert "市政府新闻办" in reply
    assert "突发事件" in reply
    [issue] = await rows(harness, HotIssue)
    assert (issue.record_id, issue.state, issue.filer) == ("YQ-2026-0001", "reported", "demo")
    assert (issue.source, issue.link) == ("新浪微博", "https://weibo.com/123")
    assert await audit_actions(harness, "YQ-2026-0001") == [("hot_issue_report", "reported")]
    for user in NEWS_OFFICE:
        [text] = await pushed(harness, user)
        assert "【舆情报告】市财政局 YQ-2026-0001" in text
        assert "内容：网民反映我市部分惠民补贴未按时发放" in text
        assert "来源：新浪微博" in text
        assert "舆情：YQ-2026-0001" in text
    assert await pushed(harness, "zhengxuejun") == []


async def test_r24_a_hot_issue_report_without_content_lists_it_with_an_example(
    harness: Harness,
) -> None:
    reply = await say(harness, "demo", "舆情 来源：新浪微博")

    assert "还缺少：内容。" in reply
    assert "舆情\n内容：" in reply
    assert await rows(harness, HotIssue) == []


@pytest.mark.parametrize("user", ["zhengxuejun", "newsoffice"])
async def test_r24_only_spokespersons_and_liaisons_report_hot_issues(
    harness: Harness, user: str
) -> None:
    reply = await say(harness, user, HOT)

    assert "“舆情”仅限" in reply
    assert await rows(harness, HotIssue) == []


async def test_r24_the_news_office_turns_a_hot_issue_into_an_incident_and_tells_its_filer(
    harness: Harness,
) -> None:
    await say(harness, "demo", HOT)
    await harness.deliver_outbox()

    reply = await say(harness, "newsoffice", "突发 事件：惠民补贴停发舆情 级别：重大 舆情：yq1")

    assert "已登记突发事件 TF-2026-0001《惠民补贴停发舆情》" in reply
    assert "责任单位：市财政局" in reply  # the hot issue's unit, by default
    assert "舆情报告 YQ-2026-0001 已转为本事件" in reply
    [issue] = await rows(harness, HotIssue)
    assert (issue.state, issue.incident_record_id) == ("converted", "TF-2026-0001")
    [incident] = await rows(harness, Incident)
    assert incident.source_record_id == "YQ-2026-0001"
    assert await audit_actions(harness, "YQ-2026-0001") == [
        ("hot_issue_report", "reported"),
        ("hot_issue_convert", "converted"),
    ]
    [text] = await pushed(harness, "demo")
    assert text.startswith("您报告的舆情 YQ-2026-0001 已由市政府新闻办转为突发事件。")
    assert "TF-2026-0001" in text
    assert len(await pushed(harness, "baokeqin")) == 1

    again = await say(harness, "newsoffice", "突发 事件：又一次 级别：重大 舆情：YQ-2026-0001")
    assert "YQ-2026-0001 已转为突发事件 TF-2026-0001，无需重复登记" in again
    assert len(await rows(harness, Incident)) == 1


async def test_r24_only_the_news_office_converts_a_hot_issue(harness: Harness) -> None:
    await say(harness, "demo", HOT)

    reply = await say(harness, "demo", f"{OPEN}\n舆情：YQ-2026-0001")

    assert "只有市政府新闻办可以把舆情报告转为突发事件" in reply
    assert await rows(harness, Incident) == []
    [issue] = await rows(harness, HotIssue)
    assert issue.state == "reported"


async def test_r24_converting_an_unknown_hot_issue_is_not_found(harness: Harness) -> None:
    reply = await say(harness, "newsoffice", f"{OPEN}\n舆情：YQ-2026-0042")

    assert "没有找到舆情报告 YQ-2026-0042" in reply
    assert await rows(harness, Incident) == []


# --- 首发 and 续报 ---------------------------------------------------------------------------


async def test_r17_the_first_release_is_recorded_and_the_news_office_is_told(
    harness: Harness,
) -> None:
    await say(harness, "demo", OPEN)
    await harness.deliver_outbox()
    harness.clock.advance(1800)

    reply = await say(
        harness,
        "demo",
        "首发 tf1 内容：已通过“六安发布”发布情况通报 链接：https://www.luan.gov.cn/xwfb/456.html",
    )

    assert "已记录 TF-2026-0001《网传我市惠民补贴停发》的首发" in reply
    assert "还剩23小时30分钟" in reply
    assert "续报 TF-2026-0001" in reply
    [release] = await rows(harness, IncidentRelease)
    assert (release.kind, release.by) == ("first", "demo")
    assert release.content == "已通过“六安发布”发布情况通报"
    assert release.link == "https://www.luan.gov.cn/xwfb/456.html"
    [incident] = await rows(harness, Incident)
    assert incident.first_release_at == NOW + timedelta(minutes=30)
    assert incident.state == "open"
    assert ("incident_first_release", "open") in await audit_actions(harness, "TF-2026-0001")
    texts = await pushed(harness, "newsoffice")
    assert texts[-1].startswith("【首发】市财政局 TF-2026-0001《网传我市惠民补贴停发》")
    assert "https://www.luan.gov.cn/xwfb/456.html" in texts[-1]


async def test_r17_a_second_first_release_is_refused_and_points_to_the_update(
    harness: Harness,
) -> None:
    await say(harness, "demo", OPEN)
    await say(harness, "demo", "首发 TF-2026-0001 内容：情况通报")

    reply = await say(harness, "demo", "首发 TF-2026-0001 内容：再发一次")

    assert "TF-2026-0001 已首发于11月26日（周四）10:00" in reply
    assert "后续请用“续报" in reply
    assert len(await rows(harness, IncidentRelease)) == 1


async def test_r17_an_update_before_the_first_release_is_refused(harness: Harness) -> None:
    await say(harness, "demo", OPEN)

    reply = await say(harness, "demo", "续报 TF-2026-0001 内容：进展")

    assert "TF-2026-0001 还没有首发" in reply
    assert "首发 TF-2026-0001 内容：" in reply
    assert await rows(harness, IncidentRelease) == []


async def test_r17_updates_follow_the_first_release_and_are_counted(harness: Harness) -> None:
    await say(harness, "demo", OPEN)
    await say(harness, "demo", "首发 TF-2026-0001 内容：情况通报")

    first = await say(harness, "demo", "续报 TF-2026-0001 内容：已发放补贴1.2万户")
    second = await say(harness, "newsoffice", "续报 tf1 内容：全部发放完毕")

    assert "已记录 TF-2026-0001《网传我市惠民补贴停发》第1次续报" in first
    assert "第2次续报" in second
    releases = await rows(harness, IncidentRelease)
    assert [r.kind for r in releases] == ["first", "update", "update"]
    assert [r.by for r in releases] == ["demo", "demo", "newsoffice"]
    actions = await audit_actions(harness, "TF-2026-0001")
    assert actions.count(("incident_update_release", "open")) == 2
    texts = await pushed(harness, "caozhiqiang")
    assert any(t.startswith("【续报1】市财政局 TF-2026-0001") for t in texts)
    assert any(t.startswith("【续报2】市财政局 TF-2026-0001") for t in texts)


@pytest.mark.parametrize("word", ["首发", "续报"])
async def test_r17_a_release_without_content_lists_it_with_an_example(
    harness: Harness, word: str
) -> None:
    await say(harness, "demo", OPEN)

    reply = await say(harness, "demo", f"{word} TF-2026-0001")

    assert "还缺少：内容。" in reply
    assert f"{word} TF-2026-0001\n内容：" in reply
    assert await rows(harness, IncidentRelease) == []


@pytest.mark.parametrize("word", ["首发", "续报"])
async def test_r17_a_release_without_an_incident_id_asks_for_it(
    harness: Harness, word: str
) -> None:
    reply = await say(harness, "demo", f"{word} 内容：情况通报")

    assert "请在命令后写上编号，例如 TF-2026-0001" in reply


@pytest.mark.parametrize("word", ["首发", "续报"])
async def test_r1_another_units_spokesperson_cannot_release_for_the_incident(
    harness: Harness, word: str
) -> None:
    await say(harness, "demo", OPEN)

    reply = await say(harness, "xuqihang", f"{word} TF-2026-0001 内容：情况通报")

    assert "TF-2026-0001 属于市财政局，您只能办理本单位的突发事件" in reply
    assert await rows(harness, IncidentRelease) == []


@pytest.mark.parametrize("word", ["首发", "续报"])
async def test_r17_a_role_without_unit_duties_cannot_release(harness: Harness, word: str) -> None:
    await say(harness, "demo", OPEN)

    reply = await say(harness, "approver", f"{word} TF-2026-0001 内容：情况通报")

    assert f"“{word}”仅限" in reply
    assert await rows(harness, IncidentRelease) == []


@pytest.mark.parametrize("word", ["首发", "续报"])
async def test_r17_a_release_for_an_unknown_incident_is_not_found(
    harness: Harness, word: str
) -> None:
    reply = await say(harness, "demo", f"{word} TF-2026-0099 内容：情况通报")

    assert "没有找到突发事件 TF-2026-0099" in reply
    assert await rows(harness, IncidentRelease) == []


# --- the clock stops -------------------------------------------------------------------------


async def test_r17_a_filed_conference_for_the_incident_stops_the_clock_when_held(
    harness: Harness,
) -> None:
    await say(harness, "demo", OPEN)
    filed = await say(
        harness,
        "demo",
        "备案\n主题：惠民补贴发放情况\n时间：今天11点\n地点：市财政局三楼会议室\n"
        "发布人：张演示\n事件：TF-2026-0001",
    )
    assert "已备案 BA-2026-0001（回应突发事件 TF-2026-0001）" in filed
    harness.clock.advance(3600)

    held = await say(harness, "demo", "已召开 BA-2026-0001 发布人：张演示")

    assert "突发事件 TF-2026-0001 的24小时发布时限已停止计时" in held
    [incident] = await rows(harness, Incident)
    assert (incident.state, incident.answered_by) == ("answered", "BA-2026-0001")
    assert incident.answered_at == NOW + timedelta(hours=1)
    assert ("incident_answered", "answered") in await audit_actions(harness, "TF-2026-0001")
    after = await say(harness, "demo", "首发 TF-2026-0001 内容：情况通报")
    assert "24小时发布时限" not in after  # answered: no deadline to chase any more
