"""Fixtures: a fixed clock, a migrated database (SQLite, and PostgreSQL when
LIUAN_TEST_DATABASE_URL is set), the demo roster, a fake WeCom, and a served bot."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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

GIVEN_PG_URL = os.environ.get("LIUAN_TEST_DATABASE_URL", "")
# The tests never touch the given database's own schemas: each run creates a database of its
# own beside it (`liuan_t_<random>`), resets only that one, and drops it when the run ends, so
# two runs (two developers, CI) on one server do not clobber each other.
# (Kept in the environment: this module is imported twice, as conftest and as tests.conftest.)
OWNED_DB = (
    os.environ.setdefault("LIUAN_TEST_OWNED_DATABASE", f"liuan_t_{secrets.token_hex(6)}")
    if GIVEN_PG_URL
    else ""
)
PG_URL = GIVEN_PG_URL.rsplit("/", 1)[0] + "/" + OWNED_DB if GIVEN_PG_URL else ""
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)


async def _admin(statement: str) -> None:
    engine = make_engine(GIVEN_PG_URL)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def pytest_sessionstart(session: pytest.Session) -> None:
    if OWNED_DB:
        asyncio.run(_admin(f'CREATE DATABASE "{OWNED_DB}"'))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if OWNED_DB:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{OWNED_DB}" WITH (FORCE)'))


def pytest_report_header() -> str:
    if PG_URL:
        return f"PostgreSQL tests: on ({PG_URL.split('@')[-1]}, created for this run)"
    return "PostgreSQL tests: skipped (set LIUAN_TEST_DATABASE_URL to run them)"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


async def _reset_postgres(url: str) -> None:
    """Empty the database this run created (never the one it was given)."""
    if not OWNED_DB or not url.endswith("/" + OWNED_DB):
        raise RuntimeError("only the run's own database is ever reset")
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


@asynccontextmanager
async def demo_bot(
    url: str, tmp_path: Path, clock: FixedClock, fake_wecom: FakeWeCom, **env: str
) -> AsyncIterator[Harness]:
    """The bot on `url` with the demo roster, live mode against the fake WeCom API; `env`:
    settings of its own (`LIUAN_…`)."""
    await load_demo_roster(url)
    settings = make_settings(
        url, tmp_path, LIUAN_WECOM_SECRET="test-secret", LIUAN_WECOM_AGENT_ID="1000002", **env
    )
    async with running_bot(settings, clock, fake_wecom) as h:
        yield h


@pytest_asyncio.fixture
async def harness(
    sqlite_url: str, tmp_path: Path, clock: FixedClock, fake_wecom: FakeWeCom
) -> AsyncIterator[Harness]:
    """The bot on SQLite with the demo roster, live mode against the fake WeCom API."""
    async with demo_bot(sqlite_url, tmp_path, clock, fake_wecom) as h:
        yield h
