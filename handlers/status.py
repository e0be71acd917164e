"""我的 (a unit's open items and its 4·2·1 counts) and 详情 (one record with its history).

The R17 deadline shown here is the configured one (config/reminders.toml via
`Deps.records`), the same the reminder planner uses (issue 11 §3); all SQL is in storage/.
"""

from __future__ import annotations

from datetime import timedelta

from handlers.common import record_id_of, require_fields, text_value, when
from handlers.conferences import time_span
from handlers.context import Context
from handlers.decisions import approvers_for
from handlers.incidents import deadline_of
from handlers.plans import plan_lines
from liuan_bot.commands.fields import CommandGrammar, FieldSpec
from liuan_bot.commands.registry import CommandSpec
from liuan_bot.domain.incidents import STATE_LABELS as INCIDENT_STATE_LABELS
from liuan_bot.domain.incidents import IncidentState, clock_applies, clock_running
from liuan_bot.domain.periods import quarter
from liuan_bot.domain.quotas import Held, quota_status
from liuan_bot.domain.roles import ALL_ROLES, Role
from liuan_bot.domain.workflow import NEXT_STEP, STATE_LABELS, State
from liuan_bot.errors import NotFound, PermissionDenied
from liuan_bot.messages import Reply
from storage.conference_store import (
    approval_queue,
    conference_by_record,
    held_conferences,
    news_office_queue,
    open_conferences,
)
from storage.incident_store import (
    hot_issue_readonly,
    incident_by_record_readonly,
    open_incidents,
    releases_of,
)
from storage.record_store import (
    history,
    is_key_unit,
    policies_from,
    policy_by_record,
    risk_by_record,
)
from storage.roster_store import names_of, unit_id, unit_name
from storage.tables import Conference, Incident

STATUS = CommandGrammar(
    record="optional", fields=(FieldSpec("单位", aliases=("部门",), example="市财政局"),)
)
DETAIL = CommandGrammar(record="required")
INCIDENT_STATES = {
    **{state.value: label for state, label in INCIDENT_STATE_LABELS.items()},
    "open": "处置中",
}


async def _unit_for_status(ctx: Context) -> tuple[int, str]:
    asked = text_value(ctx, "单位")
    if asked and asked != ctx.sender.unit:
        if not ctx.sender.may_act_for(asked):
            raise PermissionDenied("只有市政府新闻办和政务公开办可以查询其他单位。")
        found = await unit_id(ctx.session, asked)
        if found is None:
            raise NotFound(f"名册里没有“{asked}”，请核对单位全称。")
        return found, await unit_name(ctx.session, found)  # 财政局 → 市财政局
    found = await unit_id(ctx.session, ctx.sender.unit)
    if found is None:
        raise NotFound("名册里找不到您的单位，请联系市政府新闻办。")
    return found, ctx.sender.unit


async def _quota_lines(ctx: Context, unit_pk: int, key_unit: bool) -> list[str]:
    start = ctx.now.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    held = [
        Held(c.record_id, c.held_at.astimezone(ctx.now.tzinfo), tuple(c.counts_for))
        for c in await held_conferences(ctx.session, unit_pk, start)
        if c.held_at is not None
    ]
    status = quota_status(held, ctx.now)
    days = quarter(ctx.now).days_left(ctx.now)
    warn = " ⚠" if key_unit else ""
    lines = [
        f"· {status.quarter_label}发布会（R8）：{status.quarter} 场"
        + (f"{warn}（本季度还剩 {days} 天）" if status.quarter == 0 else ""),
        f"· {status.half_label}出席市政府发布会（R9）：{status.half} 次"
        + (warn if status.half == 0 else ""),
        f"· {status.year_label}主要负责人出席市政府发布会（R10）：{status.year} 次"
        + (warn if status.year == 0 else ""),
    ]
    if not key_unit:
        lines.append("（本单位不是4·2·1重点单位，以上仅供参考）")
    return lines


async def _open_items(ctx: Context, unit_pk: int) -> list[str]:
    s = ctx.session
    items: list[str] = []
    for c in await open_conferences(s, unit_pk):
        state = State(c.state)
        items.append(
            f"· {c.record_id}《{c.topic}》{STATE_LABELS[state]}，{when(ctx, c.starts_at)}"
            f" — {NEXT_STEP[state]}"
        )
    hours = ctx.deps.records.r17_deadline_hours
    for i in await open_incidents(s, unit_pk):
        if not clock_applies(i.level):
            items.append(
                f"· {i.record_id}《{i.title}》（{i.level}）处置中 — 请及时首发、续报，"
                "处置完毕后发送“结案”"
            )
            continue
        deadline = deadline_of(ctx, i.occurred_at)
        left = deadline - ctx.now
        tail = (
            f"还剩 {int(left.total_seconds() // 3600)} 小时"
            if left.total_seconds() > 0
            else "已超时"
        )
        items.append(
            f"· {i.record_id}《{i.title}》{hours}小时发布会时限：{when(ctx, deadline)}（{tail}）"
            " — 召开后发送“已召开”"
        )
    for p in await policies_from(s, unit_pk, ctx.now - timedelta(days=1)):
        interp = "解读：待定 ⚠" if not p.interpretation_url else "解读已就绪"
        items.append(f"· {p.record_id}《{p.title}》公布时间 {when(ctx, p.publish_at)}，{interp}")
    return items


async def status(ctx: Context) -> Reply:
    """我的: open items with their next step and deadline, and the 4·2·1 counts (R8–R10).

    `查询 SQ-2026-0012` / `进度 SQ-…` asks about one record: that is 详情."""
    if ctx.fields.record_id is not None:
        return await detail(ctx)
    require_fields(ctx, STATUS)
    unit_pk, name = await _unit_for_status(ctx)
    key_unit = ctx.sender.key_unit if name == ctx.sender.unit else await _is_key(ctx, unit_pk)
    lines = [f"{name} · 4·2·1 进度（截至{when(ctx, ctx.now)}）"]
    lines += await _quota_lines(ctx, unit_pk, key_unit)
    items = await _open_items(ctx, unit_pk)
    waiting = []
    if Role.APPROVER in ctx.sender.roles and not text_value(ctx, "单位"):
        waiting = await _approver_queue(ctx)
    if items or not waiting:
        lines.append("进行中的事项：" if items else "目前没有进行中的事项。")
    lines += items
    lines += waiting
    lines += await plan_lines(ctx.session, unit_pk, ctx)  # R12
    if Role.NEWS_OFFICE in ctx.sender.roles and not text_value(ctx, "单位"):
        lines += await _news_office_queue(ctx)
    return Reply.ok("\n".join(lines))


async def _approver_queue(ctx: Context) -> list[str]:
    """What waits for the deputy secretary-general (副秘书长): reviewed applications (R15)."""
    rows = [
        (c, unit)
        for c, unit in await approval_queue(ctx.session)
        if ctx.sender.userid in await approvers_for(ctx, unit)  # A7: routed to the 分管
    ]
    if not rows:
        return ["待您审批：无。"]
    lines = [f"待您审批（{len(rows)} 件）："]
    for c, unit in rows:
        reason = f"，审核意见：{c.review_reason}" if c.review_reason else ""
        lines.append(
            f"· {c.record_id}《{c.topic}》（{unit}，拟{when(ctx, c.starts_at)}）{reason}"
            f" — 发送“审批 {c.record_id} 同意”或“审批 {c.record_id} 不同意 意见：…”"
        )
    return lines


async def _is_key(ctx: Context, unit_pk: int) -> bool:
    return await is_key_unit(ctx.session, unit_pk)


async def _news_office_queue(ctx: Context) -> list[str]:
    """What waits for the news office across all units."""
    rows = await news_office_queue(ctx.session)
    if not rows:
        return ["新闻办待办：无。"]
    lines = ["新闻办待办："]
    for c in rows:
        verb = "待审核" if c.state == "submitted" else "待排期"
        lines.append(
            f"· {c.record_id}《{c.topic}》（{await unit_name(ctx.session, c.unit_id)}）{verb}"
        )
    return lines


async def _may_see(ctx: Context, unit_pk: int, *, approver_too: bool = False) -> str:
    unit = await unit_name(ctx.session, unit_pk)
    if ctx.sender.may_act_for(unit):
        return unit
    if approver_too and Role.APPROVER in ctx.sender.roles:
        return unit
    raise PermissionDenied("这条记录属于其他单位，您没有查看权限。")


ACTION_NAMES = {
    "apply": "提交申请",
    "review": "审核",
    "approve": "审批",
    "schedule": "排期",
    "file": "备案",
    "held": "报告召开",
    "withdraw": "撤回",
    "amend": "修改",
    "incident": "报告突发事件",
    "incident_answered": "召开发布会回应",
    "first_release": "首发",
    "update": "续报",
    "hot_issue": "报告舆情",
    "converted": "转为突发事件",
    "policy": "报备政策",
    "risk": "函告风险评估",
    "correct": "更正",
    "incident_open": "登记突发事件",
    "incident_close": "结案",
    "incident_withdraw": "撤回（误报）",
    "incident_regrade": "调整级别",
    "incident_first_release": "首发",
    "incident_update_release": "续报",
    "hot_issue_report": "报告舆情",
    "hot_issue_convert": "转为突发事件",
    "policy_file": "报备政策",
    "policy_update": "更新政策",
    "release": "组织各渠道转发",
}
CLOCK_NOTES = {"stopped": "，发布时限停止计时", "started": "，开始计算发布时限"}
STATE_NAMES = {
    **{s.value: label for s, label in STATE_LABELS.items()},
    **INCIDENT_STATES,
    "answered": "已回应",
    "reported": "已报告",
    "converted": "已转为突发事件",
}


async def _history(ctx: Context, record_id: str) -> list[str]:
    entries = await history(ctx.session, record_id)
    names = await names_of(ctx.session, {e.actor for e in entries})
    lines = ["办理记录："]
    for e in entries:
        change = ""
        if e.new_state and e.new_state != e.old_state:
            old = STATE_NAMES.get(e.old_state or "", "—")
            change = f"（{old} → {STATE_NAMES.get(e.new_state, e.new_state)}）"
        who = names.get(e.actor, e.actor)
        lines.append(
            f"· {when(ctx, e.at)} {who} {ACTION_NAMES.get(e.action, '办理')}{change}"
            + _why(e.detail)
        )
    return lines


def _why(detail: dict[str, object]) -> str:
    """What a history line adds: the change of a correction or re-grade, the reason, the
    clock (A2, A4)."""
    parts: list[str] = []
    changes = detail.get("changes")
    if isinstance(changes, dict):
        for field, pair in changes.items():
            if isinstance(pair, list) and len(pair) == 2:
                parts.append(f"{field}：{pair[0] or '（空）'} → {pair[1] or '（空）'}")
    level = detail.get("level")
    if isinstance(level, list) and len(level) == 2:
        parts.append(f"级别：{level[0]} → {level[1]}")
    reason = detail.get("reason")
    if isinstance(reason, str) and reason:
        parts.append(f"理由：{reason}")
    if detail.get("late"):
        parts.append("会后补报")
    text = "；".join(parts)
    clock = CLOCK_NOTES.get(str(detail.get("clock", "")), "")
    return (f"，{text}" if text else "") + clock


async def _conference_detail(ctx: Context, c: Conference) -> list[str]:
    unit = await _may_see(ctx, c.unit_id, approver_too=True)
    state = State(c.state)
    lines = [
        f"{c.record_id}《{c.topic}》" + ("（会后补报）" if c.late else ""),
        f"单位：{unit}　状态：{STATE_LABELS[state]}",
        f"时间：{time_span(ctx, c)}　地点：{c.venue or '待定'}",
        f"发布人：{'、'.join(c.speakers) or '待定'}　类型：{c.conf_type}"
        + ("（直播）" if c.live else ""),
        f"内容：{c.content or '未填写'}",
        f"稿件格式：{c.draft_format or '待定'}",
    ]
    if state == State.WITHDRAWN:
        lines.append(f"撤回理由：{c.withdraw_reason or '未说明'}")
    if c.incident_record_id:
        lines.append(f"回应突发事件：{c.incident_record_id}")
    if c.review_reason:
        lines.append(f"审核理由：{c.review_reason}")
    if c.approval_opinion:
        lines.append(f"审批意见：{c.approval_opinion}")
    if c.held_at:
        lines.append(
            f"召开：{when(ctx, c.held_at)}，实际发布人：{'、'.join(c.held_speakers)}，"
            f"计入：{'、'.join(c.counts_for)}"
        )
    lines.append(NEXT_STEP[state])
    return lines


async def _incident_detail(ctx: Context, i: Incident) -> list[str]:
    unit = await _may_see(ctx, i.unit_id)
    hours = ctx.deps.records.r17_deadline_hours
    if clock_applies(i.level):
        limit = f"{hours}小时发布会时限：{when(ctx, deadline_of(ctx, i.occurred_at))}"
        if not clock_running(i.state, i.level):
            limit += "（已停止计时）"
    else:
        limit = f"{i.level}级别，不适用{hours}小时发布会时限"
    lines = [
        f"{i.record_id}《{i.title}》（{i.level}）",
        f"责任单位：{unit}",
        f"发生时间：{when(ctx, i.occurred_at)}",
        limit,
        f"状态：{INCIDENT_STATES.get(i.state, '处置中')}",
    ]
    if i.state in (IncidentState.CLOSED, IncidentState.WITHDRAWN) and i.state_reason:
        lines.append(f"理由：{i.state_reason}")
    for r in await releases_of(ctx.session, i.id):
        kind = "首发" if r.kind == "first" else "续报"
        lines.append(f"· {kind} {when(ctx, r.at)}：{r.content[:60]} {r.link}".rstrip())
    if i.answered_by:
        lines.append(f"已由 {i.answered_by} 回应（{when(ctx, i.answered_at)}）")
    return lines


async def detail(ctx: Context) -> Reply:
    """详情 ID: one record with its full history (audit entries)."""
    require_fields(ctx, DETAIL)
    record_id = record_id_of(ctx)
    prefix = record_id[:2]
    s = ctx.session
    lines: list[str]
    if prefix in ("SQ", "BA"):
        conf: Conference | None = await conference_by_record(s, record_id)
        if conf is None:
            raise NotFound(f"没有找到 {record_id}。")
        lines = await _conference_detail(ctx, conf)
    elif prefix == "TF":
        incident: Incident | None = await incident_by_record_readonly(s, record_id)
        if incident is None:
            raise NotFound(f"没有找到 {record_id}。")
        lines = await _incident_detail(ctx, incident)
    else:
        lines = await _other_detail(ctx, record_id)
    return Reply.ok("\n".join(lines + await _history(ctx, record_id)))


async def _other_detail(ctx: Context, record_id: str) -> list[str]:
    s = ctx.session
    if record_id.startswith("ZC"):
        p = await policy_by_record(s, record_id)
        if p is not None:
            unit = await _may_see(ctx, p.unit_id)
            late = f"（公布后补报，{when(ctx, p.created_at)}报备）" if p.late else ""
            return [
                f"{p.record_id}《{p.title}》（{unit}）",
                f"公布时间：{when(ctx, p.publish_at)}{late}",
                f"解读：{p.interpretation_url or '待定'}　吹风会：{'是' if p.briefing else '否'}",
            ]
    if record_id.startswith("FX"):
        r = await risk_by_record(s, record_id)
        if r is not None:
            unit = await _may_see(ctx, r.unit_id)
            return [
                f"{r.record_id} 风险评估函告（{unit}）",
                f"事项：{r.subject}",
                f"类型：{r.kind}　等级：{r.level}",
                f"措施：{r.measures or '未填写'}",
            ]
    if record_id.startswith("YQ"):
        h = await hot_issue_readonly(s, record_id)
        if h is not None:
            unit = await _may_see(ctx, h.unit_id)
            linked = f"\n已转为突发事件 {h.incident_record_id}" if h.incident_record_id else ""
            return [
                f"{h.record_id} 舆情报告（{unit}）",
                f"内容：{h.content}",
                f"来源：{h.source or '未填写'} {h.link}".rstrip() + linked,
            ]
    raise NotFound(f"没有找到 {record_id}。")


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        key="status",
        name="我的",
        aliases=("进度", "查询", "我的事项", "我的申请"),
        summary="查看本单位进行中的事项、下一步和期限，以及4·2·1完成情况",
        usage="我的 [单位：…（仅新闻办）]",
        example="我的\n\n我的 单位：市财政局",
        handler=status,
        roles=ALL_ROLES,
        rules=("R8", "R9", "R10", "R17", "R18"),
        grammar=STATUS,
    ),
    CommandSpec(
        key="detail",
        name="详情",
        aliases=("查看",),
        summary="查看一条记录的全部信息和办理记录",
        usage="详情 编号",
        example="详情 SQ-2026-0012",
        handler=detail,
        roles=ALL_ROLES,
        grammar=DETAIL,
    ),
)
