"""The Chinese wording of every reminder (issue 4, issue 9 E1), and the messages that carry it.

`RENDERERS` is the table of wordings keyed by reminder kind (the kinds the planner in
liuan_bot/domain/reminders/ produces): what is due, by when, under which rule, what stops it.
A kind without a wording is logged and read as a neutral line, never as its key.
`reminder_messages` turns a text into one message per person: a card with its 收到 button
when it fits (C1), else the text followed by a 收到 card.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from liuan_bot.commands.timeparse import format_time
from liuan_bot.domain.reminders import Reminder
from liuan_bot.messages import Outgoing, card_to_users, text_to_users

log = logging.getLogger("handlers.reminders")

Renderer = Callable[[Reminder, datetime], str]

MISSED_LABELS = {"R8": "季度发布会", "R9": "半年出席", "R10": "年度出席"}
ACCOUNTABILITY_LABELS = {
    "R8": "季度未召开新闻发布会",
    "R9": "半年未出席市政府新闻发布会",
    "R10": "主要负责人年度未出席市政府新闻发布会",
    "R17": "热点回应不及时",
    "R18": "重大政策不解读",
}
FALLBACK = "【提醒】您有一项待办事项，请发送“我的”查看。"


def _d(value: object, now: datetime) -> str:
    return format_time(value, now=now) if isinstance(value, datetime) else str(value)


def _day(value: object) -> str:
    return f"{value.month}月{value.day}日" if isinstance(value, datetime) else str(value)


def _names(value: object) -> str:
    items = list(value) if isinstance(value, tuple | list) else []
    return "、".join(str(v) for v in items)


# ------------------------------------------------------------------ R8, R9, R10 (4·2·1)


def _r8_due(r: Reminder, now: datetime) -> str:
    d = r.data
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


def _r9_due(r: Reminder, now: datetime) -> str:
    d = r.data
    return (
        f"【半年出席】{d['unit']}的新闻发言人（或负责同志）{d['period']}尚未出席"
        f"市政府新闻发布会，截止{_day(d['deadline'])}。请申请市政府新闻发布会；"
        "出席并报告“已召开”后停止提醒。"
    )


def _r10_due(r: Reminder, now: datetime) -> str:
    d = r.data
    return (
        f"【年度出席】{d['unit']}主要负责人{d['period']}尚未出席市政府新闻发布会，"
        f"截止{_day(d['deadline'])}。请申请市政府新闻发布会；出席并报告“已召开”后停止提醒。"
    )


def _quota_missed(r: Reminder, now: datetime) -> str:
    """R8/R9/R10 after a period: the key units that missed it (R14 accountability)."""
    d, rule = r.data, r.rule
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


# ------------------------------------------------------------------ R17 incidents


def _r17_first_release(r: Reminder, now: datetime) -> str:
    d = r.data
    return (
        f"【突发事件首发】{d['record_id']}《{d['title']}》发生已超过1小时，尚未发布"
        f"权威信息。请立即发布并发送“首发 {d['record_id']} 内容：…”。"
        f"发布会时限：{_d(d['deadline'], now)}。"
    )


def _r17_due(r: Reminder, now: datetime) -> str:
    d = r.data
    return (
        f"【24小时时限】{d['record_id']}《{d['title']}》距发布会时限还剩约"
        f"{d['hours_left']}小时（{_d(d['deadline'], now)}）。请尽快召开新闻发布会"
        f"（申请或备案时写“事件：{d['record_id']}”），召开后发送“已召开”即停止计时。"
    )


def _r17_overdue(r: Reminder, now: datetime) -> str:
    d = r.data
    return (
        f"【已超时】{d['unit']} {d['record_id']}《{d['title']}》发生已满24小时，"
        "仍未召开新闻发布会，已记入问责清单（热点回应不及时）。召开后仍请发送“已召开”。"
    )


# ------------------------------------------------------------------ R18 policies


def _r18_prepare(r: Reminder, now: datetime) -> str:
    d = r.data
    extra = "和政策吹风会" if d.get("briefing") else ""
    return (
        f"【政策解读】{d['record_id']}《{d['title']}》"
        f"将于{_d(d['publish_at'], now)}公布，"
        f"解读材料仍为待定。请提前准备解读材料{extra}，公布时同步发布；"
        f"补充解读链接（政策 {d['record_id']} 解读：链接）后停止提醒。"
    )


def _r18_published(r: Reminder, now: datetime) -> str:
    d = r.data
    return (
        f"【政策已公布】{d['unit']} {d['record_id']}《{d['title']}》已到公布时间，"
        f"仍未提交解读链接。请立即发布解读并补充链接（政策 {d['record_id']} 解读：链接）；"
        "24小时后仍缺失将记入问责清单。"
    )


def _r18_overdue(r: Reminder, now: datetime) -> str:
    d = r.data
    return (
        f"【政策未解读】{d['unit']} {d['record_id']}《{d['title']}》公布已满24小时，"
        "仍无解读材料，已记入问责清单（重大政策不解读）。"
    )


# ------------------------------------------------------------------ R5 roster, R7 training


def _r5_due(r: Reminder, now: datetime) -> str:
    d = r.data
    return (
        f"【发言人名单报送】{d['unit']}尚未报送{d['year']}年新闻发言人名单。"
        "请联络员或主要负责人发送“报送发言人 姓名：… 职务：… 手机：…”，报送后停止提醒。"
    )


def _r5_missing(r: Reminder, now: datetime) -> str:
    d = r.data
    units = _names(d["units"])
    return f"【{d['year']}年发言人名单】截至1月底" + (
        f"仍未报送的单位：{units}" if units else "各单位均已报送。"
    )


def _r7_training(r: Reminder, now: datetime) -> str:
    d = r.data
    parts = []
    if d["never"]:
        parts.append(f"从未参加培训：{_names(d['never'])}")
    if d["lapsed"]:
        parts.append(f"超过{d['window']}年未培训：{_names(d['lapsed'])}")
    if d["soon"]:
        parts.append(f"3个月内到期：{_names(d['soon'])}")
    body = "；\n".join(parts) if parts else "所有发言人和主要负责人均在培训有效期内。"
    return f"【发言人培训】\n{body}"


# ------------------------------------------------------------------ conferences


def _conference_eve(r: Reminder, now: datetime) -> str:
    d = r.data
    return (
        f"【发布会提醒】{d['record_id']}《{d['topic']}》将于{_d(d['starts_at'], now)}在"
        f"{d['venue'] or '待定地点'}召开，请做好准备。"
    )


def _conference_report(r: Reminder, now: datetime) -> str:
    d = r.data
    return (
        f"【请报告召开情况】{d['record_id']}《{d['topic']}》"
        f"原定{_d(d['starts_at'], now)}召开。"
        f"召开后请发送“已召开 {d['record_id']} 发布人：… 要点：…”，以便计入4·2·1指标。"
    )


# ------------------------------------------------------------------ R23 relay


def _relay_unconfirmed(r: Reminder, now: datetime) -> str:
    d = r.data
    return (
        f"【转发提醒】{d['record_id']}《{d['topic']}》的发布素材已于"
        f"{_d(d['sent_at'], now)}发给“{d['channel']}”，至今未确认发布。发布后请回复："
        f"已发布 {d['record_id']} 渠道：{d['channel']} 链接：…"
        "（无法发布请写 结果：失败 原因：…）"
    )


def _relay_digest(r: Reminder, now: datetime) -> str:
    """17:30 on working days: today's releases, per channel published or missing (R23)."""
    rows = r.data["rows"]
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


RENDERERS: Mapping[str, Renderer] = {
    "r8_due": _r8_due,
    "r9_due": _r9_due,
    "r10_due": _r10_due,
    "r8_missed": _quota_missed,
    "r9_missed": _quota_missed,
    "r10_missed": _quota_missed,
    "r17_first_release": _r17_first_release,
    "r17_due": _r17_due,
    "r17_overdue": _r17_overdue,
    "r18_prepare": _r18_prepare,
    "r18_published": _r18_published,
    "r18_overdue": _r18_overdue,
    "r5_due": _r5_due,
    "r5_missing": _r5_missing,
    "r7_training": _r7_training,
    "conference_eve": _conference_eve,
    "conference_report": _conference_report,
    "relay_unconfirmed": _relay_unconfirmed,
    "relay_digest": _relay_digest,
}


def render(r: Reminder, now: datetime) -> str:
    """The Chinese text of one reminder: what is due, by when, under which rule, what stops it."""
    renderer = RENDERERS.get(r.kind)
    if renderer is None:
        log.error("no wording for reminder kind %s (%s)", r.kind, r.key)
        return FALLBACK
    return renderer(r, now)


# ------------------------------------------------------------------ the messages (C1)

# WeCom suggests at most about 160 characters of sub_title_text on a button card; a longer
# message (several reminders merged) goes as text, followed by its 收到 card.
CARD_TEXT_MAX = 160
_LABEL = re.compile(r"^【([^】]{1,30})】")


def heading(text: str) -> str | None:
    """The 【…】 heading a reminder text starts with, or None."""
    found = _LABEL.match(text)
    return found.group(1) if found else None


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
    """E1: what a 提醒记录 line (or a preview) calls a reminder — its own Chinese heading,
    never a key."""
    return heading(text or "") or RULE_NAMES.get(rule, "提醒")


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
