"""Two `bot.py serve` processes on one PostgreSQL sweep at the same instant over 500 units:
every due reminder reaches WeCom exactly once (issue 4). Runs when LIUAN_TEST_DATABASE_URL is
set (CI sets it); the WeCom API is a fake served by this test."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func
from sqlmodel import col, select

from liuan_bot.clock import SHANGHAI
from liuan_bot.domain.roles import Role
from liuan_bot.domain.roster import RosterRow, UnitType
from liuan_bot.wecom.fake_server import FakeWeCom
from storage.engine import make_engine, make_session_factory, transaction
from storage.migrate import upgrade
from storage.roster_store import import_roster
from storage.tables import OutboxMessage, ReminderInstance
from tests.conftest import PG_URL, _reset_postgres
from tests.support import AES_KEY, CORP_ID, TOKEN

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
UNITS = 500
INSTANT = "2026-12-02T09:00:00+08:00"  # R8 (30 days left), R9 and R10 all due for every unit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seed(url: str) -> None:
    from datetime import datetime

    now = datetime.fromisoformat(INSTANT).astimezone(SHANGHAI)
    rows = []
    for i in range(UNITS):
        common = dict(
            unit=f"测试单位{i:03d}",
            unit_type=UnitType.CITY_DEPARTMENT,
            key_unit=True,
            title="",
            mobile="",
            public=False,
        )
        rows.append(
            RosterRow(
                line=2 * i + 2,
                name=f"发言{i:03d}",
                userid=f"s{i:03d}",
                roles=frozenset({Role.SPOKESPERSON, Role.LIAISON}),
                **common,
            )
        )
        rows.append(
            RosterRow(
                line=2 * i + 3,
                name=f"局长{i:03d}",
                userid=f"m{i:03d}",
                roles=frozenset({Role.MAIN_LEADER}),
                **common,
            )
        )
    engine = make_engine(url)
    await upgrade(engine)
    async with transaction(make_session_factory(engine)) as session:
        await import_roster(session, rows, now)
    await engine.dispose()


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


async def test_r8_two_instances_on_one_postgres_send_every_due_reminder_exactly_once(
    tmp_path: Path,
) -> None:
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set LIUAN_TEST_DATABASE_URL (CI sets it)")
    await _reset_postgres(PG_URL)
    await seed(PG_URL)
    fake = FakeWeCom(corp_id=CORP_ID, secret="two-instances-secret")
    api = TestServer(fake.app())
    await api.start_server()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIUAN_")}
    env.update(
        LIUAN_DATABASE_URL=PG_URL,
        LIUAN_DATA_DIR=str(tmp_path),
        LIUAN_WECOM_CORP_ID=CORP_ID,
        LIUAN_WECOM_AGENT_ID="1000002",
        LIUAN_WECOM_SECRET="two-instances-secret",
        LIUAN_WECOM_TOKEN=TOKEN,
        LIUAN_WECOM_AES_KEY=AES_KEY,
        LIUAN_WECOM_API_BASE=str(api.make_url("")).rstrip("/"),
        LIUAN_PUBLIC_URL="https://xwb.example.gov.cn",
    )
    ports = [free_port(), free_port()]
    logs = [(tmp_path / f"serve{n}.log").open("w", encoding="utf-8") for n in (1, 2)]
    servers = [
        subprocess.Popen(  # noqa: ASYNC220 (started once; never waited on in the loop)
            [sys.executable, "bot.py", "serve", "--port", str(port), "--clock-start", INSTANT],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for port, log in zip(ports, logs, strict=True)
    ]
    try:
        for _ in range(300):  # both up (each sweeps at start-up), bounded at ~60 s
            if all(await asyncio.gather(*(asyncio.to_thread(healthy, p) for p in ports))):
                break
            assert all(s.poll() is None for s in servers), "a bot process exited"
            await asyncio.sleep(0.2)
        # per unit: the spokesperson's merged text + its 收到 card, the leader's one card (C1)
        expected = UNITS * 3
        stable = 0
        for _ in range(600):  # until the outboxes are drained, bounded at ~120 s
            await asyncio.sleep(0.2)
            stable = stable + 1 if len(fake.delivered) >= expected else 0
            if stable >= 10:
                break
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        for log in logs:
            log.close()
        await api.close()
    texts = Counter((d.to, d.text) for d in fake.delivered if d.msgtype == "text")
    cards = Counter(d.to for d in fake.delivered if d.msgtype == "template_card")
    assert max(texts.values()) == 1, "a reminder reached WeCom twice"
    for i in range(UNITS):
        [spokes] = [t for (to, t) in texts if to == f"s{i:03d}"]
        [leader] = [d.text for d in fake.delivered if d.to == f"m{i:03d}"]
        assert "季度发布会" in spokes
        assert "半年出席" in spokes
        assert "年度出席" in spokes
        assert "年度出席" in leader  # one card: the reminder and its 收到 button
        assert cards[f"s{i:03d}"] == cards[f"m{i:03d}"] == 1
    assert len(fake.delivered) == UNITS * 3
    engine = make_engine(PG_URL)
    async with make_session_factory(engine)() as session:
        sent = (
            await session.exec(
                select(func.count())
                .select_from(ReminderInstance)
                .where(col(ReminderInstance.status) == "sent")
            )
        ).one()
        pending = (
            await session.exec(
                select(func.count())
                .select_from(OutboxMessage)
                .where(col(OutboxMessage.status) != "sent")
            )
        ).one()
    await engine.dispose()
    assert sent == UNITS * 3  # R8, R9 and R10 for each unit, recorded once
    assert pending == 0
    outputs = [(tmp_path / f"serve{n}.log").read_text(encoding="utf-8") for n in (1, 2)]
    assert all("Traceback" not in out for out in outputs)
