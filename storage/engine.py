"""The async engine and session factory. Built by `bot.py`; nothing connects at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

SessionFactory = async_sessionmaker[AsyncSession]


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, begin transactions: see _begin_immediate.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_immediate(conn: Any) -> None:
    """Take SQLite's write lock at BEGIN: a transaction that reads and then writes would
    otherwise fail with SQLITE_BUSY when another writer committed in between (WAL snapshot).
    Reads that must not wait for, or hold, the write lock use `read_only(session)`."""
    readonly = conn.get_execution_options().get("liuan_readonly", False)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


async def read_only(session: AsyncSession) -> None:
    """Mark a fresh session's transaction as read-only: on SQLite a deferred BEGIN, so it
    neither takes nor waits for the write lock. Call before the session's first query."""
    await session.connection(execution_options={"liuan_readonly": True})


PG_CONNECT_TIMEOUT_S = 10.0  # a refused or blackholed server fails a connect within this
PG_COMMAND_TIMEOUT_S = 60.0  # a statement on a dead (half-open) connection fails within this


def make_engine(
    url: str,
    *,
    echo: bool = False,
    connect_timeout_s: float = PG_CONNECT_TIMEOUT_S,
    command_timeout_s: float = PG_COMMAND_TIMEOUT_S,
) -> AsyncEngine:
    """An async engine: aiosqlite with WAL, busy timeout and foreign keys, or asyncpg.

    On PostgreSQL every connect and every statement has a timeout (issue 8): without them
    asyncpg waits forever on a blackholed server or a half-closed connection, and the
    callback never answers (not even 503) while the outbox and the inbox sweep stall."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 10})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args={"timeout": connect_timeout_s, "command_timeout": command_timeout_s},
    )


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session in one transaction: committed on success, rolled back on any exception."""
    async with factory() as session, session.begin():
        yield session


MAX_BIND_PARAMETERS = 30_000  # below SQLite's 32,766 and PostgreSQL's 32,767 per statement


def batch_size(row: dict[str, object]) -> int:
    """Rows of this shape per multi-row INSERT: as many as the bind-parameter limit allows,
    so a bulk write is one statement for thousands of rows."""
    return max(1, MAX_BIND_PARAMETERS // max(1, len(row)))
