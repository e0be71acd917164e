"""Issue 11 §4: `ctx.push(..., source=, dedupe_key=)` writes the outbox in the command's
transaction and returns the rows; without `source` the dispatcher writes them later."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from handlers.context import Context, Deps
from handlers.registry import CARD_ACTIONS, COMMANDS
from liuan_bot.clock import FixedClock
from liuan_bot.commands.registry import Registry
from liuan_bot.domain.members import Member
from liuan_bot.messages import Incoming, Outgoing
from storage.engine import SessionFactory, transaction
from storage.tables import OutboxMessage
from tests.support import make_settings


def _context(deps: Deps, session, now) -> Context:  # type: ignore[no-untyped-def]
    sender = Member("zhengyl", "郑玉兰", "市政府新闻办", "city", False, frozenset())
    incoming = Incoming("text", "zhengyl", "corp", 0, content="测试")
    return Context(deps, session, now, sender, incoming, "", "inbound:1")


async def test_push_with_source_writes_now_and_returns_the_rows_issue11_s4(
    sessions: SessionFactory, clock: FixedClock, tmp_path: Path
) -> None:
    deps = Deps(
        sessions=sessions,
        clock=clock,
        registry=Registry(COMMANDS, CARD_ACTIONS),
        settings=make_settings("sqlite+aiosqlite:///unused.db", tmp_path),
    )
    now = clock.now()
    messages = [Outgoing("text", "a", {"text": "一"}), Outgoing("text", "b", {"text": "二"})]
    async with transaction(sessions) as session:
        ctx = _context(deps, session, now)
        rows = await ctx.push(messages, source="announcement:GG-1", dedupe_key="announcement:GG-1")
        again = await ctx.push(
            messages, source="announcement:GG-1", dedupe_key="announcement:GG-1"
        )
        later = await ctx.push([Outgoing("text", "c", {"text": "三"})])
        assert ctx.pushes == [Outgoing("text", "c", {"text": "三"})]
    assert [r.target for r in rows] == ["a", "b"]
    assert again == []
    assert later == []
    async with sessions() as session:
        stored = (await session.exec(select(OutboxMessage))).all()
    assert sorted((m.id, m.target, m.source) for m in stored) == sorted(
        (r.id, r.target, "announcement:GG-1") for r in rows
    )


async def test_push_is_undone_with_its_transaction_issue11_s4(
    sessions: SessionFactory, clock: FixedClock, tmp_path: Path
) -> None:
    deps = Deps(
        sessions=sessions,
        clock=clock,
        registry=Registry(COMMANDS, CARD_ACTIONS),
        settings=make_settings("sqlite+aiosqlite:///unused.db", tmp_path),
    )
    try:
        async with transaction(sessions) as session:
            ctx = _context(deps, session, clock.now())
            await ctx.push([Outgoing("text", "a", {"text": "一"})], source="x", dedupe_key="x")
            raise RuntimeError("the command fails after pushing")
    except RuntimeError:
        pass
    async with sessions() as session:
        assert (await session.exec(select(OutboxMessage))).all() == []
