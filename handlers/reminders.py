"""Reminders (issue 4): the 收到 acknowledgements and the commands; the work lives beside it.

- handlers/reminder_sweep.py   the sweep: plan, record each instance once, send (and preview)
- handlers/reminder_render.py  the Chinese wording, a table of renderers keyed by kind; cards
- handlers/reminder_log.py     提醒记录, the log of a unit's reminders (R14)
- liuan_bot/domain/reminders/  the pure rules that decide what is due, one module per family

The names are re-exported here, where the rest of the code imports them from.
"""

from __future__ import annotations

from handlers.context import Context
from handlers.reminder_log import LOG, reminder_log
from handlers.reminder_render import (
    ACCOUNTABILITY_LABELS,
    CARD_TEXT_MAX,
    MISSED_LABELS,
    RENDERERS,
    RULE_NAMES,
    log_label,
    reminder_messages,
    render,
)
from handlers.reminder_sweep import (
    ReminderEngine,
    SweepReport,
    calendar_notice_text,
    preview,
    sweep,
)
from liuan_bot.commands.registry import CommandSpec
from liuan_bot.commands.timeparse import format_time
from liuan_bot.domain.roles import ALL_ROLES, Role
from liuan_bot.messages import Reply
from storage.reminder_store import ack_batch, ack_outstanding

__all__ = [
    "ACCOUNTABILITY_LABELS",
    "CARD_TEXT_MAX",
    "COMMANDS",
    "LOG",
    "MISSED_LABELS",
    "RENDERERS",
    "RULE_NAMES",
    "ReminderEngine",
    "SweepReport",
    "acknowledge",
    "acknowledge_typed",
    "calendar_notice_text",
    "log_label",
    "preview",
    "reminder_log",
    "reminder_messages",
    "render",
    "sweep",
]


async def acknowledge(ctx: Context) -> Reply:
    """A 收到 click: every reminder of that message is acknowledged by this person."""
    batch = (ctx.incoming.event_key or "").split("|", 1)[-1]
    fresh = await ack_batch(ctx.session, batch, ctx.sender.userid, ctx.now)
    if fresh < 0:
        return Reply.refused("这条提醒不是发给您的，无需确认。", button_label="无需确认")
    return Reply.ok(button_label=f"已收到（{format_time(ctx.now, now=ctx.now)}）")


async def acknowledge_typed(ctx: Context) -> Reply:
    """收到 typed (C2): acknowledges every reminder the sender has not acknowledged yet."""
    fresh = await ack_outstanding(ctx.session, ctx.sender.userid, ctx.now)
    if not fresh:
        return Reply.refused("您没有待确认的提醒。")
    return Reply.ok(f"已确认收到 {fresh} 项提醒（{format_time(ctx.now, now=ctx.now)}）。")


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
