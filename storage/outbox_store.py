"""The outbox table: enqueue inside a business transaction, claim with a lease, record outcome.

Claiming is a conditional UPDATE, so two workers (or two processes on PostgreSQL) never hold
the same row; PostgreSQL additionally skips locked rows (SQLite serialises writers anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import uuid4

from sqlalchemy import func, insert, or_, update
from sqlmodel import and_, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from liuan_bot.messages import Outgoing
from liuan_bot.outbox import Claimed, Delivered
from storage.engine import SessionFactory, batch_size, read_only, transaction
from storage.tables import OutboxMessage


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
    if dedupe_key and messages and not fresh:
        found = await session.exec(
            select(OutboxMessage.dedupe_key).where(col(OutboxMessage.dedupe_key).in_(keys))
        )
        taken = {key for key in found.all() if key is not None}
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
    queued: list[Queued] = []
    size = batch_size(rows[0]) if rows else 1
    for start in range(0, len(rows), size):
        result = await session.exec(
            insert(OutboxMessage)
            .values(rows[start : start + size])
            .returning(
                col(OutboxMessage.id), col(OutboxMessage.target), col(OutboxMessage.dedupe_key)
            )
        )
        queued += [Queued(pk, target, key) for pk, target, key in result.all()]
    if queued:
        session.info["outbox_enqueued"] = True
    return queued


def enqueued(session: AsyncSession) -> bool:
    """Whether this session's transaction added outbox rows (wake the worker after commit)."""
    return bool(session.info.get("outbox_enqueued"))


def _due(now: datetime):  # type: ignore[no-untyped-def]
    return or_(
        and_(col(OutboxMessage.status) == "pending", col(OutboxMessage.next_attempt_at) <= now),
        and_(col(OutboxMessage.status) == "sending", col(OutboxMessage.lease_until) <= now),
    )


class SqlOutboxStore:
    """`liuan_bot.outbox.OutboxStore` on the database."""

    def __init__(self, sessions: SessionFactory, *, postgres: bool) -> None:
        self._sessions = sessions
        self._postgres = postgres

    async def claim_due(
        self, now: datetime, worker: str, lease_until: datetime, limit: int
    ) -> list[Claimed]:
        now = utc(now)
        claim = f"{worker}/{uuid4().hex[:12]}"
        async with self._sessions() as session:  # nothing due: never touch the write lock
            await read_only(session)
            due = await session.exec(select(OutboxMessage.id).where(_due(now)).limit(1))
            if due.first() is None:
                return []
        async with transaction(self._sessions) as session:
            query = (
                select(OutboxMessage.id)
                .where(_due(now))
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

    async def _update(self, row_id: int, claim: str, **values: object) -> None:
        async with transaction(self._sessions) as session:
            await session.exec(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == row_id)
                .where(col(OutboxMessage.claimed_by) == claim)
                .where(col(OutboxMessage.status) == "sending")
                .values(**values)
            )

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

    async def mark_failed(
        self, row_id: int, claim: str, now: datetime, error: str, errcode: int | None
    ) -> None:
        await self._update(
            row_id,
            claim,
            status="failed",
            lease_until=None,
            last_error=error[:2000],
            last_errcode=errcode,
            sent_at=None,
        )

    async def depth(self) -> dict[str, int]:
        async with self._sessions() as session:
            rows = (
                await session.exec(
                    select(OutboxMessage.status, func.count()).group_by(col(OutboxMessage.status))
                )
            ).all()
        return {str(status): int(count) for status, count in rows}
