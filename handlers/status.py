"""我的 (a unit's open items and its 4·2·1 counts) and 详情 (one record with its history)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from handlers.common import record_id_of, require_fields, text_value, when
from handlers.context import Context
from handlers.plans import plan_lines
from liuan_bot.commands.fields import CommandGrammar, FieldSpec
from liuan_bot.commands.registry import CommandSpec
from liuan_bot.domain.periods import quarter
from liuan_bot.domain.quotas import Held, quota_status
from liuan_bot.domain.roles import ALL_ROLES, Role
from liuan_bot.domain.workflow import NEXT_STEP, STATE_LABELS, State
from liuan_bot.errors import NotFound, PermissionDenied
from storage.conference_store import held_conferences
from storage.roster_store import names_of, unit_id, unit_name
from storage.tables import (
    AuditEntry,
    Conference,
    HotIssue,
    Incident,
    IncidentRelease,
    Policy,
    RiskAssessment,
    Unit,
)

STATUS = CommandGrammar(
    record="optional", fields=(FieldSpec("单位", aliases=("部门",), example="市财政局"),)
)
DETAIL = CommandGrammar(record="required")
R17_WINDOW = timedelta(hours=24)
INCIDENT_STATES = {"open": "24小时内需召开发布会", "answered": "已召开发布会回应"}


async def _unit_for_status(ctx: Context) -> tuple[int, str]:
    asked = text_value(ctx, "单位")
    if asked and asked != ctx.sender.unit:
        if not ctx.sender.city_wide:
            raise PermissionDenied("只有市政府新闻办和政务公开办可以查询其他单位。")
        found = await unit_id(ctx.session, asked)
        if found is None:
            raise NotFound(f"名册里没有“{asked}”，请核对单位全称。")
        return found, asked
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
    confs = (
        await s.exec(
            select(Conference)
            .where(col(Conference.unit_id) == unit_pk)
            .where(
                col(Conference.state).in_(
                    ("submitted", "reviewed", "approved", "scheduled", "filed")
                )
            )
            .order_by(col(Conference.id))
        )
    ).all()
    for c in confs:
        state = State(c.state)
        items.append(
            f"· {c.record_id}《{c.topic}》{STATE_LABELS[state]}，{when(ctx, c.starts_at)}"
            f" — {NEXT_STEP[state]}"
        )
    incidents = (
        await s.exec(
            select(Incident)
            .where(col(Incident.unit_id) == unit_pk)
            .where(col(Incident.state) == "open")
        )
    ).all()
    for i in incidents:
        deadline = i.occurred_at + R17_WINDOW
        left = deadline - ctx.now
        tail = (
            f"还剩 {int(left.total_seconds() // 3600)} 小时"
            if left.total_seconds() > 0
            else "已超时"
        )
        items.append(
            f"· {i.record_id}《{i.title}》发布会时限：{when(ctx, deadline)}（{tail}）"
            " — 召开后发送“已召开”"
        )
    policies = (
        await s.exec(
            select(Policy)
            .where(col(Policy.unit_id) == unit_pk)
            .where(col(Policy.publish_at) >= ctx.now - timedelta(days=1))
        )
    ).all()
    for p in policies:
        interp = "解读：待定 ⚠" if not p.interpretation_url else "解读已就绪"
        items.append(f"· {p.record_id}《{p.title}》公布时间 {when(ctx, p.publish_at)}，{interp}")
    return items


async def status(ctx: Context) -> str:
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
    return "\n".join(lines)


async def _approver_queue(ctx: Context) -> list[str]:
    """What waits for the deputy secretary-general (副秘书长): reviewed applications (R15)."""
    rows = (
        await ctx.session.exec(
            select(Conference, Unit.name)
            .join(Unit, col(Unit.id) == col(Conference.unit_id))
            .where(col(Conference.state) == State.REVIEWED.value)
            .order_by(col(Conference.id))
        )
    ).all()
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
    unit = await ctx.session.get(Unit, unit_pk)
    return bool(unit and unit.key_unit)


async def _news_office_queue(ctx: Context) -> list[str]:
    """What waits for the news office across all units."""
    rows = (
        await ctx.session.exec(
            select(Conference)
            .where(col(Conference.state).in_(("submitted", "approved")))
            .order_by(col(Conference.id))
        )
    ).all()
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
}
STATE_NAMES = {
    **{s.value: label for s, label in STATE_LABELS.items()},
    "open": "处置中",
    "answered": "已回应",
    "reported": "已报告",
    "converted": "已转为突发事件",
}


async def _history(ctx: Context, record_id: str) -> list[str]:
    entries = (
        await ctx.session.exec(
            select(AuditEntry)
            .where(col(AuditEntry.record_id) == record_id)
            .order_by(col(AuditEntry.at), col(AuditEntry.id))
        )
    ).all()
    names = await names_of(ctx.session, {e.actor for e in entries})
    lines = ["办理记录："]
    for e in entries:
        change = ""
        if e.new_state:
            old = STATE_NAMES.get(e.old_state or "", "—")
            change = f"（{old} → {STATE_NAMES.get(e.new_state, e.new_state)}）"
        who = names.get(e.actor, e.actor)
        lines.append(f"· {when(ctx, e.at)} {who} {ACTION_NAMES.get(e.action, e.action)}{change}")
    return lines


async def _conference_detail(ctx: Context, c: Conference) -> list[str]:
    unit = await _may_see(ctx, c.unit_id, approver_too=True)
    state = State(c.state)
    lines = [
        f"{c.record_id}《{c.topic}》",
        f"单位：{unit}　状态：{STATE_LABELS[state]}",
        f"时间：{when(ctx, c.starts_at)}　地点：{c.venue or '待定'}",
        f"发布人：{'、'.join(c.speakers) or '待定'}　类型：{c.conf_type}"
        + ("（直播）" if c.live else ""),
    ]
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
    lines = [
        f"{i.record_id}《{i.title}》（{i.level}）",
        f"责任单位：{unit}",
        f"发生时间：{when(ctx, i.occurred_at)}",
        f"发布会时限：{when(ctx, i.occurred_at + R17_WINDOW)}",
        f"状态：{INCIDENT_STATES.get(i.state, i.state)}",
    ]
    releases = (
        await ctx.session.exec(
            select(IncidentRelease)
            .where(col(IncidentRelease.incident_id) == i.id)
            .order_by(col(IncidentRelease.at))
        )
    ).all()
    for r in releases:
        kind = "首发" if r.kind == "first" else "续报"
        lines.append(f"· {kind} {when(ctx, r.at)}：{r.content[:60]} {r.link}".rstrip())
    if i.answered_by:
        lines.append(f"已由 {i.answered_by} 回应（{when(ctx, i.answered_at)}）")
    return lines


async def detail(ctx: Context) -> str:
    """详情 ID: one record with its full history (audit entries)."""
    require_fields(ctx, DETAIL)
    record_id = record_id_of(ctx)
    prefix = record_id[:2]
    s = ctx.session
    lines: list[str]
    if prefix in ("SQ", "BA"):
        conf = (
            await s.exec(select(Conference).where(col(Conference.record_id) == record_id))
        ).first()
        if conf is None:
            raise NotFound(f"没有找到 {record_id}。")
        lines = await _conference_detail(ctx, conf)
    elif prefix == "TF":
        incident = (
            await s.exec(select(Incident).where(col(Incident.record_id) == record_id))
        ).first()
        if incident is None:
            raise NotFound(f"没有找到 {record_id}。")
        lines = await _incident_detail(ctx, incident)
    else:
        lines = await _other_detail(ctx, record_id)
    return "\n".join(lines + await _history(ctx, record_id))


async def _other_detail(ctx: Context, record_id: str) -> list[str]:
    s = ctx.session
    if record_id.startswith("ZC"):
        p = (await s.exec(select(Policy).where(col(Policy.record_id) == record_id))).first()
        if p is not None:
            unit = await _may_see(ctx, p.unit_id)
            return [
                f"{p.record_id}《{p.title}》（{unit}）",
                f"公布时间：{when(ctx, p.publish_at)}",
                f"解读：{p.interpretation_url or '待定'}　吹风会：{'是' if p.briefing else '否'}",
            ]
    if record_id.startswith("FX"):
        r = (
            await s.exec(select(RiskAssessment).where(col(RiskAssessment.record_id) == record_id))
        ).first()
        if r is not None:
            unit = await _may_see(ctx, r.unit_id)
            return [
                f"{r.record_id} 风险评估函告（{unit}）",
                f"事项：{r.subject}",
                f"类型：{r.kind}　等级：{r.level}",
                f"措施：{r.measures or '未填写'}",
            ]
    if record_id.startswith("YQ"):
        h = (await s.exec(select(HotIssue).where(col(HotIssue.record_id) == record_id))).first()
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
