"""Queries on incidents (R11, R17) and hot-issue reports (R24)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import HotIssue, Incident, IncidentRelease


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


async def hot_issue_by_record(session: AsyncSession, record_id: str) -> HotIssue | None:
    """Load a hot-issue report, locking its row on PostgreSQL (one conversion wins)."""
    query = select(HotIssue).where(col(HotIssue.record_id) == record_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def release_count(session: AsyncSession, incident_pk: int, kind: str) -> int:
    """How many releases of `kind` (first | update) the incident has (R17)."""
    query = (
        select(func.count())
        .select_from(IncidentRelease)
        .where(col(IncidentRelease.incident_id) == incident_pk)
        .where(col(IncidentRelease.kind) == kind)
    )
    return int((await session.exec(query)).one())


async def incident_by_record_readonly(session: AsyncSession, record_id: str) -> Incident | None:
    return (
        await session.exec(select(Incident).where(col(Incident.record_id) == record_id))
    ).first()


async def open_incidents(session: AsyncSession, unit_pk: int) -> list[Incident]:
    """A unit's incidents still being handled (open), for 我的."""
    return list(
        (
            await session.exec(
                select(Incident)
                .where(col(Incident.unit_id) == unit_pk)
                .where(col(Incident.state) == "open")
                .order_by(col(Incident.id))
            )
        ).all()
    )


async def releases_of(session: AsyncSession, incident_pk: int | None) -> list[IncidentRelease]:
    """首发 and 续报 of an incident, oldest first (R17)."""
    return list(
        (
            await session.exec(
                select(IncidentRelease)
                .where(col(IncidentRelease.incident_id) == incident_pk)
                .order_by(col(IncidentRelease.at))
            )
        ).all()
    )


async def hot_issue_readonly(session: AsyncSession, record_id: str) -> HotIssue | None:
    return (
        await session.exec(select(HotIssue).where(col(HotIssue.record_id) == record_id))
    ).first()
