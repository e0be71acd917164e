"""Press conferences: 申请发布会 (R15), 备案 and 补报 (R16), 排期, 已召开 and 确认 (R8–R10), 撤回,
修改, 更正 (issue 9 A1–A3, A5, A8)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from handlers import decisions
from handlers.calendar import event_cancelled, event_scheduled
from handlers.common import (
    bool_value,
    names_value,
    notify_role,
    notify_users,
    own_unit_id,
    read_as_past,
    record_audit,
    record_id_of,
    refusals,
    require_fields,
    text_value,
    time_value,
    when,
)
from handlers.context import Context
from handlers.decisions import close_cards, send_review_card
from handlers.plans import RISK_FIELD, link_from_field
from handlers.relay import correct_preview, retract_preview, send_preview, start_release
from handlers.speakers import credit, match_unit_speakers, roster_warning, unknown_line
from liuan_bot.commands.fields import CommandGrammar, FieldSpec
from liuan_bot.commands.registry import CommandSpec
from liuan_bot.commands.timeparse import Prefer, TimeParseError, parse_time
from liuan_bot.domain.incidents import IncidentAction, IncidentState
from liuan_bot.domain.incidents import transition as incident_transition
from liuan_bot.domain.members import Member
from liuan_bot.domain.periods import quarter
from liuan_bot.domain.roles import UNIT_ROLES, Role
from liuan_bot.domain.roster import SpeakerMatch
from liuan_bot.domain.venues import clash, range_end
from liuan_bot.domain.workflow import (
    NEXT_STEP,
    STATE_LABELS,
    Action,
    State,
    actors_of,
    check_correction,
    transition,
)
from liuan_bot.errors import Conflict, NotFound, PermissionDenied, UsageError
from liuan_bot.messages import Reply
from storage.conference_store import (
    bookings_near,
    conference_by_record,
    conference_for_update,
    pending_speaker_question,
)
from storage.incident_store import incident_by_record, mark_answered
from storage.records import next_record_id
from storage.roster_store import unit_name
from storage.tables import Conference

TOPIC = FieldSpec(
    "主题",
    required=True,
    aliases=("标题", "题目", "议题", "名称"),
    example="2026年秋粮收购政策解读",
)
TIME = FieldSpec(
    "时间",
    "time",
    required=True,
    aliases=("日期", "召开时间", "举行时间"),
    example="12月3日上午10点",
)
SPEAKERS = FieldSpec(
    "发布人",
    "names",
    required=True,
    aliases=("发言人", "出席人", "出席领导"),
    example="王建国、李明",
)
VENUE = FieldSpec("地点", aliases=("会场", "场地", "地址"), example="市政府新闻发布厅")
KIND = FieldSpec(
    "类型",
    "choice",
    aliases=("形式",),
    choices=("发布会", "吹风会"),
    choice_aliases={"新闻发布会": "发布会", "政策吹风会": "吹风会"},
    example="发布会",
)
CONTENT = FieldSpec(
    "内容", aliases=("简介", "主要内容", "说明"), example="介绍今年秋粮收购政策", prose=True
)
LIVE = FieldSpec("直播", "bool", aliases=("是否直播",), example="否")
INCIDENT = FieldSpec("事件", "record", aliases=("关联事件", "突发事件"))

APPLY = CommandGrammar(
    fields=(TOPIC, TIME, SPEAKERS, VENUE, KIND, CONTENT, LIVE, INCIDENT, RISK_FIELD)
)
FILE = CommandGrammar(
    exact_times=True,
    fields=(
        TOPIC,
        TIME,
        FieldSpec("地点", required=True, aliases=VENUE.aliases, example="市财政局三楼会议室"),
        SPEAKERS,
        KIND,
        CONTENT,
        LIVE,
        INCIDENT,
        RISK_FIELD,
    ),
)
SCHEDULE = CommandGrammar(
    exact_times=True,
    record="required",
    record_prefixes=("SQ",),
    fields=(
        FieldSpec(
            "时间",
            "time",
            required=True,
            aliases=("日期", "召开时间", "举行时间"),
            example="12月3日上午10点",
        ),
        FieldSpec(
            "地点", required=True, aliases=("会场", "场地", "地址"), example="市政府新闻发布厅"
        ),
        FieldSpec("稿件格式", aliases=("稿件", "格式", "发布稿格式"), example="新闻通稿+答问"),
    ),
)
HELD = CommandGrammar(
    record="required",
    record_prefixes=("SQ", "BA"),
    fields=(
        FieldSpec(
            "发布人",
            "names",
            required=True,
            aliases=("发言人", "出席人", "实际发布人"),
            example="王建国、李明",
        ),
        FieldSpec(
            "要点",
            aliases=("发布要点", "主要内容", "内容"),
            example="介绍了收购价格和补贴",
            prose=True,
        ),
        FieldSpec(
            "实录",
            "link",
            aliases=("文字实录", "实录链接"),
            example="https://www.luan.gov.cn/xwfb/123.html",
        ),
        FieldSpec(
            "视频", "link", aliases=("视频链接", "回放"), example="https://v.luan.gov.cn/123"
        ),
    ),
)
LATE_FILE = replace(
    FILE,
    fields=tuple(replace(f, prefer="past") if f.name == "时间" else f for f in FILE.fields),
)
WITHDRAW = CommandGrammar(
    record="required",
    record_prefixes=("SQ", "BA"),
    fields=(FieldSpec("理由", aliases=("原因",), prose=True),),
)
CORRECT = CommandGrammar(
    record="required",
    record_prefixes=("SQ", "BA"),
    fields=(
        FieldSpec("发布人", "names", aliases=("发言人", "出席人", "实际发布人")),
        FieldSpec("时间", "time", aliases=("日期", "召开时间", "举行时间"), prefer="past"),
        FieldSpec("主题", aliases=TOPIC.aliases),
        FieldSpec("地点", aliases=VENUE.aliases),
        replace(KIND, example=""),
        replace(CONTENT, example=""),
        FieldSpec("稿件格式", aliases=("稿件", "格式", "发布稿格式")),
        FieldSpec("要点", aliases=("发布要点",), prose=True),
        FieldSpec(
            "原因",
            required=True,
            aliases=("理由", "更正原因", "更正理由"),
            example="报告时写错了姓名",
            prose=True,
        ),
    ),
)
AMEND = CommandGrammar(
    record="required",
    record_prefixes=("SQ", "BA"),
    fields=tuple(replace(f, required=False) for f in APPLY.fields),
)


def _step(conf: Conference, action: Action, ctx: Context, unit: str) -> State:
    actors = actors_of(
        ctx.sender,
        record_unit=unit,
        record_filer=conf.filer,
        disclosure_reviews=ctx.deps.records.disclosure_reviews,
    )
    with refusals():
        step = transition(
            conf.kind,
            State(conf.state),
            action,
            conf.record_id,
            actors,
            now=ctx.now,
            starts_at=None if conf.late else conf.starts_at,
        )
    return step.new


async def load(ctx: Context) -> tuple[Conference, str]:
    record_id = record_id_of(ctx)
    conf = await conference_for_update(ctx.session, record_id)
    if conf is None:
        raise NotFound(f"没有找到 {record_id}，请核对编号（发送“我的”可查看本单位的事项）。")
    unit = await unit_name(ctx.session, conf.unit_id)
    if not (ctx.sender.may_act_for(unit) or Role.APPROVER in ctx.sender.roles):
        raise PermissionDenied(f"{record_id} 属于{unit}，您只能办理本单位的事项。")
    return conf, unit


def time_span(ctx: Context, conf: Conference) -> str:
    """`12月3日（周四）14:30–16:00` when the end is known, else the start (A5)."""
    start = when(ctx, conf.starts_at)
    if conf.starts_at is None or conf.ends_at is None:
        return start
    end = conf.ends_at.astimezone(ctx.now.tzinfo)
    return f"{start}–{end:%H:%M}"


def summary(ctx: Context, conf: Conference) -> str:
    speakers = "、".join(conf.speakers) or "待定"
    return (
        f"《{conf.topic}》\n时间：{time_span(ctx, conf)}\n地点：{conf.venue or '待定'}\n"
        f"发布人：{speakers}"
    )


def _ends_at(ctx: Context, starts_at: datetime | None) -> datetime | None:
    """A5: `时间：12月3日14:30-16:00` gives the end; else None (the configured duration)."""
    if starts_at is None:
        return None
    return range_end(ctx.fields.raw.get("时间", ""), starts_at)


async def _check_incident(ctx: Context) -> str | None:
    incident_id = text_value(ctx, "事件") or None
    if incident_id is None:
        return None
    if await incident_by_record(ctx.session, incident_id) is None:
        raise NotFound(f"没有找到突发事件 {incident_id}，请核对编号。")
    return incident_id


async def _check_venue(ctx: Context, conf: Conference) -> None:
    """R15/A5: no overlap of time intervals at the same venue (aliases from config)."""
    if conf.starts_at is None or not conf.venue:
        return
    book = ctx.deps.records.venues
    start, end = book.interval(conf.starts_at, conf.ends_at)
    others = await bookings_near(ctx.session, start, end, exclude=conf.record_id)
    other = clash(book, conf.venue, conf.starts_at, conf.ends_at, others)
    if other is not None:
        taken = when(ctx, other.starts_at)
        until = book.interval(other.starts_at, other.ends_at)[1].astimezone(ctx.now.tzinfo)
        topic = await _topic_of(ctx, other.record_id)
        raise Conflict(
            f"{book.canonical(conf.venue)} 在 {taken}–{until:%H:%M} 已被 {other.record_id}"
            f"{topic}占用，请换一个时间或地点。"
        )


async def _topic_of(ctx: Context, record_id: str) -> str:
    other = await conference_by_record(ctx.session, record_id)
    return f"《{other.topic}》" if other is not None else ""


async def _new_conference(ctx: Context, kind: str, prefix: str, state: State) -> Conference:
    """A conference of the sender's unit from the message's fields, with a fresh record id."""
    unit_pk = await own_unit_id(ctx)
    incident = await _check_incident(ctx)
    starts_at = time_value(ctx, "时间")
    return Conference(
        record_id=await next_record_id(ctx.session, prefix, ctx.now.year),
        kind=kind,
        unit_id=unit_pk,
        filer=ctx.sender.userid,
        state=state,
        topic=text_value(ctx, "主题"),
        starts_at=starts_at,
        ends_at=_ends_at(ctx, starts_at),
        venue=text_value(ctx, "地点"),
        speakers=names_value(ctx, "发布人"),
        conf_type=text_value(ctx, "类型", "发布会"),
        content=text_value(ctx, "内容"),
        live=bool_value(ctx, "直播"),
        incident_record_id=incident,
        created_at=ctx.now,
        updated_at=ctx.now,
    )


async def apply(ctx: Context) -> Reply:
    """申请发布会 (R15): a city-government conference application, to the news office."""
    require_fields(ctx, APPLY)
    conf = await _new_conference(ctx, "application", "SQ", State.SUBMITTED)
    ctx.session.add(conf)
    await record_audit(ctx, "apply", conf.record_id, old=None, new=State.SUBMITTED)
    risk = await link_from_field(ctx, conf.record_id)  # R13
    warning = await send_review_card(ctx, conf, ctx.sender.unit)
    rough = "（时间为大致时间，排期时确定）" if "时间" in ctx.fields.inexact else ""
    if warning is None:  # no card went out: the applicant is warned all the same
        warning = await roster_warning(ctx, conf.unit_id, ctx.sender.unit, conf.speakers)
    return Reply.ok(
        f"已提交发布会申请 {conf.record_id}{rough}\n{summary(ctx, conf)}\n"
        + (f"{risk}\n" if risk else "")
        + (f"{warning}\n" if warning else "")
        + f"{NEXT_STEP[State.SUBMITTED]}。"
    )


async def file(ctx: Context) -> Reply:
    """备案 (R16): a self-held conference, filed with the news office; no approval chain.

    A3: one that already took place (in the current quarter) is a late filing (补报): it is
    recorded as held at its time, with its speakers, and counts for R8."""
    late = read_as_past(ctx, "时间") or ctx.word == "补报"
    require_fields(ctx, LATE_FILE if ctx.word == "补报" else FILE, exact_times=True)
    conf = await _new_conference(ctx, "filing", "BA", State.FILED)
    if late:
        return await _file_late(ctx, conf)
    await _check_venue(ctx, conf)
    ctx.session.add(conf)
    await record_audit(ctx, "file", conf.record_id, old=None, new=State.FILED)
    risk = await link_from_field(ctx, conf.record_id)  # R13
    incident = conf.incident_record_id
    linked = f"（回应突发事件 {incident}）" if incident else ""
    await notify_role(
        ctx,
        Role.NEWS_OFFICE,
        f"【自办发布会备案】{ctx.sender.unit} {conf.record_id}{linked}\n{summary(ctx, conf)}",
    )
    risk_line = f"{risk}\n" if risk else ""
    return Reply.ok(
        f"已备案 {conf.record_id}{linked}\n{summary(ctx, conf)}\n{risk_line}"
        f"{NEXT_STEP[State.FILED]}。"
    )


async def _file_late(ctx: Context, conf: Conference) -> Reply:
    """补报 (A3, R16, R8): filed after it took place, within the same quarter."""
    assert conf.starts_at is not None
    if conf.starts_at > ctx.now:
        raise Conflict("这场发布会还没召开，请用“备案”提前报备。")
    period = quarter(ctx.now)
    if not period.contains(conf.starts_at.astimezone(ctx.now.tzinfo)):
        raise Conflict(
            f"只能补报本季度（{period.label}）内召开的发布会；"
            f"{when(ctx, conf.starts_at)}的发布会已过统计期，请联系市政府新闻办。"
        )
    conf.late = True
    ctx.session.add(conf)
    await record_audit(
        ctx, "file", conf.record_id, old=None, new=State.FILED, detail={"late": True}
    )
    risk = await link_from_field(ctx, conf.record_id)  # R13
    await notify_role(
        ctx,
        Role.NEWS_OFFICE,
        f"【自办发布会补报】{ctx.sender.unit} {conf.record_id}\n{summary(ctx, conf)}",
    )
    head = f"已补报 {conf.record_id}（会后补报）\n{summary(ctx, conf)}" + (
        f"\n{risk}" if risk else ""
    )
    extras = {"key_points": "", "transcript_url": "", "video_url": ""}
    reply = await _report_held(ctx, conf, ctx.sender.unit, conf.speakers, extras)
    return replace(reply, text=f"{head}\n{reply.text}")


async def schedule(ctx: Context) -> Reply:
    """排期 (R15): the news office fixes time, venue and draft format; no double booking."""
    require_fields(ctx, SCHEDULE, exact_times=True)
    conf, unit = await load(ctx)
    old = State(conf.state)
    new = _step(conf, Action.SCHEDULE, ctx, unit)
    conf.starts_at, conf.venue = time_value(ctx, "时间"), text_value(ctx, "地点")
    conf.ends_at = _ends_at(ctx, conf.starts_at)
    conf.draft_format = text_value(ctx, "稿件格式", conf.draft_format)
    await _check_venue(ctx, conf)
    conf.state, conf.updated_at = new, ctx.now
    ctx.session.add(conf)
    await record_audit(
        ctx,
        "schedule",
        conf.record_id,
        old=old,
        new=new,
        detail={"venue": conf.venue, "draft_format": conf.draft_format},
    )
    fmt = f"\n稿件格式：{conf.draft_format}" if conf.draft_format else ""
    await notify_users(
        ctx,
        [conf.filer],
        f"{conf.record_id} 已排期\n{summary(ctx, conf)}{fmt}\n{NEXT_STEP[State.SCHEDULED]}。",
    )
    await notify_role(
        ctx, Role.LIAISON, f"{conf.record_id} 已排期\n{summary(ctx, conf)}{fmt}", unit=unit
    )
    again = "已改期" if old == State.SCHEDULED else "已排期"
    await send_preview(ctx, conf, unit)  # R21: the release preview for the websites
    await event_scheduled(ctx, conf, unit)
    done = f"已通知{unit}，并向网站发出发布预告。"
    warning = await roster_warning(ctx, conf.unit_id, unit, conf.speakers)
    return Reply.ok(
        f"{conf.record_id} {again}\n{summary(ctx, conf)}{fmt}\n{done}"
        + (f"\n{warning}" if warning else "")
    )


def _held_extras(ctx: Context) -> dict[str, str]:
    return {
        "key_points": text_value(ctx, "要点"),
        "transcript_url": text_value(ctx, "实录").replace("待定", ""),
        "video_url": text_value(ctx, "视频").replace("待定", ""),
    }


async def held(ctx: Context) -> Reply:
    """已召开 (R8–R10): who spoke, matched to the roster, decides what it counts for.

    A1: titles are stripped before matching (郭学军局长 is 郭学军); a name that still matches
    nobody but is one character from a roster name is asked about before anything counts."""
    require_fields(ctx, HELD)
    conf, unit = await load(ctx)
    _step(conf, Action.HOLD, ctx, unit)
    return await _report_held(ctx, conf, unit, names_value(ctx, "发布人"), _held_extras(ctx))


async def _report_held(
    ctx: Context, conf: Conference, unit: str, speakers: list[str], extras: dict[str, str]
) -> Reply:
    """Record the conference held with `speakers`, or ask about names near the roster's."""
    found, members = await match_unit_speakers(ctx, conf.unit_id, speakers)
    pending = conf.pending_held or {}
    insisted = pending.get("by") == ctx.sender.userid and pending.get("speakers") == speakers
    if found.needs_question and not insisted:
        return Reply.ask(_ask_about_speakers(ctx, conf, unit, speakers, found, extras))
    for attr, value in extras.items():
        setattr(conf, attr, value)
    return Reply.ok(await _record_held(ctx, conf, unit, speakers, found, members))


def _ask_about_speakers(
    ctx: Context,
    conf: Conference,
    unit: str,
    speakers: list[str],
    found: SpeakerMatch,
    extras: dict[str, str],
) -> str:
    """A1: nothing is counted yet; the question waits for 确认 or a corrected report."""
    replace_with = {
        name: near[0].name
        for name, near in found.suggestions.items()
        if len(near) == 1 and name in found.unknown
    }
    conf.pending_held = {
        "by": ctx.sender.userid,
        "speakers": speakers,
        "replace": replace_with,
        **extras,
    }
    conf.updated_at = ctx.now
    ctx.session.add(conf)
    lines = [f"{conf.record_id}《{conf.topic}》的发布人需要核对，尚未记录召开："]
    for name in found.unknown:
        near = found.suggestions.get(name, ())
        if near:
            guess = "还是".join(p.label(unit) for p in near)
            lines.append(f"· {name} 不在{unit}名册中，是否是 {guess}？")
        else:
            lines.append(f"· {name} 不在{unit}名册中。")
    if replace_with:
        fixed = "、".join(replace_with.get(n, n) for n in speakers)
        lines.append(f"回复“确认”即按“{fixed}”记录。")
    lines.append(
        f"也可以重新发送“已召开 {conf.record_id} 发布人：…”写明正确姓名；"
        "如确为名册外人员，原样再发送一次即按原名记录（不计入4·2·1指标）。"
    )
    return "\n".join(lines)


RULE_LABELS = {
    "R8": "季度发布会（R8）",
    "R9": "半年出席市政府发布会（R9）",
    "R10": "主要负责人年度出席（R10）",
}


async def _record_held(
    ctx: Context,
    conf: Conference,
    unit: str,
    speakers: list[str],
    found: SpeakerMatch,
    members: dict[str, Member],
) -> str:
    old = State(conf.state)
    new = _step(conf, Action.HOLD, ctx, unit)
    conf.counts_for = credit(conf.kind, found, members)
    held_at = conf.starts_at if conf.late and conf.starts_at is not None else ctx.now
    conf.state, conf.held_at, conf.updated_at = new, held_at, ctx.now
    conf.held_speakers = speakers
    conf.held_speaker_ids = [p.userid for _, p in found.matched]
    conf.pending_held = None
    ctx.session.add(conf)
    await record_audit(
        ctx,
        "held",
        conf.record_id,
        old=old,
        new=new,
        detail={"speakers": speakers, "counts_for": conf.counts_for, "late": conf.late},
    )
    names = "、".join(
        f"{typed}（{person.name}）" if typed != person.name else typed
        for typed, person in found.matched
    )
    lines = [
        f"已记录 {conf.record_id}《{conf.topic}》召开"
        + ("（补报）" if conf.late else "")
        + f"，发布人：{'、'.join(speakers)}。"
    ]
    if names and any(typed != person.name for typed, person in found.matched):
        lines.append(f"按名册记为：{names}。")
    lines.append("计入：" + "、".join(RULE_LABELS[r] for r in conf.counts_for) + "。")
    unknown = unknown_line(found, unit)
    if unknown:
        lines.append(f"{unknown}，不计入本单位的4·2·1指标。")
    if conf.incident_record_id:
        lines += await _answer_incident(ctx, conf)
    relayed = await start_release(ctx, conf, unit)
    if relayed:
        lines.append(relayed)
    await notify_role(
        ctx,
        Role.NEWS_OFFICE,
        f"【发布会已召开】{unit} {conf.record_id}《{conf.topic}》"
        + ("（补报）" if conf.late else "")
        + f"\n发布人：{'、'.join(speakers)}\n要点：{conf.key_points or '未填写'}",
    )
    return "\n".join(lines)


async def _answer_incident(ctx: Context, conf: Conference) -> list[str]:
    """R17: a held conference for an open incident answers it; the clock stops."""
    assert conf.incident_record_id is not None
    incident = await incident_by_record(ctx.session, conf.incident_record_id)
    if incident is None or incident.state != IncidentState.OPEN:
        return []
    with refusals():
        step = incident_transition(
            incident.state,
            incident.level,
            IncidentAction.ANSWER,
            incident.record_id,
            frozenset(),
        )
    await mark_answered(ctx.session, incident, conf.record_id, ctx.now)
    await record_audit(
        ctx,
        "incident_answered",
        incident.record_id,
        old=step.old,
        new=step.new,
        detail={"conference": conf.record_id, "clock": step.clock_change},
    )
    if step.clock_change == "stopped":
        return [f"突发事件 {incident.record_id} 的24小时发布时限已停止计时（R17）。"]
    return [f"已记为对突发事件 {incident.record_id} 的回应。"]


async def confirm(ctx: Context) -> Reply:
    """确认 (A1): accept the roster names the bot suggested for a 已召开 report."""
    conf = await pending_speaker_question(ctx.session, ctx.sender.userid)
    if conf is None:
        return Reply.refused("目前没有需要您确认的发布人。")
    conf = await conference_for_update(ctx.session, conf.record_id)
    assert conf is not None
    assert conf.pending_held is not None
    pending = dict(conf.pending_held)
    replace_with: dict[str, str] = dict(pending.get("replace", {}))
    if not replace_with:
        return Reply.refused(
            f"{conf.record_id} 的发布人没有可确认的名册姓名，"
            f"请重新发送“已召开 {conf.record_id} 发布人：…”写明正确姓名。"
        )
    unit = await unit_name(ctx.session, conf.unit_id)
    speakers = [replace_with.get(n, n) for n in pending.get("speakers", [])]
    for attr in ("key_points", "transcript_url", "video_url"):
        setattr(conf, attr, str(pending.get(attr, "")))
    conf.pending_held = None
    found, members = await match_unit_speakers(ctx, conf.unit_id, speakers)
    return Reply.ok(await _record_held(ctx, conf, unit, speakers, found, members))


async def withdraw(ctx: Context) -> Reply:
    """撤回: the filer withdraws an open application or filing (an incident filed by mistake:
    撤回事件, handlers/incidents.py)."""
    require_fields(ctx, WITHDRAW)
    conf, unit = await load(ctx)
    old = State(conf.state)
    conf.state = _step(conf, Action.WITHDRAW, ctx, unit)
    conf.updated_at = ctx.now
    reason = text_value(ctx, "理由")
    conf.withdraw_reason = reason
    await event_cancelled(ctx, conf)
    ctx.session.add(conf)
    await record_audit(
        ctx, "withdraw", conf.record_id, old=old, new=conf.state, detail={"reason": reason}
    )
    await close_cards(ctx, conf.record_id, "已撤回")
    await retract_preview(ctx, conf, unit)  # B1: 【取消】 to the websites that had the preview
    await notify_role(
        ctx,
        Role.NEWS_OFFICE,
        f"{unit} 撤回了 {conf.record_id}《{conf.topic}》"
        + (f"，理由：{reason}" if reason else ""),
    )
    return Reply.ok(f"已撤回 {conf.record_id}《{conf.topic}》，已告知市政府新闻办。")


async def amend(ctx: Context) -> Reply:
    """修改: change any field; a change after review returns the application to review."""
    require_fields(ctx, AMEND)
    if not ctx.fields.raw:
        raise UsageError(
            f"请写明要修改的内容，例如：修改 {record_id_of(ctx)} 时间：12月4日上午10点"
        )
    conf, unit = await load(ctx)
    old = State(conf.state)
    new = _step(conf, Action.AMEND, ctx, unit)
    changed = []
    for name, attr in (
        ("主题", "topic"),
        ("地点", "venue"),
        ("类型", "conf_type"),
        ("内容", "content"),
    ):
        if name in ctx.fields.values:
            setattr(conf, attr, text_value(ctx, name))
            changed.append(name)
    if time_value(ctx, "时间") is not None:
        conf.starts_at = time_value(ctx, "时间")
        conf.ends_at = _ends_at(ctx, conf.starts_at)
        changed.append("时间")
    if "发布人" in ctx.fields.values:
        conf.speakers = names_value(ctx, "发布人")
        changed.append("发布人")
    if "直播" in ctx.fields.values:
        conf.live = bool_value(ctx, "直播")
        changed.append("直播")
    if "事件" in ctx.fields.values:
        conf.incident_record_id = await _check_incident(ctx)
        changed.append("事件")
    if conf.kind == "filing":
        await _check_venue(ctx, conf)
    conf.state, conf.updated_at = new, ctx.now
    ctx.session.add(conf)
    await record_audit(ctx, "amend", conf.record_id, old=old, new=new, detail={"changed": changed})
    text = f"已修改 {conf.record_id}（{'、'.join(changed)}）\n{summary(ctx, conf)}"
    corrected = await correct_preview(ctx, conf, unit)  # B1: the websites had the preview
    if corrected:
        text += f"\n已向网站发出【{corrected}】通知，更正此前的发布预告。"
    if conf.kind == "application" and old != State.SUBMITTED:
        await event_cancelled(ctx, conf)
        await close_cards(ctx, conf.record_id, "已失效（申请已修改）")
        await send_review_card(ctx, conf, unit)
        return Reply.ok(
            f"{text}\n申请原为“{STATE_LABELS[old]}”，修改后需重新审核。{NEXT_STEP[new]}。"
        )
    if conf.kind == "filing":
        await notify_role(ctx, Role.NEWS_OFFICE, f"【备案变更】{unit} {text}")
    return Reply.ok(f"{text}\n{NEXT_STEP[new]}。")


def _corrected_time(ctx: Context, conf: Conference) -> datetime | None:
    """更正 时间: past for a held conference, future for one still to come."""
    raw = ctx.fields.raw.get("时间")
    if raw is None:
        return None
    prefer: Prefer = "past" if conf.state == State.HELD else "future"
    try:
        return parse_time(raw, ctx.now, prefer=prefer).at
    except TimeParseError as exc:
        raise UsageError(f"时间：{exc.message}") from exc


async def correct(ctx: Context) -> Reply:
    """更正 (issue 9 A2): the news office (or the disclosure office, R1) corrects a record in
    any state, with a reason; the history records who, when and why, and the 4·2·1 counts
    follow a corrected list of speakers or time."""
    ctx.fields.errors = [e for e in ctx.fields.errors if not e.startswith("时间：")]
    require_fields(ctx, CORRECT)
    conf, unit = await load(ctx)
    actors = actors_of(ctx.sender, record_unit=unit, record_filer=conf.filer)
    reason = text_value(ctx, "原因")
    with refusals():
        check_correction(conf.record_id, actors, reason)
    changes: dict[str, list[str]] = {}

    def change(label: str, before: object, after: object) -> None:
        changes[label] = [str(before or ""), str(after or "")]

    for name, attr in (
        ("主题", "topic"),
        ("地点", "venue"),
        ("类型", "conf_type"),
        ("内容", "content"),
        ("稿件格式", "draft_format"),
        ("要点", "key_points"),
    ):
        if name in ctx.fields.values and text_value(ctx, name) != getattr(conf, attr):
            change(name, getattr(conf, attr), text_value(ctx, name))
            setattr(conf, attr, text_value(ctx, name))
    moment = _corrected_time(ctx, conf)
    if moment is not None and moment != conf.starts_at:
        change("时间", when(ctx, conf.starts_at), when(ctx, moment))
        conf.starts_at, conf.ends_at = moment, _ends_at(ctx, moment)
        if conf.state == State.HELD:
            conf.held_at = moment  # the counts follow the corrected date (R8–R10)
    notes: list[str] = []
    if "发布人" in ctx.fields.values:
        speakers = names_value(ctx, "发布人")
        if conf.state == State.HELD:
            found, members = await match_unit_speakers(ctx, conf.unit_id, speakers)
            change("发布人", "、".join(conf.held_speakers), "、".join(speakers))
            conf.held_speakers = speakers
            conf.held_speaker_ids = [p.userid for _, p in found.matched]
            conf.counts_for = credit(conf.kind, found, members)
            unknown = unknown_line(found, unit)
            if unknown:
                notes.append(f"{unknown}，不计入本单位的4·2·1指标。")
        else:
            change("发布人", "、".join(conf.speakers), "、".join(speakers))
            conf.speakers = speakers
    if not changes:
        raise UsageError(
            f"没有需要更正的内容。请写明要更正的字段，例如：更正 {conf.record_id} "
            "发布人：郭学军 原因：报告时写错了姓名"
        )
    if conf.state in (State.SCHEDULED, State.FILED):
        await _check_venue(ctx, conf)
    conf.updated_at = ctx.now
    ctx.session.add(conf)
    await record_audit(
        ctx,
        "correct",
        conf.record_id,
        old=conf.state,
        new=conf.state,
        detail={"reason": reason, "changes": changes, "counts_for": conf.counts_for},
    )
    what = "、".join(changes)
    lines = [f"已更正 {conf.record_id}（{what}），原因：{reason}", summary(ctx, conf)]
    if conf.state == State.HELD:
        counted = "、".join(RULE_LABELS[r] for r in conf.counts_for)
        lines.append(f"召开记录按更正后计入：{counted}。")
    elif conf.state in (State.SCHEDULED, State.FILED):
        corrected = await correct_preview(ctx, conf, unit)  # B1: as 修改 and 排期 do
        if corrected:
            lines.append(f"已向网站发出【{corrected}】通知，更正此前的发布预告。")
    lines += notes
    await notify_users(
        ctx,
        [conf.filer],
        f"{ctx.sender.unit}更正了 {conf.record_id}《{conf.topic}》（{what}）\n原因：{reason}",
    )
    return Reply.ok("\n".join(lines))


NEWS = frozenset({Role.NEWS_OFFICE, Role.DISCLOSURE_OFFICE})  # R1, issue 9 A8

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        key="apply",
        name="申请发布会",
        aliases=("申请",),
        summary="申请召开市政府新闻发布会，报市政府新闻办审核",
        usage="申请发布会 主题：… 时间：… 发布人：… [地点：…] [类型：发布会/吹风会] [内容：…] "
        "[直播：是/否] [事件：TF-编号]",
        example="申请发布会\n主题：2026年秋粮收购政策解读\n时间：12月3日上午10点\n"
        "发布人：王建国、李明\n地点：市政府新闻发布厅",
        handler=apply,
        roles=UNIT_ROLES,
        rules=("R15",),
        grammar=APPLY,
    ),
    CommandSpec(
        key="review",
        name="审核",
        aliases=("审核申请",),
        summary="审核发布会申请（通过后送副秘书长审批）",
        usage="审核 编号 通过/驳回 [理由：…（驳回时必填）]",
        example="审核 SQ-2026-0012 通过\n\n审核 SQ-2026-0012 驳回 理由：主题与上月发布会重复",
        handler=decisions.review,
        roles=NEWS,
        rules=("R15",),
        grammar=decisions.REVIEW,
    ),
    CommandSpec(
        key="approve",
        name="审批",
        aliases=("批准",),
        summary="审批市政府新闻发布会",
        usage="审批 编号 同意/不同意 [意见：…]",
        example="审批 SQ-2026-0012 同意 意见：请做好政策解读",
        handler=decisions.approve,
        roles=frozenset({Role.APPROVER}),
        rules=("R15",),
        grammar=decisions.APPROVE,
    ),
    CommandSpec(
        key="schedule",
        name="排期",
        aliases=("安排",),
        summary="确定已批准发布会的时间、地点和稿件格式（同一会场不能重复预订）",
        usage="排期 编号 时间：… 地点：… [稿件格式：…]",
        example="排期 SQ-2026-0012 时间：12月3日上午10点 地点：市政府新闻发布厅 "
        "稿件格式：新闻通稿",
        handler=schedule,
        roles=NEWS,
        rules=("R15",),
        grammar=SCHEDULE,
    ),
    CommandSpec(
        key="file",
        name="备案",
        aliases=("自办发布会备案", "发布会备案"),
        summary="本单位自行召开的发布会向市政府新闻办备案（无需审批）",
        usage="备案 主题：… 时间：… 地点：… 发布人：… [事件：TF-编号]",
        example="备案\n主题：全市财政预算执行情况\n时间：12月8日下午3点\n地点：市财政局三楼会议室\n"
        "发布人：张演示",
        handler=file,
        roles=UNIT_ROLES,
        rules=("R16",),
        grammar=FILE,
    ),
    CommandSpec(
        key="file_late",
        name="补报",
        aliases=("补报备案", "补备案"),
        summary="本季度已召开但未备案的自办发布会，会后补报（计入季度发布会）",
        usage="补报 主题：… 时间：… 地点：… 发布人：…",
        example="补报\n主题：全市财政预算执行情况\n时间：11月20日下午3点\n"
        "地点：市财政局三楼会议室\n发布人：郑学军、鲍克勤",
        handler=file,
        roles=UNIT_ROLES,
        rules=("R16", "R8"),
        grammar=LATE_FILE,
    ),
    CommandSpec(
        key="held",
        name="已召开",
        aliases=("发布完成", "已举行"),
        summary="报告发布会已召开：实际发布人决定计入哪项4·2·1指标",
        usage="已召开 编号 发布人：… [要点：…] [实录：链接] [视频：链接]",
        example="已召开 SQ-2026-0012 发布人：王建国、李明 要点：介绍了收购价格和补贴",
        handler=held,
        roles=UNIT_ROLES | NEWS,
        rules=("R8", "R9", "R10", "R17"),
        grammar=HELD,
    ),
    CommandSpec(
        key="confirm_speakers",
        name="确认",
        aliases=("确认发布人",),
        summary="确认“已召开”时机器人询问的发布人姓名（按名册姓名记录）",
        usage="确认",
        example="确认",
        handler=confirm,
        roles=UNIT_ROLES | NEWS,
        rules=("R8", "R9", "R10"),
    ),
    CommandSpec(
        key="withdraw",
        name="撤回",
        aliases=("撤销", "撤回申请", "撤回备案"),
        summary="撤回自己提交的申请或备案",
        usage="撤回 编号 [理由：…]",
        example="撤回 SQ-2026-0012 理由：会议推迟",
        handler=withdraw,
        roles=UNIT_ROLES,
        rules=("R15", "R16"),
        grammar=WITHDRAW,
    ),
    CommandSpec(
        key="amend",
        name="修改",
        aliases=("变更",),
        summary="修改自己提交的申请或备案（审核后修改需重新审核）",
        usage="修改 编号 要改的字段：新内容",
        example="修改 SQ-2026-0012 时间：12月4日上午10点",
        handler=amend,
        roles=UNIT_ROLES,
        rules=("R15", "R16"),
        grammar=AMEND,
    ),
    CommandSpec(
        key="correct",
        name="更正",
        aliases=("更正记录",),
        summary="新闻办更正任一状态的发布会记录（发布人、时间、主题、地点等），须写明原因",
        usage="更正 编号 要更正的字段：新内容 原因：…",
        example="更正 SQ-2026-0012 发布人：郭学军、徐启航 原因：报告时写错了姓名",
        handler=correct,
        roles=NEWS,
        rules=("R8", "R9", "R10", "R1"),
        grammar=CORRECT,
    ),
)
