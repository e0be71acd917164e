"""The outbox: written first, delivered once, paced, never dropped (issue 2).

Runs on SQLite and, when LIUAN_TEST_DATABASE_URL is set, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from sqlmodel import col, select

from liuan_bot.clock import FixedClock
from liuan_bot.messages import Outgoing, text_to_users
from liuan_bot.outbox import OutboxWorker
from liuan_bot.wecom.api import WeComApiClient
from liuan_bot.wecom.fake_server import FakeWeCom
from storage.engine import SessionFactory, is_sqlite, transaction
from storage.outbox_store import SqlOutboxStore, enqueue
from storage.tables import OutboxMessage


@dataclass
class Env:
    sessions: SessionFactory
    store: SqlOutboxStore
    api: WeComApiClient
    fake: FakeWeCom
    clock: FixedClock

    def worker(self, name: str = "w1", **kwargs: object) -> OutboxWorker:
        return OutboxWorker(self.store, self.api, self.clock, worker_id=name, **kwargs)  # type: ignore[arg-type]

    async def add(self, messages: list[Outgoing], source: str = "test") -> None:
        async with transaction(self.sessions) as session:
            await enqueue(session, messages, self.clock.now(), source=source)

    async def rows(self) -> list[OutboxMessage]:
        async with self.sessions() as session:
            return list(
                (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
            )

    async def run_until_done(
        self, worker: OutboxWorker, step_s: float = 30, limit: int = 400
    ) -> None:
        """Deliver, advancing the fixed clock, until nothing is pending (bounded)."""
        for _ in range(limit):
            await worker.run_once()
            rows = await self.rows()
            if all(r.status in ("sent", "failed") for r in rows):
                return
            self.clock.advance(step_s)
        raise AssertionError("outbox did not drain")


@pytest_asyncio.fixture
async def env(
    sessions: SessionFactory, database_url: str, clock: FixedClock
) -> AsyncIterator[Env]:
    fake = FakeWeCom(corp_id="corp", secret="secret", clock=clock)
    server = TestServer(fake.app())
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        api = WeComApiClient(
            session=http,
            corp_id="corp",
            secret="secret",
            agent_id=1000002,
            clock=clock,
            api_base=str(server.make_url("")).rstrip("/"),
            timeout_s=0.3,
        )
        store = SqlOutboxStore(sessions, postgres=not is_sqlite(database_url))
        yield Env(sessions, store, api, fake, clock)
    await server.close()


def texts(n: int, user: str = "u1") -> list[Outgoing]:
    return [m for i in range(n) for m in text_to_users([user], f"第{i}条消息")]


async def test_every_message_is_delivered_once_after_failures_recover(env: Env) -> None:
    await env.add([m for i in range(6) for m in text_to_users([f"user{i}"], f"提醒{i}")])
    env.fake.fail_next(-1, times=5)
    env.fake.fail_next(42001, times=1)
    env.fake.fail_next(45009, times=2)
    env.fake.fail_http(502, times=3)
    env.fake.delay_next(1.0, times=2)  # longer than the client's timeout
    await env.run_until_done(env.worker())
    rows = await env.rows()
    assert [r.status for r in rows] == ["sent"] * 6
    for i in range(6):
        assert env.fake.texts_to(f"user{i}") == [f"提醒{i}"]
    assert len(env.fake.delivered) == 6


async def test_a_worker_killed_mid_delivery_loses_nothing_and_sends_nothing_twice(
    env: Env,
) -> None:
    await env.add(texts(1, "u1"))
    env.fake.delay_next(5.0, path="/cgi-bin/message/send")  # WeCom delivers, answer never comes
    first = env.worker("dies", lease=timedelta(seconds=60))
    task = asyncio.create_task(first.run_once())
    for _ in range(200):
        if env.fake.delivered:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [row] = await env.rows()
    assert row.status == "sending"  # delivered by WeCom but not recorded as sent
    second = env.worker("restarted")
    assert await second.run_once() == 0  # the lease still holds
    env.clock.advance(61)
    assert await second.run_once() == 1
    [row] = await env.rows()
    assert row.status == "sent"
    assert row.attempts == 2
    assert len(env.fake.requests_to("/cgi-bin/message/send")) == 2
    assert env.fake.texts_to("u1") == ["第0条消息"]  # duplicate check dropped the copy


async def test_messages_to_one_user_are_paced_at_30_per_minute_not_dropped(env: Env) -> None:
    await env.add(texts(45, "busy"))
    worker = env.worker(batch=100)
    await worker.run_once()
    assert len(env.fake.delivered_to("busy")) == 30
    pending = [r for r in await env.rows() if r.status == "pending"]
    assert len(pending) == 15
    assert pending[0].attempts == 0
    env.clock.advance(30)
    await worker.run_once()
    assert len(env.fake.delivered_to("busy")) == 30
    env.clock.advance(31)
    await worker.run_once()
    assert len(env.fake.delivered_to("busy")) == 45


async def test_group_robot_messages_are_paced_at_20_per_minute(env: Env) -> None:
    robot = [
        Outgoing("webhook", "newsroom", {"msgtype": "text", "text": {"content": f"群消息{i}"}})
        for i in range(100)
    ]
    await env.add(robot)
    worker = env.worker(batch=200, webhook_keys={"newsroom": "KEY-1"})
    sent_per_minute = []
    for _ in range(5):
        before = len(env.fake.delivered)
        await worker.run_once()
        sent_per_minute.append(len(env.fake.delivered) - before)
        env.clock.advance(60)
    assert sent_per_minute == [20, 20, 20, 20, 20]
    assert {d.to for d in env.fake.delivered} == {"KEY-1"}


async def test_two_workers_never_claim_the_same_row(env: Env) -> None:
    await env.add([m for i in range(60) for m in text_to_users([f"p{i}"], "同一条通知")])
    a, b = env.worker("a", batch=25), env.worker("b", batch=25)
    claimed = 0
    for _ in range(10):
        claimed += sum(await asyncio.gather(a.run_once(), b.run_once()))
    assert claimed == 60  # every row claimed by exactly one worker
    assert sorted(d.to for d in env.fake.delivered) == sorted(f"p{i}" for i in range(60))
    assert all(r.status == "sent" for r in await env.rows())


async def test_a_non_retryable_error_marks_the_message_failed(env: Env) -> None:
    await env.add(texts(1))
    env.fake.fail_next(60020, path="/cgi-bin/message/send")
    await env.worker().run_once()
    [row] = await env.rows()
    assert (row.status, row.last_errcode) == ("failed", 60020)
    env.clock.advance(3600)
    assert await env.worker().run_once() == 0


async def test_invalid_users_are_recorded(env: Env) -> None:
    env.fake.known_users = {"alice"}  # type: ignore[attr-defined]
    await env.add(text_to_users(["alice", "ghost"], "通知"))
    await env.worker().run_once()
    [row] = await env.rows()
    assert row.status == "sent"
    assert row.invalid_users == ["ghost"]


async def test_enqueue_with_a_dedupe_key_is_idempotent(env: Env) -> None:
    for _ in range(2):
        async with transaction(env.sessions) as session:
            await enqueue(session, texts(2), env.clock.now(), source="t", dedupe_key="reply:1")
    assert len(await env.rows()) == 2
