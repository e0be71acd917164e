"""R14 evaluation, the 4·2·1 board and the accountability list: use cases for the chat, the
console and the reports (one computation, three front doors).

`quota_board`, `evaluate` and `accountability_list` take a session and `now`; they load facts
in bulk (storage/evaluation_store.py) and compute in liuan_bot/domain/evaluation.py. They do
not check permissions: the caller decides (R1) which units a person may see and passes `unit`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.context import Context
from liuan_bot.commands.registry import CommandSpec
from liuan_bot.domain import evaluation as domain
from liuan_bot.domain.evaluation import (
    AccountabilityEntry,
    EvalPeriod,
    Evaluation,
    FailureKind,
    QuotaBoard,
    parse_period,
    periods_at,
    year_period,
)
from liuan_bot.domain.roles import Role
from liuan_bot.errors import NotFound, UsageError
from liuan_bot.keywords import default_ranker
from liuan_bot.messages import Reply
from storage.evaluation_store import load_facts, unit_pk_by_name

Keywords = Callable[[str], Sequence[str]]

__all__ = [
    "accountability_list",
    "evaluate",
    "period_of",
    "quota_board",
]


def period_of(text: str) -> EvalPeriod:
    """2026Q4 / 2026H2 / 2026 → the period, or a Chinese usage error."""
    try:
        return parse_period(text)
    except ValueError:
        raise UsageError(
            f"“{text}”不是一个考核期，请写成 2026Q4（季度）、2026H2（半年）或 2026（全年）。"
        ) from None


async def _unit_pk(session: AsyncSession, unit: str | None) -> int | None:
    if unit is None:
        return None
    found = await unit_pk_by_name(session, unit)
    if found is None:
        raise NotFound(f"名册里没有“{unit}”，请核对单位全称。")
    return found


async def quota_board(
    session: AsyncSession, now: datetime, *, unit: str | None = None
) -> QuotaBoard:
    """Units × (this quarter R8, half-year R9, year R10): counts, status, forecast and the
    conferences that count, per cell."""
    year = year_period(now.astimezone(domain.SHANGHAI).year)
    facts = await load_facts(
        session, year.start, year.end, unit_pk=await _unit_pk(session, unit), quota_only=True
    )
    return domain.quota_board(facts, now)


async def evaluate(
    session: AsyncSession,
    period: str,
    now: datetime,
    *,
    unit: str | None = None,
    keywords: Keywords | None = None,
) -> Evaluation:
    """R14: the evaluation of every unit (or one) for `period` (2026Q4 / 2026H2 / 2026).

    Topic keywords come from jieba.analyse (loaded once, off the event loop); pass
    `keywords` to use another ranker. The computation runs in a worker thread."""
    span = period_of(period)
    # R9/R10 are judged over their half-year and year even when a quarter is asked for.
    year = year_period(span.start.year)
    facts = await load_facts(
        session,
        year.start,
        year.end,
        unit_pk=await _unit_pk(session, unit),
        detail=(span.start, span.end),
    )
    ranker = keywords if keywords is not None else await default_ranker().ready()
    return await asyncio.to_thread(domain.evaluate, facts, span, now, keywords=ranker)


async def accountability_list(
    session: AsyncSession,
    year: int,
    now: datetime,
    *,
    unit: str | None = None,
    r18_grace: timedelta = domain.R18_GRACE,
) -> list[AccountabilityEntry]:
    """R14's list for `year`: 重要信息不发布 (R8–R10 missed), 重大政策不解读 (R18),
    热点回应不及时 (R17), each with its records and every reminder sent about it (delivered
    when, acknowledged when)."""
    span = year_period(year)
    facts = await load_facts(
        session,
        span.start,
        span.end,
        unit_pk=await _unit_pk(session, unit),
        with_evidence=True,
        details=False,
    )
    return domain.accountability(facts, year, now, r18_grace=r18_grace)


async def report_data(
    session: AsyncSession,
    period: str,
    now: datetime,
    *,
    unit: str | None = None,
    keywords: Keywords | None = None,
) -> tuple[Evaluation, list[AccountabilityEntry]]:
    """What a report of `period` shows: the evaluation and the accountability entries that
    belong to the period (for the CLI `report`, the console's downloads and 报表)."""
    span = period_of(period)
    year = year_period(span.start.year)
    facts = await load_facts(
        session, year.start, year.end, unit_pk=await _unit_pk(session, unit), with_evidence=True
    )
    ranker = keywords if keywords is not None else await default_ranker().ready()
    ev = await asyncio.to_thread(domain.evaluate, facts, span, now, keywords=ranker)
    entries = domain.accountability(facts, span.start.year, now)
    return ev, [e for e in entries if e.within(span)]


# ------------------------------------------------------------------ chat commands

CITY_WIDE = frozenset({Role.NEWS_OFFICE, Role.DISCLOSURE_OFFICE})
_UNIT_FIELD = re.compile(r"(?:单位|部门)\s*:\s*(\S+)")
_YEAR = re.compile(r"(20\d{2})")
MAX_CHAT_UNITS = 8


def console_url(ctx: Context, period: str) -> str:
    """`<public url>/console/evaluation?period=…` (LIUAN_PUBLIC_URL, else the local address)."""
    return f"{ctx.deps.settings.link_base}/console/evaluation?period={quote(period)}"


def _args(ctx: Context) -> tuple[str, str | None]:
    """(what remains, unit) of `问责清单 2026 单位：市财政局`."""
    text = ctx.args
    found = _UNIT_FIELD.search(text)
    unit = found.group(1) if found else None
    if found:
        text = text[: found.start()] + text[found.end() :]
    return text.strip(), unit


def _local(moment: datetime) -> str:
    local = moment.astimezone(domain.SHANGHAI)
    return f"{local.month}月{local.day}日{local.hour:02d}:{local.minute:02d}"


def _evidence(entry: AccountabilityEntry) -> str:
    if not entry.reminders:
        return "未发出提醒"
    delivered = sum(1 for r in entry.reminders for d in r.deliveries if d.delivered_at)
    acked = sum(1 for r in entry.reminders for d in r.deliveries if d.acked_at)
    return f"提醒 {len(entry.reminders)} 次，送达 {delivered} 人次，确认 {acked} 人次"


async def accountability_command(ctx: Context) -> Reply:
    """问责清单 [年份] [单位：…] (R14): the three failure kinds, each with its evidence."""
    rest, unit = _args(ctx)
    year_match = _YEAR.search(rest)
    if rest and year_match is None:
        raise UsageError("请写明年份，例如：问责清单 2026")
    year = int(year_match.group(1)) if year_match else ctx.now.astimezone(domain.SHANGHAI).year
    entries = await accountability_list(ctx.session, year, ctx.now, unit=unit)
    scope = f"{unit}，" if unit else ""
    head = f"{year}年问责清单（{scope}截至{_local(ctx.now)}）"
    if not entries:
        return Reply.ok(f"{head}：没有列入问责清单的事项。")
    lines = [f"{head}：共 {len(entries)} 条"]
    for kind in FailureKind:
        items = [e for e in entries if e.kind == kind]
        if not items:
            continue
        lines.append(f"【{kind.label}】{len(items)} 条")
        if unit is not None:  # one unit: every entry with its evidence
            lines += [f"· {e.summary}｜{_evidence(e)}" for e in items]
            continue
        per_unit: dict[str, int] = {}
        for e in items:
            per_unit[e.unit] = per_unit.get(e.unit, 0) + 1
        shown = [f"{name} {n} 条" for name, n in list(per_unit.items())[:MAX_CHAT_UNITS]]
        more = f" 等 {len(per_unit)} 个单位" if len(per_unit) > MAX_CHAT_UNITS else ""
        lines.append("· " + "、".join(shown) + more)
    if unit is None:
        lines.append("查看某个单位的明细：问责清单 年份 单位：单位全称")
    lines.append(f"每条的提醒、送达和确认记录：{console_url(ctx, str(year))}")
    return Reply.ok("\n".join(lines))


def _no_keywords(text: str) -> tuple[str, ...]:
    return ()


def _summary(ev: Evaluation, entries: Sequence[AccountabilityEntry]) -> list[str]:
    key_units = [u for u in ev.units if u.key_unit]
    states = [u.r8.status for u in key_units]
    held = sum(len(u.held) for u in ev.units)
    city = sum(u.city_held for u in ev.units)
    published = sum(u.channels_published for u in ev.units)
    expected = sum(u.channels_expected for u in ev.units)
    incidents = sum(u.incidents for u in ev.units)
    on_time = sum(u.incidents_on_time for u in ev.units)
    policies = sum(u.policies for u in ev.units)
    interpreted = sum(u.policies_on_time for u in ev.units)
    coverage = f"（{round(published * 100 / expected)}%）" if expected else ""
    lines = [
        f"重点单位 {len(key_units)} 个：季度发布会（R8）已完成 "
        f"{states.count(domain.QuotaState.MET)} 个，有风险 "
        f"{states.count(domain.QuotaState.AT_RISK)} 个，未完成 "
        f"{states.count(domain.QuotaState.MISSED)} 个",
        f"召开发布会 {held} 场，其中市政府发布会 {city} 场；"
        f"渠道已发布 {published}/{expected}{coverage}",
        f"突发事件 {incidents} 起，24小时内召开发布会 {on_time} 起；"
        f"政策文件 {policies} 件，按时解读 {interpreted} 件",
    ]
    kinds = [f"{k.label} {sum(1 for e in entries if e.kind == k)} 条" for k in FailureKind]
    lines.append(f"问责清单 {len(entries)} 条：{'，'.join(kinds)}")
    return lines


async def report_command(ctx: Context) -> Reply:
    """报表 2026Q4 (R14): a short summary for the news office and the console link."""
    rest, unit = _args(ctx)
    code = rest or periods_at(ctx.now)[0].code
    span = period_of(code)
    # the summary has no keyword column: no need to wait for jieba here
    ev, entries = await report_data(
        ctx.session, span.code, ctx.now, unit=unit, keywords=_no_keywords
    )
    scope = f"{unit} · " if unit else ""
    lines = [f"{scope}{span.label}新闻发布工作评估（截至{_local(ctx.now)}）"]
    lines += _summary(ev, entries)
    lines.append(f"详细报表（可下载 Excel）：{console_url(ctx, span.code)}")
    return Reply.ok("\n".join(lines))


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        key="accountability",
        name="问责清单",
        aliases=("问责",),
        summary="查看某年的问责清单：重要信息不发布、重大政策不解读、热点回应不及时，附提醒记录",
        usage="问责清单 [年份] [单位：…]",
        example="问责清单 2026\n\n问责清单 2026 单位：市财政局",
        handler=accountability_command,
        roles=CITY_WIDE,
        rules=("R14",),
    ),
    CommandSpec(
        key="report",
        name="报表",
        aliases=("评估报表", "评估"),
        summary="查看某季度、半年或全年的评估摘要和控制台报表链接",
        usage="报表 2026Q4 / 2026H2 / 2026 [单位：…]",
        example="报表 2026Q4\n\n报表 2026 单位：市财政局",
        handler=report_command,
        roles=CITY_WIDE,
        rules=("R14",),
    ),
)
