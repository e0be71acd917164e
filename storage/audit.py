"""The audit log: every state change and every refused attempt, with its source."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from storage.tables import AuditEntry

_AUDIT = AuditEntry.__table__.insert()  # type: ignore[attr-defined]  # built once, compiled once


async def audit(
    session: AsyncSession,
    now: datetime,
    *,
    actor: str,
    action: str,
    record_id: str | None = None,
    old_state: str | None = None,
    new_state: str | None = None,
    source: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """One Core INSERT on the session's connection, in the caller's transaction (no ORM unit
    of work on the hot path, issue 11 §1); ids follow the call order, as they did."""
    conn = await session.connection()
    await conn.execute(
        _AUDIT,
        {
            "at": utc(now),
            "actor": actor,
            "action": action,
            "record_id": record_id,
            "old_state": old_state,
            "new_state": new_state,
            "source": source,
            "detail": detail or {},
        },
    )
