"""Announcement queries (issue 5, issue 9 C2/C3/E7): recipients, receipts, resends."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.domain.roles import Role, parse_role
from storage.tables import Announcement, AnnouncementRecipient, AuditEntry, Person, Unit

PersonRow = tuple[str, str, str, frozenset[Role]]  # userid, name, unit, roles


async def active_people(session: AsyncSession) -> list[PersonRow]:
    """Everyone active, in the roster's official order (units, then people, as imported)."""
    rows = (
        await session.exec(
            select(Person.userid, Person.name, Unit.name, Person.roles)
            .join(Unit, col(Unit.id) == col(Person.unit_id))
            .where(col(Person.active))
            .order_by(col(Unit.id), col(Person.id))
        )
    ).all()
    return [
        (u, n, unit, frozenset(r for r in map(parse_role, roles) if r))
        for u, n, unit, roles in rows
    ]


async def announcement_by_record(session: AsyncSession, record_id: str) -> Announcement | None:
    return (
        await session.exec(select(Announcement).where(col(Announcement.record_id) == record_id))
    ).first()


async def recipients_of(
    session: AsyncSession, announcement_id: int | None, userids: list[str] | None = None
) -> list[AnnouncementRecipient]:
    query = select(AnnouncementRecipient).where(
        col(AnnouncementRecipient.announcement_id) == announcement_id
    )
    if userids is not None:
        query = query.where(col(AnnouncementRecipient.userid).in_(userids))
    return list((await session.exec(query.order_by(col(AnnouncementRecipient.id)))).all())


async def unread_announcements(session: AsyncSession, userid: str) -> list[Announcement]:
    """Announcements with a receipt this person has not read yet, oldest first."""
    rows = await session.exec(
        select(Announcement)
        .join(
            AnnouncementRecipient,
            col(AnnouncementRecipient.announcement_id) == col(Announcement.id),
        )
        .where(
            col(AnnouncementRecipient.userid) == userid,
            col(AnnouncementRecipient.read_at).is_(None),
            col(Announcement.receipt),
        )
        .order_by(col(Announcement.id))
    )
    return list(rows.all())


async def last_resend_at(session: AsyncSession, record_id: str) -> datetime | None:
    """When the announcement was last resent (from the audit log), or None."""
    return (
        await session.exec(
            select(AuditEntry.at)
            .where(col(AuditEntry.record_id) == record_id, col(AuditEntry.action) == "resend")
            .order_by(col(AuditEntry.at).desc())
        )
    ).first()


async def names_by_userid(session: AsyncSession, userids: list[str]) -> dict[str, str]:
    rows = await session.exec(
        select(Person.userid, Person.name).where(col(Person.userid).in_(userids))
    )
    return dict(rows.all())
