"""Issue 9 part A and issue 11 §3 over real encrypted callbacks: credit follows the roster,
corrections, late filings, incident levels and states, venues, what reviewers see, approval
routing, the disclosure office, and one configured R17 deadline."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from handlers.reminders import sweep
from storage.tables import (
    AccountabilityEntry,
    AuditEntry,
    Conference,
    Incident,
    Person,
    Policy,
    ReminderInstance,
    Unit,
)
from tests.conftest import NOW
from tests.support import Harness

EDU_LIAISON = "luoshiyou"  # 市教育局: 郭学军 main leader, 徐启航 spokesperson
EDU_APPLY = (
    "申请发布会\n主题：2026年秋季学期教育工作\n时间：12月3日上午10点\n"
    "发布人：郭学军、徐启航\n地点：市政府新闻发布厅\n内容：通报秋季学期开学和招生情况"
)


async def say(h: Harness, user: str, text: str) -> str:
    composer = h.bot.deps.relay.composer  # jieba, loaded by the first 已召开: load it first,
    if composer is not None and not composer.loaded:  # whatever the machine's speed
        await asyncio.to_thread(composer.load)
    status, reply = await h.send_text(user, text)
    assert status == 200
    assert reply is not None
    return reply


def rid_of(reply: str, prefix: str = "SQ") -> str:
    found = re.search(rf"{prefix}-\d{{4}}-\d{{4}}", reply)
    assert found, reply
    return found.group(0)


async def conference(h: Harness, rid: str) -> Conference:
    async with h.bot.deps.sessions() as session:
        return (
            await session.exec(select(Conference).where(col(Conference.record_id) == rid))
        ).one()


async def scheduled_education_conference(h: Harness, apply: str = EDU_APPLY) -> str:
    rid = rid_of(await say(h, EDU_LIAISON, apply))
    await say(h, "newsoffice", f"审核 {rid} 通过")
    await say(h, "approver", f"审批 {rid} 同意")
    await say(h, "newsoffice", f"排期 {rid} 时间：12月3日上午10点 地点：市政府新闻发布厅")
    h.clock.advance(7 * 24 * 3600)
    return rid


def cards_to(h: Harness, user: str) -> list[dict[str, Any]]:
    return [d.content for d in h.fake.delivered_to(user) if d.msgtype == "template_card"]


# --- A1 ------------------------------------------------------------------------------------


async def test_a1_r10_a_main_leader_written_with_his_title_counts(harness: Harness) -> None:
    h = harness
    rid = await scheduled_education_conference(h)
    reply = await say(h, EDU_LIAISON, f"已召开 {rid} 发布人：郭学军局长、徐启航")
    assert "不在市教育局名册中" not in reply
    assert "主要负责人年度出席（R10）" in reply
    conf = await conference(h, rid)
    assert conf.counts_for == ["R8", "R9", "R10"]
    assert conf.held_speaker_ids == ["guoxuejun", "xuqihang"]


async def test_a1_a_near_name_is_asked_about_before_anything_counts_and_confirmed(
    harness: Harness,
) -> None:
    h = harness
    rid = await scheduled_education_conference(h)
    reply = await say(h, EDU_LIAISON, f"已召开 {rid} 发布人：郭学君局长、徐启航")
    assert "是否是 郭学军（市教育局党组书记、局长）？" in reply
    assert "确认" in reply
    conf = await conference(h, rid)
    assert (conf.state, conf.counts_for) == ("scheduled", [])  # nothing counted yet

    assert "没有需要您确认" in await say(h, "demo", "确认")  # someone else has no question
    reply = await say(h, EDU_LIAISON, "确认")
    assert "主要负责人年度出席（R10）" in reply
    conf = await conference(h, rid)
    assert conf.state == "held"
    assert conf.counts_for == ["R8", "R9", "R10"]
    assert conf.held_speakers == ["郭学军", "徐启航"]
    assert conf.pending_held is None


async def test_a1_a_repeated_report_with_a_name_outside_the_roster_is_recorded_as_typed(
    harness: Harness,
) -> None:
    h = harness
    rid = await scheduled_education_conference(h)
    text = f"已召开 {rid} 发布人：郭学君、徐启航"
    assert "是否是" in await say(h, EDU_LIAISON, text)
    reply = await say(h, EDU_LIAISON, text)  # the filer insists: an outsider
    assert "郭学君" in reply
    assert "不计入本单位的4·2·1指标" in reply
    assert (await conference(h, rid)).counts_for == ["R8", "R9"]


async def test_a1_review_approval_and_scheduling_warn_about_speakers_not_in_the_roster(
    harness: Harness,
) -> None:
    h = harness
    apply = EDU_APPLY.replace("郭学军、徐启航", "郭学君、徐启航")
    reply = await say(h, EDU_LIAISON, apply)
    assert "郭学君（是否是 郭学军（市教育局党组书记、局长）？） 不在市教育局名册中" in reply
    rid = rid_of(reply)
    await h.deliver_outbox()
    [card] = cards_to(h, "newsoffice")
    assert "郭学君" in card["quote_area"]["quote_text"]
    await say(h, "newsoffice", f"审核 {rid} 通过")
    await h.deliver_outbox()
    [approval] = cards_to(h, "approver")
    assert "不在市教育局名册中" in approval["quote_area"]["quote_text"]
    await say(h, "approver", f"审批 {rid} 同意")
    reply = await say(h, "newsoffice", f"排期 {rid} 时间：12月3日上午10点 地点：新闻发布厅")
    assert "提示：发布人 郭学君" in reply


# --- A2 ------------------------------------------------------------------------------------


async def test_a2_the_news_office_corrects_the_speakers_of_a_held_record_and_counts_follow(
    harness: Harness,
) -> None:
    h = harness
    rid = await scheduled_education_conference(h)
    await say(h, EDU_LIAISON, f"已召开 {rid} 发布人：徐启航")
    assert (await conference(h, rid)).counts_for == ["R8", "R9"]

    refused = await say(h, EDU_LIAISON, f"更正 {rid} 发布人：郭学军、徐启航 原因：漏报")
    assert "仅限" in refused
    missing = await say(h, "newsoffice", f"更正 {rid} 发布人：郭学军、徐启航")
    assert "原因" in missing
    reply = await say(
        h, "newsoffice", f"更正 {rid} 发布人：郭学军、徐启航 原因：报告时漏报了主要负责人"
    )
    assert "已更正" in reply
    assert "主要负责人年度出席（R10）" in reply
    conf = await conference(h, rid)
    assert conf.counts_for == ["R8", "R9", "R10"]
    assert conf.state == "held"  # any state; the state is kept
    async with h.bot.deps.sessions() as session:
        entry = (
            await session.exec(
                select(AuditEntry)
                .where(col(AuditEntry.record_id) == rid)
                .where(col(AuditEntry.action) == "correct")
            )
        ).one()
    assert entry.actor == "newsoffice"
    assert entry.detail["reason"] == "报告时漏报了主要负责人"
    assert entry.detail["changes"]["发布人"] == ["徐启航", "郭学军、徐启航"]
    detail = await say(h, EDU_LIAISON, f"详情 {rid}")
    assert "李新闻 更正，发布人：徐启航 → 郭学军、徐启航；理由：报告时漏报了主要负责人" in detail


async def test_a2_a_correction_of_the_time_moves_the_count_and_the_topic_is_corrected(
    harness: Harness,
) -> None:
    h = harness
    rid = await scheduled_education_conference(h)
    await say(h, EDU_LIAISON, f"已召开 {rid} 发布人：郭学军")
    h.clock.advance(24 * 3600)
    reply = await say(
        h, "newsoffice", f"更正 {rid} 主题：秋季学期教育工作通报 时间：12月3日下午3点 原因：笔误"
    )
    assert "主题、时间" in reply
    conf = await conference(h, rid)
    assert conf.topic == "秋季学期教育工作通报"
    assert conf.held_at is not None
    assert conf.held_at.astimezone(NOW.tzinfo).hour == 15


# --- A3 ------------------------------------------------------------------------------------


async def test_a3_r16_r8_a_self_held_conference_filed_afterwards_counts_as_late(
    harness: Harness,
) -> None:
    h = harness
    before = await say(h, "demo", "我的")
    assert "2026年第四季度发布会（R8）：0 场" in before
    reply = await say(
        h,
        "demo",
        "备案 主题：全市财政预算执行情况 时间：昨天下午3点 地点：市财政局三楼会议室 "
        "发布人：郑学军局长、鲍克勤",
    )
    assert "已补报" in reply
    assert "季度发布会（R8）" in reply
    rid = rid_of(reply, "BA")
    conf = await conference(h, rid)
    assert (conf.state, conf.late, conf.counts_for) == ("held", True, ["R8"])
    assert conf.held_at == conf.starts_at
    assert "2026年第四季度发布会（R8）：1 场" in await say(h, "demo", "我的")
    assert "会后补报" in await say(h, "demo", f"详情 {rid}")


async def test_a3_a_conference_of_an_earlier_quarter_cannot_be_filed_late(
    harness: Harness,
) -> None:
    reply = await say(
        harness,
        "demo",
        "补报 主题：三季度工作 时间：9月20日下午3点 地点：市财政局三楼会议室 发布人：鲍克勤",
    )
    assert "只能补报本季度" in reply
    async with harness.bot.deps.sessions() as session:
        assert (await session.exec(select(Conference))).all() == []


async def test_a3_r18_a_policy_filed_after_publication_is_late_and_on_the_accountability_list(
    harness: Harness,
) -> None:
    h = harness
    reply = await say(h, "demo", "政策 标题：某政策 公布时间：11月20日上午9点")
    assert "公布后补报" in reply
    assert "重大政策未及时解读" in reply
    async with h.bot.deps.sessions() as session:
        [policy] = (await session.exec(select(Policy))).all()
        [entry] = (await session.exec(select(AccountabilityEntry))).all()
    assert policy.late is True
    assert policy.created_at > policy.publish_at
    assert (entry.rule, entry.subject, entry.label) == (
        "R18",
        f"policy:{policy.record_id}",
        "重大政策不解读",
    )


# --- A4 ------------------------------------------------------------------------------------


async def incident(h: Harness, level: str) -> str:
    return rid_of(await say(h, "demo", f"突发 事件：化工园区一企业发生火灾 级别：{level}"), "TF")


async def r17_instances(h: Harness) -> list[ReminderInstance]:
    async with h.bot.deps.sessions() as session:
        return list(
            (
                await session.exec(
                    select(ReminderInstance).where(col(ReminderInstance.rule) == "R17")
                )
            ).all()
        )


async def sweep_at(h: Harness, hours: int) -> None:
    assert h.bot.reminders is not None
    await sweep(h.bot.reminders, NOW + timedelta(hours=hours))


async def accountability(h: Harness) -> list[AccountabilityEntry]:
    async with h.bot.deps.sessions() as session:
        return list((await session.exec(select(AccountabilityEntry))).all())


async def test_a4_r17_a_lesser_incident_is_tracked_without_the_24_hour_ladder(
    harness: Harness,
) -> None:
    h = harness
    reply = await say(h, "demo", "突发 事件：网传补贴停发 级别：较大")
    assert "不适用24小时发布会时限" in reply
    rid = rid_of(reply, "TF")
    assert "已记录" in await say(h, "demo", f"首发 {rid} 内容：已发布情况通报")
    for hours in (2, 13, 25):
        await sweep_at(h, hours)
    assert await r17_instances(h) == []
    assert await accountability(h) == []
    assert "不适用24小时发布会时限" in await say(h, "demo", f"详情 {rid}")


async def test_a4_r17_closing_an_incident_stops_the_clock_and_the_history_says_so(
    harness: Harness,
) -> None:
    h = harness
    rid = await incident(h, "重大")
    assert "仅限" not in await say(h, "demo", f"结案 {rid}")  # reason missing: asked for
    reply = await say(h, "demo", f"结案 {rid} 理由：火情已扑灭，无人员伤亡")
    assert "已结案" in reply
    assert "停止计时" in reply
    await sweep_at(h, 25)
    assert await r17_instances(h) == []
    assert await accountability(h) == []
    detail = await say(h, "newsoffice", f"详情 {rid}")
    assert "状态：已结案" in detail
    assert "结案（处置中 → 已结案），理由：火情已扑灭，无人员伤亡，发布时限停止计时" in detail


async def test_a4_r17_an_incident_filed_by_mistake_is_withdrawn_by_the_news_office(
    harness: Harness,
) -> None:
    h = harness
    rid = await incident(h, "特别重大")
    reply = await say(h, "newsoffice", f"撤回事件 {rid} 理由：误报，实为应急演练")
    assert "已撤回（误报）" in reply
    await sweep_at(h, 25)
    assert await accountability(h) == []
    async with h.bot.deps.sessions() as session:
        [row] = (await session.exec(select(Incident))).all()
    assert (row.state, row.state_reason) == ("withdrawn", "误报，实为应急演练")
    assert "已撤回（误报），不能结案" in await say(h, "zhudesheng", f"结案 {rid} 理由：x")


async def test_a4_r17_regrading_up_starts_the_clock_and_down_stops_it(harness: Harness) -> None:
    h = harness
    rid = rid_of(await say(h, "demo", "突发 事件：网传补贴停发 级别：一般"), "TF")
    reply = await say(h, "demo", f"调整级别 {rid} 级别：重大 理由：影响扩大")
    assert "级别调整为“重大”" in reply
    assert "24小时发布时限" in reply
    await sweep_at(h, 13)
    assert await r17_instances(h)  # the ladder runs now
    reply = await say(h, "newsoffice", f"调整级别 {rid} 级别：较大 理由：经核实影响有限")
    assert "停止计时" in reply
    await sweep_at(h, 25)
    assert await accountability(h) == []
    assert "仅限" not in await say(h, "baokeqin", f"调整级别 {rid} 级别：较大 理由：再调")


async def test_a4_another_unit_cannot_close_an_incident(harness: Harness) -> None:
    h = harness
    rid = await incident(h, "重大")
    reply = await say(h, EDU_LIAISON, f"结案 {rid} 理由：与我无关")
    assert "只能办理本单位" in reply


# --- A5 ------------------------------------------------------------------------------------


async def test_a5_r15_an_alias_of_a_booked_venue_with_an_overlapping_interval_clashes(
    harness: Harness,
) -> None:
    h = harness
    first = await say(
        h,
        "demo",
        "备案 主题：财政工作 时间：12月3日14:30-16:00 地点：新闻发布厅 发布人：鲍克勤",
    )
    rid = rid_of(first, "BA")
    assert (await conference(h, rid)).ends_at is not None
    clash = await say(
        h,
        EDU_LIAISON,
        "备案 主题：教育工作 时间：12月3日下午3点半 地点：市政府新闻发布厅（三楼） 发布人：徐启航",
    )
    assert f"已被 {rid}" in clash
    assert "14:30–16:00" in clash
    after = await say(
        h,
        EDU_LIAISON,
        "备案 主题：教育工作 时间：12月3日下午4点 地点：市政府新闻发布厅（三楼） 发布人：徐启航",
    )
    assert "已备案" in after


async def test_a5_r15_without_an_end_the_configured_duration_decides(harness: Harness) -> None:
    h = harness
    await say(
        h, "demo", "备案 主题：财政工作 时间：12月3日上午9点 地点：新闻发布厅 发布人：鲍克勤"
    )
    h.use_deps(
        replace(
            h.bot.deps,
            records=replace(
                h.bot.deps.records,
                venues=replace(h.bot.deps.records.venues, default_duration=timedelta(hours=4)),
            ),
        )
    )
    clash = await say(
        h, EDU_LIAISON, "备案 主题：教育 时间：12月3日中午12点 地点：新闻发布厅 发布人：徐启航"
    )
    assert "已被" in clash


# --- A6 ------------------------------------------------------------------------------------


async def test_a6_detail_and_cards_show_content_draft_format_and_the_withdraw_reason(
    harness: Harness,
) -> None:
    h = harness
    rid = rid_of(await say(h, EDU_LIAISON, EDU_APPLY))
    await h.deliver_outbox()
    [card] = cards_to(h, "newsoffice")
    assert "内容：通报秋季学期开学和招生情况" in card["quote_area"]["quote_text"]
    assert {"keyname": "稿件格式", "value": "待定"} in card["horizontal_content_list"]
    detail = await say(h, "newsoffice", f"详情 {rid}")
    assert "内容：通报秋季学期开学和招生情况" in detail
    assert "稿件格式：待定" in detail
    await say(h, EDU_LIAISON, f"撤回 {rid} 理由：与市里的安排冲突")
    detail = await say(h, "newsoffice", f"详情 {rid}")
    assert "撤回理由：与市里的安排冲突" in detail


# --- A7 ------------------------------------------------------------------------------------


async def add_approver(h: Harness, userid: str) -> None:
    async with h.bot.deps.sessions() as session:
        office = (await session.exec(select(Unit).where(col(Unit.name) == "市政府办公室"))).one()
        assert office.id is not None
        session.add(
            Person(
                userid=userid,
                name="李分管",
                unit_id=office.id,
                roles=["副秘书长"],
                title="市政府副秘书长",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        await session.commit()


async def test_a7_r15_the_approval_goes_to_the_deputy_in_charge_of_the_unit(
    harness: Harness,
) -> None:
    h = harness
    await add_approver(h, "approver2")
    h.use_deps(
        replace(
            h.bot.deps,
            records=replace(h.bot.deps.records, approvers={"市教育局": ("approver2",)}),
        )
    )
    rid = rid_of(await say(h, EDU_LIAISON, EDU_APPLY))
    await say(h, "newsoffice", f"审核 {rid} 通过")
    await h.deliver_outbox()
    assert len(cards_to(h, "approver2")) == 1
    assert cards_to(h, "approver") == []
    # a unit without a mapping: every approver, as before
    other = rid_of(await say(h, "demo", EDU_APPLY.replace("郭学军、徐启航", "郑学军")))
    await say(h, "newsoffice", f"审核 {other} 通过")
    await h.deliver_outbox()
    assert len(cards_to(h, "approver")) == 1
    assert len(cards_to(h, "approver2")) == 2


# --- A8 ------------------------------------------------------------------------------------


async def test_a8_r1_the_disclosure_office_schedules_and_corrects_but_does_not_review(
    harness: Harness,
) -> None:
    h = harness
    rid = rid_of(await say(h, EDU_LIAISON, EDU_APPLY))
    refused = await say(h, "huangting", f"审核 {rid} 通过")
    assert "审核只能由市政府新闻办办理" in refused
    await say(h, "newsoffice", f"审核 {rid} 通过")
    await say(h, "approver", f"审批 {rid} 同意")
    reply = await say(h, "huangting", f"排期 {rid} 时间：12月3日上午10点 地点：市政府新闻发布厅")
    assert "已排期" in reply
    reply = await say(h, "huangting", f"更正 {rid} 主题：秋季学期教育工作 原因：题目过长")
    assert "已更正" in reply
    h.use_deps(replace(h.bot.deps, records=replace(h.bot.deps.records, disclosure_reviews=True)))
    second = rid_of(await say(h, EDU_LIAISON, EDU_APPLY))
    assert "已通过审核" in await say(h, "huangting", f"审核 {second} 通过")


# --- issue 11 §3 ---------------------------------------------------------------------------


async def test_11_3_r17_the_deadline_in_status_and_detail_follows_the_configuration(
    harness: Harness,
) -> None:
    h = harness
    rid = await incident(h, "重大")
    assert "11月27日（周五）10:00" in await say(h, "demo", "我的")
    config = h.bot.deps.records.reminders
    h.use_deps(
        replace(
            h.bot.deps,
            records=replace(h.bot.deps.records, reminders=replace(config, r17_deadline_h=12)),
        )
    )
    status = await say(h, "demo", "我的")
    assert "12小时发布会时限：11月26日（周四）22:00" in status
    assert "11月27日" not in status
    detail = await say(h, "demo", f"详情 {rid}")
    assert "12小时发布会时限：11月26日（周四）22:00" in detail


async def test_11_3_r7_the_training_window_follows_the_configuration(harness: Harness) -> None:
    h = harness
    config = h.bot.deps.records.reminders
    h.use_deps(
        replace(
            h.bot.deps,
            records=replace(h.bot.deps.records, reminders=replace(config, r7_window_years=2)),
        )
    )
    reply = await say(h, "newsoffice", "培训 姓名：鲍克勤 日期：11月20日 课程：发言人业务培训")
    assert "下次培训应在2028年11月20日前完成（R7：每2年至少一次）" in reply
