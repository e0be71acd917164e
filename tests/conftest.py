"""Fixtures: a fixed clock, a migrated database (SQLite, and PostgreSQL when
LIUAN_TEST_DATABASE_URL is set), the demo roster, a fake WeCom, and a served bot."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from liuan_bot.clock import SHANGHAI, FixedClock
from liuan_bot.domain.roster import parse_roster_csv
from liuan_bot.wecom.fake_server import FakeWeCom
from storage.engine import SessionFactory, make_engine, make_session_factory, transaction
from storage.migrate import upgrade
from storage.roster_store import import_roster
from tests.support import DEMO_ROSTER, Harness, make_settings, running_bot

PG_URL = os.environ.get("LIUAN_TEST_DATABASE_URL", "")
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)


def pytest_report_header() -> str:
    if PG_URL:
        return f"PostgreSQL tests: on ({PG_URL.split('@')[-1]})"
    return "PostgreSQL tests: skipped (set LIUAN_TEST_DATABASE_URL to run them)"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


async def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL: SQLite always, PostgreSQL when configured."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/test.db"
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set LIUAN_TEST_DATABASE_URL (CI sets it)")
    await _reset_postgres(PG_URL)
    return PG_URL


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/test.db"


@pytest_asyncio.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database_url)
    await upgrade(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> SessionFactory:
    return make_session_factory(engine)


async def load_demo_roster(url: str) -> None:
    eng = make_engine(url)
    await upgrade(eng)
    parsed = parse_roster_csv(DEMO_ROSTER.read_bytes())
    assert not parsed.errors
    async with transaction(make_session_factory(eng)) as session:
        await import_roster(session, parsed.rows, NOW)
    await eng.dispose()


@pytest.fixture
def fake_wecom(clock: FixedClock) -> FakeWeCom:
    return FakeWeCom(corp_id="wx5823bf96d3bd56c7", secret="test-secret", clock=clock)


@pytest_asyncio.fixture
async def harness(
    sqlite_url: str, tmp_path: Path, clock: FixedClock, fake_wecom: FakeWeCom
) -> AsyncIterator[Harness]:
    """The bot on SQLite with the demo roster, live mode against the fake WeCom API."""
    await load_demo_roster(sqlite_url)
    settings = make_settings(
        sqlite_url, tmp_path, LIUAN_WECOM_SECRET="test-secret", LIUAN_WECOM_AGENT_ID="1000002"
    )
    async with running_bot(settings, clock, fake_wecom) as h:
        yield h
