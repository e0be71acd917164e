"""The outbox: written first, delivered once, paced, never dropped (issue 2).

Runs on SQLite and, when LIUAN_TEST_DATABASE_URL is set, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from sqlalchemy import text
from sqlmodel import col, select

import bot as bot_module
from liuan_bot.clock import SHANGHAI, FixedClock
from liuan_bot.messages import Outgoing, text_to_users
from liuan_bot.outbox import PARKED_REPORT_SOURCE, Claimed, Delivered, OutboxWorker, reason_zh
from liuan_bot.pacing import WINDOW_MARGIN_S, InProcessPacer
from liuan_bot.wecom.api import (
    BACKOFF_CLASS,
    CONFIG_CLASS,
    GETTOKEN_PATH,
    RECIPIENT_CLASS,
    SEND_PATH,
    TOKEN_CLASS,
    ErrorClass,
    WeComApiClient,
    classify,
)
from liuan_bot.wecom.fake_server import FakeWeCom
from storage.engine import (
    SessionFactory,
    is_sqlite,
    make_engine,
    make_session_factory,
    transaction,
)
from storage.migrate import upgrade
from storage.outbox_store import (
    SqlOutboxStore,
    SqlPacer,
    enqueue,
    list_parked,
    report_parked,
    retry_parked,
)
from storage.tables import OutboxBudget, OutboxMessage
from tests.conftest import load_demo_roster
from tests.support import Harness, make_settings


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
            if all(r.status in ("sent", "parked") for r in rows):
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
    env.clock.advance(31 + WINDOW_MARGIN_S)  # a minute and the margin since the first 30
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
        env.clock.advance(60 + WINDOW_MARGIN_S)
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


async def test_a_configuration_error_keeps_the_row_and_resumes_when_fixed(env: Env) -> None:
    """60020 (server IP not trusted) used to fail the row on its first attempt."""
    await env.add(texts(3))
    env.fake.fail_always(60020, path="/cgi-bin/message/send")
    worker = env.worker()
    await worker.run_once()
    rows = await env.rows()
    assert [r.status for r in rows] == ["pending"] * 3
    assert [r.attempts for r in rows] == [0, 0, 0]  # held, not counted as tries
    assert list(worker.problems) == ["app"]
    assert "可信 IP" in worker.problems["app"].reason
    assert "60020" in worker.problems["app"].reason_en
    sends = len(env.fake.requests_to("/cgi-bin/message/send"))
    env.clock.advance(30)
    assert await worker.run_once() == 0  # held until the probe is due: no hammering
    assert len(env.fake.requests_to("/cgi-bin/message/send")) == sends
    env.clock.advance(31)
    await worker.run_once()  # probe: still broken
    assert [r.status for r in await env.rows()] == ["pending"] * 3
    env.fake.clear_faults()  # the operator adds the IP
    env.clock.advance(61)
    await worker.run_once()
    assert [r.status for r in await env.rows()] == ["sent"] * 3
    assert worker.problems == {}


async def test_a_wrong_secret_at_gettoken_holds_the_rows_not_fails_them(env: Env) -> None:
    await env.add(texts(2))
    env.fake.fail_always(40001, path="/cgi-bin/gettoken")
    worker = env.worker()
    for _ in range(10):  # ten minutes of a wrong secret
        await worker.run_once()
        env.clock.advance(60)
    assert [r.status for r in await env.rows()] == ["pending"] * 2
    assert worker.problems["app"].errcode == 40001
    assert len(env.fake.requests_to("/cgi-bin/gettoken")) <= 11  # one probe a minute
    env.fake.clear_faults()
    env.clock.advance(61)
    await worker.run_once()
    assert [r.status for r in await env.rows()] == ["sent"] * 2
    assert env.fake.texts_to("u1") == ["第0条消息", "第1条消息"]


async def test_token_errors_that_persist_past_a_refresh_lose_nothing(env: Env) -> None:
    """60 s of 42001/40014 used to fail 36 of 36 rows on their first attempt."""
    await env.add([m for i in range(12) for m in text_to_users([f"t{i}"], f"通知{i}")])
    env.fake.fail_next(42001, path="/cgi-bin/message/send", times=20)
    env.fake.fail_next(40014, path="/cgi-bin/message/send", times=20)
    await env.run_until_done(env.worker(), step_s=5)
    rows = await env.rows()
    assert [r.status for r in rows] == ["sent"] * 12
    assert all(env.fake.texts_to(f"t{i}") == [f"通知{i}"] for i in range(12))


async def test_an_outage_of_over_four_hours_loses_nothing(env: Env) -> None:
    """60 attempts with a 300 s cap used to fail every queued row after ~4.4 h: 5 h here."""
    await env.add([m for i in range(4) for m in text_to_users([f"o{i}"], f"停机{i}")])
    env.fake.fail_http(503, path="/cgi-bin/message/send", times=1 << 30)
    worker = env.worker()
    for _ in range(5 * 60):  # 5 h in one-minute steps
        await worker.run_once()
        env.clock.advance(60)
    rows = await env.rows()
    assert [r.status for r in rows] == ["pending"] * 4
    assert min(r.attempts for r in rows) > 60  # past the old limit, and still queued
    env.fake.clear_faults()
    env.clock.advance(301)
    await worker.run_once()
    assert [r.status for r in await env.rows()] == ["sent"] * 4


async def test_a_permanent_error_parks_the_row_and_retry_sends_it_again(env: Env) -> None:
    await env.add(texts(1, "ghost"))
    env.fake.fail_next(40003, path="/cgi-bin/message/send")
    await env.worker().run_once()
    [row] = await env.rows()
    assert (row.status, row.last_errcode) == ("parked", 40003)
    assert row.park_reason == "收件人账号无效（错误码 40003）"
    [parked] = await list_parked(env.sessions)
    assert (parked.id, parked.target, parked.kind) == (row.id, "ghost", "app")
    env.clock.advance(3600)
    assert await env.worker().run_once() == 0  # parked rows are not re-driven by themselves
    assert await retry_parked(env.sessions, env.clock.now(), [row.id]) == 1
    await env.worker().run_once()
    [row] = await env.rows()
    assert row.status == "sent"
    assert await list_parked(env.sessions) == []


async def test_unknown_errcodes_retry_then_park(env: Env) -> None:
    await env.add(texts(1))
    env.fake.fail_always(77777, path="/cgi-bin/message/send")
    worker = env.worker()
    statuses = []
    for _ in range(9):
        await worker.run_once()
        statuses.append((await env.rows())[0].status)
        env.clock.advance(600)
    assert statuses[:7] == ["pending"] * 7
    assert statuses[7:] == ["parked"] * 2
    [row] = await env.rows()
    assert row.attempts == 8
    assert "77777" in (row.park_reason or "")


async def test_parked_rows_are_reported_to_the_news_office_once_a_day(
    env: Env, database_url: str
) -> None:
    await load_demo_roster(database_url)
    await env.add(texts(2, "ghost"))
    env.fake.fail_next(40003, path="/cgi-bin/message/send", times=2)
    worker = env.worker(housekeeping=lambda now: report_parked(env.sessions, now))
    await worker.run_once()  # parks both (the report runs before the claim: nothing yet)
    assert {r.status for r in await env.rows()} == {"parked"}
    env.clock.advance(601)
    await worker.run_once()  # enqueues the report
    env.clock.advance(1)
    await worker.run_once()  # sends it
    reports = [d for d in env.fake.delivered if "未能送达" in d.text]
    assert {d.to for d in reports} == {"caozhiqiang", "chenshulin", "newsoffice", "baochuanhua"}
    assert "目前有 2 条消息未能送达" in reports[0].text
    assert "收件人账号无效" in reports[0].text
    for _ in range(6):  # the same day: no second report
        env.clock.advance(601)
        await worker.run_once()
    assert len([d for d in env.fake.delivered if "未能送达" in d.text]) == 4
    next_day = env.clock.now().astimezone(SHANGHAI).date() + timedelta(days=1)
    env.clock.set(datetime.combine(next_day, datetime.min.time(), SHANGHAI))
    for _ in range(8 * 6 + 5):  # midnight to 08:50: not at night
        await worker.run_once()
        env.clock.advance(600)
    assert len([d for d in env.fake.delivered if "未能送达" in d.text]) == 4
    env.clock.advance(601)  # past 09:00
    await worker.run_once()
    env.clock.advance(1)
    await worker.run_once()
    assert len([d for d in env.fake.delivered if "未能送达" in d.text]) == 8


async def test_a_parked_report_is_never_reported_about_itself(env: Env, database_url: str) -> None:
    await load_demo_roster(database_url)
    async with transaction(env.sessions) as session:
        await enqueue(session, texts(1), env.clock.now(), source=PARKED_REPORT_SOURCE)
    env.fake.fail_next(40003, path="/cgi-bin/message/send")
    await env.worker().run_once()
    assert [r.status for r in await env.rows()] == ["parked"]
    assert await report_parked(env.sessions, env.clock.now()) == 0


async def test_a_lost_claim_records_nothing(env: Env) -> None:
    """The claim-token guard: a worker whose lease expired and whose row another worker
    took over can neither renew, nor mark sent, nor reschedule, nor park that row."""
    await env.add(texts(1))
    now = env.clock.now()
    [old] = await env.store.claim_due(now, "a", now + timedelta(seconds=60), 10)
    env.clock.advance(61)
    now = env.clock.now()
    [new] = await env.store.claim_due(now, "b", now + timedelta(seconds=60), 10)
    assert new.id == old.id
    assert new.claim != old.claim
    assert not await env.store.renew(old.id, old.claim, now + timedelta(seconds=600))
    await env.store.mark_sent(old.id, old.claim, now, Delivered(msgid="stale"))
    await env.store.reschedule(old.id, old.claim, now + timedelta(hours=1), error="stale")
    await env.store.park(old.id, old.claim, now, "过期", "stale", 1)
    [row] = await env.rows()
    assert (row.status, row.claimed_by, row.msgid, row.last_error) == (
        "sending",
        new.claim,
        None,
        None,
    )
    assert row.lease_until == now + timedelta(seconds=60)
    assert await env.store.renew(new.id, new.claim, now + timedelta(seconds=120))
    await env.store.mark_sent(new.id, new.claim, now, Delivered(msgid="m-1"))
    [row] = await env.rows()
    assert (row.status, row.msgid) == ("sent", "m-1")


class SlowApi:
    """The fake WeCom behind a slow network: every send takes `seconds` of the clock."""

    def __init__(self, api: WeComApiClient, clock: FixedClock, seconds: float) -> None:
        self._api, self._clock, self._seconds = api, clock, seconds

    async def send_message(self, body: dict[str, Any]) -> Any:
        result = await self._api.send_message(body)
        self._clock.advance(self._seconds)
        for _ in range(5):
            await asyncio.sleep(0)  # let the other worker run meanwhile
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)


async def test_a_slow_api_never_makes_two_workers_send_a_row_twice(env: Env) -> None:
    """A claimed batch sent one row at a time under a 120 s lease, 50 s a send: without a
    renewal per row the second worker re-claimed and re-sent the rest of the batch."""
    await env.add([m for i in range(20) for m in text_to_users([f"s{i}"], f"慢{i}")])
    slow = SlowApi(env.api, env.clock, 50)
    a = OutboxWorker(env.store, slow, env.clock, worker_id="a", batch=20)  # type: ignore[arg-type]
    b = OutboxWorker(env.store, slow, env.clock, worker_id="b", batch=20)  # type: ignore[arg-type]

    async def keep_polling() -> None:
        for _ in range(400):
            await b.run_once()
            await asyncio.sleep(0)

    await asyncio.gather(a.run_once(), keep_polling())
    for _ in range(20):
        await a.run_once()
        await b.run_once()
    assert [r.status for r in await env.rows()] == ["sent"] * 20
    sends = env.fake.requests_to("/cgi-bin/message/send")
    assert sorted(str((r.body or {})["touser"]) for r in sends) == sorted(
        f"s{i}" for i in range(20)
    )


async def test_the_same_reply_twice_is_delivered_twice_pushes_keep_the_check(env: Env) -> None:
    """我的信息 asked twice: WeCom's duplicate check used to swallow the second answer."""
    await env.add(text_to_users(["u1"], "您的信息：张三"), source="inbound:1")
    await env.worker().run_once()
    await env.add(text_to_users(["u1"], "您的信息：张三"), source="inbound:2")
    await env.worker().run_once()
    assert env.fake.texts_to("u1") == ["您的信息：张三", "您的信息：张三"]
    await env.add(text_to_users(["u2"], "提醒"), source="reminder:1")
    await env.worker().run_once()
    bodies = [r.body or {} for r in env.fake.requests_to("/cgi-bin/message/send")]
    assert [b["enable_duplicate_check"] for b in bodies] == [0, 0, 1]


async def test_a_reply_re_sent_after_a_crash_carries_the_duplicate_check(env: Env) -> None:
    await env.add(text_to_users(["u1"], "回复"), source="inbound:7")
    now = env.clock.now()
    await env.store.claim_due(now, "crashed", now + timedelta(seconds=60), 10)  # then dies
    env.clock.advance(61)
    await env.worker().run_once()
    [request] = env.fake.requests_to("/cgi-bin/message/send")
    assert (request.body or {})["enable_duplicate_check"] == 1
    assert (request.body or {})["duplicate_check_interval"] == 4 * 3600


async def test_a_paced_backlog_is_not_claimed_again_while_it_waits(env: Env) -> None:
    """5,599 paced rows used to be re-claimed about once a minute each (0.46 core idle)."""
    await env.add(texts(300, "busy"))
    worker = env.worker(batch=50)
    assert await worker.run_once() == 50
    assert len(env.fake.delivered_to("busy")) == 30
    rows = await env.rows()
    waiting = [r for r in rows if r.status == "pending"]
    assert len(waiting) == 270
    assert {r.next_attempt_at for r in waiting} == {
        env.clock.now() + timedelta(seconds=60 + WINDOW_MARGIN_S)
    }
    assert all(r.attempts == 0 for r in waiting)
    for _ in range(59 + int(WINDOW_MARGIN_S)):  # the rest of the minute: nothing is claimed
        env.clock.advance(1)
        assert await worker.run_once() == 0
    env.clock.advance(1)
    assert await worker.run_once() == 50
    assert len(env.fake.delivered_to("busy")) == 60


async def test_rows_enqueued_for_a_paced_member_are_not_claimed_until_the_pace_lifts(
    env: Env,
) -> None:
    """Issue 11 §2: under a stream of new rows for a paced member, each commit used to cost a
    claim and a deferral; the worker now leaves them pending until the member's budget frees,
    while rows for other members go out at once."""
    await env.add(texts(31, "busy"))
    worker = env.worker(batch=50)
    assert await worker.run_once() == 31  # 30 sent, the 31st paced with its siblings
    assert len(env.fake.delivered_to("busy")) == 30
    for i in range(5):  # new rows for the paced member: none is claimed
        env.clock.advance(1)
        await env.add(
            text_to_users(["busy"], f"新消息{i}甲") + text_to_users(["busy"], f"新消息{i}乙")
        )
        assert await worker.run_once() == 0
    worker.wake(["busy"])  # rows only for the paced member: no claim query is woken
    assert not worker.woken
    worker.wake(["busy", "quiet"])
    assert worker.woken
    await env.add(texts(1, "quiet"))  # another member is not held up
    assert await worker.run_once() == 1
    assert len(env.fake.delivered_to("quiet")) == 1
    env.clock.advance(60 + WINDOW_MARGIN_S - 5)  # the pace lifts: every waiting row goes out
    await env.run_until_done(worker, step_s=60)
    assert len(env.fake.delivered_to("busy")) == 41
    assert all(r.status == "sent" for r in await env.rows())


async def test_the_daily_recipient_budget_defers_to_the_next_day(env: Env) -> None:
    await env.add([m for i in range(5) for m in text_to_users([f"d{i}"], "日额度")])
    worker = env.worker(pacer=InProcessPacer(daily_budget=3))
    await worker.run_once()
    assert len(env.fake.delivered) == 3
    env.clock.advance(3600)
    await worker.run_once()
    assert len(env.fake.delivered) == 3
    env.clock.advance(24 * 3600)
    await worker.run_once()
    assert len(env.fake.delivered) == 5


@pytest.mark.postgres
@pytest.mark.parametrize("instances", [2, 3])
async def test_instances_on_postgresql_never_exceed_30_per_minute_to_a_member(
    env: Env, database_url: str, instances: int
) -> None:
    """Pacing was per process: two instances sent one member 60 messages a minute."""
    if is_sqlite(database_url):
        pytest.skip("shared pacing lives in PostgreSQL; SQLite runs one instance")
    await env.add(texts(100, "member"))
    await env.add([m for i in range(40) for m in text_to_users([f"other{i}"], "其他")])
    workers = [
        env.worker(f"i{n}", batch=20, pacer=SqlPacer(env.sessions, daily_budget=100_000))
        for n in range(instances)
    ]
    for _ in range(200):
        await asyncio.gather(*(w.run_once() for w in workers))
        if len(env.fake.delivered) == 140:
            break
        env.clock.advance(5)
    times = sorted(d.at for d in env.fake.delivered_to("member"))
    assert len(times) == 100
    worst = max(
        sum(1 for t in times if start <= t < start + timedelta(seconds=60)) for start in times
    )
    assert worst == 30
    assert len(env.fake.delivered) == 140  # everyone else delivered too, once


@pytest.mark.postgres
async def test_instances_on_postgresql_share_the_daily_budget(env: Env, database_url: str) -> None:
    if is_sqlite(database_url):
        pytest.skip("shared pacing lives in PostgreSQL; SQLite runs one instance")
    await env.add([m for i in range(10) for m in text_to_users([f"b{i}"], "额度")])
    workers = [
        env.worker(f"i{n}", batch=3, pacer=SqlPacer(env.sessions, daily_budget=6))
        for n in range(2)
    ]
    for _ in range(5):
        await asyncio.gather(*(w.run_once() for w in workers))
        env.clock.advance(60)
    assert len(env.fake.delivered) == 6
    env.clock.advance(24 * 3600)
    await asyncio.gather(*(w.run_once() for w in workers))
    assert len(env.fake.delivered) == 10


async def test_enqueue_with_a_dedupe_key_is_idempotent(env: Env) -> None:
    for _ in range(2):
        async with transaction(env.sessions) as session:
            await enqueue(session, texts(2), env.clock.now(), source="t", dedupe_key="reply:1")
    assert len(await env.rows()) == 2


async def test_invalid_users_are_recorded(env: Env) -> None:
    env.fake.known_users = {"alice"}  # type: ignore[attr-defined]
    await env.add(text_to_users(["alice", "ghost"], "通知"))
    await env.worker().run_once()
    [row] = await env.rows()
    assert row.status == "sent"
    assert row.invalid_users == ["ghost"]


# -- the error classes, code by code (docs/outbox-errors.md) --------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "outbox-errors.md"
SEND = "/cgi-bin/message/send"
GETTOKEN = "/cgi-bin/gettoken"


def documented_codes() -> list[tuple[int, str, ErrorClass]]:
    """(errcode, path, class) for every numeric row of the table in the document."""
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not re.match(r"^-?\d+", cells[0]):
            continue
        code = int(re.match(r"^-?\d+", cells[0]).group())  # type: ignore[union-attr]
        path = GETTOKEN_PATH if "gettoken" in cells[0] else SEND_PATH
        rows.append((code, path, ErrorClass(cells[2])))
    return rows


def test_the_document_lists_every_classified_code_with_the_class_the_code_gives() -> None:
    rows = documented_codes()
    assert len(rows) >= 30
    for code, path, cls in rows:
        assert classify(code, path) is cls, (code, path)
    listed = {code for code, _, _ in rows}
    assert listed >= TOKEN_CLASS | BACKOFF_CLASS | RECIPIENT_CLASS | CONFIG_CLASS
    assert classify(None, SEND_PATH) is ErrorClass.BACKOFF  # no WeCom answer at all
    assert classify(99999, SEND_PATH) is ErrorClass.UNKNOWN


@pytest.mark.parametrize(("code", "path", "cls"), documented_codes())
async def test_each_documented_code_is_handled_as_its_class(
    env: Env, code: int, path: str, cls: ErrorClass
) -> None:
    """Injected through the fake WeCom; the fault outlasts the client's own retries."""
    await env.add(text_to_users(["u1"], "分类"), source="reminder:1")
    fake_path = GETTOKEN if path == GETTOKEN_PATH else SEND
    env.fake.fail_next(code, path=fake_path, times=6)
    worker = env.worker()
    await worker.run_once()
    [row] = await env.rows()
    if cls in (ErrorClass.TOKEN, ErrorClass.BACKOFF):
        assert (row.status, row.attempts) == ("pending", 1)
        assert worker.problems == {}
    elif cls is ErrorClass.CONFIG:
        assert (row.status, row.attempts) == ("pending", 0)  # kept, not even counted
        assert worker.problems["app"].errcode == code
    elif code == 81013:  # returned as a result: sent, every recipient invalid
        assert (row.status, row.invalid_users) == ("sent", ["u1"])
        return
    else:
        assert row.status == "parked"
        assert row.park_reason == reason_zh(code)
        assert str(code) in row.park_reason
        return
    env.fake.clear_faults()
    await env.run_until_done(worker, step_s=61)
    [row] = await env.rows()
    assert row.status == "sent"
    assert env.fake.texts_to("u1") == ["分类"]


@pytest.mark.parametrize("fault", ["http500", "http502", "timeout", "refused"])
async def test_no_answer_from_wecom_is_retried_with_backoff(env: Env, fault: str) -> None:
    await env.add(texts(1))
    if fault.startswith("http"):
        env.fake.fail_http(int(fault[4:]), path=SEND, times=3)
    elif fault == "timeout":
        env.fake.delay_next(1.0, path=SEND, times=1)  # longer than the client's 0.3 s
    worker = env.worker()
    if fault == "refused":
        dead = WeComApiClient(
            session=env.api._session,
            corp_id="corp",
            secret="secret",
            agent_id=1000002,
            clock=env.clock,
            api_base="http://127.0.0.1:9",
            timeout_s=0.3,
        )
        await OutboxWorker(env.store, dead, env.clock, worker_id="dead").run_once()
    else:
        await worker.run_once()
    [row] = await env.rows()
    assert (row.status, row.last_errcode) == ("pending", None)
    assert row.last_error
    await env.run_until_done(worker, step_s=61)
    assert [r.status for r in await env.rows()] == ["sent"]


async def test_a_permanent_error_is_reported_to_the_sender_like_invaliduser(env: Env) -> None:
    seen: list[tuple[str, tuple[str, ...]]] = []

    async def on_result(row: Claimed, result: Delivered) -> None:
        seen.append((row.source, result.invalid_users))

    await env.add(text_to_users(["x1", "x2"], "公告"), source="announcement:GG-1")
    env.fake.fail_next(40003, path=SEND)
    await env.worker(on_result=on_result).run_once()
    assert seen == [("announcement:GG-1", ("x1", "x2"))]
    assert [r.status for r in await env.rows()] == ["parked"]


async def test_a_robot_with_a_bad_key_holds_only_its_own_rows(env: Env) -> None:
    await env.add(
        [Outgoing("webhook", "newsroom", {"msgtype": "text", "text": {"content": "群"}})]
    )
    await env.add(texts(1))
    env.fake.fail_always(93000, path="/cgi-bin/webhook/send")
    worker = env.worker(webhook_keys={"newsroom": "KEY-1"})
    await worker.run_once()
    statuses = {r.kind: r.status for r in await env.rows()}
    assert statuses == {"webhook": "pending", "app": "sent"}
    assert list(worker.problems) == ["robot:newsroom"]
    assert "群机器人" in worker.problems["robot:newsroom"].reason


# -- the operators are told: /healthz, /metrics, the CLI -------------------------------------


async def test_a_configuration_error_shows_on_healthz_and_metrics_until_fixed(
    harness: Harness,
) -> None:
    bot = harness.bot
    async with transaction(bot.deps.sessions) as session:
        await enqueue(session, texts(1), harness.clock.now(), source="reminder:1")
    harness.fake.fail_always(60020, path=SEND)
    await harness.deliver_outbox()
    health = await (await harness.client.get("/healthz")).json()
    assert health["status"] == "degraded"
    assert "可信 IP" in health["reason"]
    assert "trusted IP" in health["reason_en"]
    assert health["outbox_problems"][0]["errcode"] == 60020
    metrics = await (await harness.client.get("/metrics")).text()
    assert "liuan_outbox_held 1" in metrics
    assert 'liuan_outbox_config_error{scope="app",errcode="60020"} 1' in metrics
    assert 'liuan_outbox_messages{status="pending"} 1' in metrics
    harness.fake.clear_faults()
    harness.clock.advance(61)
    await harness.deliver_outbox()
    health = await (await harness.client.get("/healthz")).json()
    assert health == {"status": "ok", "database": True, "mode": "live"}
    metrics = await (await harness.client.get("/metrics")).text()
    assert "liuan_outbox_held 0" in metrics
    assert 'liuan_outbox_messages{status="sent"} 1' in metrics


async def test_outbox_list_failed_and_retry_on_the_command_line(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(sqlite_url)
    await upgrade(engine)
    sessions = make_session_factory(engine)
    clock = FixedClock(datetime(2026, 12, 2, 9, 30, tzinfo=SHANGHAI))
    async with transaction(sessions) as session:
        await enqueue(session, texts(2, "ghost"), clock.now(), source="reminder:1")
    store = SqlOutboxStore(sessions, postgres=False)
    now = clock.now()
    for row in await store.claim_due(now, "w", now + timedelta(seconds=60), 10):
        await store.park(row.id, row.claim, now, reason_zh(40003), "errcode=40003", 40003)
    await engine.dispose()
    settings = make_settings(sqlite_url, tmp_path)
    assert await bot_module._outbox(settings, "list", True, [], False) == 0
    out = capsys.readouterr().out
    assert "未能送达的消息：2 条" in out
    assert "1\tghost\t应用消息\t收件人账号无效（错误码 40003）\t2026-12-02 09:30" in out
    assert await bot_module._outbox(settings, "retry", False, ["1"], False) == 0
    assert "已重新排队 1 条消息" in capsys.readouterr().out
    assert await bot_module._outbox(settings, "retry", False, [], True) == 0
    assert "已重新排队 1 条消息" in capsys.readouterr().out
    assert await bot_module._outbox(settings, "list", True, [], False) == 0
    assert "没有未能送达的消息" in capsys.readouterr().out
    assert await bot_module._outbox(settings, "retry", False, ["99"], False) == 1
    assert "没有找到这些编号的未送达消息" in capsys.readouterr().err
    assert await bot_module._outbox(settings, "retry", False, [], False) == 2
    assert await bot_module._outbox(settings, "retry", False, ["x"], False) == 2
    assert "消息编号应为数字" in capsys.readouterr().err


async def test_the_migration_turns_failed_rows_into_parked_ones(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    await upgrade(engine, revision="0005")
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO outbox (kind, target, body, source, status, attempts, created_at,"
                " next_attempt_at, invalid_users, last_error) VALUES ('app', 'u1', '{}', 't',"
                " 'failed', 1, '2026-12-01 00:00:00', '2026-12-01 00:00:00', '[]', 'x')"
            )
        )
    await upgrade(engine)
    [row] = await list_parked(make_session_factory(engine))
    await engine.dispose()
    assert (row.target, row.reason) == ("u1", "旧版本标记为发送失败")


async def test_two_instances_racing_for_the_parked_report_enqueue_it_once(
    env: Env, database_url: str
) -> None:
    await load_demo_roster(database_url)
    await env.add(texts(1, "ghost"))
    env.fake.fail_next(40003, path=SEND)
    await env.worker().run_once()
    now = env.clock.now()
    counts = await asyncio.gather(*(report_parked(env.sessions, now) for _ in range(3)))
    assert sorted(counts) == [0, 0, 1]
    reports = [r for r in await env.rows() if r.source == PARKED_REPORT_SOURCE]
    assert len(reports) == 1


@pytest.mark.postgres
async def test_the_shared_pacer_forgets_sends_older_than_an_hour(
    env: Env, database_url: str
) -> None:
    if is_sqlite(database_url):
        pytest.skip("the shared pacer lives in PostgreSQL")
    pacer = SqlPacer(env.sessions, daily_budget=10)
    for i in range(3):
        assert await pacer.reserve("app", f"m{i}", env.clock.now()) == 0
    env.clock.advance(1800)
    assert await pacer.reserve("app", "m9", env.clock.now()) == 0
    env.clock.advance(1801 + WINDOW_MARGIN_S)  # an hour (and the margin) after the first 3
    assert await pacer.prune(env.clock.now()) == 3
    env.clock.advance(24 * 3600)
    assert await pacer.prune(env.clock.now()) == 1
    async with env.sessions() as session:
        assert list((await session.exec(select(OutboxBudget))).all()) == []


@pytest.mark.parametrize(
    ("path", "fault"),
    [
        (SEND, 42001),
        (SEND, 40014),
        (SEND, 41001),
        (GETTOKEN, 40001),
        (SEND, -1),
        (SEND, 45009),
        (SEND, 45033),
        (SEND, 502),
        (SEND, 60020),
        (GETTOKEN, 60020),
    ],
)
async def test_sixty_seconds_of_a_fault_then_recovery_loses_and_duplicates_nothing(
    env: Env, path: str, fault: int
) -> None:
    """36 of 36 messages were lost in 60 s of persisting token faults (issue 8 item 2)."""
    await env.add([m for i in range(36) for m in text_to_users([f"f{i}"], f"故障{i}")])
    if fault >= 500 and fault < 600:
        env.fake.fail_http(fault, path=path, times=1 << 30)
    else:
        env.fake.fail_always(fault, path=path)
    worker = env.worker()
    for _ in range(12):
        await worker.run_once()
        env.clock.advance(5)
    assert {r.status for r in await env.rows()} == {"pending"}
    env.fake.clear_faults()
    await env.run_until_done(worker, step_s=30)
    assert [r.status for r in await env.rows()] == ["sent"] * 36
    assert all(env.fake.texts_to(f"f{i}") == [f"故障{i}"] for i in range(36))
