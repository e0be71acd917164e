"""Hot-path statements: compiled once, run on the transaction's own driver connection.

Issue 11 §1. SQLAlchemy executing a cached Core statement on an `AsyncConnection` costs
~50–60 µs of Python (the greenlet hop, the execution context, parameter processing, the
result's set-up), and `session.connection()` another ~40 µs per call; the statement itself
takes 3–10 µs in sqlite3 and one round trip on asyncpg. A write message runs six such
statements. `Prepared` compiles a Core statement once per dialect — its SQL text, the order
of its positional parameters, the values it binds itself and the dialect's bind processors,
i.e. the storage formats SQLAlchemy would write — and `rows`/`rowcount` run it on the DBAPI
connection of the session's current transaction: the same connection, the same transaction,
the same SQL text and parameters, without the machinery.

Only plain statements qualify (checked when first compiled): no expanding IN, no Python-side
column defaults to evaluate (every INSERT column is given), no RETURNING column that needs a
result processor. Driver errors come back as SQLAlchemy's (`IntegrityError`, `DBAPIError`),
as from `session.execute`; the engine's `before_cursor_execute` listeners and its echo log
still see every statement (tests and benchmarks count statements that way).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.sql import ClauseElement
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.sqltypes import UTCDateTime

from storage import carried

_DRIVER = "liuan_prepared_driver"  # session.info key: (root transaction, _Driver)


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    names: tuple[str, ...]  # the positional parameters, in order
    processors: tuple[Callable[[Any], Any] | None, ...]
    fixed: Mapping[str, Any]  # values the statement binds itself (overridable)
    table: str | None = None  # the table an INSERT without RETURNING writes (write_later)
    writes: bool = True  # not a plain SELECT (counted by `count_writes`)


class Prepared:
    """A Core statement (or one per dialect name) prepared for `rows`/`rowcount`. `keys`: the
    columns an INSERT is given, when it is built without `.values()`."""

    __slots__ = ("_keys", "_plans", "_statements")

    def __init__(
        self,
        statement: ClauseElement | Mapping[str, ClauseElement],
        *,
        keys: Sequence[str] | None = None,
    ) -> None:
        self._statements = statement
        self._keys = list(keys) if keys is not None else None
        self._plans: dict[int, tuple[Dialect, _Plan]] = {}

    def plan(self, dialect: Dialect) -> _Plan:
        found = self._plans.get(id(dialect))
        if found is not None and found[0] is dialect:
            return found[1]
        plan = self._compile(dialect)
        self._plans[id(dialect)] = (dialect, plan)
        return plan

    def _compile(self, dialect: Dialect) -> _Plan:
        statement = self._statements
        if isinstance(statement, Mapping):
            statement = statement["postgresql" if dialect.name == "postgresql" else "sqlite"]
        compiled: Any = statement.compile(dialect=dialect, column_keys=self._keys)
        problems = []
        if compiled.post_compile_params or compiled.literal_execute_params:
            problems.append("expanding or literal-execute parameters")
        if compiled.escaped_bind_names:
            problems.append("escaped parameter names")
        prefetch = getattr(compiled, "insert_prefetch", None) or getattr(
            compiled, "update_prefetch", None
        )
        if prefetch:
            problems.append("Python-side column defaults (give every column)")
        for column in getattr(compiled, "returning", None) or ():
            if column.type._cached_result_processor(dialect, None) is not None:
                problems.append(f"RETURNING {column} needs a result processor")
        if not dialect.positional or compiled.positiontup is None:
            problems.append(f"paramstyle {dialect.paramstyle} is not positional")
        if problems:
            raise TypeError(f"not a plain statement: {', '.join(problems)}: {compiled.string}")
        names = tuple(compiled.positiontup)
        binds = compiled.binds
        processors = compiled._bind_processors
        fixed = {n: binds[n].effective_value for n in names if not binds[n].required}
        chosen = tuple(_faster(processors.get(n), binds[n].type, dialect) for n in names)
        table = None
        if getattr(statement, "is_insert", False) and not getattr(compiled, "returning", None):
            table = statement.table.name  # type: ignore[attr-defined]
        return _Plan(compiled.string, names, chosen, fixed, table, _may_write(compiled.string))

    def arguments(
        self, dialect: Dialect, params: Mapping[str, Any] | None
    ) -> tuple[str, list[Any]]:
        """The SQL text and its positional arguments, processed as SQLAlchemy would."""
        return _bound(self.plan(dialect), params)


def _bound(plan: _Plan, params: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
    """`Prepared.arguments`, given the plan."""
    if not plan.fixed:
        values = params or {}
    else:
        values = plan.fixed if not params else {**plan.fixed, **params}
    try:
        return plan.sql, [
            value if (value := values[name]) is None or process is None else process(value)
            for name, process in zip(plan.names, plan.processors, strict=True)
        ]
    except KeyError as exc:
        raise TypeError(f"missing parameter {exc.args[0]!r} for {plan.sql}") from None


def _may_write(sql: str) -> bool:
    """Anything but a plain SELECT may write (an INSERT, an UPDATE, a SAVEPOINT)."""
    return sql.lstrip()[:6].upper() != "SELECT"


_WRITES = "liuan_writes"  # connection info: statements sent on it that may have written


def _count_write(info: dict[Any, Any]) -> None:
    """One more statement that may write, on the connection whose `info` this is."""
    info[_WRITES] = info.get(_WRITES, 0) + 1


_PROBE = datetime(2026, 12, 7, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))


_STAMPS: dict[datetime, str] = {}  # the last few instants stored, and their stamps
_STAMPS_KEPT = 256


def _sqlite_utc_stamp(value: datetime) -> str:
    """SQLAlchemy's SQLite storage of an aware datetime in a `UTCDateTime` column (UTC, no
    offset, microseconds), at a fraction of the cost of its TypeDecorator + DATETIME chain.
    A write message stores ~8 times, about half of them an instant it stored just before
    (`created_at` and `updated_at` are its `now`): those are looked up (a datetime keeps its
    hash; equal instants in any zone are one key, and a naive value never matches one)."""
    found = _STAMPS.get(value)
    if found is not None:
        return found
    if value.utcoffset() is None:
        raise ValueError("Datetime values must have timezone information.")
    # in UTC, isoformat ends "+00:00": cut, not `replace(tzinfo=None)` (~0.7 µs of its own)
    stamp = value.astimezone(UTC).isoformat(" ", "microseconds")[:-6]
    if len(_STAMPS) >= _STAMPS_KEPT:
        _STAMPS.clear()
    _STAMPS[value] = stamp
    return stamp


def _faster(
    process: Callable[[Any], Any] | None, type_: Any, dialect: Dialect
) -> Callable[[Any], Any] | None:
    """An equivalent, cheaper processor where there is one: SQLite's UTC datetimes (each a
    few microseconds of SQLAlchemy per value, ~10 values per write message). Used only when
    it gives SQLAlchemy's own result for a probe value."""
    if process is None or dialect.name != "sqlite" or not isinstance(type_, UTCDateTime):
        return process
    return _sqlite_utc_stamp if process(_PROBE) == _sqlite_utc_stamp(_PROBE) else process


class _Driver:
    """The driver connection of one transaction."""

    __slots__ = (
        "connection",
        "counted",
        "dialect",
        "info",
        "listened",
        "observed",
        "sqlite",
        "sync",
        "waiting",
    )

    def __init__(self, sync: Any, connection: Any, info: dict[Any, Any]) -> None:
        self.sync = sync  # SQLAlchemy's Connection: its events and echo log
        self.dialect: Dialect = sync.dialect
        self.connection = connection
        self.info = info  # the pooled connection's: the count of its writes (`writes`)
        self.sqlite = self.dialect.name == "sqlite"
        # writes carried by the next statement (storage.carried; PostgreSQL only)
        self.waiting: list[carried.Carried] = [] if self.sqlite else carried.queue(info)
        listeners = list(sync.dispatch.before_cursor_execute)
        self.listened = any(
            listener is not carried.before_statement and listener is not count_writes
            for listener in listeners
        )
        self.observed = bool(self.listened or sync._echo)
        # SQLAlchemy's own statements are counted too (`install_write_count`)
        self.counted = count_writes in listeners

    def observe(self, sql: str, args: list[Any]) -> None:
        sync = self.sync
        if sync._echo:
            sync._log_info(sql)
            sync._log_info("[prepared] %r", tuple(args))
        if self.listened:
            sync.dispatch.before_cursor_execute(sync, None, sql, args, None, False)


async def _driver(session: AsyncSession) -> _Driver:
    """The session's transaction's driver connection (begun if need be), cached per
    transaction: a later transaction of the same session may hold another connection."""
    root = session.sync_session.get_transaction()
    cached = session.info.get(_DRIVER)
    if cached is not None and root is not None and cached[0] is root:
        driver: _Driver = cached[1]
        return driver
    conn = await session.connection()
    fairy = await conn.get_raw_connection()
    adapted: Any = fairy.dbapi_connection
    if conn.dialect.name == "postgresql" and adapted._transaction is None:
        # SQLAlchemy's asyncpg adaptor sends BEGIN lazily, with its first statement: without
        # this, statements run here before any of SQLAlchemy's would be autocommitted.
        await adapted._start_transaction()
    driver = _Driver(conn.sync_connection, fairy.driver_connection, fairy.info)
    session.info[_DRIVER] = (session.sync_session.get_transaction(), driver)
    return driver


def _sqlite_call(conn: sqlite3.Connection, sql: str, args: list[Any]) -> tuple[list[Any], int]:
    cursor = conn.execute(sql, args)
    try:
        return cursor.fetchall(), cursor.rowcount
    finally:
        cursor.close()


async def _run(
    session: AsyncSession, statement: Prepared, params: Mapping[str, Any] | None, fetch: bool
) -> tuple[list[Any], int]:
    driver = await _driver(session)
    plan = statement.plan(driver.dialect)
    sql, args = _bound(plan, params)
    if plan.writes:
        _count_write(driver.info)
    if driver.waiting:  # PostgreSQL: writes that travel with this statement, or before it
        if carried.can_carry(driver.waiting, sql):
            taken = driver.waiting[:]
            driver.waiting.clear()
            sql, args = carried.combined(taken, sql, args)
        else:
            await _send_waiting(driver)
    if driver.observed:
        driver.observe(sql, args)
    if driver.sqlite:
        connection = driver.connection  # aiosqlite: inline (storage.engine) or its thread
        try:
            result: tuple[list[Any], int] = await connection._execute(
                _sqlite_call, connection._conn, sql, args
            )
        except sqlite3.Error as exc:
            raise _translated(sql, args, exc) from exc
        return result
    try:
        if fetch:
            found = await driver.connection.fetch(sql, *args)
            return list(found), len(found)
        status = await driver.connection.execute(sql, *args)
    except Exception as exc:
        if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
            raise _translated(sql, args, exc) from exc
        raise
    tail = status.rsplit(" ", 1)[-1]
    return [], int(tail) if tail.isdigit() else 0


def _translated(sql: str, args: list[Any], exc: Exception) -> DBAPIError:
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(sql, args, exc)
    return carried.translated(sql, args, exc)


async def _send_waiting(driver: _Driver) -> None:
    """Send the carried writes on their own (the next statement cannot carry them)."""
    await carried.send(
        driver.connection, driver.waiting, driver.observe if driver.observed else None
    )


async def rows(
    session: AsyncSession, statement: Prepared, params: Mapping[str, Any] | None = None
) -> list[Any]:
    """Run `statement` in the session's transaction; the rows it returns (tuples)."""
    return (await _run(session, statement, params, fetch=True))[0]


async def rowcount(
    session: AsyncSession, statement: Prepared, params: Mapping[str, Any] | None = None
) -> int:
    """Run `statement` (no RETURNING) in the session's transaction; the rows it changed."""
    return (await _run(session, statement, params, fetch=False))[1]


async def write_later(
    session: AsyncSession, statement: Prepared, params: Mapping[str, Any] | None = None
) -> None:
    """Run an INSERT whose result nobody reads (an audit row) in the session's transaction:
    on PostgreSQL it travels with the transaction's next statement (`storage.carried`: one
    round trip less); on SQLite it runs at once."""
    driver = await _driver(session)
    if driver.sqlite:
        await _run(session, statement, params, fetch=False)
        return
    plan = statement.plan(driver.dialect)
    if plan.table is None:
        raise TypeError("write_later takes an INSERT without RETURNING")
    sql, args = _bound(plan, params)
    _count_write(driver.info)
    carried.add(driver.waiting, plan.table, sql, args)


async def execute(session: AsyncSession, sql: str) -> None:
    """Run a plain statement without parameters (SAVEPOINT, RELEASE, ROLLBACK TO) in the
    session's transaction, on its driver connection. Carried writes (`storage.carried`) are
    sent before it, or dropped by a rollback, which would undo them."""
    driver = await _driver(session)
    if driver.waiting:
        if sql.startswith("ROLLBACK"):
            driver.waiting.clear()
        else:
            await _send_waiting(driver)
    if driver.observed:
        driver.observe(sql, [])
    if driver.sqlite:
        connection = driver.connection
        try:
            await connection._execute(_sqlite_call, connection._conn, sql, [])
        except sqlite3.Error as exc:
            raise _translated(sql, [], exc) from exc
        return
    try:
        await driver.connection.execute(sql)
    except Exception as exc:
        if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
            raise _translated(sql, [], exc) from exc
        raise


def count_writes(
    conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
) -> tuple[str, Any]:
    """`before_cursor_execute`: count a statement SQLAlchemy sends that may write (anything
    but a SELECT: an ORM flush, a Core UPDATE, a SAVEPOINT), as `_run` counts its own (a
    statement of this module's that a listener is shown may count twice: only whether the
    count moved matters)."""
    if _may_write(statement):
        _count_write(conn.info)
    return statement, parameters


def install_write_count(engine: Any) -> None:
    """Count the writes of every connection of `engine` (see `writes`)."""
    event.listen(engine.sync_engine, "before_cursor_execute", count_writes, retval=True)


async def writes(session: AsyncSession) -> int | None:
    """How many statements that may write the session's transaction's connection has been
    sent so far, by this module or by SQLAlchemy (a write carried for later counts when it
    is queued); None when its engine does not count them (`install_write_count`). Two
    readings that agree mean nothing was written in between (`storage.batch`)."""
    driver = await _driver(session)
    return driver.info.get(_WRITES, 0) if driver.counted else None


async def on_sqlite(session: AsyncSession) -> bool:
    """Whether the session's transaction runs on SQLite (begun if need be)."""
    return bool((await _driver(session)).sqlite)
