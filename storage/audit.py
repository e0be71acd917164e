"""The audit log: every state change and every refused attempt, with its source."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from storage.prepared import Prepared, write_later
from storage.tables import AuditEntry

_KEYS = ("at", "actor", "action", "record_id", "old_state", "new_state", "source", "detail")
# inline: no implicit RETURNING of the id, which nobody reads (and a carried write has none)
_AUDIT = Prepared(AuditEntry.__table__.insert().inline(), keys=_KEYS)  # type: ignore[attr-defined]


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
    """One INSERT on the transaction's connection (`storage.prepared`: no ORM unit of work,
    no execution machinery on the hot path, issue 11 §1); ids follow the call order. On
    PostgreSQL it travels with the transaction's next statement (`storage.carried`)."""
    await write_later(
        session,
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
