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
from liuan_bot.messages import Incoming
from storage.engine import SessionFactory, transaction
from storage.inbox_store import SqlInboxStore, begin_message, store_handled
from storage.migrate import current_tables
from storage.roster_store import count_people, find_member, import_roster
from storage.tables import InboundMessage
from tests.support import DEMO_ROSTER, store_left_received


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
    """Each copy's transaction writes the row (`store_handled`); on PostgreSQL the later
    copies wait for the first to commit and then find the key stored."""

    async def store_copy() -> int | None:
        async with transaction(sessions) as session:
            return await store_handled(
                session,
                _incoming("42"),
                clock.now(),
                clock.now(),
                reply_text="好",
                reply_route="passive",
            )

    ids = await asyncio.gather(*(store_copy() for _ in range(8)))
    assert len([i for i in ids if i is not None]) == 1


async def test_a_write_message_learns_its_id_and_whether_it_is_stored_in_one_statement(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    """`begin_message`: the roster version, the id the row will have, or None for a stored
    key; the row written with that id is the one a later begin finds."""
    async with transaction(sessions) as session:
        version, first = await begin_message(session, "msg:50")
        assert first is not None
        stored = await store_handled(
            session,
            _incoming("50"),
            clock.now(),
            clock.now(),
            reply_text="好",
            reply_route="passive",
            inbound_id=first,
        )
        assert stored == first
    async with transaction(sessions) as session:
        assert await begin_message(session, "msg:50") == (version, None)
        _, second = await begin_message(session, "msg:51")
        assert second is not None
        assert second > first
    async with sessions() as session:
        row = (await session.exec(select(InboundMessage))).one()
    assert (row.id, row.dedupe_key, row.status) == (first, "msg:50", "handled")


async def test_a_stored_message_whose_lease_ran_out_is_claimed_once_across_instances(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    """Issue 8.1: the sweep's claim is a conditional UPDATE (SKIP LOCKED on PostgreSQL)."""
    store = SqlInboxStore(sessions)
    lease = clock.now() + timedelta(seconds=6)
    await store_left_received(sessions, _incoming("77"), clock.now(), "a", lease)  # "a" crashed
    assert await store.claim_stale("b", clock.now(), clock.now() + timedelta(seconds=6), 10) == []
    clock.advance(7)
    claims = await asyncio.gather(
        *(
            store.claim_stale(owner, clock.now(), clock.now() + timedelta(seconds=6), 10)
            for owner in ("b", "c", "d")
        )
    )
    assert sorted(len(c) for c in claims) == [0, 0, 1]
    async with sessions() as session:
        row = (await session.exec(select(InboundMessage))).one()
    assert row.status == "received"
    assert row.claimed_by in ("b", "c", "d")
    assert await store.take_over(row.dedupe_key, "e", clock.now(), clock.now()) is None  # leased


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
    await store_left_received(sessions, received, clock.now())
    [(_, recovered)] = await store.claim_stale("x", clock.now(), clock.now(), 10)
    assert recovered == received
    assert recovered.selected == (("q1", ("a", "b")),)
    assert recovered.dedupe_key == received.dedupe_key
