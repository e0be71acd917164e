"""Inbound messages: stored once per dedupe key, handled, by the transaction that handles them
(issue 8.1, issue 11.1); a row left `received` is leased to the instance that takes it over.

Every statement here is SQLAlchemy Core built once at import (compiled once per dialect and
cached), executed on the session's connection: no ORM unit of work on the hot path. Those of
every message (its row, the roster version, the completion) go through `storage.prepared`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from sqlalchemy import bindparam, exists, func, literal_column, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from liuan_bot.messages import Incoming, NotACallback, Reply, ReplyKind, incoming_from_fields
from storage import prepared
from storage.checkpoint import WalCheckpointer
from storage.engine import (
    PG_COMMAND_TIMEOUT_S,
    PG_CONNECT_TIMEOUT_S,
    SessionFactory,
    compact_json,
    patiently,
    read_only,
    sqlite_busy,
    sqlite_file,
    sqlite_pragmas,
    transaction,
)
from storage.tables import InboundMessage, RosterVersion

INBOUND = InboundMessage.__table__  # type: ignore[attr-defined]
ROSTER_VERSION = RosterVersion.__table__  # type: ignore[attr-defined]
_COLUMNS = ("dedupe_key", "msg_id", "from_user", "msg_type", "event", "content", "raw")


def _insert_new(dialect: Any) -> Any:
    """INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id: the dedupe, in one statement."""
    return (
        dialect.insert(INBOUND)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(INBOUND.c.id)
    )


_INSERT = {"sqlite": _insert_new(sqlite), "postgresql": _insert_new(postgresql)}
_VERSION = prepared.Prepared(select(ROSTER_VERSION.c.version).where(ROSTER_VERSION.c.id == 1))
_RECEIVED = INBOUND.c.status == "received"
_LEASE_FREE = or_(INBOUND.c.lease_until.is_(None), INBOUND.c.lease_until < bindparam("now"))
_FINISH = prepared.Prepared(
    update(INBOUND)
    .where(INBOUND.c.id == bindparam("inbound_id"))
    .where(_RECEIVED)
    .values(
        status=bindparam("status"),
        handled_at=bindparam("handled_at"),
        reply_text=bindparam("reply_text"),
        reply_route=bindparam("reply_route"),
        reply_button=bindparam("reply_button"),
        error=bindparam("error"),
        lease_until=None,
    )
)
# a message nobody holds a live lease on, or one leased to the caller itself (its own store
# went through, and the answer was lost with a dead connection; or its handling failed)
_TAKE_OVER = (
    update(INBOUND)
    .where(INBOUND.c.dedupe_key == bindparam("key"))
    .where(_RECEIVED)
    .where(or_(_LEASE_FREE, INBOUND.c.claimed_by == bindparam("owner")))
    .values(claimed_by=bindparam("owner"), lease_until=bindparam("lease"))
    .returning(INBOUND.c.id, INBOUND.c.raw)
)
_STORED_REPLY = prepared.Prepared(
    select(INBOUND.c.reply_text, INBOUND.c.reply_button, INBOUND.c.status)
    .where(INBOUND.c.dedupe_key == bindparam("key"))
    .where(INBOUND.c.reply_route == "passive")
    .where(~_RECEIVED)
    .where(INBOUND.c.received_at <= bindparam("before", type_=INBOUND.c.received_at.type))
)
_ANY_STALE = select(INBOUND.c.id).where(_RECEIVED).where(_LEASE_FREE).limit(1)


def _stale_ids(limit: int, *, postgres: bool) -> Any:
    query = select(INBOUND.c.id).where(_RECEIVED).where(_LEASE_FREE).order_by(INBOUND.c.id)
    query = query.limit(limit)
    return query.with_for_update(skip_locked=True) if postgres else query


def message_values(incoming: Incoming) -> dict[str, Any]:
    """A message's own columns of its inbound row (what WeCom sent)."""
    return {
        "dedupe_key": incoming.dedupe_key,
        "msg_id": incoming.msg_id,
        "from_user": incoming.from_user,
        "msg_type": incoming.msg_type,
        "event": incoming.event,
        "content": incoming.content,
        "raw": incoming.raw,
    }


async def _conn(session: AsyncSession) -> AsyncConnection:
    return await session.connection()


def _dialect(conn: AsyncConnection) -> str:
    return "postgresql" if conn.dialect.name == "postgresql" else "sqlite"


def _decoded(rows: Sequence[Any]) -> list[tuple[int, Incoming]]:
    result = []
    for row in rows:
        inbound_id, raw = row[0], row[1]
        try:
            result.append((int(inbound_id), incoming_from_fields(raw)))
        except (NotACallback, AttributeError, TypeError):
            continue  # not a message we could ever handle (kept for the record)
    return result


class WriteGate:
    """At most `limit` writers at once, admitted in order of arrival (None: no limit).

    SQLite (1): it has one writer anyway; the pipeline's write transactions (storage/batch.py)
    and the read-only step's single statements queue here, in order, instead of in SQLite's
    busy handler (which sleeps up to 100 ms between polls): the tail latency stays down under
    a burst. PostgreSQL: no limit (the pipeline runs one write transaction at a time)."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit or None
        self._slots: asyncio.Lock | asyncio.Semaphore | None = None
        if limit == 1:
            self._slots = asyncio.Lock()
        elif limit:
            self._slots = asyncio.Semaphore(limit)  # FIFO: no barging past waiters

    async def __aenter__(self) -> None:
        if self._slots is not None:
            await self._slots.acquire()

    async def __aexit__(self, *_exc: object) -> None:
        if self._slots is not None:
            self._slots.release()


class SqlInboxStore:
    """`liuan_bot.inbox.InboxStore` on the database."""

    def __init__(self, sessions: SessionFactory, *, postgres: bool = False) -> None:
        self._sessions = sessions
        self._postgres = postgres

    async def take_over(
        self, dedupe_key: str, owner: str, now: datetime, lease_until: datetime
    ) -> tuple[int, Incoming] | None:
        """A stored, unfinished message nobody else holds a live lease on, now leased to
        `owner`."""
        params = {"key": dedupe_key, "owner": owner, "now": utc(now), "lease": utc(lease_until)}
        async with transaction(self._sessions) as session:
            rows = (await (await _conn(session)).execute(_TAKE_OVER, params)).all()
        found = _decoded(rows)
        return found[0] if found else None

    async def stored_reply(self, dedupe_key: str, arrived_before: datetime) -> Reply | None:
        """The passive answer a handled message was given, if it was given one and the
        message first arrived before `arrived_before`: a WeCom retry that late means that
        answer never reached WeCom (the process died before its response left, or the
        response was lost), so the retry gets it again."""
        params = {"key": dedupe_key, "before": utc(arrived_before)}
        async with self._sessions() as session:
            await read_only(session)
            found = await prepared.rows(session, _STORED_REPLY, params)
        if not found:
            return None
        text, button, status = found[0]  # a passive answer always has one or the other
        kind: ReplyKind = "ok" if status == "handled" else "refused"
        return Reply(None if button else text, button, kind=kind)

    async def claim_stale(
        self, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[tuple[int, Incoming]]:
        """Stored, unfinished messages whose lease ran out (a crash, a lost task), now leased
        to `owner`. Idle cost: one read-only query; SKIP LOCKED on PostgreSQL, the write lock's
        conditional UPDATE on SQLite, so two instances never claim the same row."""
        stamp = utc(now)
        async with self._sessions() as session:
            await read_only(session)
            if (await (await _conn(session)).execute(_ANY_STALE, {"now": stamp})).first() is None:
                return []
        claim = (
            update(INBOUND)
            .where(INBOUND.c.id.in_(_stale_ids(limit, postgres=self._postgres)))
            .where(_RECEIVED)
            .where(_LEASE_FREE)
            .values(claimed_by=owner, lease_until=utc(lease_until))
            .returning(INBOUND.c.id, INBOUND.c.raw)
        )
        async with transaction(self._sessions) as session:
            rows = (await (await _conn(session)).execute(claim, {"now": stamp})).all()
        return sorted(_decoded(rows), key=lambda item: item[0])


async def roster_version(session: AsyncSession) -> int:
    """The roster's version (bumped by triggers on every roster write, migration 0006)."""
    found = await prepared.rows(session, _VERSION)
    return int(found[0][0]) if found else 0


_HANDLED_KEYS = (
    *_COLUMNS,
    "received_at",
    "status",
    "handled_at",
    "reply_text",
    "reply_route",
    "reply_button",
    "error",
)
_INSERT_HANDLED = prepared.Prepared(_INSERT, keys=_HANDLED_KEYS)
_INSERT_HANDLED_AS = prepared.Prepared(_INSERT, keys=("id", *_HANDLED_KEYS))
_VERSION_NOW = func.coalesce(
    select(ROSTER_VERSION.c.version).where(ROSTER_VERSION.c.id == 1).scalar_subquery(), 0
)
_KEY_STORED = exists().where(INBOUND.c.dedupe_key == bindparam("key"))
_BEGIN_MESSAGE = prepared.Prepared(
    {
        # under SQLite's write lock (BEGIN IMMEDIATE) the id the next INSERT would take
        "sqlite": select(
            _VERSION_NOW,
            select(func.coalesce(func.max(INBOUND.c.id), 0) + 1).scalar_subquery(),
            _KEY_STORED,
        ),
        # the SERIAL column's own sequence (migration 0001), resolved once per prepared plan
        "postgresql": select(
            _VERSION_NOW,
            func.nextval(literal_column("'inbound_messages_id_seq'::regclass")),
            _KEY_STORED,
        ),
    }
)


async def begin_message(session: AsyncSession, dedupe_key: str) -> tuple[int, int | None]:
    """The first statement of a write message's transaction: (the roster version, the id its
    row will have), or (version, None) when its key is stored already (a retry: nothing may
    be written). The row itself is written last, handled (`store_handled` with that id), so
    it is written once; a copy that another instance commits meanwhile makes that INSERT
    find the key stored (on PostgreSQL it waits for the other's commit)."""
    params = {"key": dedupe_key}
    ((version, next_id, stored),) = await prepared.rows(session, _BEGIN_MESSAGE, params)
    return int(version), None if stored else int(next_id)


async def store_handled(
    session: AsyncSession,
    incoming: Incoming,
    received_at: datetime,
    now: datetime,
    *,
    reply_text: str | None,
    reply_route: str | None,
    status: str = "handled",
    error: str | None = None,
    reply_button: str | None = None,
    inbound_id: int | None = None,
) -> int | None:
    """Store a message already handled, with its reply (a clicked card's new button label
    when that was the passive answer), in one statement (as `inbound_id`, from
    `begin_message`, when given); None if its dedupe key is already stored (a retry)."""
    values = message_values(incoming) | {
        "received_at": utc(received_at),
        "status": status,
        "handled_at": utc(now),
        "reply_text": reply_text,
        "reply_route": reply_route,
        "reply_button": reply_button,
        "error": error,
    }
    if inbound_id is None:
        found = await prepared.rows(session, _INSERT_HANDLED, values)
    else:
        found = await prepared.rows(session, _INSERT_HANDLED_AS, values | {"id": inbound_id})
    return int(found[0][0]) if found else None


async def set_reply_route(session: AsyncSession, inbound_id: int, route: str) -> None:
    await (await _conn(session)).execute(
        update(INBOUND).where(INBOUND.c.id == inbound_id).values(reply_route=route)
    )


async def finish_inbound(
    session: AsyncSession,
    inbound_id: int,
    now: datetime,
    *,
    status: str,
    reply_text: str | None,
    reply_route: str | None,
    reply_button: str | None = None,
    error: str | None = None,
) -> bool:
    """Mark a received message handled in the handling transaction; False if it was already
    handled (another instance, or a takeover, committed first: roll this attempt back)."""
    params = {
        "inbound_id": inbound_id,
        "status": status,
        "handled_at": utc(now),
        "reply_text": reply_text,
        "reply_route": reply_route,
        "reply_button": reply_button,
        "error": error,
    }
    return bool(await prepared.rowcount(session, _FINISH, params))


def _sqlite_stamp(moment: datetime) -> str:
    """SQLAlchemy's storage format for UTCDateTime on SQLite (naive UTC, microseconds)."""
    # == strftime("%Y-%m-%d %H:%M:%S.%f") for every year ≥ 1000, at a fraction of the cost
    return utc(moment).replace(tzinfo=None).isoformat(" ", "microseconds")


# A read-only message stored handled, only while the roster is still at the version the
# caller's sender lookup was cached under: the version check and the write in one statement.
_DIRECT_INSERT_AT_VERSION = (
    "INSERT INTO inbound_messages (dedupe_key, msg_id, from_user, msg_type, event, content, "
    "raw, received_at, status, handled_at, reply_text, reply_route) SELECT "
    + ", ".join("?" * 12)
    + " WHERE COALESCE((SELECT version FROM roster_version WHERE id = 1), 0) = ?"
    + " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
)


class SqliteDirect:
    """The pipeline's single-statement step on SQLite: a read-only message stored handled
    with its reply, if the roster is still at the cached sender's version, in one statement
    on a connection of its own (no ORM session).

    Group commit (issue 11 §2): the statements of the messages that arrive while the loop is
    busy wait for the next turn of the store's writer and go together, in one transaction:
    one commit, and the table's pages written to the WAL once, for all of them (a 帮助 spent
    a quarter of its time in its own autocommitted statement). sqlite3 runs in the loop
    thread, as `storage.engine.InlineConnection` does, with the busy timeout at 0: a group
    that finds the database locked (another process writes) waits for the lock in a worker
    thread. A group is written holding the pipeline's `gate` (SQLite has one writer: the
    write transactions of storage/batch.py take turns with it). Each message is `admit`ted
    once the write lock is held, just before its statement: a message whose caller can no
    longer answer passively is left to the general steps, and one whose reply is claimed
    for its request is not then kept waiting for a lock (the chaos suite's writer-lock row
    found a reply claimed, then stored after the request's deadline, left unanswered). A
    statement SQLite refuses takes only its own message with it.

    The same statement as the Core one below (same columns, SQLAlchemy's storage formats);
    PostgreSQL uses that one."""

    def __init__(
        self,
        database: Path,
        gate: WriteGate | None = None,
        max_group: int = 64,
        checkpointer: WalCheckpointer | None = None,
    ) -> None:
        self._database = database
        self._gate = gate or WriteGate(1)
        self._checkpointer = checkpointer
        self._conn: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._groups = _Groups(self._write, max_group, self._gate)
        self.commits = 0  # messages stored by this store (for tests and the bench)
        self.groups = 0  # groups written (one transaction each)
        self.waits = 0  # groups that found the database locked and waited in the thread

    @classmethod
    def for_url(
        cls, url: str, gate: WriteGate | None = None, checkpointer: WalCheckpointer | None = None
    ) -> SqliteDirect | None:
        """Only for a file-backed SQLite database."""
        database = sqlite_file(url)
        return None if database is None else cls(database, gate, checkpointer=checkpointer)

    async def store_handled_at(
        self,
        incoming: Incoming,
        received_at: datetime,
        handled_at: datetime,
        *,
        status: str,
        reply_text: str | None,
        reply_route: str | None,
        roster_version: int,
        admit: Callable[[], bool] | None = None,
    ) -> int | None:
        """`DirectStore.store_handled_at`: INSERT … ON CONFLICT DO NOTHING RETURNING id, done
        only while the roster is at `roster_version`, in the next group."""
        params = (
            incoming.dedupe_key,
            incoming.msg_id,
            incoming.from_user,
            incoming.msg_type,
            incoming.event,
            incoming.content,
            compact_json(incoming.raw),
            _sqlite_stamp(received_at),
            status,
            _sqlite_stamp(handled_at),
            reply_text,
            reply_route,
            roster_version,
        )
        return await self._groups.submit(params, admit)

    async def _write(self, group: list[_Waiting]) -> None:
        """Take SQLite's write lock, then admit the group's messages (a reply is claimed
        for the passive answer only once nothing but the statements stands between it and
        its request), write them and commit."""
        try:
            conn = self._connection()
            await self._lock(conn)
            try:
                group = [waiting for waiting in group if _admitted(waiting)]
                found = _insert_all(conn, [waiting.params for waiting in group])
                conn.execute("COMMIT")
            except BaseException:
                _roll_back(conn)
                raise
        except BaseException as exc:  # nothing of the group is stored: the callers hear why
            for waiting in group:
                _settle(waiting, exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.groups += 1
        if self._checkpointer is not None:
            self._checkpointer.committed()
        for waiting, outcome in zip(group, found, strict=True):
            if not isinstance(outcome, Exception):
                self.commits += 1
            _settle(waiting, outcome)

    async def _lock(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE in the loop thread; if another process holds the write lock, in
        the worker under SQLite's busy timeout, the loop running meanwhile."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not sqlite_busy(exc):
                raise
        self.waits += 1
        worker = self._worker()
        begin = partial(conn.execute, "BEGIN IMMEDIATE")
        try:
            await asyncio.get_running_loop().run_in_executor(worker, patiently, conn, begin)
        except BaseException:
            # cancelled while the worker waits: once it has the lock, it gives it back
            worker.submit(_roll_back, conn)
            raise

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            # used by the loop thread, and by the worker while the loop awaits it
            conn = sqlite3.connect(
                str(self._database), timeout=0, isolation_level=None, check_same_thread=False
            )
            autocheckpoint = self._checkpointer is None
            for pragma in sqlite_pragmas(busy_timeout_ms=0, autocheckpoint=autocheckpoint):
                conn.execute(pragma)
            self._conn = conn
        return self._conn

    def _worker(self) -> ThreadPoolExecutor:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="liuan-direct")
        return self._thread

    def pragma(self, name: str) -> Any:
        """A PRAGMA's value on the store's connection (for tests)."""
        return self._connection().execute(f"PRAGMA {name}").fetchone()[0]

    async def close(self) -> None:
        await self._groups.close()
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass(slots=True)
class _Waiting:
    """A message's statement waiting for its group (`SqliteDirect`, `PostgresDirect`)."""

    params: Any  # SQLite: the statement's parameters; PostgreSQL: the processed values
    admit: Callable[[], bool] | None
    done: asyncio.Future[int | None]


class _Groups:
    """Messages' statements waiting for the next group, and the one task that writes them
    (`SqliteDirect`, `PostgresDirect`): the messages that arrive while a group is being
    written go in the next, up to `max_group`, each group written by `write` while holding
    `gate` when there is one. A writer cancelled (shutdown) cancels the messages waiting."""

    def __init__(
        self,
        write: Callable[[list[_Waiting]], Awaitable[None]],
        max_group: int,
        gate: WriteGate | None = None,
    ) -> None:
        self._write = write
        self._max_group = max_group
        self._gate: contextlib.AbstractAsyncContextManager[Any] = gate or contextlib.nullcontext()
        self._queue: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, params: Any, admit: Callable[[], bool] | None) -> int | None:
        """Wait for the group `params` goes in; its row's id, or None (nothing written)."""
        waiting = _Waiting(params, admit, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_groups())
        return await waiting.done

    async def _write_groups(self) -> None:
        try:
            while self._queue:
                async with self._gate:
                    group = self._queue[: self._max_group]
                    del self._queue[: len(group)]
                    await self._write(group)
        except BaseException as exc:  # cancelled (shutdown): so are the waiting messages
            for waiting in self._queue:
                _settle(waiting, exc)
            self._queue.clear()
            raise
        finally:
            self._writer = None

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)


def _admitted(waiting: _Waiting) -> bool:
    """Whether `waiting` goes in the group being written; if not, its caller is told None."""
    if waiting.done.done():  # its caller is gone (cancelled)
        return False
    try:
        admitted = waiting.admit is None or waiting.admit()
    except Exception as exc:
        waiting.done.set_exception(exc)
        return False
    if not admitted:
        waiting.done.set_result(None)
    return admitted


def _settle(waiting: _Waiting, outcome: int | None | BaseException) -> None:
    if waiting.done.done():
        return
    if isinstance(outcome, asyncio.CancelledError):
        waiting.done.cancel()
    elif isinstance(outcome, BaseException):
        waiting.done.set_exception(outcome)
    else:
        waiting.done.set_result(outcome)


def _insert_all(
    conn: sqlite3.Connection, group: list[tuple[Any, ...]]
) -> list[int | None | Exception]:
    """Each message's statement in the transaction, each with its own outcome: a statement
    SQLite refuses is undone alone. One that ends the transaction (SQLite rolls it back
    itself on a full disk or an I/O error) raises: then nothing of the group stands."""
    found: list[int | None | Exception] = []
    for params in group:
        try:
            found.append(_inserted(conn, params))
        except sqlite3.Error as exc:
            if not conn.in_transaction:
                raise
            found.append(exc)
    return found


def _roll_back(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _inserted(conn: sqlite3.Connection, params: tuple[Any, ...]) -> int | None:
    row = conn.execute(_DIRECT_INSERT_AT_VERSION, params).fetchone()
    return None if row is None else int(row[0])


class DirectStore(Protocol):
    """The pipeline's single-statement step (`SqliteDirect`, `PostgresDirect`): a read-only
    message stored handled by one statement, which may carry the rows of other messages
    that arrived meanwhile (a group), committed with them."""

    commits: int

    async def store_handled_at(
        self,
        incoming: Incoming,
        received_at: datetime,
        handled_at: datetime,
        *,
        status: str,
        reply_text: str | None,
        reply_route: str | None,
        roster_version: int,
        admit: Callable[[], bool] | None = None,
    ) -> int | None:
        """Store `incoming` handled with its reply, only while the roster is still at
        `roster_version` and, asked just before the statement is sent, `admit()` says so;
        None if nothing was written (not admitted, its dedupe key is stored, or the roster
        moved)."""

    async def close(self) -> None: ...


_STORED = (*_COLUMNS, "received_at", "status", "handled_at", "reply_text", "reply_route")
_AT_VERSION = func.coalesce(
    select(ROSTER_VERSION.c.version).where(ROSTER_VERSION.c.id == 1).scalar_subquery(), 0
) == bindparam("roster_version")
_PG_INSERT_AT_VERSION = prepared.Prepared(
    postgresql.insert(INBOUND)
    .from_select(
        list(_STORED),
        select(*(bindparam(name, type_=INBOUND.c[name].type) for name in _STORED)).where(
            _AT_VERSION
        ),
    )
    .on_conflict_do_nothing(index_elements=["dedupe_key"])
    .returning(INBOUND.c.id)
)
# Several messages' rows in one statement: a column array each (the values processed as by
# the statement above), a row kept only while the roster is at its own version.
_PG_GROUP_COLUMNS = (*_STORED, "roster_version")
_PG_ARRAY_TYPES = {"received_at": "TIMESTAMPTZ", "handled_at": "TIMESTAMPTZ"}
_PG_INSERT_GROUP = (
    f"INSERT INTO inbound_messages ({', '.join(_STORED)}) SELECT "
    + ", ".join(f"g.{c}::JSON" if c == "raw" else f"g.{c}" for c in _STORED)
    + " FROM unnest("
    + ", ".join(
        f"${i}::{_PG_ARRAY_TYPES.get(c, 'INTEGER' if c == 'roster_version' else 'TEXT')}[]"
        for i, c in enumerate(_PG_GROUP_COLUMNS, 1)
    )
    + f") AS g({', '.join(_PG_GROUP_COLUMNS)})"
    + " WHERE g.roster_version = COALESCE((SELECT version FROM roster_version WHERE id = 1), 0)"
    + " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key"
)


# A pooled connection PostgreSQL dropped fails its next statement with one of these (which
# one depends on when asyncpg noticed: a closed socket, the FATAL 57P01 of a terminated
# backend, a protocol left mid-operation by it).
_DEAD_CONNECTION = (
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """A released connection keeps its session: nothing here changes it (no SET, LISTEN,
    advisory lock or cursor), so asyncpg's default reset (one more round trip, `RESET ALL;
    UNLISTEN *; …`, after every statement) has nothing to undo. A transaction left open would
    still be rolled back by the pool itself."""


class PostgresDirect:
    """`SqliteDirect`'s read-only step on PostgreSQL: a message stored handled with its reply,
    only while the roster is still at the cached sender's version, autocommitted — one round
    trip: no BEGIN, no separate version read, no COMMIT.

    Grouped (issue 11 §2): the messages that arrive while a statement is on its way go
    together in the next one, a row each (`_PG_INSERT_GROUP`: the values as column arrays),
    each admitted just before it is sent. One message goes alone, in the statement of
    `_PG_INSERT_AT_VERSION`. A group PostgreSQL refuses (a value it will not take) is sent
    again one message at a time, so the refusal takes only its own message with it.

    The statements are SQLAlchemy's or built from its column list, the values processed by
    `storage.prepared` (the dialect's bind processors), run on an asyncpg pool of its own
    (issue 11 §2: SQLAlchemy's checkout, execution and release cost ~0.3 ms of a 帮助
    answered in ~1 ms). No pre-ping: the statements are idempotent (ON CONFLICT DO NOTHING,
    and conditional), so a connection found dead (PostgreSQL restarted, the backend
    terminated) is dropped and the statement sent again on a fresh one — what the pre-ping
    would have done, paid for only when it happens (issue 8; see the test
    `test_a_terminated_backend_costs_the_cached_sender_nothing`). A statement that commits
    and then loses its answer comes back None on the retry: the general steps then find the
    message stored, as for a WeCom retry."""

    def __init__(
        self,
        database_url: str,
        *,
        connect_timeout_s: float = PG_CONNECT_TIMEOUT_S,
        command_timeout_s: float = PG_COMMAND_TIMEOUT_S,
        max_size: int = 20,
        max_group: int = 64,
    ) -> None:
        self._dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]  # SQL text, formats
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._options = {
            "timeout": connect_timeout_s,
            "command_timeout": command_timeout_s,
            "min_size": 1,
            "max_size": max_size,
            "reset": _keep_session,
        }
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._groups = _Groups(self._write, max_group)
        self.commits = 0  # messages sent in autocommitted statements (for tests and the bench)
        self.groups = 0  # statements of several messages
        self.reconnects = 0  # statements sent again after a dead connection

    async def store_handled_at(
        self,
        incoming: Incoming,
        received_at: datetime,
        handled_at: datetime,
        *,
        status: str,
        reply_text: str | None,
        reply_route: str | None,
        roster_version: int,
        admit: Callable[[], bool] | None = None,
    ) -> int | None:
        """`DirectStore.store_handled_at`, in the next statement sent."""
        values = message_values(incoming) | {
            "received_at": utc(received_at),
            "status": status,
            "handled_at": utc(handled_at),
            "reply_text": reply_text,
            "reply_route": reply_route,
            "roster_version": roster_version,
        }
        return await self._groups.submit(values, admit)

    async def _write(self, group: list[_Waiting]) -> None:
        group = [waiting for waiting in group if _admitted(waiting)]  # just before it is sent
        try:
            if len(group) == 1:
                _settle(group[0], await self._insert(_PG_INSERT_AT_VERSION, group[0].params))
                return
            if group:
                try:
                    stored = await self._insert_group([waiting.params for waiting in group])
                except (asyncpg.PostgresError, asyncpg.InterfaceError):
                    await self._one_by_one(group)  # a value PostgreSQL refuses: whose?
                    return
                for waiting in group:
                    _settle(waiting, stored.get(waiting.params["dedupe_key"]))
        except BaseException as exc:  # nothing more of the group is stored: callers hear why
            for waiting in group:
                _settle(waiting, exc)
            if not isinstance(exc, Exception):
                raise

    async def _one_by_one(self, group: list[_Waiting]) -> None:
        for waiting in group:
            try:
                outcome: int | None | Exception = await self._insert(
                    _PG_INSERT_AT_VERSION, waiting.params
                )
            except Exception as exc:
                outcome = exc
            _settle(waiting, outcome)

    async def _insert(self, statement: prepared.Prepared, values: dict[str, Any]) -> int | None:
        sql, args = statement.arguments(self._dialect, values)
        found = await self._sent(self._fetchval, sql, args)
        self.commits += 1
        return None if found is None else int(found)

    async def _insert_group(self, group: list[dict[str, Any]]) -> dict[str, int]:
        """Each message's row, in one statement; the ids of the rows written, by key."""
        plan = _PG_INSERT_AT_VERSION.plan(self._dialect)
        columns: list[list[Any]] = [[] for _ in _PG_GROUP_COLUMNS]
        for values in group:
            named = dict(
                zip(
                    plan.names,
                    _PG_INSERT_AT_VERSION.arguments(self._dialect, values)[1],
                    strict=True,
                )
            )
            for column, name in zip(columns, _PG_GROUP_COLUMNS, strict=True):
                column.append(named[name])
        rows = await self._sent(self._fetch, _PG_INSERT_GROUP, columns)
        self.commits += len(group)
        self.groups += 1
        return {key: int(pk) for pk, key in rows}

    async def _sent(self, send: Callable[[str, list[Any]], Any], sql: str, args: list[Any]) -> Any:
        try:
            return await send(sql, args)
        except _DEAD_CONNECTION:
            self.reconnects += 1  # that connection is gone (the pool drops it): once more
            return await send(sql, args)

    async def _opened(self) -> asyncpg.Pool:
        pool = self._pool
        if pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(self._dsn, **self._options)
                pool = self._pool
        return pool

    async def _fetchval(self, sql: str, args: list[Any]) -> Any:
        return await (await self._opened()).fetchval(sql, *args)

    async def _fetch(self, sql: str, args: list[Any]) -> list[Any]:
        return list(await (await self._opened()).fetch(sql, *args))

    async def close(self) -> None:
        await self._groups.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
