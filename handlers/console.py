"""The web console's use cases (issue 10 §1): what each page shows, and its actions.

R1 decides what a person sees: the news office and the disclosure office see every unit,
everyone else their own unit; another unit's page or record is `PermissionDenied`.

Actions are the chat commands themselves (one use case, two front doors): the console turns a
button into the text command it stands for and runs it as the signed-in member through
`run_command`, the one place that calls into dispatch — same permission check, same audit.
"""

from __future__ import annotations

import asyncio
import calendar as month_calendar
import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import evaluation
from handlers.context import Context, Deps, queue
from liuan_bot import reports
from liuan_bot.domain.evaluation import QuotaState
from liuan_bot.domain.members import Member
from liuan_bot.domain.periods import quarter, year
from liuan_bot.domain.roles import Role
from liuan_bot.domain.workflow import STATE_LABELS
from liuan_bot.errors import NotFound, PermissionDenied, UsageError, UserError
from liuan_bot.keywords import default_ranker
from liuan_bot.messages import Incoming, Outgoing
from liuan_bot.web.backend import ActionResult
from storage import console_store as store
from storage.engine import read_only, transaction
from storage.outbox_store import enqueued
from storage.reminder_store import unit_reminder_log
from storage.roster_store import find_member, roles_of
from storage.tables import Conference, Unit

log = logging.getLogger(__name__)

R17_WINDOW = timedelta(hours=24)
INCIDENT_HISTORY = timedelta(days=90)
CHANNEL_STATES = {"pending": "待发送", "sent": "已发送", "published": "已发布", "failed": "失败"}
STATE_NAMES = {s.value: label for s, label in STATE_LABELS.items()}
KIND_NAMES = {"application": "市政府发布会", "filing": "自办发布会（备案）"}
ROLE_ORDER = list(Role)


def _local(moment: datetime | None, tz: Any) -> datetime | None:
    return moment.astimezone(tz) if moment is not None else None


def fmt(moment: datetime | None, tz: Any) -> str:
    local = _local(moment, tz)
    return local.strftime("%Y-%m-%d %H:%M") if local else "—"


async def _own_unit(session: AsyncSession, member: Member) -> Unit:
    unit = await store.unit_by_name(session, member.unit)
    if unit is None:
        raise NotFound("名册里找不到您的单位，请联系市政府新闻办。")
    return unit


async def _scope(session: AsyncSession, member: Member, asked: str | None) -> Unit | None:
    """R1: the unit a page is about — None (every unit) only for city-wide roles."""
    if asked:
        if not member.may_act_for(asked):
            raise PermissionDenied("这是其他单位的页面，您只能查看本单位的情况。")
        unit = await store.unit_by_name(session, asked)
        if unit is None:
            raise NotFound(f"名册里没有“{asked}”。")
        return unit
    if member.city_wide:
        return None
    return await _own_unit(session, member)


def _unit_names(units: list[Unit]) -> dict[int, str]:
    return {u.id: u.name for u in units if u.id is not None}


def _conference_row(c: Conference, unit: str, tz: Any) -> dict[str, Any]:
    return {
        "record_id": c.record_id,
        "kind": KIND_NAMES.get(c.kind, c.kind),
        "unit": unit,
        "topic": c.topic,
        "state": c.state,
        "state_label": STATE_NAMES.get(c.state, c.state),
        "starts_at": fmt(c.starts_at, tz),
        "held_at": fmt(c.held_at, tz),
        "venue": c.venue,
        "speakers": "、".join(c.held_speakers or c.speakers),
        "counts_for": list(c.counts_for),
        "why": "",
    }


# ---------------------------------------------------------------- pages


async def home(
    session: AsyncSession, member: Member, now: datetime, q: Mapping[str, str]
) -> dict[str, Any]:
    """What waits for the signed-in member (the approver's, the news office's, the unit's)."""
    tz = now.tzinfo
    units = await store.units(session)
    names = _unit_names(units)
    waits: list[dict[str, Any]] = []
    if Role.NEWS_OFFICE in member.roles:
        for c in await store.open_applications(session, states=("submitted", "approved")):
            label = "待您审核" if c.state == "submitted" else "待您排期"
            waits.append({**_conference_row(c, names.get(c.unit_id, ""), tz), "why": label})
    if Role.APPROVER in member.roles:
        for c in await store.open_applications(session, states=("reviewed",)):
            waits.append({**_conference_row(c, names.get(c.unit_id, ""), tz), "why": "待您审批"})
    mine: list[dict[str, Any]] = []
    incidents: list[dict[str, Any]] = []
    if not member.city_wide:
        unit = await store.unit_by_name(session, member.unit)
        if unit is not None and unit.id is not None:
            for c in await store.open_applications(session, unit_pk=unit.id):
                mine.append(_conference_row(c, unit.name, tz))
            incidents = [
                _incident_row(i, unit.name, now, [], [])
                for i in await store.incidents_since(session, now, unit_pk=unit.id)
            ]
    return {"waits": waits, "mine": mine, "incidents": incidents}


async def board(
    session: AsyncSession, member: Member, now: datetime, q: Mapping[str, str]
) -> dict[str, Any]:
    """The 4·2·1 board (R8–R10) on the evaluation's `quota_board`: held counts per unit for
    this quarter, half-year and year, status, and what approved / scheduled / filed
    conferences would add if held; each cell names the conferences that count."""
    scope = await _scope(session, member, q.get("unit"))
    found = await evaluation.quota_board(session, now, unit=scope.name if scope else None)
    rows: list[dict[str, Any]] = []
    for row in found.rows:
        cells: list[dict[str, Any]] = []
        for cell in row.cells:
            cells.append(
                {
                    "count": cell.count,
                    "css": cell.status.value,
                    "label": cell.status_label,
                    "forecast": cell.forecast,
                    "forecast_label": cell.forecast_label,
                    "records": "、".join(cell.record_ids or cell.forecast_ids),
                }
            )
        rows.append({"unit": row.unit, "key_unit": row.key_unit, "cells": cells})
    met = sum(1 for r in found.rows if r.key_unit and r.quarter.status == QuotaState.MET)
    return {
        "periods": [found.quarter.label, found.half.label, found.year.label],
        "days_left": quarter(now).days_left(now),
        "rows": rows,
        "summary": {"units": sum(1 for r in found.rows if r.key_unit), "met": met},
        "scope": scope.name if scope else "",
    }


async def unit_page(
    session: AsyncSession, member: Member, now: datetime, q: Mapping[str, str]
) -> dict[str, Any]:
    """One unit: this year's conferences (what counts for what) and what is planned."""
    scope = await _scope(session, member, q.get("unit") or member.unit)
    assert scope is not None
    assert scope.id is not None
    y = year(now)
    held = await store.conferences_between(
        session, y.start, y.end, unit_pk=scope.id, held_only=True
    )
    planned = await store.forecast_conferences(session, y.start, y.end, unit_pk=scope.id)
    tz = now.tzinfo
    return {
        "unit": scope.name,
        "key_unit": scope.key_unit,
        "held": [_conference_row(c, scope.name, tz) for c in held],
        "planned": [_conference_row(c, scope.name, tz) for c in planned],
        "year": y.label,
    }


async def applications(
    session: AsyncSession, member: Member, now: datetime, q: Mapping[str, str]
) -> dict[str, Any]:
    """The R15 queue: open applications with the actions the member may take."""
    scope = (
        None
        if (member.city_wide or Role.APPROVER in member.roles)
        else await _own_unit(session, member)
    )
    units = await store.units(session)
    names = _unit_names(units)
    rows: list[dict[str, Any]] = []
    for c in await store.open_applications(session, unit_pk=scope.id if scope else None):
        row = _conference_row(c, names.get(c.unit_id, ""), now.tzinfo)
        row["can_review"] = c.state == "submitted" and Role.NEWS_OFFICE in member.roles
        row["can_approve"] = c.state == "reviewed" and Role.APPROVER in member.roles
        row["can_schedule"] = c.state == "approved" and Role.NEWS_OFFICE in member.roles
        rows.append(row)
    return {"rows": rows}


def _ladder_rows(ladder: store.Ladder, names: Mapping[str, str], tz: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for instance, deliveries in ladder:
        rows.append(
            {
                "kind": instance.kind,
                "due_at": fmt(instance.due_at, tz),
                "text": instance.text,
                "deliveries": [
                    {
                        "who": names.get(d.userid, d.userid),
                        "sent": fmt(sent, tz),
                        "acked": fmt(d.acked_at, tz),
                    }
                    for d, sent in deliveries
                ],
            }
        )
    return rows


def _incident_row(
    i: Any, unit: str, now: datetime, releases: list[Any], ladder: list[dict[str, Any]]
) -> dict[str, Any]:
    deadline = i.occurred_at.astimezone(now.tzinfo) + R17_WINDOW
    return {
        "record_id": i.record_id,
        "unit": unit,
        "title": i.title,
        "level": i.level,
        "open": i.state == "open",
        "state_label": "处置中" if i.state == "open" else "已召开发布会回应",
        "occurred_at": fmt(i.occurred_at, now.tzinfo),
        "deadline": fmt(deadline, now.tzinfo),
        "deadline_iso": deadline.isoformat(),
        "now_iso": now.isoformat(),
        "overdue": i.state == "open" and now >= deadline,
        "answered_at": fmt(i.answered_at, now.tzinfo),
        "releases": [
            {
                "kind": "首发" if r.kind == "first" else "续报",
                "at": fmt(r.at, now.tzinfo),
                "link": r.link,
            }
            for r in releases
        ],
        "ladder": ladder,
    }


async def incidents(
    session: AsyncSession, member: Member, now: datetime, q: Mapping[str, str]
) -> dict[str, Any]:
    """R11/R17: open and recent incidents, the 24-hour countdown and the reminder ladder."""
    scope = await _scope(session, member, q.get("unit"))
    found = await store.incidents_since(
        session, now - INCIDENT_HISTORY, unit_pk=scope.id if scope else None
    )
    names = _unit_names(await store.units(session))
    releases = await store.incident_releases(session, [i.id for i in found if i.id is not None])
    ladders = await store.reminder_ladders(session, [f"incident:{i.record_id}" for i in found])
    people = {p.userid: p.name for p in await store.people(session)}
    rows = [
        _incident_row(
            i,
            names.get(i.unit_id, ""),
            now,
            releases.get(i.id or 0, []),
            _ladder_rows(ladders.get(f"incident:{i.record_id}", []), people, now.tzinfo),
        )
        for i in found
    ]
    return {"rows": rows}


async def calendar_month(
    session: AsyncSession, member: Member, now: datetime, q: Mapping[str, str]
) -> dict[str, Any]:
    """A month of conferences by day, with venues; two bookings of one venue at one time clash."""
    try:
        y_text, m_text = (q.get("month") or now.strftime("%Y-%m")).split("-")
        first = date(int(y_text), int(m_text), 1)
    except ValueError:
        raise UsageError("月份格式应为 2026-12。") from None
    start = datetime(first.year, first.month, 1, tzinfo=now.tzinfo)
    days = month_calendar.monthrange(first.year, first.month)[1]
    end = start + timedelta(days=days)
    scope = await _scope(session, member, q.get("unit"))
    found = [
        c
        for c in await store.conferences_between(
            session, start, end, unit_pk=scope.id if scope else None
        )
        if c.state not in ("withdrawn", "rejected", "declined")
    ]
    names = _unit_names(await store.units(session))
    slots: dict[tuple[str, str], int] = defaultdict(int)
    for c in found:
        if c.venue and c.starts_at:
            slots[(c.venue.strip(), fmt(c.starts_at, now.tzinfo))] += 1
    by_day: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for c in sorted(found, key=lambda c: c.starts_at or start):
        local = _local(c.starts_at, now.tzinfo)
        assert local is not None
        row = _conference_row(c, names.get(c.unit_id, ""), now.tzinfo)
        row["time"] = local.strftime("%H:%M")
        row["clash"] = slots[(c.venue.strip(), row["starts_at"])] > 1
        by_day[local.day].append(row)
    weeks: list[list[dict[str, Any] | None]] = []
    for week in month_calendar.Calendar(firstweekday=0).monthdayscalendar(first.year, first.month):
        weeks.append(
            [
                {
                    "day": d,
                    "events": by_day.get(d, []),
                    "today": (first.year, first.month, d) == (now.year, now.month, now.day),
                }
                if d
                else None
                for d in week
            ]
        )
    prev_month = (start - timedelta(days=1)).strftime("%Y-%m")
    next_month = end.strftime("%Y-%m")
    return {
        "label": f"{first.year}年{first.month}月",
        "weeks": weeks,
        "prev": prev_month,
        "next": next_month,
        "clashes": sum(1 for n in slots.values() if n > 1),
        "agenda": [item for d in sorted(by_day) for item in by_day[d]],
    }


async def releases(
    session: AsyncSession, member: Member, now: datetime, q: Mapping[str, str]
) -> dict[str, Any]:
    """R19–R23: each release with each channel's state and link."""
    scope = await _scope(session, member, q.get("unit"))
    names = _unit_names(await store.units(session))
    rows: list[dict[str, Any]] = []
    for release, channels in await store.releases(session, unit_pk=scope.id if scope else None):
        rows.append(
            {
                "record_id": release.record_id,
                "unit": names.get(release.unit_id, ""),
                "topic": release.topic,
                "created_at": fmt(release.created_at, now.tzinfo),
                "channels": [
                    {
                        "channel": ch.channel,
                        "state": ch.state,
                        "state_label": CHANNEL_STATES.get(ch.state, ch.state),
                        "link": ch.link if ch.link.startswith(("http://", "https://")) else "",
                    }
                    for ch in channels
                ],
            }
        )
    return {"rows": rows}


async def roster(
    session: AsyncSession, member: Member, now: datetime, q: Mapping[str, str]
) -> dict[str, Any]:
    """R4–R7: people by unit, R4 warnings, who has not filed this year's list (R5), who is
    untrained (R7), and the public directory as it will look (R6)."""
    scope = await _scope(session, member, q.get("unit"))
    scope_pk = scope.id if scope else None
    units = await store.units(session, scope_pk)
    everyone = await store.people(session, unit_pk=scope_pk)
    show_people = scope is not None  # every unit at once: the warnings; people per unit
    filed = await store.units_that_filed(session, now.year)
    trained = await store.latest_trainings(session, [p.id for p in everyone if p.id is not None])
    by_unit: dict[int, list[Any]] = defaultdict(list)
    for p in everyone:
        by_unit[p.unit_id].append(p)
    rows: list[dict[str, Any]] = []
    directory: list[dict[str, Any]] = []
    for u in units:
        staff = by_unit.get(u.id or 0, [])
        roles = [roles_of(p.roles) for p in staff]
        warnings = []
        if u.unit_type not in ("新闻办", "其他"):
            if not any(Role.SPOKESPERSON in r for r in roles):
                warnings.append("没有新闻发言人（R4）")
            if not any(Role.LIAISON in r for r in roles):
                warnings.append("没有联络员（R4）")
        spokes = [p for p, r in zip(staff, roles, strict=True) if Role.SPOKESPERSON in r]
        untrained = [p.name for p in spokes if (p.id or 0) not in trained]
        rows.append(
            {
                "unit": u.name,
                "unit_type": u.unit_type,
                "filed": (u.id in filed) or not spokes,
                "warnings": warnings,
                "untrained": untrained,
                "people": []
                if not show_people
                else [
                    {
                        "name": p.name,
                        "title": p.title,
                        "roles": "、".join(
                            sorted((x.value for x in r), key=lambda v: ROLE_ORDER.index(Role(v)))
                        ),
                        "public": p.public,
                        "trained": fmt(trained.get(p.id or 0), now.tzinfo)
                        if (p.id or 0) in trained
                        else "",
                    }
                    for p, r in zip(staff, roles, strict=True)
                ],
            }
        )
        public = [p for p in spokes if p.public]
        if public:
            directory.append(
                {
                    "unit": u.name,
                    "phone": u.office_phone or "",
                    "people": [{"name": p.name, "title": p.title} for p in public],
                }
            )
    return {
        "rows": rows,
        "directory": directory,
        "year": now.year,
        "not_filed": [r["unit"] for r in rows if not r["filed"]],
        "show_people": show_people,
        "untrained": sum(len(r["untrained"]) for r in rows),
    }


async def reminders(
    session: AsyncSession, member: Member, now: datetime, q: Mapping[str, str]
) -> dict[str, Any]:
    """A unit's reminder log: what was sent, to whom, delivered and acknowledged when (R14)."""
    asked = q.get("unit") or ("" if member.city_wide else member.unit)
    units = await store.units(session)
    if not asked:
        return {"unit": "", "units": [u.name for u in units], "rows": []}
    scope = await _scope(session, member, asked)
    assert scope is not None
    assert scope.id is not None
    log = await unit_reminder_log(session, scope.id, limit=100)
    names = {p.userid: p.name for p in await store.people(session, unit_pk=scope.id)}
    return {
        "unit": scope.name,
        "units": [u.name for u in units] if member.city_wide else [],
        "rows": _ladder_rows(log, names, now.tzinfo),
    }


async def announcements(
    session: AsyncSession, member: Member, now: datetime, q: Mapping[str, str]
) -> dict[str, Any]:
    """公告 with receipts; members see the ones sent to them, the offices all of them."""
    found = await store.announcements(session)
    ids = [a.id for a, _ in found if a.id is not None]
    if member.city_wide:
        unread = await store.unread_recipients(session, ids)
        mine: dict[int, Any] = {}
        people = {p.userid: p.name for p in await store.people(session)}
    else:
        unread, people = {}, {}
        mine = await store.receipts_of(session, ids, member.userid)
    rows: list[dict[str, Any]] = []
    for a, counts in found:
        own = mine.get(a.id or 0)
        if not member.city_wide and own is None:
            continue
        rows.append(
            {
                "record_id": a.record_id,
                "audience": a.audience,
                "content": a.content,
                "receipt": a.receipt,
                "created_at": fmt(a.created_at, now.tzinfo),
                "counts": counts,
                "unread": [people.get(u, u) for u in unread.get(a.id or 0, [])]
                if a.receipt
                else [],
                "mine_read": fmt(own.read_at, now.tzinfo) if own and own.read_at else "",
            }
        )
    return {"rows": rows}


def current_quarter_code(now: datetime) -> str:
    return f"{now.year}Q{(now.month - 1) // 3 + 1}"


EvaluationData = tuple[Any, Any, str | None]


async def _evaluation_data(
    session: AsyncSession, member: Member, now: datetime, q: Mapping[str, str]
) -> EvaluationData:
    """R14 for the period asked (default: this quarter), R1-scoped, with its accountability
    entries."""
    span = evaluation.period_of(q.get("period") or current_quarter_code(now))
    scope = await _scope(session, member, q.get("unit"))
    unit = scope.name if scope else None
    # the same use case as `bot.py report` and 报表: the evaluation and the period's entries
    found, entries = await evaluation.report_data(session, span.code, now, unit=unit)
    return found, entries, unit


def _chart(kind: str, labels: list[str], series: list[tuple[str, list[float]]]) -> str:
    """A Chart.js configuration (plain JSON: no functions, so no inline script)."""
    colours = ("#b3261e", "#0b5cad", "#1e7d32", "#8a5a00")
    config = {
        "type": kind,
        "data": {
            "labels": labels,
            "datasets": [
                {
                    "label": name,
                    "data": values,
                    "backgroundColor": colours[n % 4],
                    "borderColor": colours[n % 4],
                }
                for n, (name, values) in enumerate(series)
            ],
        },
        "options": {
            "indexAxis": "y" if kind == "bar" and len(labels) > 8 else "x",
            "maintainAspectRatio": False,
            "animation": False,
            "plugins": {"legend": {"position": "bottom"}},
        },
    }
    return json.dumps(config, ensure_ascii=False)


async def evaluation_page(
    session: AsyncSession,
    member: Member,
    now: datetime,
    q: Mapping[str, str],
    data: EvaluationData | None = None,
) -> dict[str, Any]:
    """(i) R14: each unit's evaluation, the accountability list with its evidence, charts
    (completion by unit, trend by quarter, channel coverage) and the downloads. `data`: the
    evaluation already computed for this query (ConsoleService shares it with the downloads)."""
    found, entries, unit = data or await _evaluation_data(session, member, now, q)
    units = list(found.units)
    quarters = found.period.quarters() if found.period.kind != "quarter" else ()
    year_span = evaluation.period_of(str(found.period.start.year))
    trend_labels = [p.label.removeprefix(f"{p.start.year}年") for p in year_span.quarters()]
    held_year = await store.held_times(
        session,
        year_span.start,
        year_span.end,
        unit_pk=found.units[0].unit_id if unit and found.units else None,
    )
    trend = [float(sum(1 for at in held_year if p.contains(at))) for p in year_span.quarters()]
    rows = [
        {
            "unit": u.unit,
            "key_unit": u.key_unit,
            "held": len(u.held),
            "r8": u.r8.status_label,
            "r8_css": u.r8.status.value,
            "r9": u.r9.status_label,
            "r9_css": u.r9.status.value,
            "r10": u.r10.status_label,
            "r10_css": u.r10.status.value,
            "channels": f"{u.channels_published}/{u.channels_expected}",
            "incidents": f"{u.incidents_on_time}/{u.incidents}",
            "policies": f"{u.policies_on_time}/{u.policies}",
            "roster": "已报送" if u.roster_filed_at else "未报送",
            "trained": f"{u.trained}/{u.trainees}",
            "keywords": "、".join(u.keywords[:5]),
        }
        for u in units
    ]
    shown = [u for u in units if u.key_unit] or units
    period_code = found.period.code
    return {
        "period": period_code,
        "label": found.label,
        "unit": unit or "",
        "rows": rows,
        "entries": [
            dict(zip(reports.ACCOUNTABILITY_HEADERS, row, strict=True))
            for row in reports.accountability_table(entries)
        ],
        "entry_headers": reports.ACCOUNTABILITY_HEADERS,
        "quarters": [p.code for p in quarters],
        "periods": [
            current_quarter_code(now),
            f"{now.year}H{1 if now.month <= 6 else 2}",
            str(now.year),
            str(now.year - 1),
        ],
        "chart_completion": _chart(
            "bar",
            [u.unit for u in shown],
            [("召开发布会（场）", [float(len(u.held)) for u in shown])],
        ),
        "chart_trend": _chart("line", trend_labels, [("已召开发布会（场）", trend)]),
        "chart_channels": _chart(
            "bar",
            [u.unit for u in shown],
            [
                (
                    "渠道覆盖率（%）",
                    [round((u.channel_coverage or 0.0) * 100, 1) for u in shown],
                )
            ],
        ),
    }


DOWNLOADS = {
    "md": ("text/markdown; charset=utf-8", "md"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
}


def _download_format(q: Mapping[str, str]) -> str:
    fmt_key = q.get("format", "")
    if fmt_key not in DOWNLOADS:
        raise UsageError("下载格式只支持 md、csv 或 xlsx。")
    return fmt_key


async def report_download(
    session: AsyncSession,
    member: Member,
    now: datetime,
    q: Mapping[str, str],
    data: EvaluationData | None = None,
) -> tuple[str, str, bytes]:
    """The evaluation and the list as md, csv (with a BOM for Excel) or xlsx (off the loop),
    rendered from `data` when the evaluation was already computed for this query."""
    fmt_key = _download_format(q)
    found, entries, unit = data or await _evaluation_data(session, member, now, q)
    content_type, ext = DOWNLOADS[fmt_key]
    if fmt_key == "md":
        body = reports.render_markdown(found, entries).encode("utf-8")
    elif fmt_key == "csv":
        body = ("\ufeff" + reports.render_csv(found, entries)).encode("utf-8")
    else:
        body = await asyncio.to_thread(reports.render_xlsx, found, entries)
    name = f"新闻发布工作评估-{found.period.code}" + (f"-{unit}" if unit else "") + f".{ext}"
    return content_type, name, body


PAGE_VIEWS: dict[str, Callable[..., Any]] = {
    "home": home,
    "board": board,
    "unit": unit_page,
    "applications": applications,
    "incidents": incidents,
    "calendar": calendar_month,
    "releases": releases,
    "roster": roster,
    "reminders": reminders,
    "announcements": announcements,
    "evaluation": evaluation_page,
}


# ---------------------------------------------------------------- actions


def action_command(action: str, record_id: str, form: Mapping[str, str]) -> str:
    """The chat command a console button stands for (the same text a member would send)."""
    record_id = record_id.strip()
    note = (form.get("note") or "").strip().replace("\n", " ")
    if action == "review_pass":
        return f"审核 {record_id} 通过"
    if action == "review_reject":
        return f"审核 {record_id} 驳回" + (f" 理由：{note}" if note else "")
    if action == "approve":
        return f"审批 {record_id} 同意" + (f" 意见：{note}" if note else "")
    if action == "disapprove":
        return f"审批 {record_id} 不同意" + (f" 意见：{note}" if note else "")
    if action == "schedule":
        when = (form.get("time") or "").strip()
        venue = (form.get("venue") or "").strip()
        draft = (form.get("draft") or "").strip()
        return f"排期 {record_id} 时间：{when} 地点：{venue}" + (
            f" 稿件格式：{draft}" if draft else ""
        )
    raise UsageError("不认识这个操作。")


async def run_command(deps: Deps, member: Member, text: str) -> ActionResult:
    """Run a registry command as `member`, exactly as if typed in chat: the same permission
    check, handler, audit (source `console:…`) and outbox, in one transaction. The single
    call into dispatch."""
    from handlers.dispatch import run_text_command

    now = deps.clock.now()
    source = f"console:{secrets.token_hex(8)}"
    incoming = Incoming(
        msg_type="text",
        from_user=member.userid,
        corp_id=deps.settings.corp_id,
        create_time=int(now.timestamp()),
        content=text,
    )
    try:
        async with transaction(deps.sessions) as session:
            sender = await find_member(session, member.userid)
            if sender is None:
                raise PermissionDenied("您已不在名册中，不能操作。")
            ctx = Context(deps, session, now, sender, incoming, "", source)
            reply = await run_text_command(ctx, text)
            if ctx.pushes:
                await queue(session, ctx.pushes, now, source=source, dedupe_key=f"push:{source}")
    except PermissionDenied as exc:
        return ActionResult(False, exc.message, denied=True)
    except UserError as exc:
        return ActionResult(False, exc.message)
    if enqueued(session):
        deps.wake_outbox()
    # a refusal the handler answered (nothing changed) is shown as one, like a UserError
    return ActionResult(reply.kind != "refused", reply.text or "已完成。")


# ---------------------------------------------------------------- the workbench tile (§3)

WORKBENCH_KEYS = ("本季度发布会", "半年出席", "全年出席", "未结突发事件")


def _workbench_items(link_base: str, figures: tuple[int, int, int, int]) -> list[dict[str, str]]:
    links = ("board", "board", "board", "incidents")
    return [
        {"key": key, "data": str(value), "jump_url": f"{link_base}/console/{page}"}
        for key, value, page in zip(WORKBENCH_KEYS, figures, links, strict=True)
    ]


async def workbench_sync(deps: Deps) -> int:
    """Issue 10 §3: put each liaison's and spokesperson's unit figures (this quarter's
    conferences R8, half-year R9 and year R10 attendance, open incidents) on their workbench
    tile — a keydata template once, then `set_workbench_data` for a user only when one of
    their figures changed, through the outbox (which keeps WeCom's 10 calls/min/user). The
    number of updates queued."""
    now = deps.clock.now()
    link_base = deps.settings.link_base
    async with transaction(deps.sessions) as session:
        pending: list[Outgoing] = []
        if not await store.workbench_template_queued(session):
            body = {
                "type": "keydata",
                "keydata": {"items": _workbench_items(link_base, (0, 0, 0, 0))},
                "replace_user_data": False,
            }
            pending.append(Outgoing("workbench", "", {"action": "template", "body": body}))
        board_rows = {r.unit_id: r for r in (await evaluation.quota_board(session, now)).rows}
        incidents_open = await store.open_incident_counts(session)
        last = await store.last_workbench_data(session)
        for userid, unit_pk, _unit in await store.workbench_people(session):
            row = board_rows.get(unit_pk)
            figures = (
                row.quarter.count if row else 0,
                row.half.count if row else 0,
                row.year.count if row else 0,
                incidents_open.get(unit_pk, 0),
            )
            body = {
                "userid": userid,
                "type": "keydata",
                "keydata": {"items": _workbench_items(link_base, figures)},
            }
            if last.get(userid, {}).get("body") == body:
                continue
            pending.append(Outgoing("workbench", userid, {"action": "data", "body": body}))
        if pending:
            await queue(session, pending, now, source="workbench")
    if pending:
        deps.wake_outbox()
    return len(pending)


CACHED_PAGES = frozenset({"evaluation", "board"})
CACHE_TTL = timedelta(seconds=60)
CACHE_SIZE = 64


def warm_reports() -> None:
    """Load what the first evaluation and the first xlsx would otherwise pay for: jieba
    (~2 s, topic keywords) and openpyxl's import (~0.3 s). Blocking: run it in a thread."""
    default_ranker().load()
    import openpyxl  # noqa: F401


class ConsoleService:
    """The console's backend (liuan_bot.web.ConsoleBackend), built by bot.py.

    Reports (the board, the evaluation page, its downloads) are cached per scope and query
    while the data stamp (newest inbound message, outbox row and audit entry) stays the same,
    for at most a minute: the same figures for everyone who looks within it, without recomputing
    R14 over every unit on every request."""

    def __init__(self, deps: Callable[[], Deps]) -> None:
        self._deps = deps
        self._cache: dict[tuple[Any, ...], tuple[datetime, tuple[int, int, int], Any]] = {}
        self._warming: asyncio.Task[None] | None = None

    def warm_up(self) -> None:
        """Start `warm_reports` in a worker thread, once, as soon as someone opens the console
        (not at bot start-up: the callback path must never load jieba), so that no report
        request waits for jieba or openpyxl to load."""
        if self._warming is None:
            self._warming = asyncio.get_running_loop().create_task(asyncio.to_thread(warm_reports))
            self._warming.add_done_callback(_warm_done)

    async def _report_data(
        self, session: AsyncSession, member: Member, now: datetime, q: Mapping[str, str]
    ) -> EvaluationData:
        """The evaluation of a query, computed once per data stamp for the page and all its
        downloads (md, csv, xlsx render from it)."""
        key = (
            "evaluation-data",
            self._scope_key(member),
            q.get("period") or current_quarter_code(now),
            q.get("unit") or "",
        )
        found: EvaluationData = await self._cached(
            key, session, now, lambda: _evaluation_data(session, member, now, q)
        )
        return found

    async def _evaluation_page(
        self, session: AsyncSession, member: Member, now: datetime, q: Mapping[str, str]
    ) -> dict[str, Any]:
        data = await self._report_data(session, member, now, q)
        return await evaluation_page(session, member, now, q, data)

    async def _download(
        self, session: AsyncSession, member: Member, now: datetime, q: Mapping[str, str]
    ) -> tuple[str, str, bytes]:
        _download_format(q)
        data = await self._report_data(session, member, now, q)
        return await report_download(session, member, now, q, data)

    async def _cached(
        self,
        key: tuple[Any, ...],
        session: AsyncSession,
        now: datetime,
        compute: Callable[[], Any],
    ) -> Any:
        stamp = await store.data_stamp(session)
        hit = self._cache.get(key)
        if hit is not None and hit[1] == stamp and now < hit[0]:
            return hit[2]
        value = await compute()
        if len(self._cache) >= CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = (now + CACHE_TTL, stamp, value)
        return value

    @staticmethod
    def _scope_key(member: Member) -> str:
        return "*" if member.city_wide else member.unit

    async def member(self, userid: str) -> Member | None:
        self.warm_up()
        async with self._deps().sessions() as session:
            await read_only(session)
            return await find_member(session, userid)

    async def sign_in_choices(self) -> list[dict[str, str]]:
        self.warm_up()
        async with self._deps().sessions() as session:
            await read_only(session)
            rows = await store.sign_in_choices(session)
        return [
            {"userid": p.userid, "name": p.name, "unit": unit, "roles": "、".join(p.roles)}
            for p, unit in rows
        ]

    async def page(self, name: str, member: Member, query: Mapping[str, str]) -> dict[str, Any]:
        view = PAGE_VIEWS.get(name)
        if view is None:
            raise NotFound("没有这个页面。")
        deps = self._deps()
        now = deps.clock.now()
        async with deps.sessions() as session:
            await read_only(session)
            if name in CACHED_PAGES:
                key = (name, self._scope_key(member), tuple(sorted(query.items())))
                if name == "evaluation":
                    view = self._evaluation_page
                cached: dict[str, Any] = await self._cached(
                    key, session, now, lambda: view(session, member, now, query)
                )
                data = dict(cached)
            else:
                data = await view(session, member, now, query)
        data.setdefault("now", fmt(now, now.tzinfo))
        return data

    async def download(self, member: Member, query: Mapping[str, str]) -> tuple[str, str, bytes]:
        deps = self._deps()
        now = deps.clock.now()
        async with deps.sessions() as session:
            await read_only(session)
            key = ("download", self._scope_key(member), tuple(sorted(query.items())))
            found: tuple[str, str, bytes] = await self._cached(
                key, session, now, lambda: self._download(session, member, now, query)
            )
            return found

    async def act(
        self, member: Member, action: str, record_id: str, form: Mapping[str, str]
    ) -> ActionResult:
        try:
            command = action_command(action, record_id, form)
        except UsageError as exc:
            return ActionResult(False, exc.message)
        return await run_command(self._deps(), member, command)


def _warm_done(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("console warm-up failed", exc_info=task.exception())
