"""The reminder sweep (issue 4): plan what is due, record each instance once, send it.

`sweep(engine, now)` loads the facts, asks the pure planner (liuan_bot/domain/reminders/),
records every due key with INSERT … ON CONFLICT DO NOTHING, and sends only the keys this sweep
recorded — in the same transaction as the outbox rows. Routine reminders for one person are
merged into one message; each message is followed by a card with a 收到 button. The failures
a sent reminder reports are recorded for accountability with their evidence (R14).
`preview` shows what a sweep would send, without sending.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from secrets import token_hex

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.context import queue
from handlers.relay import mark_failed_deliveries
from handlers.reminder_render import ACCOUNTABILITY_LABELS, log_label, reminder_messages, render
from liuan_bot.clock import utc
from liuan_bot.commands.timeparse import format_time
from liuan_bot.domain.calendar import WorkingCalendar
from liuan_bot.domain.reminders import Plan, Reminder, ReminderConfig, next_precise, plan
from liuan_bot.domain.roles import Role
from liuan_bot.messages import Outgoing, text_to_users
from storage.engine import SessionFactory, transaction
from storage.reminder_store import (
    claim,
    evidence_keys,
    insert_deliveries,
    load_world,
    record_accountability,
)
from storage.roster_store import names_of, userids_with_role

log = logging.getLogger("handlers.reminders")


@dataclass(frozen=True)
class ReminderEngine:
    """What a sweep needs; built by bot.py."""

    sessions: SessionFactory
    calendar: WorkingCalendar
    config: ReminderConfig
    wake_outbox: Callable[[], None] = lambda: None
    relay_channels: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    current_calendar: Callable[[], WorkingCalendar] | None = None  # reloads holidays.toml

    def working_calendar(self) -> WorkingCalendar:
        """The calendar now: re-read when the holidays file changed (issue 9 D)."""
        return self.current_calendar() if self.current_calendar else self.calendar


@dataclass(frozen=True)
class SweepReport:
    sent: list[Reminder]
    skipped: list[Reminder]
    next_precise: datetime | None


def _instance_row(r: Reminder, status: str, now: datetime, text: str) -> dict[str, object]:
    return {
        "key": r.key,
        "rule": r.rule,
        "kind": r.kind,
        "unit_id": r.unit_id,
        "status": status,
        "due_at": utc(r.due_at),
        "recorded_at": utc(now),
        "recipients": list(r.recipients),
        "text": text,
    }


def _messages(
    reminders: Sequence[Reminder], texts: dict[str, str]
) -> list[tuple[str, list[str], str, list[Reminder]]]:
    """(batch, users, text, reminders): routine ones merged per person, R17 one by one."""
    result: list[tuple[str, list[str], str, list[Reminder]]] = []
    per_person: dict[str, list[Reminder]] = defaultdict(list)
    for r in reminders:
        if r.routine:
            for user in r.recipients:
                per_person[user].append(r)
        else:
            result.append((f"rm-{token_hex(6)}", list(r.recipients), texts[r.key], [r]))
    merged: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for user, items in per_person.items():
        merged[tuple(r.key for r in items)].append(user)
    for keys, users in merged.items():
        items = [next(r for r in per_person[users[0]] if r.key == key) for key in keys]
        text = "\n\n".join(texts[r.key] for r in items)
        result.append((f"rm-{token_hex(6)}", sorted(users), text, items))
    return result


async def sweep(engine: ReminderEngine, now: datetime, *, precise: bool = False) -> SweepReport:
    """Send every reminder due at `now` that no sweep has recorded yet (issue 4).

    `precise`: the precise timer's sweep, for the R17 clocks alone (cheap, so a step due at T
    reaches the outbox within a second of T)."""
    async with transaction(engine.sessions) as session:
        world = await load_world(
            session, now, only_r17=precise, relay_channels=engine.relay_channels
        )
        calendar = engine.working_calendar()
        decided: Plan = plan(world, now, calendar, engine.config, only_r17=precise)
        texts = {r.key: render(r, now) for r in decided.due}
        rows = [_instance_row(r, "sent", now, texts[r.key]) for r in decided.due]
        rows += [_instance_row(r, "skipped", now, "") for r in decided.missed]
        claimed = await claim(session, rows)
        skipped = [r for r in decided.missed if r.key in claimed]
        for r in skipped:
            log.info(
                "reminder %s skipped: its time passed (%s) and it no longer matters",
                r.key,
                r.due_at.isoformat(),
            )
        mine = [r for r in decided.due if r.key in claimed]
        await _send(session, mine, texts, claimed, now)
        await _accountability(session, mine, now)
        notices = [] if precise else await _relay_failures(session, now, engine)
        if not precise:
            notices += await _calendar_notice(session, now, calendar)
        upcoming = next_precise(world, now, engine.config)
    for r in mine:
        log.info("reminder %s sent to %s", r.key, ",".join(r.recipients))
    if mine or notices:
        engine.wake_outbox()
    return SweepReport(mine, skipped, upcoming)


def calendar_notice_text(year: int) -> str:
    return (
        f"【工作日历】{year}年的国务院放假安排尚未录入。提醒暂按《全国年节及纪念日放假办法》"
        "推算的法定节假日安排（元旦、春节、清明、劳动节、端午、中秋、国庆），调休上班日暂不清楚，"
        "调休的周末不会发提醒。放假安排公布后，请系统管理员录入节假日配置，"
        "录入后提醒会自动重新安排。"
    )


async def _calendar_notice(
    session: AsyncSession, now: datetime, calendar: WorkingCalendar
) -> list[Outgoing]:
    """Issue 9 D: tell the news office in chat, once per year, that this year's or next
    year's days off are computed from the law and the make-up working days are unknown."""
    years = [y for y in (now.year, now.year + 1) if y in calendar.estimated_years]
    sent: list[Outgoing] = []
    if not years:
        return sent
    news_office = await userids_with_role(session, Role.NEWS_OFFICE)
    for year in years:
        messages = text_to_users(news_office, calendar_notice_text(year))
        queued = await queue(
            session, messages, now, source="calendar", dedupe_key=f"calendar-estimated:{year}"
        )
        sent += messages[: len(queued)]
    return sent


async def _relay_failures(
    session: AsyncSession, now: datetime, engine: ReminderEngine
) -> list[Outgoing]:
    """B2: relay messages the outbox gave up on are shown as undelivered and reported once."""
    names = {key: name for key, (name, _editors) in engine.relay_channels.items()}
    notices = await mark_failed_deliveries(session, now, names)
    if notices:
        await queue(session, notices, now, source=f"relay-failures:{token_hex(6)}")
    return notices


async def _send(
    session: AsyncSession,
    mine: Sequence[Reminder],
    texts: dict[str, str],
    claimed: dict[str, int],
    now: datetime,
) -> None:
    """Every message of this sweep, and who received which reminder in which message, written
    in a few bulk statements whatever the number of units."""
    sweep_id = token_hex(6)
    messages: list[Outgoing] = []
    owner: list[str] = []  # the batch of each message
    batches = _messages(mine, texts)
    for batch, users, text, items in batches:
        for message in reminder_messages(batch, users, text, len(items)):
            messages.append(message)
            owner.append(batch)
    queued = await queue(
        session,
        messages,
        now,
        source=f"reminder-sweep:{sweep_id}",
        dedupe_key=f"rs:{sweep_id}",
        fresh=True,
    )
    first_row: dict[tuple[str, str], int] = {}
    for row in queued:
        batch = owner[int((row.dedupe_key or "#0").rsplit("#", 1)[1])]
        for user in row.target.split("|"):
            first_row.setdefault((batch, user), row.id)
    deliveries: list[dict[str, object]] = [
        {
            "instance_id": claimed[r.key],
            "userid": user,
            "batch": batch,
            "outbox_id": first_row.get((batch, user)),
            "acked_at": None,
        }
        for batch, users, _text, items in batches
        for r in items
        for user in users
        if user in r.recipients
    ]
    await insert_deliveries(session, deliveries)


async def _accountability(session: AsyncSession, sent: Sequence[Reminder], now: datetime) -> None:
    """Record each failure once, with the reminders sent about it as evidence (R14) — one
    query for the evidence of the whole sweep."""
    entries: list[tuple[int, str, str, str, bool]] = []
    for r in sent:
        for unit_pk, rule in r.accountability:
            listed = r.subject == "list"
            entries.append(
                (unit_pk, rule, f"unit:{unit_pk}" if listed else r.subject, r.period, listed)
            )
    if not entries:
        return
    patterns = {
        f"{rule}|unit:%|{period}|%" if listed else f"{rule}|{subject}|%"
        for _unit, rule, subject, period, listed in entries
    }
    evidence: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key in await evidence_keys(session, sorted(patterns)):
        rule, subject, period, _step = key.split("|", 3)
        evidence[(rule, subject)].append(key)
        evidence[(rule, f"{subject}|{period}")].append(key)
    rows: list[dict[str, object]] = [
        {
            "unit_id": unit_pk,
            "rule": rule,
            "label": ACCOUNTABILITY_LABELS[rule],
            "subject": subject,
            "period": period,
            "evidence": evidence[(rule, f"{subject}|{period}" if listed else subject)],
            "created_at": utc(now),
        }
        for unit_pk, rule, subject, period, listed in entries
    ]
    await record_accountability(session, rows)


async def preview(engine: ReminderEngine, at: datetime, unit: str | None = None) -> list[str]:
    """What a sweep at `at` would send, to whom and why — without sending anything. Each
    reminder is headed by its Chinese name and unit, never its key (issue 9 E1)."""
    async with engine.sessions() as session:
        world = await load_world(session, at)
        names = await names_of(
            session, {u for r in world.units for ids in r.people.values() for u in ids}
        )
    decided = plan(world, at, engine.calendar, engine.config)
    units = {u.id: u.name for u in world.units}
    lines = []
    for r in sorted(decided.due, key=lambda item: (item.due_at, item.key)):
        if unit is not None and units.get(r.unit_id or -1) != unit:
            continue
        to = "、".join(names.get(u, u) for u in r.recipients)
        text = render(r, at)
        whose = units.get(r.unit_id or -1)
        title = log_label(text, r.rule) + (f" · {whose}" if whose else "")
        lines.append(f"{format_time(r.due_at, now=at)}  {title}\n  发送给：{to}\n  {text}")
    return lines
