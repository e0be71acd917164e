"""提醒记录 (R14): every reminder sent to a unit, with its delivery and acknowledgement times —
the evidence accountability rests on."""

from __future__ import annotations

from handlers.common import require_fields, text_value
from handlers.context import Context
from handlers.reminder_render import log_label
from liuan_bot.commands.fields import CommandGrammar, FieldSpec
from liuan_bot.commands.timeparse import format_time
from liuan_bot.errors import NotFound
from liuan_bot.messages import Reply
from storage.reminder_store import unit_reminder_log
from storage.roster_store import names_of, unit_id, unit_name

LOG = CommandGrammar(
    fields=(FieldSpec("单位", required=True, aliases=("部门",), example="市财政局"),)
)


async def reminder_log(ctx: Context) -> Reply:
    """提醒记录 单位：X — every reminder sent to a unit, with delivery and ack times (R14)."""
    require_fields(ctx, LOG)
    name = text_value(ctx, "单位")
    found = await unit_id(ctx.session, name)
    if found is None:
        raise NotFound(f"名册里没有“{name}”，请核对单位全称。")
    name = await unit_name(ctx.session, found)  # 财政局 → 市财政局
    entries = await unit_reminder_log(ctx.session, found, limit=50)
    if not entries:
        return Reply.ok(f"{name} 还没有收到过提醒。")
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
    return Reply.ok("\n".join(lines))
