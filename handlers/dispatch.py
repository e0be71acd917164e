"""THE inbound pipeline: resolve the sender → match → permit → parse → handle → store the
outcome, for every message on every database (issue 11.1; `liuan_bot.inbox.Pipeline`).

* A read-only command (`CommandSpec.read_only`, and messages that only get an answer: 帮助,
  我的信息, events, free text) is handled first, then stored handled with its reply in one
  transaction — one INSERT, plus the outbox rows when the reply cannot go back passively.
* Any other message: the check that its key is not stored (with its id to be and the roster
  version, one statement), its handler's writes, its pushes to others and its reply (outbox
  rows), and its row, written once, handled, are one transaction, one commit. A `UserError`
  rolls that transaction back and its Chinese message is the reply, stored with the message
  in one more; anything else is logged and answered with an apology the same way.

The sender comes from a cache checked against the roster version in the same transaction, so
it is never stale (storage/roster_cache.py).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.context import Context, Deps, queue
from handlers.decisions import card_command
from handlers.speakers import answers_speaker_question, is_bare_yes
from liuan_bot.commands.fields import parse_fields
from liuan_bot.domain.members import Member
from liuan_bot.errors import APOLOGY, PermissionDenied, UserError
from liuan_bot.inbox import ReplyRoute
from liuan_bot.messages import TEXT_MAX_BYTES, Incoming, Outgoing, Reply, text_to_users
from storage.audit import audit
from storage.batch import UnitOfWork, WriteBatcher, retryable
from storage.engine import lazy_session
from storage.inbox_store import (
    DirectStore,
    WriteGate,
    begin_message,
    finish_inbound,
    store_handled,
)
from storage.outbox_store import enqueued, enqueued_targets
from storage.roster_cache import RosterCache

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
    ready to copy; else the closest words. (jieba was loaded before the transaction.)"""
    polite = deps.suggester.small_talk(text) if deps.suggester is not None else None
    if polite is not None:
        return polite
    if deps.suggester is not None and deps.suggester.loaded and len(text) >= 4:
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
            return Reply.ok(WELCOME)
        if incoming.is_card_click:
            return await _run_card_click(ctx)
        return None
    if incoming.msg_type != "text":
        return Reply.refused(TEXT_ONLY)
    return await run_text_command(ctx, incoming.content)


async def _run_card_click(ctx: Context) -> Reply | None:
    """A button click is the text command it stands for (same checks, same audit)."""
    action = ctx.deps.registry.card_action(ctx.incoming.event_key or "")
    if action is not None:
        return await action.handler(ctx)
    command, stale, label = await card_command(ctx)
    if command is None:
        return Reply.refused(stale, button_label=label)
    reply = await run_text_command(ctx, command)
    return replace(reply, button_label=ctx.card_outcome)


async def run_text_command(ctx: Context, content: str) -> Reply:
    """A text command as `ctx.sender` typed it: match, permit (R1), parse, handle. Chat, card
    clicks and the console all come through here (one use case, several front doors)."""
    match = ctx.deps.registry.match(content)
    if match is None:
        if await answers_speaker_question(ctx, content):  # A1: a bare 是 is 确认
            return await run_text_command(ctx, "确认")
        return Reply.ok(await _unknown_command(ctx.deps, content, ctx))
    if not match.spec.allowed(ctx.sender.roles):
        allowed = "、".join(sorted(r.value for r in match.spec.roles))
        raise PermissionDenied(
            f"“{match.spec.name}”仅限{allowed}使用。发送“帮助”查看您可用的命令。"
        )
    ctx.args = match.rest
    ctx.word = match.spec.name
    ctx.fields = parse_fields(match.rest, match.spec.grammar, ctx.now, word=match.word)
    return await match.spec.handler(ctx)


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


class _GateOf(AbstractAsyncContextManager[None]):
    """The pipeline's current `gate` (tests put a slow one in its place)."""

    def __init__(self, pipeline: InboundPipeline) -> None:
        self._pipeline = pipeline

    async def __aenter__(self) -> None:
        await self._pipeline.gate.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        await self._pipeline.gate.__aexit__(*exc)


class _Undone(Exception):
    """Roll the handling transaction back: the message turned out to be handled already."""


class _Refused(Exception):
    """Roll the handler's writes back; answer `outcome` (a UserError or a bug)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.status)
        self.outcome = outcome


def _fits(reply: Reply) -> bool:
    return reply.button_label is not None or (
        reply.text is not None and len(reply.text.encode()) <= TEXT_MAX_BYTES
    )


def _claim_passive(reply: Reply | None, route: ReplyRoute) -> bool:
    """Passive only if the reply fits one message and a waiting request's deadline is ahead;
    otherwise a reply goes through the outbox (the route says so to the waiting requests)."""
    if reply is None:
        return False
    if _fits(reply) and route.claim_passive():
        return True
    route.claim_outbox()
    return False


def _route_name(reply: Reply | None, passive: bool) -> str | None:
    if reply is None:
        return None
    return "passive" if passive else "outbox"


def _passive_part(reply: Reply | None, passive: bool) -> Reply | None:
    if not passive or reply is None:
        return None
    return replace(reply, text=None) if reply.button_label else reply


class InboundPipeline:
    """`liuan_bot.inbox.Pipeline` of this bot. `deps` may be replaced (the bot does at start)."""

    def __init__(
        self,
        deps: Deps,
        cache: RosterCache | None = None,
        gate: WriteGate | None = None,
        direct: DirectStore | None = None,
        max_batch: int = 16,
        concurrency: int = 1,
    ) -> None:
        """`gate` admits the write transactions (storage.batch: up to `max_batch` messages
        each, `concurrency` at once, never two with messages of one command); `direct`, the
        read-only step's store, takes turns with them where the database needs it (SQLite:
        it is given the same gate)."""
        self.deps = deps
        self.cache = cache or RosterCache()
        self.gate = gate or WriteGate(1)
        self.direct = direct
        self.batcher = WriteBatcher(
            lambda: self.deps.sessions,
            gate=_GateOf(self),
            max_batch=max_batch,
            concurrency=concurrency,
            on_commit=self._committed,
        )

    def _unit_key(self, incoming: Incoming) -> str:
        """A message's unit's key in storage.batch: its command (no two transactions at once
        hold messages of one command: they take the same record counter)."""
        if incoming.msg_type == "text":
            match = self.deps.registry.match(incoming.content)
            return match.spec.name if match is not None else ""
        return (incoming.event_key or incoming.event or "").split("|", 1)[0]

    def _committed(self, session: AsyncSession) -> None:
        if enqueued(session):
            self.deps.wake_outbox(enqueued_targets(session))

    def read_only(self, incoming: Incoming) -> bool:
        if incoming.msg_type != "text":
            return not incoming.is_card_click
        match = self.deps.registry.match(incoming.content)
        if match is None:  # a bare 是 may confirm a speaker question (A1): a write
            return not is_bare_yes(incoming.content)
        return match.spec.read_only

    async def _preload(self, incoming: Incoming) -> None:
        """Free text needs jieba: load it once, off the event loop (~1 s), outside any
        transaction (never while holding SQLite's write lock)."""
        suggester = self.deps.suggester
        if (
            suggester is not None
            and not suggester.loaded
            and incoming.msg_type == "text"
            and len(incoming.content) >= 4
            and self.deps.registry.match(incoming.content) is None
        ):
            await asyncio.to_thread(suggester.load)

    async def _sender(self, session: AsyncSession, incoming: Incoming) -> Member | None:
        return await self.cache.member(session, incoming.from_user)

    async def _unregistered(
        self, session: AsyncSession, incoming: Incoming, source: str, now: datetime
    ) -> Outcome:
        log.warning("%s from unregistered user %s", source, incoming.from_user)
        await audit(
            session,
            now,
            actor=incoming.from_user,
            action="unregistered",
            source=source,
            detail={"content": incoming.content[:200]},
        )
        return Outcome(Reply.refused(NOT_REGISTERED) if incoming.msg_type == "text" else None)

    async def _enqueue_reply(
        self,
        session: AsyncSession,
        incoming: Incoming,
        reply: Reply | None,
        passive: bool,
        now: datetime,
        *,
        source: str,
    ) -> None:
        """What of the reply must go through the outbox, in the handling transaction."""
        outbound = _reply_messages(incoming, reply, passive=passive) if reply else []
        if outbound:
            await queue(
                session, outbound, now, source=source, dedupe_key=f"reply:{source}", fresh=True
            )

    async def answer(
        self, incoming: Incoming, received_at: datetime, route: ReplyRoute
    ) -> tuple[bool, Reply | None]:
        """`liuan_bot.inbox.Pipeline.answer`: a new message handled and stored with its
        outcome in one transaction (see the module docstring)."""
        await self._preload(incoming)
        if self.read_only(incoming):
            return await self._answer_read_only(incoming, received_at, route)
        return await self._answer_write(incoming, received_at, route)

    async def _answer_read_only(
        self, incoming: Incoming, received_at: datetime, route: ReplyRoute
    ) -> tuple[bool, Reply | None]:
        if self.direct is not None:
            answered = await self._answer_direct(self.direct, incoming, received_at, route)
            if answered is not None:
                return answered
        deps = self.deps
        now = deps.clock.now()

        async def unit_work(unit: UnitOfWork) -> tuple[Outcome, bool]:
            session = unit.session
            sender = await self._sender(session, incoming)
            if sender is None:
                refused = Reply.refused(NOT_REGISTERED) if incoming.msg_type == "text" else None
                outcome = Outcome(refused)
            else:
                outcome = await _guarded(
                    Context(deps, session, now, sender, incoming, "", "inbound")
                )
            inbound_id, passive = await self._store_outcome(
                session, incoming, received_at, outcome, route, now
            )
            log.debug(  # see _answer_direct
                "inbound id=%s key=%s from=%s handled (read-only)",
                inbound_id,
                incoming.dedupe_key,
                incoming.from_user,
            )
            if sender is None:
                await self._unregistered(session, incoming, f"inbound:{inbound_id}", now)
            return outcome, passive

        try:
            outcome, passive = await self.batcher.run(unit_work, self._unit_key(incoming))
        except _Undone:
            log.info("inbound duplicate key=%s from=%s", incoming.dedupe_key, incoming.from_user)
            return False, None
        return True, _passive_part(outcome.reply, passive)

    async def _store_outcome(
        self,
        session: AsyncSession,
        incoming: Incoming,
        received_at: datetime,
        outcome: Outcome,
        route: ReplyRoute,
        now: datetime,
        inbound_id: int | None = None,
    ) -> tuple[int, bool]:
        """Store a new message handled (as `inbound_id` when given), with its outcome and,
        when it cannot go back passively, its reply's outbox rows; (its id, passive?).
        `_Undone` for a stored key."""
        reply = outcome.reply
        passive = _claim_passive(reply, route)
        stored = await store_handled(
            session,
            incoming,
            received_at,
            now,
            status=outcome.status,
            reply_text=reply.text if reply else None,
            reply_route=_route_name(reply, passive),
            error=outcome.error,
            reply_button=reply.button_label if passive and reply else None,
            inbound_id=inbound_id,
        )
        if stored is None:
            raise _Undone  # a retry of a message stored already: nothing to add
        source = f"inbound:{stored}"
        await self._enqueue_reply(session, incoming, reply, passive, now, source=source)
        return stored, passive

    async def _answer_write(
        self, incoming: Incoming, received_at: datetime, route: ReplyRoute
    ) -> tuple[bool, Reply | None]:
        """One unit of work (storage.batch): the roster version and the message's id (a
        stored key: nothing is written), the command, then the message's row, handled, with
        its outcome. A refusal or a failure undoes the command's writes and stores the
        message with its answer instead."""
        now = self.deps.clock.now()

        async def unit_work(unit: UnitOfWork) -> tuple[int, Outcome, bool]:
            session = unit.session
            version, inbound_id = await begin_message(session, incoming.dedupe_key)
            if inbound_id is None:
                raise _Undone
            sender = await self.cache.member_at(session, incoming.from_user, version)
            try:
                outcome = await self._run_stored(session, inbound_id, incoming, now, sender)
            except _Refused as refused:  # nothing of the command is kept; answer why
                await unit.undo()
                outcome = refused.outcome
            _, passive = await self._store_outcome(
                session, incoming, received_at, outcome, route, now, inbound_id
            )
            return inbound_id, outcome, passive

        try:
            key = self._unit_key(incoming)
            inbound_id, outcome, passive = await self.batcher.run(unit_work, key)
        except _Undone:
            return False, None
        log.info(
            "inbound id=%s key=%s from=%s handled: %s",
            inbound_id,
            incoming.dedupe_key,
            incoming.from_user,
            outcome.status,
        )
        return True, _passive_part(outcome.reply, passive)

    async def _run_stored(
        self,
        session: AsyncSession,
        inbound_id: int,
        incoming: Incoming,
        now: datetime,
        sender: Member | None,
    ) -> Outcome:
        """Run the command of message `inbound_id` from `sender` in the session's
        transaction, its pushes queued; `_Refused` (roll back) for a refusal or a failure."""
        source = f"inbound:{inbound_id}"
        if sender is None:
            return await self._unregistered(session, incoming, source, now)
        ctx = Context(self.deps, session, now, sender, incoming, "", source)
        outcome = await _guarded(ctx, refuse=True)
        if ctx.pushes:
            await queue(
                session, ctx.pushes, now, source=source, dedupe_key=f"push:{source}", fresh=True
            )
        return outcome

    async def _answer_direct(
        self, direct: DirectStore, incoming: Incoming, received_at: datetime, route: ReplyRoute
    ) -> tuple[bool, Reply | None] | None:
        """The same steps in one statement (the handled row, written only while the
        roster is still at the version the sender was cached under), for a cached, registered
        sender whose reply goes back passively; else None (the general steps above, which
        also write audit entries and outbox rows, tell a retry from a roster change, and
        refresh the cache)."""
        deps = self.deps
        version, cached, sender = self.cache.cached(incoming.from_user)
        if not cached or sender is None or version is None:
            return None
        now = deps.clock.now()
        async with lazy_session(deps.sessions) as session:  # made only if a handler reads
            outcome = await _guarded(Context(deps, session, now, sender, incoming, "", "inbound"))
        reply = outcome.reply
        if reply is not None and not _fits(reply):
            return None

        def admit() -> bool:  # just before the statement: a reply goes back passively or not here
            return reply is None or _claim_passive(reply, route)

        inbound_id = await direct.store_handled_at(
            incoming,
            received_at,
            now,
            status=outcome.status,
            reply_text=reply.text if reply else None,
            reply_route=_route_name(reply, True),
            roster_version=version,
            admit=admit,
        )
        if inbound_id is None:  # a retry, the roster moved, or no longer passive: the
            return None  # general steps tell which, and answer
        passive = reply is not None
        # DEBUG: the callback's access line names the message (its key), and its stored row,
        # with the reply, is its record; a second INFO line per 帮助 cost ~2% (issue 11 §2)
        log.debug(
            "inbound id=%s key=%s from=%s handled (read-only)",
            inbound_id,
            incoming.dedupe_key,
            incoming.from_user,
        )
        return True, _passive_part(reply, passive)

    async def handle(self, inbound_id: int, incoming: Incoming, route: ReplyRoute) -> Reply | None:
        await self._preload(incoming)
        now = self.deps.clock.now()

        async def unit_work(unit: UnitOfWork) -> tuple[Outcome, bool]:
            session = unit.session
            sender = await self._sender(session, incoming)
            try:
                outcome = await self._run_stored(session, inbound_id, incoming, now, sender)
            except _Refused as refused:  # the command's writes are undone; answer why
                await unit.undo()
                outcome = refused.outcome
            passive = await self._finish(session, inbound_id, incoming, outcome, route, now)
            return outcome, passive

        try:
            outcome, passive = await self.batcher.run(unit_work, self._unit_key(incoming))
        except _Undone:
            return None  # handled already (another instance, or a takeover committed first)
        return _passive_part(outcome.reply, passive)

    async def _finish(
        self,
        session: AsyncSession,
        inbound_id: int,
        incoming: Incoming,
        outcome: Outcome,
        route: ReplyRoute,
        now: datetime,
    ) -> bool:
        source = f"inbound:{inbound_id}"
        reply = outcome.reply
        passive = _claim_passive(reply, route)
        await self._enqueue_reply(session, incoming, reply, passive, now, source=source)
        finished = await finish_inbound(
            session,
            inbound_id,
            now,
            status=outcome.status,
            error=outcome.error,
            reply_text=reply.text if reply else None,
            reply_route=_route_name(reply, passive),
            reply_button=reply.button_label if passive and reply else None,
        )
        if not finished:
            raise _Undone
        return passive


async def _guarded(ctx: Context, *, refuse: bool = False) -> Outcome:
    """Run the command; a `UserError` is its reply, anything else an apology. With `refuse`
    both raise `_Refused`, so the caller's transaction rolls the handler's writes back. A
    deadlock or a serialization failure is neither: it is raised, and the write batch runs
    the message again (storage.batch); an apology stored for it would lose the message."""
    try:
        return Outcome(await _run_command(ctx))
    except UserError as exc:
        outcome = Outcome(Reply.refused(exc.message))
    except Exception as exc:
        if retryable(exc):  # another transaction took the same rows: the unit runs again
            raise
        log.exception("%s key=%s failed", ctx.source, ctx.incoming.dedupe_key)
        outcome = Outcome(Reply.refused(APOLOGY), status="failed", error=repr(exc)[:2000])
    if refuse:
        raise _Refused(outcome)
    return outcome
