"""The reminder sweep (issue 4): plan what is due, record each instance once, send it.

`sweep(engine, now)` loads the facts, asks the pure planner, records every due key with
INSERT … ON CONFLICT DO NOTHING, and sends only the keys this sweep recorded — in the same
transaction as the outbox rows. Routine reminders for one person are merged into one
message; each message is followed by a card with a 收到 button.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from secrets import token_hex
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.common import require_fields, text_value
from handlers.context import Context
from handlers.relay import mark_failed_deliveries
from liuan_bot.clock import utc
from liuan_bot.commands.fields import CommandGrammar, FieldSpec
from liuan_bot.commands.registry import CommandSpec
from liuan_bot.commands.timeparse import format_time
from liuan_bot.domain.calendar import WorkingCalendar
from liuan_bot.domain.reminders import Plan, Reminder, ReminderConfig, next_precise, plan
from liuan_bot.domain.roles import ALL_ROLES, Role
from liuan_bot.errors import NotFound
from liuan_bot.messages import Outgoing, Reply, card_to_users, text_to_users
from storage.engine import SessionFactory, transaction
from storage.outbox_store import enqueue
from storage.reminder_store import (
    ack_batch,
    ack_outstanding,
    claim,
    evidence_keys,
    insert_deliveries,
    load_world,
    record_accountability,
    unit_reminder_log,
)
from storage.roster_store import names_of, unit_id, unit_name, userids_with_role

log = logging.getLogger("handlers.reminders")

MISSED_LABELS = {"R8": "季度发布会", "R9": "半年出席", "R10": "年度出席"}
ACCOUNTABILITY_LABELS = {
    "R8": "季度未召开新闻发布会",
    "R9": "半年未出席市政府新闻发布会",
    "R10": "主要负责人年度未出席市政府新闻发布会",
    "R17": "热点回应不及时",
    "R18": "重大政策不解读",
}


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


def _d(value: object, now: datetime) -> str:
    return format_time(value, now=now) if isinstance(value, datetime) else str(value)


def _day(value: object) -> str:
    return f"{value.month}月{value.day}日" if isinstance(value, datetime) else str(value)


def _names(value: object) -> str:
    items = list(value) if isinstance(value, tuple | list) else []
    return "、".join(str(v) for v in items)


def render(r: Reminder, now: datetime) -> str:
    """The Chinese text of one reminder: what is due, by when, under which rule, what stops it."""
    d, k = r.data, r.kind
    if k == "r8_due":
        if "scheduled" in d:
            return (
                f"【季度发布会】{d['unit']}已排期 {_d(d['scheduled'], now)} 召开发布会。"
                "召开后请发送“已召开 编号 发布人：…”，"
                f"计入{d['period']}（截止{_day(d['deadline'])}）。"
            )
        return (
            f"【季度发布会】{d['unit']}{d['period']}尚未召开新闻发布会，"
            f"截止{_day(d['deadline'])}。请申请市政府新闻发布会（申请发布会）或自办后备案（备案）；"
            "召开后发送“已召开”即停止提醒。"
        )
    if k == "r9_due":
        return (
            f"【半年出席】{d['unit']}的新闻发言人（或负责同志）{d['period']}尚未出席"
            f"市政府新闻发布会，截止{_day(d['deadline'])}。请申请市政府新闻发布会；"
            "出席并报告“已召开”后停止提醒。"
        )
    if k == "r10_due":
        return (
            f"【年度出席】{d['unit']}主要负责人{d['period']}尚未出席市政府新闻发布会，"
            f"截止{_day(d['deadline'])}。请申请市政府新闻发布会；出席并报告“已召开”后停止提醒。"
        )
    if k.endswith("_missed"):
        rule = r.rule
        what = {
            "R8": "未召开季度新闻发布会",
            "R9": "发言人未出席市政府新闻发布会",
            "R10": "主要负责人未出席市政府新闻发布会",
        }[rule]
        units = _names(d["units"])
        label = f"【{d['period']}{MISSED_LABELS[rule]}】"
        if not units:
            return f"{label}全部重点单位均已完成，没有{what}的单位。"
        return (
            f"{label}{what}的重点单位（{len(d['units'])}个，"  # type: ignore[arg-type]
            f"已记入问责清单）：{units}"
        )
    if k == "r17_first_release":
        return (
            f"【突发事件首发】{d['record_id']}《{d['title']}》发生已超过1小时，尚未发布"
            f"权威信息。请立即发布并发送“首发 {d['record_id']} 内容：…”。"
            f"发布会时限：{_d(d['deadline'], now)}。"
        )
    if k == "r17_due":
        return (
            f"【24小时时限】{d['record_id']}《{d['title']}》距发布会时限还剩约"
            f"{d['hours_left']}小时（{_d(d['deadline'], now)}）。请尽快召开新闻发布会"
            f"（申请或备案时写“事件：{d['record_id']}”），召开后发送“已召开”即停止计时。"
        )
    if k == "r17_overdue":
        return (
            f"【已超时】{d['unit']} {d['record_id']}《{d['title']}》发生已满24小时，"
            "仍未召开新闻发布会，已记入问责清单（热点回应不及时）。召开后仍请发送“已召开”。"
        )
    if k == "r18_prepare":
        extra = "和政策吹风会" if d.get("briefing") else ""
        return (
            f"【政策解读】{d['record_id']}《{d['title']}》"
            f"将于{_d(d['publish_at'], now)}公布，"
            f"解读材料仍为待定。请提前准备解读材料{extra}，公布时同步发布；"
            f"补充解读链接（政策 {d['record_id']} 解读：链接）后停止提醒。"
        )
    if k == "r18_published":
        return (
            f"【政策已公布】{d['unit']} {d['record_id']}《{d['title']}》已到公布时间，"
            f"仍未提交解读链接。请立即发布解读并补充链接（政策 {d['record_id']} 解读：链接）；"
            "24小时后仍缺失将记入问责清单。"
        )
    if k == "r18_overdue":
        return (
            f"【政策未解读】{d['unit']} {d['record_id']}《{d['title']}》公布已满24小时，"
            "仍无解读材料，已记入问责清单（重大政策不解读）。"
        )
    if k == "r5_due":
        return (
            f"【发言人名单报送】{d['unit']}尚未报送{d['year']}年新闻发言人名单。"
            "请联络员或主要负责人发送“报送发言人 姓名：… 职务：… 手机：…”，报送后停止提醒。"
        )
    if k == "r5_missing":
        units = _names(d["units"])
        return f"【{d['year']}年发言人名单】截至1月底" + (
            f"仍未报送的单位：{units}" if units else "各单位均已报送。"
        )
    if k == "r7_training":
        parts = []
        if d["never"]:
            parts.append(f"从未参加培训：{_names(d['never'])}")
        if d["lapsed"]:
            parts.append(f"超过{d['window']}年未培训：{_names(d['lapsed'])}")
        if d["soon"]:
            parts.append(f"3个月内到期：{_names(d['soon'])}")
        body = "；\n".join(parts) if parts else "所有发言人和主要负责人均在培训有效期内。"
        return f"【发言人培训】\n{body}"
    if k == "conference_eve":
        return (
            f"【发布会提醒】{d['record_id']}《{d['topic']}》将于{_d(d['starts_at'], now)}在"
            f"{d['venue'] or '待定地点'}召开，请做好准备。"
        )
    if k == "conference_report":
        return (
            f"【请报告召开情况】{d['record_id']}《{d['topic']}》"
            f"原定{_d(d['starts_at'], now)}召开。"
            f"召开后请发送“已召开 {d['record_id']} 发布人：… 要点：…”，以便计入4·2·1指标。"
        )
    if k == "relay_unconfirmed":
        return (
            f"【转发提醒】{d['record_id']}《{d['topic']}》的发布素材已于"
            f"{_d(d['sent_at'], now)}发给“{d['channel']}”，至今未确认发布。发布后请回复："
            f"已发布 {d['record_id']} 渠道：{d['channel']} 链接：…"
            "（无法发布请写 结果：失败 原因：…）"
        )
    if k == "relay_digest":
        return _digest(d["rows"])
    log.error("no wording for reminder kind %s (%s)", r.kind, r.key)
    return "【提醒】您有一项待办事项，请发送“我的”查看。"


def _digest(rows: object) -> str:
    """17:30 on working days: today's releases, per channel published or missing (R23)."""
    by_release: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
    for record_id, topic, channel, state, link in rows if isinstance(rows, tuple) else ():
        by_release[(record_id, topic)].append((channel, state, link))
    lines = ["【今日发布转发情况】"]
    for (record_id, topic), channels in by_release.items():
        done = [c for c, state, _ in channels if state == "published"]
        missing = [c for c, state, _ in channels if state in ("pending", "sent")]
        failed = [c for c, state, _ in channels if state in ("failed", "undelivered")]
        lines.append(f"{record_id}《{topic}》")
        lines.append(f"· 已发布（{len(done)}）：{'、'.join(done) or '无'}")
        lines.append(f"· 未发布（{len(missing)}）：{'、'.join(missing) or '无'}")
        if failed:
            lines.append(f"· 发布失败：{'、'.join(failed)}")
    return "\n".join(lines)


# WeCom suggests at most about 160 characters of sub_title_text on a button card; a longer
# message (several reminders merged) goes as text, followed by its 收到 card.
CARD_TEXT_MAX = 160
_LABEL = re.compile(r"^【([^】]{1,30})】")


def _ack_card(batch: str, count: int, first_line: str) -> dict[str, Any]:
    return {
        "card_type": "button_interaction",
        "source": {"desc": "六安政务新闻发布"},
        "main_title": {"title": "请确认收到提醒", "desc": f"共{count}项"},
        "sub_title_text": first_line[:60],
        "task_id": batch,
        "button_list": [{"text": "收到", "style": 1, "key": f"ack|{batch}"}],
    }


def _reminder_card(batch: str, text: str) -> dict[str, Any] | None:
    """C1: the reminder itself as a card with its 收到 button — one message, not a text and
    then a card. None when the text does not fit a card."""
    found = _LABEL.match(text)
    title = found.group(1) if found else "提醒"
    body = text[found.end() :] if found else text
    if len(body) > CARD_TEXT_MAX or "\n\n" in body:
        return None
    return {
        "card_type": "button_interaction",
        "source": {"desc": "六安政务新闻发布"},
        "main_title": {"title": title},
        "sub_title_text": body,
        "task_id": batch,
        "button_list": [{"text": "收到", "style": 1, "key": f"ack|{batch}"}],
    }


def reminder_messages(batch: str, users: Sequence[str], text: str, count: int) -> list[Outgoing]:
    """One reminder message per person: a card when it fits, else text and its 收到 card."""
    card = _reminder_card(batch, text)
    if card is not None:
        return card_to_users(users, card)
    return text_to_users(users, text) + card_to_users(
        users, _ack_card(batch, count, text.split("\n")[0])
    )


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
        queued = await enqueue(
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
        await enqueue(session, notices, now, source=f"relay-failures:{token_hex(6)}")
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
    queued = await enqueue(
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
    """What a sweep at `at` would send, to whom and why — without sending anything."""
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
        lines.append(
            f"{format_time(r.due_at, now=at)}  {r.key}\n  发送给：{to}\n  {render(r, at)}"
        )
    return lines


# ------------------------------------------------------------------ 收到 and 提醒记录


async def acknowledge(ctx: Context) -> Reply:
    """A 收到 click: every reminder of that message is acknowledged by this person."""
    batch = (ctx.incoming.event_key or "").split("|", 1)[-1]
    fresh = await ack_batch(ctx.session, batch, ctx.sender.userid, ctx.now)
    if fresh < 0:
        return Reply(text="这条提醒不是发给您的，无需确认。", button_label="无需确认")
    return Reply(text=None, button_label=f"已收到（{format_time(ctx.now, now=ctx.now)}）")


async def acknowledge_typed(ctx: Context) -> str:
    """收到 typed (C2): acknowledges every reminder the sender has not acknowledged yet."""
    fresh = await ack_outstanding(ctx.session, ctx.sender.userid, ctx.now)
    if not fresh:
        return "您没有待确认的提醒。"
    return f"已确认收到 {fresh} 项提醒（{format_time(ctx.now, now=ctx.now)}）。"


LOG = CommandGrammar(
    fields=(FieldSpec("单位", required=True, aliases=("部门",), example="市财政局"),)
)
RULE_NAMES = {
    "R8": "季度发布会",
    "R9": "半年出席",
    "R10": "年度出席",
    "R17": "24小时时限",
    "R18": "政策解读",
    "R5": "发言人名单",
    "R7": "培训",
    "CONF": "发布会",
}


def log_label(text: str, rule: str) -> str:
    """E1: what a 提醒记录 line calls a reminder — its own Chinese heading, never a key."""
    found = _LABEL.match(text or "")
    return found.group(1) if found else RULE_NAMES.get(rule, "提醒")


async def reminder_log(ctx: Context) -> str:
    """提醒记录 单位：X — every reminder sent to a unit, with delivery and ack times (R14)."""
    require_fields(ctx, LOG)
    name = text_value(ctx, "单位")
    found = await unit_id(ctx.session, name)
    if found is None:
        raise NotFound(f"名册里没有“{name}”，请核对单位全称。")
    name = await unit_name(ctx.session, found)  # 财政局 → 市财政局
    entries = await unit_reminder_log(ctx.session, found, limit=50)
    if not entries:
        return f"{name} 还没有收到过提醒。"
    users = {d.userid for _, deliveries in entries for d, _ in deliveries}
    names = await names_of(ctx.session, users)
    lines = [f"{name} · 提醒记录（最近{len(entries)}条）"]
    for instance, deliveries in entries:
        who = []
        for delivery, sent_at in deliveries:
            sent = f"送达 {format_time(sent_at, now=ctx.now)}" if sent_at else "待送达"
            ack = (
                f"确认 {format_time(delivery.acked_at, now=ctx.now)}"
                if delivery.acked_at
                else "未确认"
            )
            who.append(f"{names.get(delivery.userid, delivery.userid)}（{sent}，{ack}）")
        at = format_time(instance.recorded_at, now=ctx.now)
        lines.append(f"· {at} {log_label(instance.text, instance.rule)}：" + "、".join(who))
    return "\n".join(lines)


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        key="ack_typed",
        name="收到",
        aliases=("已收到",),
        summary="确认收到发给您的提醒（与点“收到”按钮相同）",
        usage="收到",
        example="收到",
        handler=acknowledge_typed,
        roles=ALL_ROLES,
        rules=("R14",),
    ),
    CommandSpec(
        key="reminder_log",
        name="提醒记录",
        aliases=("提醒日志",),
        summary="查看发给某单位的全部提醒及送达、确认时间（问责依据）",
        usage="提醒记录 单位：…",
        example="提醒记录 单位：市财政局",
        handler=reminder_log,
        roles=frozenset({Role.NEWS_OFFICE, Role.DISCLOSURE_OFFICE}),
        rules=("R14",),
        grammar=LOG,
    ),
)
