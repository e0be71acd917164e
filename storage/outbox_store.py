"""The outbox table: enqueue inside a business transaction, claim with a lease, record outcome.

Claiming is a conditional UPDATE, so two workers (or two processes on PostgreSQL) never hold
the same row; PostgreSQL additionally skips locked rows (SQLite serialises writers anyway).
Every outcome is written under the claim token (`claimed_by`): a worker whose lease ran out
and whose row was taken over records nothing. Rows that give up are `parked` (dead letter),
listed and re-driven by `bot.py outbox list --failed` / `outbox retry`, and reported to the
news office once a day (`report_parked`). `SqlPacer` shares the pacing windows and the daily
budget between instances on PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import delete, func, insert, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import and_, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import SHANGHAI, utc
from liuan_bot.domain.roles import Role
from liuan_bot.messages import Outgoing, text_to_users
from liuan_bot.outbox import PARKED_REPORT_SOURCE, Claimed, Delivered
from liuan_bot.pacing import (
    LIMITS_BY_KIND,
    LONGEST_WINDOW_S,
    budget_cost,
    day_of,
    over_budget,
    pacing_keys,
    seconds_to_next_day,
    window_wait,
)
from storage import prepared
from storage.engine import SessionFactory, read_only, transaction
from storage.roster_store import userids_with_role
from storage.tables import OutboxBudget, OutboxMessage, OutboxPacing

_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
_ENQUEUE = insert(_OUTBOX).returning(
    _OUTBOX.c.id, _OUTBOX.c.target, _OUTBOX.c.dedupe_key, sort_by_parameter_order=True
)
_ROW_KEYS = (
    "kind",
    "target",
    "body",
    "source",
    "dedupe_key",
    "status",
    "attempts",
    "created_at",
    "next_attempt_at",
    "invalid_users",
)
# A message's few rows (its reply, a card, a notice): one prepared INSERT each, conditional
# when its dedupe key may be taken (`storage.prepared`); a broadcast's hundreds go in bulk.
_FEW = 8
_INSERT_ONE = prepared.Prepared(
    insert(_OUTBOX).returning(_OUTBOX.c.id, _OUTBOX.c.target, _OUTBOX.c.dedupe_key),
    keys=_ROW_KEYS,
)


def _insert_new(dialect_insert: Callable[[Any], Any]) -> Any:
    return (
        dialect_insert(_OUTBOX)
        .on_conflict_do_nothing(index_elements=[_OUTBOX.c.dedupe_key])
        .returning(_OUTBOX.c.id, _OUTBOX.c.target, _OUTBOX.c.dedupe_key)
    )


# A row whose dedupe key may be taken: written only if it is not (no row back if it is), in
# one statement; a transaction writing the same key at once is waited for, not failed
_INSERT_NEW = prepared.Prepared(
    {"postgresql": _insert_new(pg_insert), "sqlite": _insert_new(sqlite_insert)},
    keys=_ROW_KEYS,
)


@dataclass(frozen=True)
class Queued:
    """An outbox row just written: its id and its pacing target."""

    id: int
    target: str
    dedupe_key: str | None = None


async def enqueue(
    session: AsyncSession,
    messages: Sequence[Outgoing],
    now: datetime,
    *,
    source: str,
    dedupe_key: str | None = None,
    fresh: bool = False,
) -> list[Queued]:
    """Add messages to the outbox in the caller's transaction, in bulk (a few statements
    whatever the number of messages).

    With `dedupe_key`, the i-th message gets `<key>#<i>`; enqueueing the same key again is a
    no-op (the caller's transaction must then not rely on the rows being new). `fresh`
    skips that check when the key is new by construction (it still identifies the rows).
    """
    keys = [f"{dedupe_key}#{i}" if dedupe_key else None for i in range(len(messages))]
    taken: set[str] = set()
    checked = bool(dedupe_key and messages and not fresh)
    # a few rows are each written only if their key is free (`_INSERT_NEW`, below); many
    # are looked up at once first
    if checked and len(keys) > _FEW:
        found = await (await session.connection()).execute(
            select(_OUTBOX.c.dedupe_key).where(_OUTBOX.c.dedupe_key.in_(keys))
        )
        taken = {key for (key,) in found.all() if key is not None}
    stamp = utc(now)
    rows: list[dict[str, object]] = [
        {
            "kind": m.kind,
            "target": m.target,
            "body": m.body,
            "source": source,
            "dedupe_key": key,
            "status": "pending",
            "attempts": 0,
            "created_at": stamp,
            "next_attempt_at": stamp,
            "invalid_users": [],
        }
        for m, key in zip(messages, keys, strict=True)
        if key is None or key not in taken
    ]
    if not rows:
        return []
    # Core on the session's connection, one statement built and compiled once: rows go as
    # parameters (SQLAlchemy's "insertmanyvalues" turns many into multi-row INSERTs), never as
    # literal VALUES lists, which cannot be cached and were compiled on every call (issue 11 §1)
    if len(rows) <= _FEW:
        queued = []
        statement = _INSERT_NEW if checked else _INSERT_ONE
        for row in rows:
            for pk, target, key in await prepared.rows(session, statement, row):
                queued.append(Queued(pk, target, key))
    else:
        result = await (await session.connection()).execute(_ENQUEUE, rows)
        queued = [Queued(pk, target, key) for pk, target, key in result.all()]
    session.info.setdefault("outbox_targets", set()).update(q.target for q in queued)
    return queued


def enqueued(session: AsyncSession) -> bool:
    """Whether this session's transaction added outbox rows (wake the worker after commit)."""
    return bool(session.info.get("outbox_targets"))


def enqueued_targets(session: AsyncSession) -> frozenset[str]:
    """The pacing targets of the rows this session's transaction added (for `Wake`)."""
    return frozenset(session.info.get("outbox_targets", ()))


def _due(now: datetime):  # type: ignore[no-untyped-def]
    return or_(
        and_(col(OutboxMessage.status) == "pending", col(OutboxMessage.next_attempt_at) <= now),
        and_(col(OutboxMessage.status) == "sending", col(OutboxMessage.lease_until) <= now),
    )


def _held(row_id: int, claim: str):  # type: ignore[no-untyped-def]
    return and_(
        col(OutboxMessage.id) == row_id,
        col(OutboxMessage.claimed_by) == claim,
        col(OutboxMessage.status) == "sending",
    )


class SqlOutboxStore:
    """`liuan_bot.outbox.OutboxStore` on the database."""

    def __init__(self, sessions: SessionFactory, *, postgres: bool) -> None:
        self._sessions = sessions
        self._postgres = postgres

    @property
    def postgres(self) -> bool:
        return self._postgres

    async def claim_due(
        self,
        now: datetime,
        worker: str,
        lease_until: datetime,
        limit: int,
        *,
        skip_targets: Collection[str] = (),
    ) -> list[Claimed]:
        """Claim up to `limit` due rows. Rows whose target has no pacing budget left are not
        due: the worker moved their `next_attempt_at` to when the budget frees, and passes
        the targets it paced as `skip_targets`, so rows enqueued for them since wait too."""
        now = utc(now)
        claim = f"{worker}/{uuid4().hex[:12]}"
        due_now = _due(now)
        if skip_targets:
            due_now = and_(due_now, col(OutboxMessage.target).not_in(sorted(skip_targets)))
        async with self._sessions() as session:  # nothing due: never touch the write lock
            await read_only(session)
            due = await session.exec(select(OutboxMessage.id).where(due_now).limit(1))
            if due.first() is None:
                return []
        async with transaction(self._sessions) as session:
            query = (
                select(OutboxMessage.id)
                .where(due_now)
                .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
                .limit(limit)
            )
            if self._postgres:
                query = query.with_for_update(skip_locked=True)
            ids = list((await session.exec(query)).all())
            if not ids:
                return []
            await session.exec(
                update(OutboxMessage)
                .where(col(OutboxMessage.id).in_(ids))
                .where(_due(now))
                .values(
                    status="sending",
                    claimed_by=claim,
                    lease_until=utc(lease_until),
                    attempts=OutboxMessage.attempts + 1,
                )
            )
            rows = (
                await session.exec(
                    select(OutboxMessage)
                    .where(col(OutboxMessage.id).in_(ids))
                    .where(col(OutboxMessage.claimed_by) == claim)
                    .where(col(OutboxMessage.status) == "sending")
                    .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
                )
            ).all()
            return [
                Claimed(
                    r.id or 0,
                    r.kind,
                    r.target,
                    dict(r.body),
                    r.attempts,
                    r.created_at,
                    claim,
                    r.source,
                )
                for r in rows
            ]

    async def _update(self, row_id: int, claim: str, **values: object) -> bool:
        async with transaction(self._sessions) as session:
            result = await session.exec(
                update(OutboxMessage).where(_held(row_id, claim)).values(**values)
            )
            return bool(result.rowcount)

    async def renew(self, row_id: int, claim: str, lease_until: datetime) -> bool:
        """Extend the lease of a row still held under `claim`; False when it was lost."""
        return await self._update(row_id, claim, lease_until=utc(lease_until))

    async def mark_sent(self, row_id: int, claim: str, now: datetime, result: Delivered) -> None:
        await self._update(
            row_id,
            claim,
            status="sent",
            sent_at=utc(now),
            lease_until=None,
            msgid=result.msgid,
            response_code=result.response_code,
            invalid_users=list(result.invalid_users),
            last_error=None,
        )

    async def reschedule(
        self,
        row_id: int,
        claim: str,
        at: datetime,
        *,
        error: str | None = None,
        errcode: int | None = None,
        uncount: bool = False,
    ) -> None:
        values: dict[str, object] = {
            "status": "pending",
            "next_attempt_at": utc(at),
            "lease_until": None,
        }
        if error is not None:
            values.update(last_error=error[:2000], last_errcode=errcode)
        if uncount:
            values["attempts"] = OutboxMessage.attempts - 1
        await self._update(row_id, claim, **values)

    async def defer_target(self, row_id: int, claim: str, target: str, at: datetime) -> None:
        """No budget for `target` until `at`: this row, the claim's other rows to the same
        target and every pending row to it wait until then, in one transaction (so a backlog
        is not claimed again and again while it waits)."""
        at = utc(at)
        async with transaction(self._sessions) as session:
            await session.exec(
                update(OutboxMessage)
                .where(col(OutboxMessage.claimed_by) == claim)
                .where(col(OutboxMessage.status) == "sending")
                .where(or_(col(OutboxMessage.id) == row_id, col(OutboxMessage.target) == target))
                .values(
                    status="pending",
                    next_attempt_at=at,
                    lease_until=None,
                    attempts=OutboxMessage.attempts - 1,
                )
            )
            await session.exec(
                update(OutboxMessage)
                .where(col(OutboxMessage.status) == "pending")
                .where(col(OutboxMessage.target) == target)
                .where(col(OutboxMessage.next_attempt_at) < at)
                .values(next_attempt_at=at)
            )

    async def release(self, claim: str, at: datetime) -> None:
        """Give back every row still held under `claim`, uncounted, due at `at`."""
        async with transaction(self._sessions) as session:
            await session.exec(
                update(OutboxMessage)
                .where(col(OutboxMessage.claimed_by) == claim)
                .where(col(OutboxMessage.status) == "sending")
                .values(
                    status="pending",
                    next_attempt_at=utc(at),
                    lease_until=None,
                    attempts=OutboxMessage.attempts - 1,
                )
            )

    async def park(
        self,
        row_id: int,
        claim: str,
        now: datetime,
        reason: str,
        error: str,
        errcode: int | None,
    ) -> None:
        await self._update(
            row_id,
            claim,
            status="parked",
            lease_until=None,
            parked_at=utc(now),
            park_reason=reason[:500],
            last_error=error[:2000],
            last_errcode=errcode,
            sent_at=None,
        )

    async def mark_failed(
        self, row_id: int, claim: str, now: datetime, error: str, errcode: int | None
    ) -> None:
        """Kept for callers of the old interface: a failure is a parking."""
        await self.park(row_id, claim, now, "发送失败", error, errcode)

    async def depth(self) -> dict[str, int]:
        async with self._sessions() as session:
            rows = (
                await session.exec(
                    select(OutboxMessage.status, func.count()).group_by(col(OutboxMessage.status))
                )
            ).all()
        return {str(status): int(count) for status, count in rows}


# ---------------------------------------------------------------- parked rows (dead letter)


@dataclass(frozen=True)
class ParkedRow:
    id: int
    kind: str
    target: str
    source: str
    reason: str
    errcode: int | None
    parked_at: datetime | None
    attempts: int


async def list_parked(sessions: SessionFactory) -> list[ParkedRow]:
    async with sessions() as session:
        rows = (
            await session.exec(
                select(OutboxMessage)
                .where(col(OutboxMessage.status) == "parked")
                .order_by(col(OutboxMessage.id))
            )
        ).all()
    return [
        ParkedRow(
            r.id or 0,
            r.kind,
            r.target,
            r.source,
            r.park_reason or "发送失败",
            r.last_errcode,
            r.parked_at,
            r.attempts,
        )
        for r in rows
    ]


async def retry_parked(sessions: SessionFactory, now: datetime, ids: Sequence[int] | None) -> int:
    """Send parked rows again (all when `ids` is None): pending now, attempts from zero."""
    async with transaction(sessions) as session:
        query = update(OutboxMessage).where(col(OutboxMessage.status) == "parked")
        if ids is not None:
            query = query.where(col(OutboxMessage.id).in_(list(ids)))
        result = await session.exec(
            query.values(
                status="pending",
                next_attempt_at=utc(now),
                attempts=0,
                lease_until=None,
                claimed_by=None,
                parked_at=None,
            )
        )
        return int(result.rowcount or 0)


async def report_parked(sessions: SessionFactory, now: datetime) -> int:
    """While any row is parked, tell the news office once a day, through the outbox itself
    (idempotent per day by its dedupe key, also across instances racing for it; its own
    parked reports are not counted, so a report that cannot be delivered never reports
    itself). Not before 09:00 Beijing time. The rows enqueued."""
    try:
        return await _report_parked(sessions, now)
    except IntegrityError:  # another instance enqueued today's report first
        return 0


REPORT_NOT_BEFORE_HOUR = 9  # Beijing time: the report waits for office hours


async def _report_parked(sessions: SessionFactory, now: datetime) -> int:
    if now.astimezone(SHANGHAI).hour < REPORT_NOT_BEFORE_HOUR:
        return 0
    day = day_of(now)
    async with transaction(sessions) as session:
        rows = (
            await session.exec(
                select(OutboxMessage.park_reason, OutboxMessage.parked_at)
                .where(col(OutboxMessage.status) == "parked")
                .where(col(OutboxMessage.source) != PARKED_REPORT_SOURCE)
            )
        ).all()
        if not rows:
            return 0
        key = f"{PARKED_REPORT_SOURCE}:{day}"
        exists = await session.exec(
            select(OutboxMessage.id).where(col(OutboxMessage.dedupe_key).startswith(key)).limit(1)
        )
        if exists.first() is not None:
            return 0
        users = await userids_with_role(session, Role.NEWS_OFFICE)
        if not users:
            return 0
        reasons = Counter(reason or "发送失败" for reason, _ in rows)
        first = min((at for _, at in rows if at is not None), default=None)
        lines = [f"【消息投递提醒】目前有 {len(rows)} 条消息未能送达，已暂停发送。"]
        lines += [f"· {reason}：{count} 条" for reason, count in reasons.most_common(5)]
        if first is not None:
            lines.append(f"最早一条在 {first.astimezone(SHANGHAI):%m月%d日 %H:%M}。")
        lines.append("请联系系统管理员查看原因，处理后重新发送。")
        queued = await enqueue(
            session,
            text_to_users(users, "\n".join(lines)),
            now,
            source=PARKED_REPORT_SOURCE,
            dedupe_key=key,
        )
        return len(queued)


# ---------------------------------------------------------------- pacing shared on PostgreSQL


def _lock_id(name: str) -> int:
    """A stable signed 64-bit advisory-lock id for a pacing key."""
    digest = hashlib.blake2b(f"liuan-pacing:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class SqlPacer:
    """`liuan_bot.pacing.Pacer` in the database: every instance on one PostgreSQL counts in
    the same windows. A reservation locks its keys (transaction-scoped advisory locks, in a
    fixed order), reads the key's sends of the last hour, and records the send when it fits,
    so two instances can never both take the 30th slot of a minute."""

    def __init__(self, sessions: SessionFactory, *, daily_budget: int | None = None) -> None:
        self._sessions = sessions
        self._daily_budget = daily_budget

    async def prune(self, now: datetime) -> int:
        """Forget sends older than the longest window, for every key (housekeeping)."""
        since = utc(now) - timedelta(seconds=LONGEST_WINDOW_S)
        async with transaction(self._sessions) as session:
            result = await session.exec(delete(OutboxPacing).where(col(OutboxPacing.at) <= since))
            await session.exec(delete(OutboxBudget).where(col(OutboxBudget.day) < day_of(now)))
            return int(result.rowcount or 0)

    async def reserve(self, kind: str, target: str, now: datetime) -> float:
        limits = LIMITS_BY_KIND.get(kind)
        keys = sorted(set(pacing_keys(kind, target)))
        if limits is None or not keys:
            return 0.0
        cost = budget_cost(kind, target)
        stamp = utc(now)
        async with transaction(self._sessions) as session:
            budgeted = self._daily_budget is not None and cost > 0
            if budgeted:
                await session.exec(select(func.pg_advisory_xact_lock(_lock_id("budget"))))
            for key in keys:
                await session.exec(select(func.pg_advisory_xact_lock(_lock_id(key))))
            since = stamp - timedelta(seconds=LONGEST_WINDOW_S)
            sent = (
                await session.exec(
                    select(OutboxPacing.key, OutboxPacing.at)
                    .where(col(OutboxPacing.key).in_(keys))
                    .where(col(OutboxPacing.at) > since)
                    .order_by(col(OutboxPacing.at))
                )
            ).all()
            by_key: dict[str, list[float]] = {}
            for key, at in sent:
                by_key.setdefault(key, []).append(at.timestamp())
            wait = max(
                (window_wait(by_key.get(k, []), limits, stamp.timestamp()) for k in keys),
                default=0.0,
            )
            if wait > 0:
                return wait
            day = day_of(now)
            if budgeted:
                used = (
                    await session.exec(select(OutboxBudget.used).where(OutboxBudget.day == day))
                ).first()
                if over_budget(used or 0, cost, self._daily_budget or 0):
                    return seconds_to_next_day(now)
                if used is None:
                    session.add(OutboxBudget(day=day, used=cost))
                else:
                    await session.exec(
                        update(OutboxBudget)
                        .where(col(OutboxBudget.day) == day)
                        .values(used=OutboxBudget.used + cost)
                    )
            await session.exec(
                delete(OutboxPacing)
                .where(col(OutboxPacing.key).in_(keys))
                .where(col(OutboxPacing.at) <= since)
            )
            await session.exec(
                insert(OutboxPacing).values([{"key": k, "at": stamp} for k in keys])
            )
            return 0.0
