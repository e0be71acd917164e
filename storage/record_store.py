"""Read queries on records shown by 我的/详情: policies, risk letters, history (audit)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from storage.tables import AuditEntry, Policy, RiskAssessment, Unit


async def policies_from(session: AsyncSession, unit_pk: int, since: datetime) -> list[Policy]:
    """A unit's policies published from `since` on (R18)."""
    return list(
        (
            await session.exec(
                select(Policy)
                .where(col(Policy.unit_id) == unit_pk)
                .where(col(Policy.publish_at) >= utc(since))
                .order_by(col(Policy.id))
            )
        ).all()
    )


async def policy_by_record(session: AsyncSession, record_id: str) -> Policy | None:
    return (await session.exec(select(Policy).where(col(Policy.record_id) == record_id))).first()


async def risk_by_record(session: AsyncSession, record_id: str) -> RiskAssessment | None:
    query = select(RiskAssessment).where(col(RiskAssessment.record_id) == record_id)
    return (await session.exec(query)).first()


async def history(session: AsyncSession, record_id: str) -> list[AuditEntry]:
    """A record's audit entries, oldest first."""
    return list(
        (
            await session.exec(
                select(AuditEntry)
                .where(col(AuditEntry.record_id) == record_id)
                .order_by(col(AuditEntry.at), col(AuditEntry.id))
            )
        ).all()
    )


async def is_key_unit(session: AsyncSession, unit_pk: int) -> bool:
    unit = await session.get(Unit, unit_pk)
    return bool(unit and unit.key_unit)
