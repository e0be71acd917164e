"""The audit log: every state change and every refused attempt, with its source."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from storage.tables import AuditEntry


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
    session.add(
        AuditEntry(
            at=utc(now),
            actor=actor,
            action=action,
            record_id=record_id,
            old_state=old_state,
            new_state=new_state,
            source=source,
            detail=detail or {},
        )
    )
