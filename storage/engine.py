"""The async engine and session factory. Built by `bot.py`; nothing connects at import time."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import carried
from storage.pending import insert_pending
from storage.prepared import install_write_count

if TYPE_CHECKING:  # it imports this module
    from storage.checkpoint import WalCheckpointer

SessionFactory = async_sessionmaker[AsyncSession]


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_file(url: str) -> Path | None:
    """The database file of a file-backed SQLite URL; None for PostgreSQL or `:memory:`."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database or "")


BUSY_TIMEOUT_MS = 10_000


def sqlite_busy(exc: sqlite3.OperationalError) -> bool:
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


def patiently(conn: sqlite3.Connection, function: Callable[[], Any]) -> Any:
    """Run `function` under SQLite's busy handler (in a worker thread: it may wait)."""
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        return function()
    finally:
        conn.execute("PRAGMA busy_timeout=0")


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection that runs each sqlite3 call in the event-loop thread (issue 11
    §1: no thread round trip per statement, the write path's main cost: ~45 hand-offs per
    write message, each a GIL handover), with SQLite's busy timeout at 0 so a call never
    blocks the loop waiting for a lock. A call that finds the database locked (another
    connection or process holds the write lock) is retried in aiosqlite's worker thread under
    the usual busy timeout, so the loop keeps running while it waits — the behaviour of a
    plain aiosqlite connection. SQLite statements on a local WAL file take microseconds."""

    waits = 0  # calls that found the database locked and waited in the worker thread
    after_commit: Callable[[], None] | None = None  # told of each commit, once it is written

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if not sqlite_busy(exc):
                raise
        conn = self._connection
        InlineConnection.waits += 1
        return await super()._execute(  # type: ignore[no-untyped-call]
            patiently, conn, partial(fn, *args, **kwargs)
        )

    async def commit(self) -> None:
        """COMMIT in aiosqlite's worker thread, where sqlite3 releases the GIL while SQLite
        writes the transaction's pages to the WAL (~0.3 ms for a batch of write messages):
        the loop serves other requests meanwhile, for one thread hand-off per transaction.
        The transaction holds the write lock already, so the commit never waits for one."""
        await super()._execute(self._conn.commit)  # type: ignore[no-untyped-call]
        if self.after_commit is not None:
            self.after_commit()


async def connect_inline(
    database: str | Path, after_commit: Callable[[], None] | None = None
) -> InlineConnection:
    """An `InlineConnection` to a SQLite file (autocommit; busy timeout 0, see above);
    `after_commit` is called after each of its commits."""

    def connector() -> sqlite3.Connection:
        conn = sqlite3.connect(str(database), timeout=0, check_same_thread=False)
        conn.isolation_level = None
        return conn

    connection = InlineConnection(connector, 64)
    connection.after_commit = after_commit
    connection._thread.daemon = True
    await connection
    return connection


def sqlite_pragmas(busy_timeout_ms: int, *, autocheckpoint: bool = True) -> tuple[str, ...]:
    """What every connection to the SQLite database sets: the engine's and the direct
    store's (`storage.inbox_store.SqliteDirect`). Without `autocheckpoint` its commits leave
    the WAL's checkpoints to a `storage.checkpoint.WalCheckpointer`."""
    pragmas = (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA busy_timeout={busy_timeout_ms}",
        "PRAGMA foreign_keys=ON",
        "PRAGMA synchronous=NORMAL",
        # statement journals (a statement that may fail half way, inside a savepoint: the
        # pipeline's group commit) in memory: in a temp file each cost ~0.1 ms of syscalls
        "PRAGMA temp_store=MEMORY",
    )
    return pragmas if autocheckpoint else (*pragmas, "PRAGMA wal_autocheckpoint=0")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, autocheckpoint: bool = True) -> None:
    # Let SQLAlchemy, not the driver, begin transactions: see _begin_immediate.
    dbapi_connection.isolation_level = None
    inline = isinstance(getattr(dbapi_connection, "_connection", None), InlineConnection)
    cursor = dbapi_connection.cursor()
    pragmas = sqlite_pragmas(0 if inline else BUSY_TIMEOUT_MS, autocheckpoint=autocheckpoint)
    for pragma in pragmas:
        cursor.execute(pragma)
    cursor.close()


def _begin_immediate(conn: Any) -> None:
    """Take SQLite's write lock at BEGIN: a transaction that reads and then writes would
    otherwise fail with SQLITE_BUSY when another writer committed in between (WAL snapshot).
    Reads that must not wait for, or hold, the write lock use `read_only(session)`."""
    readonly = conn.get_execution_options().get("liuan_readonly", False)
    sql = "BEGIN" if readonly else "BEGIN IMMEDIATE"
    driver = conn.connection.driver_connection
    if (
        conn._echo
        or conn.dispatch.before_cursor_execute
        or not isinstance(driver, InlineConnection)
    ):
        conn.exec_driver_sql(sql)  # seen by the echo log and statement listeners
        return
    # Straight to sqlite3 (issue 11 §1: SQLAlchemy's execution of the BEGIN cost more than the
    # rest of the transaction's set-up); a locked database is waited for as any statement is.
    try:
        await_(driver._execute(_execute_closed, driver._conn, sql))
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, (), exc, sqlite3.Error) from exc


def _execute_closed(conn: sqlite3.Connection, sql: str) -> None:
    conn.execute(sql).close()


async def read_only(session: AsyncSession) -> None:
    """Mark a fresh session's transaction as read-only: on SQLite a deferred BEGIN, so it
    neither takes nor waits for the write lock. Call before the session's first query."""
    await session.connection(execution_options={"liuan_readonly": True})


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def compact_json(value: Any) -> str:
    """How JSON columns are written: Chinese as itself, not `\\uXXXX` (half the bytes of a
    message body in the row and the WAL), and no spaces after separators; one encoder, built
    once (`json.dumps` with options builds one per call). Any JSON reader reads both forms,
    so rows written before stay readable. Half the values a write message stores are empty
    (an outbox row's `invalid_users`, an audit entry's `detail`): those need no encoder."""
    if value == []:
        return "[]"
    if value == {}:
        return "{}"
    return _ENCODE(value)


PG_CONNECT_TIMEOUT_S = 10.0  # a refused or blackholed server fails a connect within this
PG_COMMAND_TIMEOUT_S = 60.0  # a statement on a dead (half-open) connection fails within this


def make_engine(
    url: str,
    *,
    echo: bool = False,
    inline: bool = True,
    checkpointer: WalCheckpointer | None = None,
    connect_timeout_s: float = PG_CONNECT_TIMEOUT_S,
    command_timeout_s: float = PG_COMMAND_TIMEOUT_S,
) -> AsyncEngine:
    """An async engine: aiosqlite with WAL, busy timeout and foreign keys, or asyncpg.

    `inline=False` keeps SQLite's calls in aiosqlite's worker thread: for long read-only
    queries (console pages, reports) that must not hold the event loop (issue 10 §1). An
    inline engine given a `checkpointer` leaves the WAL's checkpoints to it
    (`storage.checkpoint`: they no longer run inside a commit on the loop).

    On PostgreSQL every connect and every statement has a timeout (issue 8): without them
    asyncpg waits forever on a blackholed server or a half-closed connection, and the
    callback never answers (not even 503) while the outbox and the inbox sweep stall."""
    if is_sqlite(url):
        database = sqlite_file(url)
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        pragmas = _sqlite_pragmas
        if inline and database is not None and not make_url(url).query:
            # sqlite3 calls in the event-loop thread (see InlineConnection)
            # its commits leave checkpoints to the checkpointer, told once each is written
            told = checkpointer.committed if checkpointer is not None else None
            engine = create_async_engine(
                url,
                echo=echo,
                async_creator=partial(connect_inline, database, told),
                json_serializer=compact_json,
            )
            if checkpointer is not None:
                pragmas = partial(_sqlite_pragmas, autocheckpoint=False)
        else:
            engine = create_async_engine(
                url, echo=echo, connect_args={"timeout": 10}, json_serializer=compact_json
            )
        event.listen(engine.sync_engine, "connect", pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        install_write_count(engine)  # a unit of work tells whether it wrote (storage.batch)
        return engine
    # Every checkout is pinged (issue 8): a connection PostgreSQL dropped (restart,
    # pg_terminate_backend, a half-open socket: the command timeout) is then replaced before
    # use instead of failing the message that drew it (no 5xx but 503 while storage is really
    # down). SQLAlchemy's own pool_pre_ping on asyncpg wraps its ping in a transaction (for
    # pgbouncer's transaction mode, which we do not use): BEGIN; ";"; ROLLBACK, three round
    # trips. `_ping_on_checkout` sends the ";" alone: the same round trip to the same backend,
    # a third of the cost (bench/README.md, "Where PostgreSQL's CPU goes").
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=10,
        max_overflow=10,
        json_serializer=compact_json,
        connect_args={"timeout": connect_timeout_s, "command_timeout": command_timeout_s},
    )
    event.listen(engine.sync_engine.pool, "checkout", _ping_on_checkout)
    carried.install(engine)  # writes carried by the next statement: none lost or misplaced
    install_write_count(engine)  # a unit of work tells whether it wrote (storage.batch)
    return engine


def _ping_on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """The pool's pre-ping, in one round trip: `;` on the asyncpg connection (outside any
    transaction, as a pooled connection is idle). A connection that fails it is discarded and
    the checkout retried on a fresh one (SQLAlchemy's DisconnectionError protocol); a server
    that is really down then fails the checkout, as with pool_pre_ping."""
    try:
        await_(dbapi_connection.driver_connection.fetchrow(";"))
    except Exception as exc:  # closed socket, terminated backend, command timeout
        raise DisconnectionError(f"pre-ping failed: {type(exc).__name__}: {exc}") from exc


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session in one transaction: committed on success, rolled back on any exception. Its
    new ORM objects are inserted by prepared statements (`storage.pending`) before the commit."""
    async with factory() as session, session.begin():
        yield session
        await insert_pending(session)


class _LazySession:
    """Stands in for an `AsyncSession` that is made on first use (any attribute)."""

    __slots__ = ("_factory", "_session")

    def __init__(self, factory: SessionFactory) -> None:
        self._factory = factory
        self._session: AsyncSession | None = None

    def __getattr__(self, name: str) -> Any:
        if self._session is None:
            self._session = self._factory()
        return getattr(self._session, name)


@asynccontextmanager
async def lazy_session(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session for work that may not touch the database at all (most read-only commands):
    made, and closed, only if used. Making and closing an unused `AsyncSession` cost ~10% of
    a 帮助 callback (issue 11 §2)."""
    lazy = _LazySession(factory)
    try:
        yield cast(AsyncSession, lazy)
    finally:
        if lazy._session is not None:
            await lazy._session.close()


MAX_BIND_PARAMETERS = 30_000  # below SQLite's 32,766 and PostgreSQL's 32,767 per statement


def batch_size(row: dict[str, object]) -> int:
    """Rows of this shape per multi-row INSERT: as many as the bind-parameter limit allows,
    so a bulk write is one statement for thousands of rows."""
    return max(1, MAX_BIND_PARAMETERS // max(1, len(row)))
