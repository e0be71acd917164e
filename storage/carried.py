"""Writes carried by the next statement: fewer round trips on PostgreSQL (issue 11 §2).

A write message's unit of work makes about eight round trips to PostgreSQL, one after the
other, each waiting its turn on a busy event loop; its audit row is one of them, and nothing
reads its result. `storage.prepared.write_later` therefore does not send such a write: it
waits, on the connection, for the transaction's next statement, and travels with it as a
data-modifying WITH clause (`WITH carried_0 AS (INSERT INTO audit_log …) INSERT INTO outbox
…`), one round trip for both. PostgreSQL runs both parts as one statement: both or neither.

What keeps this exact (each point has a test in `tests/storage/test_carried.py`):

- The two parts of such a statement see the same snapshot, so the host statement could not
  see the carried rows. A host may carry a write only if its SQL names none of the carried
  writes' tables; otherwise the carried writes are sent first, on their own.
- Everything else that reaches the connection sends them first: a statement of SQLAlchemy's
  (`before_cursor_execute`; its SAVEPOINTs too), our own SAVEPOINT and the COMMIT, so a
  write is never left behind and is never moved across a savepoint.
- A rollback (of the transaction or to a savepoint) drops them: they were written after the
  latest savepoint, so the rollback would have undone them anyway. So does the pool when the
  connection comes back.
- They are taken off the connection before their statement is sent: a statement that fails
  takes them with it, as it takes the transaction's state.

On SQLite a statement costs microseconds and no round trip: `write_later` runs it at once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_

_KEY = "liuan_carried_writes"  # the pooled connection's `info`: its carried writes
_PARAMETER = re.compile(r"\$(\d+)")
_COMBINED: dict[tuple[tuple[str, ...], str], str] = {}  # (carried SQL, host SQL) → one SQL
_COMBINED_MAX = 512  # distinct combinations kept (a handful in practice)


@dataclass(slots=True)
class Carried:
    """Rows waiting for the next statement: one INSERT … VALUES (…) of `table`, and the
    arguments of each of its rows, one row after the other."""

    table: str
    sql: str  # the one-row statement
    args: list[Any]
    rows: int = 1

    def text(self) -> str:
        """The statement for all the rows: one multi-row VALUES, which takes the table's
        serial ids in the order the rows were written (an audit entry's id breaks ties of
        its time)."""
        if self.rows == 1:
            return self.sql
        found = _ROWS.get((self.sql, self.rows))
        if found is None:
            head, row = self.sql.split(" VALUES ", 1)
            width = len(self.args) // self.rows
            values = ", ".join(_shifted(row, index * width) for index in range(self.rows))
            found = _ROWS[(self.sql, self.rows)] = f"{head} VALUES {values}"
        return found


_ROWS: dict[tuple[str, int], str] = {}


def add(waiting: list[Carried], table: str, sql: str, args: list[Any]) -> None:
    """Queue a one-row INSERT; a row of the same statement as the last queued joins it."""
    if waiting:
        last = waiting[-1]
        if last.sql == sql and _one_values_row(sql) and last.rows < _ROWS_MAX:
            last.args.extend(args)
            last.rows += 1
            return
    waiting.append(Carried(table, sql, list(args)))


_ROWS_MAX = 100  # rows per carried statement


def _one_values_row(sql: str) -> bool:
    parts = sql.split(" VALUES ")
    return len(parts) == 2 and parts[1].startswith("(") and parts[1].endswith(")")


def queue(info: dict[Any, Any]) -> list[Carried]:
    """The writes a pooled connection carries (its `info` dict outlives each checkout)."""
    found: list[Carried] | None = info.get(_KEY)
    if found is None:
        found = info[_KEY] = []
    return found


def can_carry(waiting: Sequence[Carried], host_sql: str) -> bool:
    """Whether `host_sql` may carry the waiting writes: it is not a WITH statement itself,
    and it names none of their tables (it would not see their rows)."""
    if host_sql[:4].upper() == "WITH":
        return False
    return not any(_names(host_sql, write.table) for write in waiting)


@functools.lru_cache(maxsize=1024)  # a handful of (statement, table) pairs, asked per message
def _names(sql: str, table: str) -> bool:
    return re.search(rf"\b{re.escape(table)}\b", sql) is not None


def combined(
    waiting: Sequence[Carried], host_sql: str, host_args: Sequence[Any]
) -> tuple[str, list[Any]]:
    """One statement: the waiting writes as WITH clauses, then the host statement; its
    positional parameters renumbered after theirs."""
    texts = tuple(write.text() for write in waiting)
    args: list[Any] = []
    for write in waiting:
        args.extend(write.args)
    cache_key = (texts, host_sql)
    sql = _COMBINED.get(cache_key)
    if sql is None:
        clauses = []
        offset = 0
        for index, write in enumerate(waiting):
            clauses.append(f"carried_{index} AS ({_shifted(texts[index], offset)})")
            offset += len(write.args)
        sql = f"WITH {', '.join(clauses)} {_shifted(host_sql, offset)}"
        if len(_COMBINED) >= _COMBINED_MAX:
            _COMBINED.clear()
        _COMBINED[cache_key] = sql
    args.extend(host_args)
    return sql, args


def alone(waiting: Sequence[Carried]) -> tuple[str, list[Any]]:
    """The waiting writes as one statement of their own (the last one carries the rest)."""
    *rest, last = waiting
    if not rest:
        return last.text(), list(last.args)
    return combined(rest, last.text(), last.args)


def _shifted(sql: str, offset: int) -> str:
    if not offset:
        return sql
    return _PARAMETER.sub(lambda found: f"${int(found.group(1)) + offset}", sql)


async def send(
    connection: asyncpg.Connection,
    waiting: list[Carried],
    observe: Callable[[str, list[Any]], None] | None = None,
) -> None:
    """Send the writes `waiting` holds, on their own, and empty it first (see above);
    `observe` is shown the statement first (the engine's statement listeners)."""
    if not waiting:
        return
    taken = waiting[:]
    waiting.clear()
    sql, args = alone(taken)
    if observe is not None:
        observe(sql, args)
    try:
        await connection.execute(sql, *args)
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise translated(sql, args, exc) from exc


def translated(sql: str, args: Sequence[Any], exc: Exception) -> DBAPIError:
    """A driver error as SQLAlchemy's own (`IntegrityError`, `DBAPIError`)."""
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return IntegrityError(sql, list(args), exc)
    invalidated = isinstance(exc, asyncpg.InterfaceError | asyncpg.ConnectionDoesNotExistError)
    return DBAPIError(sql, list(args), exc, connection_invalidated=invalidated)


# --- the engine's side: SQLAlchemy's own statements, savepoints, commits and rollbacks ---


def _waiting_of(conn: Any) -> list[Carried] | None:
    if conn.invalidated or conn.closed:
        return None
    found: list[Carried] | None = conn.connection.info.get(_KEY)
    return found


def _send_first(conn: Any, *_: Any) -> None:
    waiting = _waiting_of(conn)
    if waiting:

        def observe(sql: str, args: list[Any]) -> None:  # listeners see what is sent
            conn.dispatch.before_cursor_execute(conn, None, sql, args, None, False)

        await_(send(conn.connection.driver_connection, waiting, observe))


def before_statement(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> tuple[str, Any]:
    """SQLAlchemy is about to run a statement of its own: the carried writes go first."""
    _send_first(conn)
    return statement, parameters


def _drop(conn: Any, *_: Any) -> None:
    waiting = _waiting_of(conn)
    if waiting:
        waiting.clear()


def _drop_pooled(dbapi_connection: Any, record: Any, *_: Any) -> None:
    found = record.info.get(_KEY) if record is not None else None
    if found:
        found.clear()


def install(engine: AsyncEngine) -> None:
    """Hook an asyncpg engine so that no carried write is lost or misplaced (see above)."""
    sync = engine.sync_engine
    # SQLAlchemy's own statements, its SAVEPOINTs included, go through a cursor
    event.listen(sync, "before_cursor_execute", before_statement, retval=True)
    event.listen(sync, "commit", _send_first)
    # a rollback would undo them (a ROLLBACK TO, sent through a cursor, after sending them)
    event.listen(sync, "rollback", _drop)
    event.listen(sync, "rollback_savepoint", _drop)
    event.listen(sync.pool, "checkin", _drop_pooled)  # however the connection was left
