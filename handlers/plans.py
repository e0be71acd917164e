"""发布计划 (R12) and the link from a risk letter to the later policy or conference (R13).

发布计划 季度：2027Q1 主题：冬季供暖；春运保障 — a unit files its planned topics for a
quarter; filing again replaces that quarter's plan (every version stays in the audit log).
Without fields it shows the unit's plans for this quarter and the ones after it.

关联 FX-2026-0001 ZC-2026-0003 — links a risk letter (风险评估函告) to the policy or
conference it preceded; `风险评估：FX-…` on 政策 / 申请发布会 / 备案 does the same at filing.
"""

from __future__ import annotations

import re

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.common import notify_role, own_unit_id, record_audit, require_fields, text_value
from handlers.context import Context
from liuan_bot.commands.fields import CommandGrammar, FieldSpec, parse_record_id
from liuan_bot.commands.registry import CommandSpec
from liuan_bot.domain.evaluation import EvalPeriod, parse_period, periods_at
from liuan_bot.domain.roles import UNIT_ROLES, Role
from liuan_bot.errors import Conflict, NotFound, PermissionDenied, UsageError
from liuan_bot.messages import Reply
from storage.plan_store import (
    add_risk_link,
    plans_from,
    replace_plan,
    risk_letter,
    risk_target,
)
from storage.roster_store import unit_name

PLAN = CommandGrammar(
    fields=(
        FieldSpec("季度", aliases=("计划季度", "时间"), example="2027Q1"),
        FieldSpec(
            "主题",
            aliases=("计划主题", "议题", "内容"),
            example="冬季供暖保障；春运安全",
        ),
    )
)
LINK = CommandGrammar(record="required", record_prefixes=("FX",))
TOPIC_SPLIT = re.compile(r"[;；、,，\n]+")
MAX_TOPICS = 20


def _quarter(ctx: Context, text: str) -> EvalPeriod:
    try:
        period = parse_period(text)
    except ValueError:
        period = None
    if period is None or period.kind != "quarter":
        raise UsageError(f"季度：请写成 2027Q1 或“2027年第一季度”，“{text}”看不懂。")
    if period.ended(ctx.now):
        raise UsageError(f"{period.label}已经过去，只能报送本季度或以后季度的计划。")
    return period


def _topics(text: str) -> list[str]:
    topics: list[str] = []
    for item in TOPIC_SPLIT.split(text):
        topic = item.strip(" 。.《》“”\"'")
        if topic and topic not in topics:
            topics.append(topic)
    return topics


async def plan(ctx: Context) -> Reply:
    """发布计划 (R12): file (or replace) a quarter's planned topics; without fields, show."""
    if not ctx.fields.raw and not ctx.fields.errors:
        return Reply.ok(await _show(ctx))
    require_fields(ctx, PLAN)
    missing = [name for name in ("季度", "主题") if not text_value(ctx, name)]
    if missing:
        raise UsageError(
            f"还缺少：{'、'.join(missing)}。\n请按这个格式重新发送：\n"
            f"发布计划 季度：{periods_at(ctx.now)[0].code} 主题：冬季供暖保障；春运安全"
        )
    period = _quarter(ctx, text_value(ctx, "季度"))
    topics = _topics(text_value(ctx, "主题"))
    if not topics:
        raise UsageError("主题：请至少写一个计划发布的主题，多个主题用“；”隔开。")
    if len(topics) > MAX_TOPICS:
        raise UsageError(f"一个季度最多报送 {MAX_TOPICS} 个主题，请精简后重新发送。")
    unit_pk = await own_unit_id(ctx)
    previous = await replace_plan(
        ctx.session, unit_pk, period.code, topics, ctx.sender.userid, ctx.now
    )
    await record_audit(
        ctx,
        "plan_file",
        f"JH-{period.code}-{unit_pk}",
        old=None,
        new="filed",
        detail={
            "unit": ctx.sender.unit,
            "quarter": period.code,
            "topics": topics,
            "previous": previous,
        },
    )
    listing = "\n".join(f"{i}. {t}" for i, t in enumerate(topics, start=1))
    verb = "更新" if previous is not None else "报送"
    await notify_role(
        ctx,
        Role.NEWS_OFFICE,
        f"【发布计划】{ctx.sender.unit}{verb}了{period.label}的发布计划：\n{listing}",
    )
    replaced = "（已替换此前报送的计划）" if previous is not None else ""
    return Reply.ok(
        f"已{verb}{period.label}发布计划{replaced}：\n{listing}\n"
        "季度结束后，评估报告会对照计划和实际召开的发布会（R12）。"
    )


async def plan_lines(session: AsyncSession, unit_pk: int, ctx: Context) -> list[str]:
    """The unit's plans for this quarter and later, one line each (for 我的)."""
    quarter = periods_at(ctx.now)[0]
    lines = []
    for code, topics in await plans_from(session, unit_pk, quarter.code):
        lines.append(f"· {parse_period(code).label}发布计划：{'；'.join(topics)}")
    return lines


async def _show(ctx: Context) -> str:
    unit_pk = await own_unit_id(ctx)
    lines = await plan_lines(ctx.session, unit_pk, ctx)
    if not lines:
        quarter = periods_at(ctx.now)[0]
        return (
            f"{ctx.sender.unit}还没有报送{quarter.label}及以后的发布计划。\n"
            f"报送示例：发布计划 季度：{quarter.code} 主题：冬季供暖保障；春运安全"
        )
    return f"{ctx.sender.unit}的发布计划（R12）：\n" + "\n".join(lines)


# --- R13 links ----------------------------------------------------------------------------


async def link_risk(ctx: Context, risk_id: str, target_id: str) -> str:
    """Link risk letter `risk_id` to the policy or conference `target_id` (same unit, unless
    the sender is the news or disclosure office). Returns the target's unit name."""
    letter = await risk_letter(ctx.session, risk_id)
    if letter is None:
        raise NotFound(f"没有找到风险评估函告 {risk_id}，请核对编号。")
    letter_unit = await unit_name(ctx.session, letter.unit_id)
    if not ctx.sender.may_act_for(letter_unit):
        raise PermissionDenied(f"{risk_id} 属于{letter_unit}，您只能关联本单位的函告。")
    target_unit_pk = await risk_target(ctx.session, target_id)
    if target_unit_pk is None:
        raise NotFound(f"没有找到 {target_id}，请核对编号（政策 ZC-…，发布会 SQ-… 或 BA-…）。")
    if target_unit_pk != letter.unit_id:
        other = await unit_name(ctx.session, target_unit_pk)
        raise UsageError(f"{risk_id} 属于{letter_unit}，{target_id} 属于{other}，不能关联。")
    if not await add_risk_link(ctx.session, risk_id, target_id, ctx.sender.userid, ctx.now):
        raise Conflict(f"{risk_id} 已经关联过 {target_id}。")
    await record_audit(ctx, "risk_link", risk_id, old=None, new=None, detail={"to": target_id})
    return letter_unit


def _ids(text: str, year: int) -> list[str]:
    found = []
    for token in re.split(r"[\s,，;；、]+", text):
        parsed = parse_record_id(token, year) if token else None
        if parsed is not None and parsed[1] == len(token):
            found.append(parsed[0])
    return found


async def link(ctx: Context) -> Reply:
    """关联 FX-… ZC-…/SQ-…/BA-… (R13)."""
    require_fields(ctx, LINK)
    risk_id = ctx.fields.record_id or ""
    targets = [t for t in _ids(ctx.args, ctx.now.year) if t != risk_id]
    targets = [t for t in targets if t[:2] in ("ZC", "SQ", "BA")]
    if not targets:
        raise UsageError(
            f"请写明要关联的政策或发布会编号，例如：关联 {risk_id} ZC-{ctx.now.year}-0001"
        )
    for target in targets:
        await link_risk(ctx, risk_id, target)
    return Reply.ok(f"已将风险评估函告 {risk_id} 关联到 {'、'.join(targets)}（R13）。")


async def link_from_field(ctx: Context, target_id: str) -> str:
    """The `风险评估：FX-…` field of 政策 / 申请发布会 / 备案: link it to the new record.
    Returns a line for the reply ("" when the field is absent)."""
    risk_id = text_value(ctx, "风险评估")
    if not risk_id:
        return ""
    if not risk_id.startswith("FX"):
        raise UsageError(f"风险评估：请填写风险评估函告的编号，例如 FX-{ctx.now.year}-0001")
    await link_risk(ctx, risk_id, target_id)
    return f"已关联风险评估函告 {risk_id}。"


# The field added to the 政策 / 申请发布会 / 备案 grammars.
RISK_FIELD = FieldSpec("风险评估", "record", aliases=("风险评估函告",), example="FX-2026-0001")


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        key="plan",
        name="发布计划",
        aliases=("报送发布计划", "季度计划"),
        summary="报送本单位某季度计划发布的主题（重新报送替换该季度计划）；不带内容查看计划",
        usage="发布计划 季度：2027Q1 主题：…；…\n查看：发布计划",
        example="发布计划 季度：2027Q1 主题：冬季供暖保障；春运安全\n\n发布计划",
        handler=plan,
        roles=UNIT_ROLES,
        rules=("R12",),
        grammar=PLAN,
    ),
    CommandSpec(
        key="risk_link",
        name="关联",
        aliases=("关联函告", "关联风险评估"),
        summary="把风险评估函告关联到后来出台的政策或召开的发布会",
        usage="关联 FX-编号 ZC-编号（或 SQ-/BA-编号）",
        example="关联 FX-2026-0001 ZC-2026-0003",
        handler=link,
        roles=UNIT_ROLES | {Role.NEWS_OFFICE},
        rules=("R13",),
        grammar=LINK,
    ),
)
