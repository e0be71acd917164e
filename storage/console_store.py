"""Read-only queries behind the web console (issue 10 §1): a few statements per page, in bulk.

Every function takes the caller's session; `unit_pk=None` means every unit (R1: the news
office and the disclosure office), otherwise one unit's rows only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from storage.tables import (
    Announcement,
    AnnouncementRecipient,
    AuditEntry,
    Conference,
    InboundMessage,
    Incident,
    IncidentRelease,
    OutboxMessage,
    Person,
    Release,
    ReleaseChannel,
    ReminderDelivery,
    ReminderInstance,
    RosterFiling,
    Training,
    Unit,
)

OPEN_APPLICATION_STATES = ("submitted", "reviewed", "approved")
FORECAST_STATES = ("approved", "scheduled", "filed")


async def units(session: AsyncSession, unit_pk: int | None = None) -> list[Unit]:
    query = select(Unit).order_by(col(Unit.id))
    if unit_pk is not None:
        query = query.where(col(Unit.id) == unit_pk)
    return list((await session.exec(query)).all())


async def unit_by_name(session: AsyncSession, name: str) -> Unit | None:
    return (await session.exec(select(Unit).where(col(Unit.name) == name))).first()


async def sign_in_choices(session: AsyncSession) -> list[tuple[Person, str]]:
    """Active roster members with their unit names (the sandbox picker)."""
    rows = await session.exec(
        select(Person, Unit.name)
        .join(Unit, col(Unit.id) == col(Person.unit_id))
        .where(col(Person.active))
        .order_by(col(Unit.id), col(Person.id))
    )
    return [(p, str(n)) for p, n in rows.all()]


async def conferences_between(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    *,
    unit_pk: int | None = None,
    held_only: bool = False,
) -> list[Conference]:
    """Conferences held in [start, end), or (not `held_only`) planned to start in it."""
    if held_only:
        query = select(Conference).where(
            col(Conference.held_at) >= utc(start), col(Conference.held_at) < utc(end)
        )
    else:
        query = select(Conference).where(
            col(Conference.starts_at) >= utc(start), col(Conference.starts_at) < utc(end)
        )
    if unit_pk is not None:
        query = query.where(col(Conference.unit_id) == unit_pk)
    return list((await session.exec(query.order_by(col(Conference.id)))).all())


async def held_times(
    session: AsyncSession, start: datetime, end: datetime, *, unit_pk: int | None = None
) -> list[datetime | None]:
    """When each conference held in [start, end) was held: the evaluation's trend chart needs
    only this column, not whole rows."""
    query = select(Conference.held_at).where(
        col(Conference.held_at) >= utc(start), col(Conference.held_at) < utc(end)
    )
    if unit_pk is not None:
        query = query.where(col(Conference.unit_id) == unit_pk)
    return list((await session.exec(query)).all())


async def forecast_conferences(
    session: AsyncSession, start: datetime, end: datetime, *, unit_pk: int | None = None
) -> list[Conference]:
    """Approved, scheduled or filed conferences in [start, end) not held yet ("if held")."""
    query = (
        select(Conference)
        .where(col(Conference.state).in_(FORECAST_STATES))
        .where(col(Conference.held_at).is_(None))
        .where(col(Conference.starts_at) >= utc(start), col(Conference.starts_at) < utc(end))
    )
    if unit_pk is not None:
        query = query.where(col(Conference.unit_id) == unit_pk)
    return list((await session.exec(query.order_by(col(Conference.starts_at)))).all())


async def open_applications(
    session: AsyncSession, *, unit_pk: int | None = None, states: Sequence[str] = ()
) -> list[Conference]:
    query = select(Conference).where(
        col(Conference.state).in_(tuple(states) or OPEN_APPLICATION_STATES)
    )
    query = query.where(col(Conference.kind) == "application")
    if unit_pk is not None:
        query = query.where(col(Conference.unit_id) == unit_pk)
    return list((await session.exec(query.order_by(col(Conference.id)))).all())


async def conference(session: AsyncSession, record_id: str) -> Conference | None:
    found = await session.exec(select(Conference).where(col(Conference.record_id) == record_id))
    return found.first()


async def incidents_since(
    session: AsyncSession, since: datetime, *, unit_pk: int | None = None
) -> list[Incident]:
    """Open incidents, and the others that occurred since `since`, newest first."""
    query = select(Incident).where(
        (col(Incident.state) == "open") | (col(Incident.occurred_at) >= utc(since))
    )
    if unit_pk is not None:
        query = query.where(col(Incident.unit_id) == unit_pk)
    return list((await session.exec(query.order_by(col(Incident.occurred_at).desc()))).all())


async def incident_releases(
    session: AsyncSession, incident_pks: Sequence[int]
) -> dict[int, list[IncidentRelease]]:
    if not incident_pks:
        return {}
    rows = await session.exec(
        select(IncidentRelease)
        .where(col(IncidentRelease.incident_id).in_(incident_pks))
        .order_by(col(IncidentRelease.at))
    )
    found: dict[int, list[IncidentRelease]] = defaultdict(list)
    for row in rows.all():
        found[row.incident_id].append(row)
    return found


Ladder = list[tuple[ReminderInstance, list[tuple[ReminderDelivery, datetime | None]]]]


async def reminder_ladders(
    session: AsyncSession, subjects: Sequence[str], *, rules: Sequence[str] = ("R17",)
) -> dict[str, Ladder]:
    """The reminders of `rules` sent about each subject (`incident:TF-…`), with each
    delivery's time."""
    if not subjects:
        return {}
    instances = (
        await session.exec(
            select(ReminderInstance)
            .where(col(ReminderInstance.rule).in_(rules))
            .where(col(ReminderInstance.status) == "sent")
            .where(or_(*(col(ReminderInstance.key).like(f"%|{s}|%") for s in subjects)))
            .order_by(col(ReminderInstance.due_at), col(ReminderInstance.id))
        )
    ).all()
    wanted = set(subjects)
    chosen = [i for i in instances if i.key.split("|")[1] in wanted]
    deliveries = await _deliveries_in(session, [i.id for i in chosen if i.id is not None])
    ladders: dict[str, Ladder] = defaultdict(list)
    for instance in chosen:
        ladders[instance.key.split("|")[1]].append(
            (instance, deliveries.get(instance.id or 0, []))
        )
    return ladders


async def _deliveries_in(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, list[tuple[ReminderDelivery, datetime | None]]]:
    found: dict[int, list[tuple[ReminderDelivery, datetime | None]]] = defaultdict(list)
    if not ids:
        return found
    rows = await session.exec(
        select(ReminderDelivery, OutboxMessage.sent_at)
        .join(
            OutboxMessage, col(OutboxMessage.id) == col(ReminderDelivery.outbox_id), isouter=True
        )
        .where(col(ReminderDelivery.instance_id).in_(ids))
        .order_by(col(ReminderDelivery.id))
    )
    for delivery, sent_at in rows.all():
        found[delivery.instance_id].append((delivery, sent_at))
    return found


async def releases(
    session: AsyncSession, *, unit_pk: int | None = None, limit: int = 20
) -> list[tuple[Release, list[ReleaseChannel]]]:
    query = select(Release).order_by(col(Release.created_at).desc(), col(Release.id).desc())
    if unit_pk is not None:
        query = query.where(col(Release.unit_id) == unit_pk)
    found = list((await session.exec(query.limit(limit))).all())
    ids = [r.id for r in found if r.id is not None]
    channels: dict[int, list[ReleaseChannel]] = defaultdict(list)
    if ids:
        rows = await session.exec(
            select(ReleaseChannel)
            .where(col(ReleaseChannel.release_id).in_(ids))
            .order_by(col(ReleaseChannel.id))
        )
        for channel in rows.all():
            channels[channel.release_id].append(channel)
    return [(r, channels.get(r.id or 0, [])) for r in found]


async def people(session: AsyncSession, *, unit_pk: int | None = None) -> list[Person]:
    query = select(Person).where(col(Person.active)).order_by(col(Person.unit_id), col(Person.id))
    if unit_pk is not None:
        query = query.where(col(Person.unit_id) == unit_pk)
    return list((await session.exec(query)).all())


async def units_that_filed(session: AsyncSession, year: int) -> set[int]:
    rows = await session.exec(
        select(RosterFiling.unit_id).where(col(RosterFiling.year) == year).distinct()
    )
    return set(rows.all())


async def latest_trainings(
    session: AsyncSession, person_pks: Sequence[int]
) -> dict[int, datetime]:
    if not person_pks:
        return {}
    rows = await session.exec(
        select(Training.person_id, func.max(Training.trained_on))
        .where(col(Training.person_id).in_(person_pks))
        .group_by(col(Training.person_id))
    )
    return {int(pk): at for pk, at in rows.all() if at is not None}


async def announcements(
    session: AsyncSession, *, limit: int = 20
) -> list[tuple[Announcement, dict[str, int]]]:
    """The latest announcements with their receipt counts (sent, read, invalid)."""
    found = list(
        (
            await session.exec(
                select(Announcement)
                .order_by(col(Announcement.created_at).desc(), col(Announcement.id).desc())
                .limit(limit)
            )
        ).all()
    )
    ids = [a.id for a in found if a.id is not None]
    counts: dict[int, dict[str, int]] = defaultdict(lambda: {"sent": 0, "read": 0, "invalid": 0})
    if ids:
        rows = await session.exec(
            select(
                AnnouncementRecipient.announcement_id,
                func.count(),
                func.count(col(AnnouncementRecipient.read_at)),
                func.sum(case((col(AnnouncementRecipient.invalid), 1), else_=0)),
            )
            .where(col(AnnouncementRecipient.announcement_id).in_(ids))
            .group_by(col(AnnouncementRecipient.announcement_id))
        )
        for pk, total, read, invalid in rows.all():
            counts[int(pk)] = {"sent": int(total), "read": int(read), "invalid": int(invalid or 0)}
    return [(a, counts[a.id or 0]) for a in found]


async def unread_recipients(
    session: AsyncSession, announcement_pks: Sequence[int]
) -> dict[int, list[str]]:
    """Who has not yet confirmed each receipt announcement (valid recipients only)."""
    found: dict[int, list[str]] = defaultdict(list)
    if not announcement_pks:
        return found
    rows = await session.exec(
        select(AnnouncementRecipient.announcement_id, AnnouncementRecipient.userid)
        .where(col(AnnouncementRecipient.announcement_id).in_(announcement_pks))
        .where(col(AnnouncementRecipient.read_at).is_(None))
        .where(col(AnnouncementRecipient.invalid).is_(False))
        .order_by(col(AnnouncementRecipient.id))
    )
    for pk, userid in rows.all():
        found[int(pk)].append(str(userid))
    return found


async def receipts_of(
    session: AsyncSession, announcement_pks: Sequence[int], userid: str
) -> dict[int, AnnouncementRecipient]:
    """One member's recipient rows of the given announcements."""
    if not announcement_pks:
        return {}
    rows = await session.exec(
        select(AnnouncementRecipient)
        .where(col(AnnouncementRecipient.announcement_id).in_(announcement_pks))
        .where(col(AnnouncementRecipient.userid) == userid)
    )
    return {r.announcement_id: r for r in rows.all()}


async def data_stamp(session: AsyncSession) -> tuple[int, int, int]:
    """Moves whenever a message arrives, a message is queued or a record changes: what a
    cached report is checked against (three index lookups)."""
    row = (
        await session.exec(
            select(
                select(func.max(InboundMessage.id)).scalar_subquery(),
                select(func.max(OutboxMessage.id)).scalar_subquery(),
                select(func.max(AuditEntry.id)).scalar_subquery(),
            )
        )
    ).one()
    return (int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))


async def announcement_recipients(
    session: AsyncSession, announcement_pk: int
) -> list[AnnouncementRecipient]:
    rows = await session.exec(
        select(AnnouncementRecipient)
        .where(col(AnnouncementRecipient.announcement_id) == announcement_pk)
        .order_by(col(AnnouncementRecipient.id))
    )
    return list(rows.all())


async def workbench_people(session: AsyncSession) -> list[tuple[str, int, str]]:
    """(userid, unit id, unit name) of every active liaison and spokesperson (the tile's
    audience, issue 10 §3)."""
    rows = await session.exec(
        select(Person.userid, Person.unit_id, Person.roles, Unit.name)
        .join(Unit, col(Unit.id) == col(Person.unit_id))
        .where(col(Person.active))
        .order_by(col(Person.id))
    )
    return [
        (str(userid), int(unit_pk), str(name))
        for userid, unit_pk, roles, name in rows.all()
        if {"联络员", "新闻发言人"} & set(roles)
    ]


async def open_incident_counts(session: AsyncSession) -> dict[int, int]:
    rows = await session.exec(
        select(Incident.unit_id, func.count())
        .where(col(Incident.state) == "open")
        .group_by(col(Incident.unit_id))
    )
    return {int(pk): int(n) for pk, n in rows.all()}


async def last_workbench_data(session: AsyncSession) -> dict[str, dict[str, Any]]:
    """The newest workbench data queued for each user (what their tile shows or will)."""
    latest = (
        select(func.max(OutboxMessage.id))
        .where(col(OutboxMessage.kind) == "workbench")
        .where(col(OutboxMessage.target) != "")
        .group_by(col(OutboxMessage.target))
    )
    rows = await session.exec(
        select(OutboxMessage.target, OutboxMessage.body).where(col(OutboxMessage.id).in_(latest))
    )
    return {str(target): dict(body) for target, body in rows.all()}


async def workbench_template_queued(session: AsyncSession) -> bool:
    found = await session.exec(
        select(OutboxMessage.id)
        .where(col(OutboxMessage.kind) == "workbench")
        .where(col(OutboxMessage.target) == "")
        .limit(1)
    )
    return found.first() is not None


def as_row(obj: Any) -> dict[str, Any]:
    """A table row as a plain dict (for templates that must not lazy-load)."""
    return dict(obj.model_dump())
