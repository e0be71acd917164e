"""Press conferences: 申请发布会 (R15), 备案 (R16), 排期, 已召开 (R8–R10), 撤回, 修改."""

from __future__ import annotations

from dataclasses import replace

from handlers import decisions
from handlers.calendar import event_cancelled, event_scheduled
from handlers.common import (
    bool_value,
    names_value,
    notify_role,
    notify_users,
    own_unit_id,
    record_audit,
    record_id_of,
    require_fields,
    text_value,
    time_value,
    when,
)
from handlers.context import Context
from handlers.decisions import close_cards, send_review_card
from handlers.plans import RISK_FIELD, link_from_field
from handlers.relay import send_preview, start_release
from liuan_bot.commands.fields import CommandGrammar, FieldSpec
from liuan_bot.commands.registry import CommandSpec
from liuan_bot.domain.quotas import counts_for
from liuan_bot.domain.roles import UNIT_ROLES, Role
from liuan_bot.domain.workflow import (
    NEXT_STEP,
    STATE_LABELS,
    Action,
    IllegalTransition,
    NotAllowed,
    State,
    actors_of,
    transition,
)
from liuan_bot.errors import Conflict, NotFound, PermissionDenied, UsageError
from storage.conference_store import conference_for_update, venue_clash
from storage.incident_store import incident_by_record, mark_answered
from storage.records import next_record_id
from storage.roster_store import unit_members, unit_name
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
    )
)
SCHEDULE = CommandGrammar(
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
WITHDRAW = CommandGrammar(
    record="required",
    record_prefixes=("SQ", "BA"),
    fields=(FieldSpec("理由", aliases=("原因",), prose=True),),
)
AMEND = CommandGrammar(
    record="required",
    record_prefixes=("SQ", "BA"),
    fields=tuple(replace(f, required=False) for f in APPLY.fields),
)


def _step(conf: Conference, action: Action, ctx: Context, unit: str) -> State:
    actors = actors_of(ctx.sender, record_unit=unit, record_filer=conf.filer)
    try:
        return transition(conf.kind, State(conf.state), action, conf.record_id, actors).new
    except IllegalTransition as exc:
        raise Conflict(exc.message) from exc
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc


async def load(ctx: Context) -> tuple[Conference, str]:
    record_id = record_id_of(ctx)
    conf = await conference_for_update(ctx.session, record_id)
    if conf is None:
        raise NotFound(f"没有找到 {record_id}，请核对编号（发送“我的”可查看本单位的事项）。")
    unit = await unit_name(ctx.session, conf.unit_id)
    if not (ctx.sender.may_act_for(unit) or Role.APPROVER in ctx.sender.roles):
        raise PermissionDenied(f"{record_id} 属于{unit}，您只能办理本单位的事项。")
    return conf, unit


def summary(ctx: Context, conf: Conference) -> str:
    speakers = "、".join(conf.speakers) or "待定"
    return (
        f"《{conf.topic}》\n时间：{when(ctx, conf.starts_at)}\n地点：{conf.venue or '待定'}\n"
        f"发布人：{speakers}"
    )


async def _check_incident(ctx: Context) -> str | None:
    incident_id = text_value(ctx, "事件") or None
    if incident_id is None:
        return None
    if await incident_by_record(ctx.session, incident_id) is None:
        raise NotFound(f"没有找到突发事件 {incident_id}，请核对编号。")
    return incident_id


async def _check_venue(ctx: Context, conf: Conference) -> None:
    if conf.starts_at is None:
        return
    other = await venue_clash(ctx.session, conf.venue, conf.starts_at, exclude=conf.record_id)
    if other is not None:
        raise Conflict(
            f"{conf.venue} 在 {when(ctx, other.starts_at)} 前后已被 {other.record_id}"
            f"《{other.topic}》占用，请换一个时间或地点。"
        )


async def _new_conference(ctx: Context, kind: str, prefix: str, state: State) -> Conference:
    """A conference of the sender's unit from the message's fields, with a fresh record id."""
    unit_pk = await own_unit_id(ctx)
    incident = await _check_incident(ctx)
    return Conference(
        record_id=await next_record_id(ctx.session, prefix, ctx.now.year),
        kind=kind,
        unit_id=unit_pk,
        filer=ctx.sender.userid,
        state=state,
        topic=text_value(ctx, "主题"),
        starts_at=time_value(ctx, "时间"),
        venue=text_value(ctx, "地点"),
        speakers=names_value(ctx, "发布人"),
        conf_type=text_value(ctx, "类型", "发布会"),
        content=text_value(ctx, "内容"),
        live=bool_value(ctx, "直播"),
        incident_record_id=incident,
        created_at=ctx.now,
        updated_at=ctx.now,
    )


async def apply(ctx: Context) -> str:
    """申请发布会 (R15): a city-government conference application, to the news office."""
    require_fields(ctx, APPLY)
    conf = await _new_conference(ctx, "application", "SQ", State.SUBMITTED)
    ctx.session.add(conf)
    await record_audit(ctx, "apply", conf.record_id, old=None, new=State.SUBMITTED)
    risk = await link_from_field(ctx, conf.record_id)  # R13
    await send_review_card(ctx, conf, ctx.sender.unit)
    rough = "（时间为大致时间，排期时确定）" if "时间" in ctx.fields.inexact else ""
    risk_line = f"{risk}\n" if risk else ""
    return (
        f"已提交发布会申请 {conf.record_id}{rough}\n{summary(ctx, conf)}\n"
        f"{risk_line}{NEXT_STEP[State.SUBMITTED]}。"
    )


async def file(ctx: Context) -> str:
    """备案 (R16): a self-held conference, filed with the news office; no approval chain."""
    require_fields(ctx, FILE, exact_times=True)
    conf = await _new_conference(ctx, "filing", "BA", State.FILED)
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
    return (
        f"已备案 {conf.record_id}{linked}\n{summary(ctx, conf)}\n{risk_line}"
        f"{NEXT_STEP[State.FILED]}。"
    )


async def schedule(ctx: Context) -> str:
    """排期 (R15): the news office fixes time, venue and draft format; no double booking."""
    require_fields(ctx, SCHEDULE, exact_times=True)
    conf, unit = await load(ctx)
    old = State(conf.state)
    new = _step(conf, Action.SCHEDULE, ctx, unit)
    conf.starts_at, conf.venue = time_value(ctx, "时间"), text_value(ctx, "地点")
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
    return f"{conf.record_id} {again}\n{summary(ctx, conf)}{fmt}\n{done}"


async def held(ctx: Context) -> str:
    """已召开 (R8–R10): who spoke, matched to the roster, decides what it counts for."""
    require_fields(ctx, HELD)
    conf, unit = await load(ctx)
    old = State(conf.state)
    new = _step(conf, Action.HOLD, ctx, unit)
    if conf.starts_at is not None and ctx.now < conf.starts_at:
        raise Conflict(
            f"{conf.record_id} 定于 {when(ctx, conf.starts_at)} 召开，"
            "还没到时间，召开后再发送“已召开”。"
        )
    speakers = names_value(ctx, "发布人")
    members = {m.name: m for m in await unit_members(ctx.session, conf.unit_id)}
    matched = [members[n] for n in speakers if n in members]
    unknown = [n for n in speakers if n not in members]
    conf.counts_for = list(counts_for(conf.kind, (m.roles for m in matched)))
    conf.state, conf.held_at, conf.updated_at = new, ctx.now, ctx.now
    conf.held_speakers, conf.held_speaker_ids = speakers, [m.userid for m in matched]
    conf.key_points = text_value(ctx, "要点")
    conf.transcript_url = text_value(ctx, "实录").replace("待定", "")
    conf.video_url = text_value(ctx, "视频").replace("待定", "")
    ctx.session.add(conf)
    await record_audit(
        ctx,
        "held",
        conf.record_id,
        old=old,
        new=new,
        detail={"speakers": speakers, "counts_for": conf.counts_for},
    )
    lines = [f"已记录 {conf.record_id}《{conf.topic}》召开，发布人：{'、'.join(speakers)}。"]
    labels = {
        "R8": "季度发布会（R8）",
        "R9": "半年出席市政府发布会（R9）",
        "R10": "主要负责人年度出席（R10）",
    }
    lines.append("计入：" + "、".join(labels[r] for r in conf.counts_for) + "。")
    if unknown:
        lines.append(f"{'、'.join(unknown)} 不在{unit}名册中，不计入本单位的4·2·1指标。")
    if conf.incident_record_id:
        incident = await incident_by_record(ctx.session, conf.incident_record_id)
        if incident is not None and incident.state == "open":
            await mark_answered(ctx.session, incident, conf.record_id, ctx.now)
            await record_audit(
                ctx,
                "incident_answered",
                incident.record_id,
                old="open",
                new="answered",
                detail={"conference": conf.record_id},
            )
            lines.append(f"突发事件 {incident.record_id} 的24小时发布时限已停止计时（R17）。")
    relayed = await start_release(ctx, conf, unit)
    if relayed:
        lines.append(relayed)
    await notify_role(
        ctx,
        Role.NEWS_OFFICE,
        f"【发布会已召开】{unit} {conf.record_id}《{conf.topic}》\n"
        f"发布人：{'、'.join(speakers)}\n要点：{conf.key_points or '未填写'}",
    )
    return "\n".join(lines)


async def withdraw(ctx: Context) -> str:
    """撤回: the filer withdraws an open application or filing."""
    require_fields(ctx, WITHDRAW)
    conf, unit = await load(ctx)
    old = State(conf.state)
    conf.state = _step(conf, Action.WITHDRAW, ctx, unit)
    conf.updated_at = ctx.now
    event_cancelled(ctx, conf)
    ctx.session.add(conf)
    reason = text_value(ctx, "理由")
    await record_audit(
        ctx, "withdraw", conf.record_id, old=old, new=conf.state, detail={"reason": reason}
    )
    await close_cards(ctx, conf.record_id, "已撤回")
    await notify_role(
        ctx,
        Role.NEWS_OFFICE,
        f"{unit} 撤回了 {conf.record_id}《{conf.topic}》"
        + (f"，理由：{reason}" if reason else ""),
    )
    return f"已撤回 {conf.record_id}《{conf.topic}》，已告知市政府新闻办。"


async def amend(ctx: Context) -> str:
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
    if conf.kind == "application" and old != State.SUBMITTED:
        event_cancelled(ctx, conf)
        await close_cards(ctx, conf.record_id, "已失效（申请已修改）")
        await send_review_card(ctx, conf, unit)
        return f"{text}\n申请原为“{STATE_LABELS[old]}”，修改后需重新审核。{NEXT_STEP[new]}。"
    if conf.kind == "filing":
        await notify_role(ctx, Role.NEWS_OFFICE, f"【备案变更】{unit} {text}")
    return f"{text}\n{NEXT_STEP[new]}。"


NEWS = frozenset({Role.NEWS_OFFICE})

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
)
