"""Inbound message → sender → command → handler → reply, in one transaction.

The handler's effects, its pushes to others (outbox rows), the inbound message's status and
the reply are committed together: a crash leaves either all of it or none of it, and the
message is then recovered and handled once. A `UserError` rolls the handler's effects back
and its Chinese message is the reply; anything else is logged and answered with an apology.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.announcements import mark_read
from handlers.context import Context, Deps
from handlers.decisions import card_command
from handlers.reminders import acknowledge
from liuan_bot.commands.fields import parse_fields
from liuan_bot.errors import APOLOGY, PermissionDenied, UserError
from liuan_bot.inbox import Reply, ReplyRoute
from liuan_bot.messages import TEXT_MAX_BYTES, Outgoing, text_to_users
from liuan_bot.wecom.inbound import Incoming
from storage.audit import audit
from storage.engine import transaction
from storage.inbox_store import claim_inbound, finish_inbound
from storage.outbox_store import enqueue, enqueued
from storage.roster_store import find_member

log = logging.getLogger("handlers.dispatch")

NOT_REGISTERED = (
    "您好！您还不在六安市新闻发布工作名册中，暂时无法使用本机器人。"
    "请联系市政府新闻办，提供您的单位、姓名、职务和企业微信账号进行登记。"
)
TEXT_ONLY = "目前只能处理文字消息。发送“帮助”查看可用命令。"
WELCOME = "您好，我是六安市政务新闻发布助手。发送“帮助”查看您可以使用的命令。"


@dataclass(frozen=True)
class Outcome:
    reply: Reply | None
    status: str = "handled"
    error: str | None = None


async def _unknown_command(deps: Deps, text: str, ctx: Context) -> str:
    """Free text: a polite answer to greetings and thanks; the likely command, pre-filled and
    ready to copy; else the closest words."""
    polite = deps.suggester.small_talk(text) if deps.suggester is not None else None
    if polite is not None:
        return polite
    if deps.suggester is not None and len(text) >= 4:
        if not deps.suggester.loaded:  # jieba loads once, off the event loop (~1 s)
            await asyncio.to_thread(deps.suggester.load)
        found = deps.suggester.suggest(text, ctx.now)
        if found is not None and deps.registry.by_key(found.key).allowed(ctx.sender.roles):
            return found.reply
    suggestions = [s for s in deps.registry.closest(text) if s.allowed(ctx.sender.roles)]
    if suggestions:
        names = "”“".join(s.name for s in suggestions)
        return f"没有看懂这条消息。您是不是想用“{names}”？发送“帮助”查看全部命令。"
    return "没有看懂这条消息。发送“帮助”查看您可以使用的命令和示例。"


async def _run_command(ctx: Context) -> Reply | None:
    incoming = ctx.incoming
    if incoming.msg_type == "event":
        if incoming.event == "enter_agent":
            return Reply(text=WELCOME)
        if incoming.is_card_click:
            return await _run_card_click(ctx)
        return None
    if incoming.msg_type != "text":
        return Reply(text=TEXT_ONLY)
    return await _run_text(ctx, incoming.content)


async def _run_card_click(ctx: Context) -> Reply | None:
    """A button click is the text command it stands for (same checks, same audit)."""
    if (ctx.incoming.event_key or "").startswith("ack|"):
        return await acknowledge(ctx)
    if (ctx.incoming.event_key or "").startswith("read|"):
        return await mark_read(ctx)
    command, stale, label = await card_command(ctx)
    if command is None:
        return Reply(text=stale, button_label=label)
    reply = await _run_text(ctx, command)
    text = reply.text if reply else None
    return Reply(text=text, button_label=ctx.card_outcome)


async def _run_text(ctx: Context, content: str) -> Reply | None:
    match = ctx.deps.registry.match(content)
    if match is None:
        return Reply(text=await _unknown_command(ctx.deps, content, ctx))
    if not match.spec.allowed(ctx.sender.roles):
        allowed = "、".join(sorted(r.value for r in match.spec.roles))
        raise PermissionDenied(
            f"“{match.spec.name}”仅限{allowed}使用。发送“帮助”查看您可用的命令。"
        )
    ctx.args = match.rest
    ctx.word = match.spec.name
    ctx.fields = parse_fields(match.rest, match.spec.grammar, ctx.now)
    result = await match.spec.handler(ctx)
    if isinstance(result, Reply) or result is None:
        return result
    return Reply(text=str(result))


async def _decide(
    deps: Deps, incoming: Incoming, source: str, session: AsyncSession, now: datetime
) -> Outcome:
    sender = await find_member(session, incoming.from_user)
    if sender is None:
        log.warning("%s from unregistered user %s", source, incoming.from_user)
        await audit(
            session,
            now,
            actor=incoming.from_user,
            action="unregistered",
            source=source,
            detail={"content": incoming.content[:200]},
        )
        return Outcome(Reply(text=NOT_REGISTERED) if incoming.msg_type == "text" else None)
    ctx = Context(deps, session, now, sender, incoming, "", source)
    outcome = Outcome(await _run_command(ctx))
    if ctx.pushes:
        await enqueue(session, ctx.pushes, now, source=source, dedupe_key=f"push:{source}")
    return outcome


def _reply_messages(incoming: Incoming, reply: Reply, *, passive: bool) -> list[Outgoing]:
    """What must go through the outbox for `reply` when it is (or is not) passive."""
    messages: list[Outgoing] = []
    if reply.button_label is not None:
        if not passive and incoming.response_code:
            body = {
                "userids": [incoming.from_user],
                "response_code": incoming.response_code,
                "button": {"replace_name": reply.button_label},
            }
            messages.append(Outgoing("card_update", incoming.from_user, body))
        if reply.text:
            messages.extend(text_to_users([incoming.from_user], reply.text))
    elif reply.text and not passive:
        messages.extend(text_to_users([incoming.from_user], reply.text))
    return messages


async def _attempt(
    deps: Deps, inbound_id: int, incoming: Incoming, route: ReplyRoute, fixed: Outcome | None
) -> Reply | None:
    now = deps.clock.now()
    source = f"inbound:{inbound_id}"
    async with transaction(deps.sessions) as session:
        if not await claim_inbound(session, inbound_id):
            return None  # handled already (by another worker or an earlier attempt)
        outcome = fixed or await _decide(deps, incoming, source, session, now)
        reply = outcome.reply
        passive = False
        if reply is not None:
            fits = reply.button_label is not None or (
                reply.text is not None and len(reply.text.encode()) <= TEXT_MAX_BYTES
            )
            passive = fits and route.claim_passive()
            outbound = _reply_messages(incoming, reply, passive=passive)
            if outbound:
                await enqueue(session, outbound, now, source=source, dedupe_key=f"reply:{source}")
        await finish_inbound(
            session,
            inbound_id,
            now,
            status=outcome.status,
            error=outcome.error,
            reply_text=reply.text if reply else None,
            reply_route=("passive" if passive else "outbox") if reply else None,
        )
    if enqueued(session):
        deps.wake_outbox()
    if not passive or reply is None:
        return None
    return Reply(text=None, button_label=reply.button_label) if reply.button_label else reply


async def process_inbound(
    deps: Deps, inbound_id: int, incoming: Incoming, route: ReplyRoute
) -> Reply | None:
    """The `liuan_bot.inbox.Process` of this bot."""
    try:
        return await _attempt(deps, inbound_id, incoming, route, None)
    except UserError as exc:
        return await _attempt(deps, inbound_id, incoming, route, Outcome(Reply(text=exc.message)))
    except Exception as exc:
        log.exception("inbound id=%s key=%s failed", inbound_id, incoming.dedupe_key)
        failed = Outcome(Reply(text=APOLOGY), status="failed", error=repr(exc)[:2000])
        return await _attempt(deps, inbound_id, incoming, route, failed)
