"""Schema, roster import and inbound storage (issue 2); SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, select

from liuan_bot.clock import FixedClock
from liuan_bot.domain.roles import Role
from liuan_bot.domain.roster import parse_roster_csv
from liuan_bot.inbox import Inbox, Reply, ReplyRoute
from liuan_bot.wecom.inbound import Incoming
from storage.engine import SessionFactory, transaction
from storage.inbox_store import SqlInboxStore
from storage.migrate import current_tables
from storage.roster_store import count_people, find_member, import_roster
from storage.tables import InboundMessage
from tests.support import DEMO_ROSTER


async def test_migrations_create_exactly_the_models_schema(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
        )
    assert diff == []
    tables = await current_tables(engine)
    assert {"units", "people", "inbound_messages", "outbox", "audit_log"} <= tables


async def test_r4_demo_roster_imports_and_upserts_by_userid(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    parsed = parse_roster_csv(DEMO_ROSTER.read_bytes())
    async with transaction(sessions) as session:
        first = await import_roster(session, parsed.rows, clock.now())
    async with transaction(sessions) as session:
        again = await import_roster(session, parsed.rows, clock.now())
        assert await count_people(session) == len(parsed.rows)
        demo = await find_member(session, "demo")
    assert first.people_created == len(parsed.rows)
    assert again.people_created == 0
    assert again.people_updated == len(parsed.rows)
    assert demo is not None
    assert demo.unit == "市财政局"
    assert demo.roles == frozenset({Role.SPOKESPERSON, Role.LIAISON})


def _incoming(msg_id: str) -> Incoming:
    return Incoming(
        msg_type="text",
        from_user="demo",
        corp_id="c",
        create_time=1,
        msg_id=msg_id,
        content="帮助",
        raw={
            "MsgType": "text",
            "FromUserName": "demo",
            "CreateTime": "1",
            "MsgId": msg_id,
            "Content": "帮助",
            "ToUserName": "c",
        },
    )


async def test_concurrent_copies_of_one_callback_are_stored_once(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    store = SqlInboxStore(sessions)
    ids = await asyncio.gather(*(store.record(_incoming("42"), clock.now()) for _ in range(8)))
    assert len([i for i in ids if i is not None]) == 1


async def test_a_message_stored_but_never_handled_is_recovered_once(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    store = SqlInboxStore(sessions)
    await store.record(_incoming("77"), clock.now())  # then the process "crashed"
    handled: list[tuple[int, str]] = []

    async def process(inbound_id: int, incoming: Incoming, route: ReplyRoute) -> Reply | None:
        handled.append((inbound_id, incoming.content))
        assert route.mode == "outbox"  # nobody is waiting for a passive reply any more
        async with transaction(sessions) as session:
            row = await session.get(InboundMessage, inbound_id)
            assert row is not None
            row.status = "handled"
            session.add(row)
        return None

    inbox = Inbox(store, process, clock, reply_budget_s=2)
    assert await inbox.recover(older_than=timedelta(seconds=30)) == 0  # too fresh: maybe running
    clock.advance(31)
    assert await inbox.recover(older_than=timedelta(seconds=30)) == 1
    await inbox.drain()
    assert await inbox.recover(older_than=timedelta(seconds=30)) == 0
    assert [content for _, content in handled] == ["帮助"]
    async with sessions() as session:
        row = (await session.exec(select(InboundMessage))).one()
    assert row.status == "handled"


async def test_a_recovered_card_event_is_the_event_that_was_received(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    from liuan_bot.wecom.inbound import parse_incoming

    plaintext = (
        "<xml><ToUserName>c</ToUserName><FromUserName>demo</FromUserName>"
        "<CreateTime>1700000000</CreateTime><MsgType>event</MsgType>"
        "<Event>template_card_event</Event><EventKey>审核|SQ-2026-0001|通过</EventKey>"
        "<TaskId>review-SQ-2026-0001-ab</TaskId><CardType>vote_interaction</CardType>"
        "<ResponseCode>rc-1</ResponseCode><SelectedItems><SelectedItem>"
        "<QuestionKey>q1</QuestionKey><OptionIds><OptionId>a</OptionId><OptionId>b</OptionId>"
        "</OptionIds></SelectedItem></SelectedItems><AgentID>1</AgentID></xml>"
    )
    received = parse_incoming(plaintext)
    store = SqlInboxStore(sessions)
    await store.record(received, clock.now())
    [(_, recovered)] = await store.unhandled(clock.now() + timedelta(seconds=1), 10)
    assert recovered == received
    assert recovered.selected == (("q1", ("a", "b")),)
    assert recovered.dedupe_key == received.dedupe_key
