"""R14 evaluation, the 4·2·1 board and the accountability list: use cases for the chat, the
console and the reports (one computation, three front doors).

`quota_board`, `evaluate` and `accountability_list` take a session and `now`; they load facts
in bulk (storage/evaluation_store.py) and compute in liuan_bot/domain/evaluation.py. They do
not check permissions: the caller decides (R1) which units a person may see and passes `unit`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.domain import evaluation as domain
from liuan_bot.domain.evaluation import (
    AccountabilityEntry,
    EvalPeriod,
    Evaluation,
    QuotaBoard,
    parse_period,
    year_period,
)
from liuan_bot.errors import NotFound, UsageError
from liuan_bot.keywords import default_ranker
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
    facts = await load_facts(session, year.start, year.end, unit_pk=await _unit_pk(session, unit))
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
    facts = await load_facts(session, year.start, year.end, unit_pk=await _unit_pk(session, unit))
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
    )
    return domain.accountability(facts, year, now, r18_grace=r18_grace)
