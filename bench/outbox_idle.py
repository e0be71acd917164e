"""Benchmark: what a waiting outbox backlog costs (issue 11 §2, "a backlog costs nothing while
it waits").

    .venv/bin/python bench/outbox_idle.py [--rows 5000] [--members 5] [--seconds 20]
        [--database-url postgresql+asyncpg://…] [--no-fail]

A fresh database (a temporary SQLite file, or the PostgreSQL URL given, whose `outbox`,
`outbox_pacing` and `outbox_budget` tables are emptied first) is migrated and gets `--rows`
pending app messages spread over `--members` members, all due now. Every member has already
used their hourly budget (1,000 sends in the last hour: recorded in the in-process pacer on
SQLite, in `outbox_pacing` on PostgreSQL), so nothing may leave: the whole backlog waits.

The real `OutboxWorker.run_forever` (1 s poll, batch 50, real clock) runs against a fake WeCom
served in the same process. After a 3 s warm-up (the first claim finds the members paced and
defers their rows), the process CPU time (`time.process_time()`: every thread, including
aiosqlite's) is read over `--seconds` of wall time and reported as a fraction of one core,
with the rows claimed, the deferrals and the messages sent during the window.

Target: < 2% of a core, 0 messages sent. Exit status 1 if missed (unless --no-fail).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from sqlalchemy import delete, insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from liuan_bot.clock import SystemClock
from liuan_bot.outbox import Claimed, OutboxWorker
from liuan_bot.pacing import InProcessPacer, Pacer
from liuan_bot.wecom.api import WeComApiClient
from liuan_bot.wecom.fake_server import FakeWeCom
from storage.engine import is_sqlite, make_engine, make_session_factory
from storage.migrate import upgrade
from storage.outbox_store import SqlOutboxStore, SqlPacer
from storage.tables import OutboxBudget, OutboxMessage, OutboxPacing

TARGET_CORE_FRACTION = 0.02


class CountingStore(SqlOutboxStore):
    """The real store, counting what the worker does with it."""

    claimed = 0
    deferred = 0

    async def claim_due(
        self,
        now: datetime,
        worker: str,
        lease_until: datetime,
        limit: int,
        *,
        skip_targets: Collection[str] = (),
    ) -> list[Claimed]:
        rows = await super().claim_due(now, worker, lease_until, limit, skip_targets=skip_targets)
        CountingStore.claimed += len(rows)
        return rows

    async def defer_target(self, row_id: int, claim: str, target: str, at: datetime) -> None:
        CountingStore.deferred += 1
        await super().defer_target(row_id, claim, target, at)


async def seed(url: str, rows: int, members: int, now: datetime) -> Pacer:
    engine = make_engine(url)
    await upgrade(engine)
    users = [f"member{i:03d}" for i in range(members)]
    stamp = now.astimezone(UTC)
    async with engine.begin() as conn:
        for table in (OutboxMessage, OutboxPacing, OutboxBudget):
            await conn.execute(delete(table))
        batch: list[dict[str, Any]] = []
        for i in range(rows):
            user = users[i % members]
            batch.append(
                {
                    "kind": "app",
                    "target": user,
                    "body": {"touser": user, "msgtype": "text", "text": {"content": f"积压{i}"}},
                    "source": "bench",
                    "status": "pending",
                    "attempts": 0,
                    "created_at": stamp,
                    "next_attempt_at": stamp,
                    "invalid_users": [],
                }
            )
        await conn.execute(insert(OutboxMessage), batch)
        if not is_sqlite(url):  # each member used their hourly budget in the last hour
            used = [
                {"key": f"app:{u}", "at": stamp - timedelta(seconds=3000 - j * 2.5)}
                for u in users
                for j in range(1000)
            ]
            await conn.execute(insert(OutboxPacing), used)
    await engine.dispose()
    if not is_sqlite(url):
        return SqlPacer(make_session_factory(make_engine(url)))
    pacer = InProcessPacer()
    for user in users:
        for j in range(1000):
            await pacer.reserve("app", user, now - timedelta(seconds=3000 - j * 2.5))
    return pacer


async def run(args: argparse.Namespace) -> int:
    clock = SystemClock()
    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite+aiosqlite:///{tmp.name}/idle.db"
    pacer = await seed(url, args.rows, args.members, clock.now())
    engine = make_engine(url)
    store = CountingStore(make_session_factory(engine), postgres=not is_sqlite(url))
    fake = FakeWeCom(corp_id="corp", secret="secret")
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
        )
        worker = OutboxWorker(store, api, clock, worker_id="bench", pacer=pacer)
        task = asyncio.create_task(worker.run_forever(poll_s=1.0))
        await asyncio.sleep(3.0)  # warm-up: the first claims defer the paced members
        claimed0, deferred0, sent0 = store.claimed, store.deferred, len(fake.delivered)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(args.seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        claimed, deferred = store.claimed - claimed0, store.deferred - deferred0
        sent = len(fake.delivered) - sent0
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    await server.close()
    await engine.dispose()
    tmp.cleanup()
    fraction = cpu / wall
    database = "SQLite" if is_sqlite(url) else "PostgreSQL"
    print(f"outbox idle backlog — {database}, {args.rows} rows over {args.members} members")
    print(f"  load average before: {os.getloadavg()[0]:.2f}")
    print(f"  window: {wall:.1f} s wall, {cpu * 1000:.1f} ms CPU (process, all threads)")
    print(f"  CPU: {fraction * 100:.2f}% of a core (target < {TARGET_CORE_FRACTION * 100:.0f}%)")
    print(f"  rows claimed in the window: {claimed}; deferrals: {deferred}; sent: {sent}")
    ok = fraction < TARGET_CORE_FRACTION and sent == 0
    print("  target met" if ok else "  TARGET MISSED")
    return 0 if ok or args.no_fail else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--no-fail", action="store_true")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
