"""The chat doors of R12–R14: 发布计划, the R13 link (field and 关联), 问责清单, 报表, and the
approver's 我的 — over encrypted callbacks with the demo roster (tests/conftest.py)."""

from __future__ import annotations

import re
from typing import TypeVar

from sqlmodel import SQLModel, select

from handlers.evaluation import evaluate
from storage.engine import transaction
from storage.tables import AuditEntry, Policy, ReleasePlan, RiskLink
from tests.support import Harness

T = TypeVar("T", bound=SQLModel)

APPLY = (
    "申请发布会\n主题：2026年秋粮收购政策解读\n时间：12月3日上午10点\n"
    "发布人：郑学军、鲍克勤\n地点：市政府新闻发布厅"
)
RISK = "风险评估\n事项：中心城区义务教育学区划分调整\n类型：政策\n等级：中\n"
POLICY = "政策\n标题：六安市促进民营经济高质量发展若干政策\n公布时间：12月10日上午9点\n"


async def ok(h: Harness, user: str, text: str) -> str:
    """The reply: passive, or (too long for a passive reply) through the outbox."""
    before = len(h.fake.texts_to(user))
    status, reply = await h.send_text(user, text)
    assert status == 200
    if reply is None:
        await h.deliver_outbox()
        reply = "".join(h.fake.texts_to(user)[before:])
    assert reply
    return reply


async def rows(h: Harness, table: type[T]) -> list[T]:
    async with h.bot.deps.sessions() as session:
        return list((await session.exec(select(table))).all())


def ids(reply: str, prefix: str) -> list[str]:
    return re.findall(prefix + r"-\d{4}-\d{4}", reply)


# ------------------------------------------------------------------ R12 发布计划


async def test_r12_plan_is_filed_replaced_with_history_in_the_audit_and_shown(
    harness: Harness,
) -> None:
    h = harness
    first = await ok(h, "demo", "发布计划 季度：2027Q1 主题：冬季供暖保障；春运安全")
    assert "已报送2027年第一季度发布计划" in first
    assert "1. 冬季供暖保障\n2. 春运安全" in first
    await h.deliver_outbox()
    assert any("【发布计划】市财政局" in t for t in h.fake.texts_to("newsoffice"))

    again = await ok(h, "demo", "发布计划\n季度：2027年第一季度\n主题：春运安全、节日市场供应")
    assert "已更新" in again
    assert "已替换此前报送的计划" in again
    [plan] = await rows(h, ReleasePlan)
    assert (plan.quarter, plan.topics) == ("2027Q1", ["春运安全", "节日市场供应"])
    history = [e for e in await rows(h, AuditEntry) if e.action == "plan_file"]
    assert [e.detail["previous"] for e in history] == [None, ["冬季供暖保障", "春运安全"]]

    shown = await ok(h, "demo", "发布计划")
    assert "2027年第一季度发布计划：春运安全；节日市场供应" in shown
    mine = await ok(h, "demo", "我的")
    assert "2027年第一季度发布计划：春运安全；节日市场供应" in mine


async def test_r12_a_past_quarter_or_a_bad_one_is_refused_and_nothing_is_stored(
    harness: Harness,
) -> None:
    past = await ok(harness, "demo", "发布计划 季度：2026Q3 主题：防汛")
    assert "已经过去" in past
    bad = await ok(harness, "demo", "发布计划 季度：明年 主题：防汛")
    assert "2027Q1" in bad
    missing = await ok(harness, "demo", "发布计划 季度：2027Q2")
    assert "还缺少：主题" in missing
    assert await rows(harness, ReleasePlan) == []
    empty = await ok(harness, "demo", "发布计划")
    assert "还没有报送" in empty


# ------------------------------------------------------------------ R13 links


async def test_r13_a_policy_filed_with_its_risk_letter_is_linked_and_leaves_the_list(
    harness: Harness,
) -> None:
    h = harness
    [risk_id] = ids(await ok(h, "demo", RISK), "FX")
    filed = await ok(h, "demo", POLICY + f"风险评估：{risk_id}")
    [policy_id] = ids(filed, "ZC")
    assert f"已关联风险评估函告 {risk_id}" in filed
    assert [(r.risk_record_id, r.target_record_id) for r in await rows(h, RiskLink)] == [
        (risk_id, policy_id)
    ]
    other = ids(await ok(h, "demo", POLICY.replace("民营经济", "城市更新")), "ZC")[0]
    async with transaction(h.bot.deps.sessions) as session:
        ev = await evaluate(
            session, "2026Q4", h.clock.now(), unit="市财政局", keywords=lambda t: ()
        )
    [unit] = ev.units
    assert unit.policies_without_risk == (other,)  # R13: only the one without a letter
    assert (unit.risk_letters, unit.risk_linked) == (1, 1)


async def test_r13_an_unknown_risk_letter_refuses_the_whole_filing(harness: Harness) -> None:
    reply = await ok(harness, "demo", POLICY + "风险评估：FX-2026-0099")
    assert "没有找到风险评估函告 FX-2026-0099" in reply
    assert await rows(harness, Policy) == []  # nothing half-written


async def test_r13_link_command_and_the_field_on_an_application(harness: Harness) -> None:
    h = harness
    [risk_id] = ids(await ok(h, "demo", RISK), "FX")
    applied = await ok(h, "demo", APPLY + f"\n风险评估：{risk_id}")
    [conf_id] = ids(applied, "SQ")
    assert f"已关联风险评估函告 {risk_id}" in applied
    [policy_id] = ids(await ok(h, "demo", POLICY), "ZC")
    linked = await ok(h, "demo", f"关联 {risk_id} {policy_id}")
    assert f"已将风险评估函告 {risk_id} 关联到 {policy_id}" in linked
    twice = await ok(h, "demo", f"关联 {risk_id} {policy_id}")
    assert "已经关联过" in twice
    targets = sorted(r.target_record_id for r in await rows(h, RiskLink))
    assert targets == sorted([conf_id, policy_id])
    nothing = await ok(h, "demo", f"关联 {risk_id}")
    assert "请写明要关联的政策或发布会编号" in nothing


async def test_r13_r1_another_units_letter_cannot_be_linked(harness: Harness) -> None:
    h = harness
    [risk_id] = ids(await ok(h, "demo", RISK), "FX")
    # 刘磊 is the spokesperson of 市发展改革委, not of 市财政局
    [policy_id] = ids(await ok(h, "liulei", POLICY), "ZC")
    refused = await ok(h, "liulei", f"关联 {risk_id} {policy_id}")
    assert "您只能关联本单位的函告" in refused
    assert await rows(h, RiskLink) == []


# ------------------------------------------------------------------ approver and news office


async def test_r15_the_approvers_mine_shows_what_waits_for_them(harness: Harness) -> None:
    h = harness
    before = await ok(h, "approver", "我的")
    assert "待您审批：无。" in before
    [rid] = ids(await ok(h, "demo", APPLY), "SQ")
    news = await ok(h, "newsoffice", "我的")
    assert f"{rid}《2026年秋粮收购政策解读》（市财政局）待审核" in news
    await ok(h, "newsoffice", f"审核 {rid} 通过")
    waiting = await ok(h, "approver", "我的")
    assert "待您审批（1 件）" in waiting
    assert f"{rid}《2026年秋粮收购政策解读》（市财政局" in waiting
    assert f"审批 {rid} 同意" in waiting
    assert "目前没有进行中的事项" not in waiting
    await ok(h, "approver", f"审批 {rid} 同意")
    assert "待您审批：无。" in await ok(h, "approver", "我的")
    assert f"{rid}《2026年秋粮收购政策解读》（市财政局）待排期" in await ok(
        h, "newsoffice", "我的"
    )


# ------------------------------------------------------------------ R14 问责清单 and 报表


async def test_r14_accountability_list_in_chat_is_for_the_city_wide_offices(
    harness: Harness,
) -> None:
    h = harness
    listed = await ok(h, "newsoffice", "问责清单 2026")
    assert listed.startswith("2026年问责清单")
    assert "【重要信息不发布】" in listed  # key units missed Q1–Q3 in the demo roster
    assert "/console/evaluation?period=2026" in listed
    one = await ok(h, "huangting", "问责清单 2026 单位：市财政局")
    assert "市财政局" in one
    assert "市发展改革委" not in one
    refused = await ok(h, "demo", "问责清单 2026")
    assert "问责清单" in refused
    assert "2026年问责清单" not in refused


async def test_r14_report_in_chat_gives_a_summary_and_the_console_link(harness: Harness) -> None:
    reply = await ok(harness, "newsoffice", "报表 2026Q4")
    assert reply.startswith("2026年第四季度新闻发布工作评估")
    assert "重点单位" in reply
    assert "问责清单" in reply
    assert reply.rstrip().endswith("/console/evaluation?period=2026Q4")
    bad = await ok(harness, "newsoffice", "报表 2026Q7")
    assert "不是一个考核期" in bad
