"""Queries on incidents (R11, R17)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import Incident


async def incident_by_record(session: AsyncSession, record_id: str) -> Incident | None:
    query = select(Incident).where(col(Incident.record_id) == record_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def mark_answered(
    session: AsyncSession, incident: Incident, conference_record_id: str, now: datetime
) -> None:
    """R17: a conference linked to the incident was held; the 24-hour clock stops."""
    incident.state = "answered"
    incident.answered_at = now
    incident.answered_by = conference_record_id
    incident.updated_at = now
    session.add(incident)
