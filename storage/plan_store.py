"""Release plans (R12) and risk-letter links (R13)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from storage.tables import Conference, Policy, ReleasePlan, RiskAssessment, RiskLink


async def replace_plan(
    session: AsyncSession,
    unit_pk: int,
    quarter: str,
    topics: list[str],
    filer: str,
    now: datetime,
) -> list[str] | None:
    """Store a unit's plan for a quarter, replacing any earlier one; the earlier topics."""
    query = (
        select(ReleasePlan)
        .where(col(ReleasePlan.unit_id) == unit_pk)
        .where(col(ReleasePlan.quarter) == quarter)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await session.exec(query)).first()
    if row is None:
        session.add(
            ReleasePlan(
                unit_id=unit_pk,
                quarter=quarter,
                topics=topics,
                filer=filer,
                created_at=utc(now),
                updated_at=utc(now),
            )
        )
        await session.flush()
        return None
    previous = list(row.topics)
    row.topics, row.filer, row.updated_at = topics, filer, utc(now)
    session.add(row)
    await session.flush()
    return previous


async def plans_from(
    session: AsyncSession, unit_pk: int, first_quarter: str
) -> list[tuple[str, list[str]]]:
    """(quarter, topics) of a unit from `first_quarter` on ("2026Q4" sorts as text)."""
    rows = (
        await session.exec(
            select(ReleasePlan)
            .where(col(ReleasePlan.unit_id) == unit_pk)
            .where(col(ReleasePlan.quarter) >= first_quarter)
            .order_by(col(ReleasePlan.quarter))
        )
    ).all()
    return [(r.quarter, list(r.topics)) for r in rows]


async def risk_letter(session: AsyncSession, record_id: str) -> RiskAssessment | None:
    return (
        await session.exec(
            select(RiskAssessment).where(col(RiskAssessment.record_id) == record_id)
        )
    ).first()


async def risk_target(session: AsyncSession, record_id: str) -> int | None:
    """The unit of a policy (ZC) or conference (SQ/BA) a risk letter may be linked to."""
    if record_id.startswith("ZC"):
        return (
            await session.exec(select(Policy.unit_id).where(col(Policy.record_id) == record_id))
        ).first()
    if record_id[:2] in ("SQ", "BA"):
        return (
            await session.exec(
                select(Conference.unit_id).where(col(Conference.record_id) == record_id)
            )
        ).first()
    return None


async def add_risk_link(
    session: AsyncSession, risk_id: str, target_id: str, by: str, now: datetime
) -> bool:
    """Record the link once; False when it was there already."""
    exists = (
        await session.exec(
            select(RiskLink.id)
            .where(col(RiskLink.risk_record_id) == risk_id)
            .where(col(RiskLink.target_record_id) == target_id)
        )
    ).first()
    if exists is not None:
        return False
    session.add(
        RiskLink(
            risk_record_id=risk_id, target_record_id=target_id, linked_by=by, linked_at=utc(now)
        )
    )
    await session.flush()
    return True


async def links_of(session: AsyncSession, record_id: str) -> list[str]:
    """Risk letters linked to a policy or conference, or targets linked to a risk letter."""
    rows = (
        await session.exec(
            select(RiskLink).where(
                (col(RiskLink.risk_record_id) == record_id)
                | (col(RiskLink.target_record_id) == record_id)
            )
        )
    ).all()
    return sorted(
        r.target_record_id if r.risk_record_id == record_id else r.risk_record_id for r in rows
    )
