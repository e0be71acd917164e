"""Incidents (R11, R17) and hot-issue reports (R24).

突发 opens an incident and its 24-hour clock, counted from the occurrence time (R17); 首发 and
续报 record the first authoritative release and the follow-up updates. A conference applied
for or filed with 事件：TF-… stops the clock when it is reported held (`conferences.held`).
舆情 reaches the news office at once (R24); the news office may turn it into an incident with
突发 … 舆情：YQ-….

Issue 9 A4: the 24-hour clock applies to 特别重大 and 重大 incidents only; 较大 and 一般 ones are
tracked without it. 结案, 撤回事件 (filed by mistake) and 调整级别 change an incident's state or
level with a reason (the state machine is `liuan_bot.domain.incidents`); the deadline's hours
come from config/reminders.toml, the same value the reminder planner uses (issue 11 §3).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from difflib import get_close_matches

from handlers.common import (
    notify_role,
    notify_users,
    own_unit_id,
    record_audit,
    record_id_of,
    refusals,
    require_fields,
    text_value,
    time_value,
    when,
)
from handlers.context import Context
from liuan_bot.commands.fields import CommandGrammar, FieldSpec, match_name
from liuan_bot.commands.registry import CommandSpec
from liuan_bot.domain.incidents import (
    STATE_LABELS,
    IncidentAction,
    IncidentState,
    IncidentStep,
    actors_of,
    clock_applies,
    clock_running,
    r17_deadline,
    transition,
)
from liuan_bot.domain.roles import UNIT_ROLES, Role
from liuan_bot.errors import Conflict, NotFound, PermissionDenied, UsageError
from liuan_bot.messages import Reply
from storage.incident_store import hot_issue_by_record, incident_by_record, release_count
from storage.records import next_record_id
from storage.roster_store import all_units, unit_members, unit_name, userids_with_role
from storage.tables import HotIssue, Incident, IncidentRelease

UNIT_ALERT_ROLES = frozenset({Role.MAIN_LEADER, Role.SPOKESPERSON, Role.LIAISON})
TITLE_MAX = 200  # Incident.title
LINK_MAX = 500  # IncidentRelease.link, HotIssue.link

OPEN = CommandGrammar(
    fields=(
        FieldSpec(
            "事件",
            required=True,
            aliases=("标题", "事件名称", "名称"),
            example="网传我市惠民补贴停发",
        ),
        FieldSpec(
            "级别",
            "choice",
            required=True,
            aliases=("等级", "事件级别"),
            choices=("特别重大", "重大", "较大", "一般"),
            choice_aliases={
                "特大": "特别重大",
                "I级": "特别重大",
                "II级": "重大",
                "III级": "较大",
                "IV级": "一般",
            },
            example="较大",
        ),
        FieldSpec(
            "发生时间",
            "time",
            aliases=("时间", "事发时间"),
            prefer="past",
            example="今天早上8点",
        ),
        FieldSpec("责任单位", aliases=("主责单位",)),
        FieldSpec("舆情", "record", aliases=("舆情报告", "舆情编号")),
    )
)


def _release_grammar(content_example: str) -> CommandGrammar:
    return CommandGrammar(
        record="required",
        record_prefixes=("TF",),
        fields=(
            FieldSpec(
                "内容",
                required=True,
                aliases=("发布内容", "通报", "说明"),
                example=content_example,
                prose=True,
            ),
            FieldSpec(
                "链接",
                "link",
                aliases=("网址", "原文链接"),
                example="https://www.luan.gov.cn/xwfb/456.html",
            ),
        ),
    )


FIRST = _release_grammar("已通过“六安发布”发布情况通报，补贴正常发放")
UPDATE = _release_grammar("已发放补贴1.2万户，其余本周内发放完毕")
HOT = CommandGrammar(
    fields=(
        FieldSpec(
            "内容",
            required=True,
            aliases=("舆情内容", "情况", "简介"),
            example="网民反映我市部分惠民补贴未按时发放，转发量上升较快",
            prose=True,
        ),
        FieldSpec("来源", aliases=("平台", "渠道", "出处"), example="新浪微博"),
        FieldSpec("链接", "link", aliases=("网址", "原文链接"), example="https://weibo.com/123"),
    )
)


# --- helpers ------------------------------------------------------------------------------


def _span(delta: timedelta) -> str:
    """`9天2小时`, `24小时`, `23小时30分钟`: how long, for people (hours up to two days)."""
    hours, minutes = divmod(int(delta.total_seconds()) // 60, 60)
    if hours >= 48:
        days, hours = divmod(hours, 24)
        return f"{days}天" + (f"{hours}小时" if hours else "")
    return (f"{hours}小时" if hours else "") + (f"{minutes}分钟" if minutes else "") or "不到1分钟"


def deadline_of(ctx: Context, occurred_at: datetime) -> datetime:
    """R17: the conference deadline, from the configured hours (one place, issue 11 §3)."""
    return r17_deadline(occurred_at, ctx.deps.records.r17_deadline_hours)


def _deadline_line(ctx: Context, occurred_at: datetime, level: str = "重大") -> str:
    """R17: the deadline, and plainly whether it has passed already; for 较大 and 一般
    incidents, that the clock does not apply (A4)."""
    if not clock_applies(level):
        return (
            f"{level}级别的事件不适用{ctx.deps.records.r17_deadline_hours}小时发布会时限，"
            "请及时首发并持续续报。"
        )
    hours = ctx.deps.records.r17_deadline_hours
    deadline = deadline_of(ctx, occurred_at)
    if deadline <= ctx.now:
        return (
            f"{hours}小时发布时限已过：{when(ctx, deadline)}到期，"
            f"已超时{_span(ctx.now - deadline)}，请尽快召开发布会。"
        )
    return f"{hours}小时发布时限：{when(ctx, deadline)}（还剩{_span(deadline - ctx.now)}）"


def _link(ctx: Context) -> str:
    link = text_value(ctx, "链接").replace("待定", "")
    if len(link) > LINK_MAX:
        raise UsageError(f"链接太长了（超过{LINK_MAX}个字符），请换一个短链接。")
    return link


async def _unit_by_name(ctx: Context, name: str) -> tuple[str, int]:
    units = {u.name: u.id for u in await all_units(ctx.session) if u.id is not None}
    short = match_name(name, units)  # 应急管理局 → 市应急管理局, as in 公告 (issue 9 E4)
    if short is not None:
        return short, units[short]
    near = [n for n in units if name in n or n in name]
    hint = "、".join(near[:3] or get_close_matches(name, list(units), n=3, cutoff=0.5))
    guess = f"您是不是想写：{hint}？" if hint else "请填写名册中的单位全称，例如“市财政局”。"
    raise UsageError(f"名册里没有“{name}”这个单位。{guess}")


async def _responsible_unit(ctx: Context, issue: HotIssue | None) -> tuple[str, int]:
    """责任单位 as named; else the hot issue's unit; else the sender's own unit (R1)."""
    named = text_value(ctx, "责任单位")
    if named:
        unit, unit_pk = await _unit_by_name(ctx, named)
        if not ctx.sender.may_act_for(unit):
            raise PermissionDenied(
                f"您只能为本单位（{ctx.sender.unit}）登记突发事件。"
                f"由{unit}负责的，请该单位或市政府新闻办登记。"
            )
        return unit, unit_pk
    if issue is not None:
        return await unit_name(ctx.session, issue.unit_id), issue.unit_id
    if ctx.sender.city_wide:
        raise UsageError("请写明由哪个单位负责，例如：责任单位：市应急管理局")
    return ctx.sender.unit, await own_unit_id(ctx)


async def _source_issue(ctx: Context) -> HotIssue | None:
    """舆情：YQ-… — the hot-issue report the news office turns into this incident (R24)."""
    record_id = text_value(ctx, "舆情")
    if not record_id:
        return None
    if Role.NEWS_OFFICE not in ctx.sender.roles:
        raise PermissionDenied(
            "只有市政府新闻办可以把舆情报告转为突发事件，请去掉“舆情：…”后重新发送。"
        )
    if not record_id.startswith("YQ-"):
        raise UsageError(f"舆情：请填写舆情报告的编号，例如 YQ-{ctx.now.year}-0001")
    issue = await hot_issue_by_record(ctx.session, record_id)
    if issue is None:
        raise NotFound(f"没有找到舆情报告 {record_id}，请核对编号。")
    if issue.incident_record_id:
        raise Conflict(f"{record_id} 已转为突发事件 {issue.incident_record_id}，无需重复登记。")
    return issue


async def _alert(ctx: Context, unit_pk: int, text: str, *, skip: set[str]) -> None:
    """R17: the unit's main leader, spokespersons and liaison, and the news office, at once."""
    users = [
        m.userid for m in await unit_members(ctx.session, unit_pk) if m.roles & UNIT_ALERT_ROLES
    ]
    users += await userids_with_role(ctx.session, Role.NEWS_OFFICE)
    await notify_users(ctx, [u for u in dict.fromkeys(users) if u not in skip], text)


async def _convert(ctx: Context, issue: HotIssue, incident: Incident, alert: str) -> None:
    """R24: the hot-issue report becomes the incident; its filer hears so."""
    old = issue.state
    issue.state = "converted"
    issue.incident_record_id, issue.updated_at = incident.record_id, ctx.now
    ctx.session.add(issue)
    await record_audit(
        ctx,
        "hot_issue_convert",
        issue.record_id,
        old=old,
        new=issue.state,
        detail={"incident": incident.record_id},
    )
    await notify_users(
        ctx,
        [issue.filer],
        f"您报告的舆情 {issue.record_id} 已由市政府新闻办转为突发事件。\n{alert}",
    )


async def _load(ctx: Context) -> tuple[Incident, str]:
    """The incident named after the command word, if the sender may act for its unit (R1)."""
    record_id = record_id_of(ctx)
    incident = await incident_by_record(ctx.session, record_id)
    if incident is None:
        raise NotFound(f"没有找到突发事件 {record_id}，请核对编号。")
    unit = await unit_name(ctx.session, incident.unit_id)
    if not ctx.sender.may_act_for(unit):
        raise PermissionDenied(f"{record_id} 属于{unit}，您只能办理本单位的突发事件。")
    if incident.state == IncidentState.WITHDRAWN and ctx.word in ("首发", "续报"):
        raise Conflict(f"{record_id} {STATE_LABELS[IncidentState.WITHDRAWN]}，无需再发布。")
    return incident, unit


async def _release(ctx: Context, incident: Incident, kind: str) -> str:
    """Store a 首发/续报 (R17) with its audit entry; the text for the news office."""
    assert incident.id is not None
    content, link = text_value(ctx, "内容"), _link(ctx)
    ctx.session.add(
        IncidentRelease(
            incident_id=incident.id,
            kind=kind,
            content=content,
            link=link,
            by=ctx.sender.userid,
            at=ctx.now,
        )
    )
    await record_audit(
        ctx,
        f"incident_{kind}_release",
        incident.record_id,
        old=incident.state,
        new=incident.state,
        detail={"link": link},
    )
    return content + (f"\n链接：{link}" if link else "")


# --- commands -----------------------------------------------------------------------------


async def open_incident(ctx: Context) -> Reply:
    """突发 (R11, R17): open an incident and its 24-hour clock; tell the unit and news office."""
    require_fields(ctx, OPEN)
    title = text_value(ctx, "事件")
    if len(title) > TITLE_MAX:
        raise UsageError(f"事件名称请控制在{TITLE_MAX}字以内，详细情况可在首发时写明。")
    issue = await _source_issue(ctx)
    unit, unit_pk = await _responsible_unit(ctx, issue)
    occurred = time_value(ctx, "发生时间") or ctx.now
    record_id = await next_record_id(ctx.session, "TF", ctx.now.year)
    incident = Incident(
        record_id=record_id,
        unit_id=unit_pk,
        filer=ctx.sender.userid,
        state="open",
        title=title,
        level=text_value(ctx, "级别"),
        occurred_at=occurred,
        source_record_id=issue.record_id if issue else None,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(incident)
    await record_audit(
        ctx,
        "incident_open",
        record_id,
        old=None,
        new="open",
        detail={"unit": unit, "level": incident.level, "occurred_at": occurred.isoformat()},
    )
    rough = "（只写了大致时段，按此计算）" if "发生时间" in ctx.fields.inexact else ""
    facts = (
        f"《{title}》\n级别：{incident.level}\n责任单位：{unit}\n"
        f"发生时间：{when(ctx, occurred)}{rough}\n{_deadline_line(ctx, occurred, incident.level)}"
    )
    steps = f"请立即发布权威信息：首发 {record_id} 内容：…\n" + (
        f"停止计时：申请/备案时写“事件：{record_id}”，召开发布会后发送“已召开”。"
        if clock_applies(incident.level)
        else f"处置完毕后发送：结案 {record_id} 原因：…"
    )
    alert = (
        f"【突发事件】{record_id}{facts}\n登记人：{ctx.sender.name}（{ctx.sender.unit}）\n{steps}"
    )
    skip = {ctx.sender.userid}
    if issue is not None:
        await _convert(ctx, issue, incident, alert)
        skip.add(issue.filer)
    await _alert(ctx, unit_pk, alert, skip=skip)
    source = f"\n舆情报告 {issue.record_id} 已转为本事件，已告知报告人。" if issue else ""
    return Reply.ok(
        f"已登记突发事件 {record_id}{facts}\n{steps}\n"
        f"已通知{unit}主要负责人、新闻发言人、联络员和市政府新闻办。{source}"
    )


async def first_release(ctx: Context) -> Reply:
    """首发 ID (R17): the first authoritative release; only once per incident."""
    require_fields(ctx, FIRST)
    incident, unit = await _load(ctx)
    if incident.first_release_at is not None:
        raise Conflict(
            f"{incident.record_id} 已首发于{when(ctx, incident.first_release_at)}，"
            f"后续请用“续报 {incident.record_id} 内容：…”。"
        )
    text = await _release(ctx, incident, "first")
    incident.first_release_at, incident.updated_at = ctx.now, ctx.now
    ctx.session.add(incident)
    await notify_role(
        ctx, Role.NEWS_OFFICE, f"【首发】{unit} {incident.record_id}《{incident.title}》\n{text}"
    )
    lines = [f"已记录 {incident.record_id}《{incident.title}》的首发，已告知市政府新闻办。"]
    if clock_running(incident.state, incident.level):
        lines.append(_deadline_line(ctx, incident.occurred_at, incident.level))
        lines.append(f"申请/备案发布会时请写“事件：{incident.record_id}”。")
    lines.append(f"后续进展请发送：续报 {incident.record_id} 内容：…")
    return Reply.ok("\n".join(lines))


async def update(ctx: Context) -> Reply:
    """续报 ID (R17): a follow-up update, after the first release."""
    require_fields(ctx, UPDATE)
    incident, unit = await _load(ctx)
    if incident.first_release_at is None:
        raise Conflict(
            f"{incident.record_id} 还没有首发，请先发送“首发 {incident.record_id} 内容：…”，"
            "之后的进展再用“续报”。"
        )
    assert incident.id is not None
    number = await release_count(ctx.session, incident.id, "update") + 1
    text = await _release(ctx, incident, "update")
    incident.updated_at = ctx.now
    ctx.session.add(incident)
    await notify_role(
        ctx,
        Role.NEWS_OFFICE,
        f"【续报{number}】{unit} {incident.record_id}《{incident.title}》\n{text}",
    )
    return Reply.ok(
        f"已记录 {incident.record_id}《{incident.title}》第{number}次续报，已告知市政府新闻办。"
    )


async def hot_issue(ctx: Context) -> Reply:
    """舆情 (R24): a hot-issue report, to every news office member at once."""
    require_fields(ctx, HOT)
    unit_pk = await own_unit_id(ctx)
    link = _link(ctx)
    record_id = await next_record_id(ctx.session, "YQ", ctx.now.year)
    issue = HotIssue(
        record_id=record_id,
        unit_id=unit_pk,
        filer=ctx.sender.userid,
        state="reported",
        content=text_value(ctx, "内容"),
        source=text_value(ctx, "来源")[:200],
        link=link,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(issue)
    await record_audit(ctx, "hot_issue_report", record_id, old=None, new="reported")
    details = "".join(
        f"\n{label}：{value}" for label, value in (("来源", issue.source), ("链接", link)) if value
    )
    await notify_role(
        ctx,
        Role.NEWS_OFFICE,
        f"【舆情报告】{ctx.sender.unit} {record_id}\n报告人：{ctx.sender.name}\n"
        f"内容：{issue.content}{details}\n"
        f"需按突发事件处置的，请发送：突发 事件：… 级别：… 舆情：{record_id}",
    )
    return Reply.ok(
        f"已报告舆情 {record_id}，已第一时间告知市政府新闻办。\n"
        "新闻办研判后可将其转为突发事件处置，届时会通知您。"
    )


REASON = FieldSpec(
    "理由",
    required=True,
    aliases=("原因", "说明"),
    example="事件已妥善处置，舆情平稳",
    prose=True,
)
CLOSE = CommandGrammar(record="required", record_prefixes=("TF",), fields=(REASON,))
REGRADE = CommandGrammar(
    record="required",
    record_prefixes=("TF",),
    fields=(
        replace(OPEN.fields[1], example="一般"),
        replace(REASON, example="经核实影响范围较小"),
    ),
)
WITHDRAW_INCIDENT = CommandGrammar(
    record="required",
    record_prefixes=("TF",),
    fields=(replace(REASON, example="误报，实为应急演练"),),
)


async def _change(
    ctx: Context,
    grammar: CommandGrammar,
    action: IncidentAction,
    audit_action: str,
    *,
    new_level: str | None = None,
) -> tuple[Incident, str, IncidentStep, str]:
    """结案 / 撤回 / 调整级别 (A4): the step, the incident updated, the audit entry."""
    require_fields(ctx, grammar)
    incident, unit = await _load(ctx)
    reason = text_value(ctx, "理由")
    actors = actors_of(ctx.sender, record_unit=unit)
    with refusals():
        step = transition(
            incident.state,
            incident.level,
            action,
            incident.record_id,
            actors,
            reason=reason,
            new_level=new_level,
        )
    old_level = incident.level
    incident.state, incident.updated_at = step.new, ctx.now
    incident.state_reason = reason
    if new_level is not None:
        incident.level = new_level
    if action in (IncidentAction.CLOSE, IncidentAction.WITHDRAW):
        incident.closed_at = ctx.now
    ctx.session.add(incident)
    detail: dict[str, object] = {"reason": reason, "clock": step.clock_change}
    if new_level is not None:
        detail["level"] = [old_level, new_level]
    await record_audit(
        ctx, audit_action, incident.record_id, old=step.old, new=step.new, detail=detail
    )
    return incident, unit, step, reason


def _clock_note(ctx: Context, incident: Incident, step: IncidentStep) -> str:
    hours = ctx.deps.records.r17_deadline_hours
    if step.clock_change == "stopped":
        return f"{hours}小时发布时限停止计时，不再提醒。"
    if step.clock_change == "started":
        return _deadline_line(ctx, incident.occurred_at, incident.level)
    return ""


async def close_incident(ctx: Context) -> Reply:
    """结案 TF-… 理由：… (A4): the incident is closed; a running R17 clock stops."""
    incident, unit, step, reason = await _change(
        ctx, CLOSE, IncidentAction.CLOSE, "incident_close"
    )
    note = _clock_note(ctx, incident, step)
    text = f"{incident.record_id}《{incident.title}》已结案。理由：{reason}"
    await notify_role(ctx, Role.NEWS_OFFICE, f"【突发事件结案】{unit} {text}")
    return Reply.ok(text + (f"\n{note}" if note else ""))


async def withdraw_incident(ctx: Context) -> Reply:
    """撤回事件 TF-… 理由：… (A4): an incident filed by mistake; its clock stops and it never goes
    on the accountability list."""
    incident, unit, step, reason = await _change(
        ctx, WITHDRAW_INCIDENT, IncidentAction.WITHDRAW, "incident_withdraw"
    )
    note = _clock_note(ctx, incident, step)
    text = f"{incident.record_id}《{incident.title}》已撤回（误报）。理由：{reason}"
    await notify_role(ctx, Role.NEWS_OFFICE, f"【突发事件撤回】{unit} {text}")
    return Reply.ok(text + (f"\n{note}" if note else ""))


async def regrade(ctx: Context) -> Reply:
    """调整级别 TF-… 级别：… 理由：… (A4): the R17 clock starts (to 特别重大/重大) or stops."""
    level = text_value(ctx, "级别") or None
    incident, unit, step, reason = await _change(
        ctx, REGRADE, IncidentAction.REGRADE, "incident_regrade", new_level=level
    )
    note = _clock_note(ctx, incident, step)
    text = f"{incident.record_id}《{incident.title}》级别调整为“{incident.level}”。理由：{reason}"
    await notify_role(ctx, Role.NEWS_OFFICE, f"【突发事件调整级别】{unit} {text}")
    if step.clock_change == "started":
        await _alert(
            ctx,
            incident.unit_id,
            f"【突发事件升级】{text}\n{note}\n召开发布会后发送“已召开”，并在申请/备案时写"
            f"“事件：{incident.record_id}”。",
            skip={ctx.sender.userid},
        )
    return Reply.ok(text + (f"\n{note}" if note else ""))


INCIDENT_ROLES = UNIT_ROLES | frozenset({Role.NEWS_OFFICE, Role.DISCLOSURE_OFFICE})

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        key="incident",
        name="突发",
        aliases=("突发事件",),
        summary="登记突发事件，开始24小时发布计时",
        usage="突发 事件：… 级别：特别重大/重大/较大/一般 [发生时间：…（默认现在）] "
        "[责任单位：…（新闻办填写）] [舆情：YQ-编号（新闻办填写）]",
        example="突发\n事件：网传我市惠民补贴停发\n级别：较大\n发生时间：今天早上8点\n\n"
        "突发\n事件：叶集区某化工企业发生火灾\n级别：重大\n发生时间：今天早上7点30分\n"
        "责任单位：叶集区\n舆情：YQ-2026-0001",
        handler=open_incident,
        roles=INCIDENT_ROLES,
        rules=("R11", "R17", "R3"),
        grammar=OPEN,
    ),
    CommandSpec(
        key="first_release",
        name="首发",
        summary="记录突发事件的首次权威发布",
        usage="首发 编号 内容：… [链接：…]",
        example="首发 TF-2026-0001 内容：已通过“六安发布”发布情况通报 "
        "链接：https://www.luan.gov.cn/xwfb/456.html",
        handler=first_release,
        roles=INCIDENT_ROLES,
        rules=("R17",),
        grammar=FIRST,
    ),
    CommandSpec(
        key="update",
        name="续报",
        summary="记录突发事件首发后的持续发布",
        usage="续报 编号 内容：… [链接：…]",
        example="续报 TF-2026-0001 内容：已发放补贴1.2万户，其余本周内发放完毕",
        handler=update,
        roles=INCIDENT_ROLES,
        rules=("R17",),
        grammar=UPDATE,
    ),
    CommandSpec(
        key="hot_issue",
        name="舆情",
        aliases=("舆情报告",),
        summary="向市政府新闻办报告热点舆情",
        usage="舆情 内容：… [来源：…] [链接：…]",
        example="舆情\n内容：网民反映我市部分惠民补贴未按时发放，转发量上升较快\n"
        "来源：新浪微博\n链接：https://weibo.com/123",
        handler=hot_issue,
        roles=frozenset({Role.SPOKESPERSON, Role.LIAISON}),
        rules=("R24",),
        grammar=HOT,
    ),
    CommandSpec(
        key="close_incident",
        name="结案",
        aliases=("事件结案",),
        summary="突发事件处置完毕后结案（停止24小时计时），须写明理由",
        usage="结案 编号 理由：…",
        example="结案 TF-2026-0001 理由：事件已妥善处置，舆情平稳",
        handler=close_incident,
        roles=INCIDENT_ROLES,
        rules=("R17", "R11"),
        grammar=CLOSE,
    ),
    CommandSpec(
        key="withdraw_incident",
        name="撤回事件",
        aliases=("撤销事件",),
        summary="撤回误报的突发事件（停止24小时计时，不计入问责），须写明理由",
        usage="撤回事件 编号 理由：…",
        example="撤回事件 TF-2026-0001 理由：误报，实为应急演练",
        handler=withdraw_incident,
        roles=INCIDENT_ROLES,
        rules=("R17", "R11"),
        grammar=WITHDRAW_INCIDENT,
    ),
    CommandSpec(
        key="regrade_incident",
        name="调整级别",
        aliases=("调整事件级别",),
        summary="调整突发事件级别：特别重大、重大适用24小时发布时限，较大、一般不适用",
        usage="调整级别 编号 级别：特别重大/重大/较大/一般 理由：…",
        example="调整级别 TF-2026-0001 级别：一般 理由：经核实影响范围较小",
        handler=regrade,
        roles=INCIDENT_ROLES,
        rules=("R17", "R11"),
        grammar=REGRADE,
    ),
)
