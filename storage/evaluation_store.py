"""Facts for the evaluation, the 4·2·1 board and the accountability list (R8–R14), in bulk.

`load_facts` issues a fixed number of queries whatever the number of units (no per-unit
N+1): one per table, each bounded by the window asked for and, optionally, one unit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy import select as core_select
from sqlalchemy.sql import Executable
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from liuan_bot.domain.evaluation import (
    FORECAST_STATES,
    SHANGHAI,
    ChannelFact,
    ConferenceFact,
    DeliveryEvidence,
    Facts,
    IncidentFact,
    PersonFact,
    PlanFact,
    PolicyFact,
    ReleaseFact,
    ReminderEvidence,
    RiskFact,
    StoredEntry,
    UnitFact,
    quarter_period,
)
from storage.tables import (
    AccountabilityEntry,
    AuditEntry,
    Conference,
    Incident,
    OutboxMessage,
    Person,
    Policy,
    Release,
    ReleaseChannel,
    ReleasePlan,
    ReminderDelivery,
    ReminderInstance,
    RiskAssessment,
    RiskLink,
    RosterFiling,
    Training,
    Unit,
)

ACCOUNTABLE_RULES = ("R8", "R9", "R10", "R17", "R18")
EVIDENCE_TAIL = timedelta(days=60)  # missed lists go out after the period ends


async def _run(session: AsyncSession, statement: Executable) -> Any:
    """Plain column rows on the session's connection: no ORM objects to build (bulk)."""
    conn = await session.connection()
    return await conn.execute(statement)


def _unit_filter(query: Any, column: Any, unit_pk: int | None) -> Any:
    return query if unit_pk is None else query.where(column == unit_pk)


async def load_units(session: AsyncSession, unit_pk: int | None = None) -> list[UnitFact]:
    query = _unit_filter(select(Unit), col(Unit.id), unit_pk)
    return [
        UnitFact(u.id or 0, u.name, u.unit_type, u.key_unit)
        for u in (await session.exec(query)).all()
    ]


async def unit_pk_by_name(session: AsyncSession, name: str) -> int | None:
    return (await session.exec(select(Unit.id).where(col(Unit.name) == name))).first()


async def load_facts(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    *,
    unit_pk: int | None = None,
    with_evidence: bool = False,
    details: bool = True,
    quota_only: bool = False,
    training_years: int = 3,
) -> Facts:
    """Everything that happened in [start, end) (conferences held or planned, incidents,
    policies, risk letters, releases, plans, roster filings, training), for all units or one.
    With `with_evidence`, also the reminders sent about accountable rules and their
    deliveries, and the stored accountability entries. Without `details`, no releases, risk
    letters, roster filings, plans or training (what the accountability list does not need);
    with `quota_only`, only units, people and conferences (the 4·2·1 board)."""
    s, e = utc(start), utc(end)
    units = await load_units(session, unit_pk)
    people_rows = (
        await _run(
            session,
            _unit_filter(
                core_select(
                    col(Person.id),
                    col(Person.userid),
                    col(Person.name),
                    col(Person.unit_id),
                    col(Person.roles),
                ).where(col(Person.active)),
                col(Person.unit_id),
                unit_pk,
            ),
        )
    ).all()
    trained: dict[int, list[datetime]] = defaultdict(list)
    since = s.replace(year=s.year - training_years)
    training_rows = (
        []
        if quota_only or not details
        else (
            await session.exec(
                _unit_filter(
                    select(Training.person_id, Training.trained_on)
                    .join(Person, col(Person.id) == col(Training.person_id))
                    .where(col(Training.trained_on) >= since)
                    .where(col(Training.trained_on) < e),
                    col(Person.unit_id),
                    unit_pk,
                )
            )
        ).all()
    )
    for person_id, trained_on in training_rows:
        trained[person_id].append(trained_on)
    people = [
        PersonFact(userid, name, unit, frozenset(roles), tuple(sorted(trained.get(pk, []))))
        for pk, userid, name, unit, roles in people_rows
    ]
    by_userid = {p.userid: p for p in people}
    by_name = {(p.unit_id, p.name): p for p in people}

    conf_rows = (
        await _run(
            session,
            _unit_filter(
                core_select(
                    col(Conference.record_id),
                    col(Conference.unit_id),
                    col(Conference.kind),
                    col(Conference.state),
                    col(Conference.topic),
                    col(Conference.content),
                    col(Conference.starts_at),
                    col(Conference.held_at),
                    col(Conference.counts_for),
                    col(Conference.held_speakers),
                    col(Conference.held_speaker_ids),
                    col(Conference.speakers),
                    col(Conference.incident_record_id),
                ).where(
                    or_(
                        (col(Conference.state) == "held")
                        & (col(Conference.held_at) >= s)
                        & (col(Conference.held_at) < e),
                        col(Conference.state).in_(sorted(FORECAST_STATES))
                        & (col(Conference.starts_at) >= s)
                        & (col(Conference.starts_at) < e),
                    )
                ),
                col(Conference.unit_id),
                unit_pk,
            ),
        )
    ).all()
    conferences = []
    for c in conf_rows:
        speaker_roles = []
        for index, name in enumerate(c.held_speakers):
            uid = c.held_speaker_ids[index] if index < len(c.held_speaker_ids) else ""
            person = by_userid.get(uid) or by_name.get((c.unit_id, name))
            speaker_roles.append(person.roles if person else frozenset())
        planned: set[str] = set()
        for name in c.speakers:
            person = by_name.get((c.unit_id, name.strip()))
            if person is not None:
                planned |= person.roles
        conferences.append(
            ConferenceFact(
                record_id=c.record_id,
                unit_id=c.unit_id,
                kind=c.kind,
                state=c.state,
                topic=c.topic,
                content=c.content,
                starts_at=c.starts_at,
                held_at=c.held_at,
                counts_for=tuple(c.counts_for),
                speaker_roles=tuple(speaker_roles),
                planned_roles=frozenset(planned),
                incident_record_id=c.incident_record_id,
            )
        )

    if quota_only:
        return Facts(units=units, conferences=conferences, people=people)
    releases = await _releases(session, s, e, unit_pk) if details else []

    incidents = [
        IncidentFact(*row)
        for row in (
            await _run(
                session,
                _unit_filter(
                    core_select(
                        col(Incident.record_id),
                        col(Incident.unit_id),
                        col(Incident.title),
                        col(Incident.level),
                        col(Incident.occurred_at),
                        col(Incident.first_release_at),
                        col(Incident.answered_at),
                    )
                    .where(col(Incident.occurred_at) >= s)
                    .where(col(Incident.occurred_at) < e),
                    col(Incident.unit_id),
                    unit_pk,
                ),
            )
        ).all()
    ]

    policy_rows = (
        await _run(
            session,
            _unit_filter(
                core_select(
                    col(Policy.record_id),
                    col(Policy.unit_id),
                    col(Policy.title),
                    col(Policy.publish_at),
                    col(Policy.interpretation_url),
                    col(Policy.created_at),
                )
                .where(col(Policy.publish_at) >= s)
                .where(col(Policy.publish_at) < e),
                col(Policy.unit_id),
                unit_pk,
            ),
        )
    ).all()
    policy_ids = [p.record_id for p in policy_rows]
    interpreted = await _interpretation_times(session, policy_ids)
    policies = [
        PolicyFact(
            p.record_id,
            p.unit_id,
            p.title,
            p.publish_at,
            (interpreted.get(p.record_id) or p.created_at) if p.interpretation_url else None,
        )
        for p in policy_rows
    ]

    risks = await _risks(session, s, e, unit_pk, policy_ids) if details else []
    filings = await _filings(session, s, e, unit_pk) if details else {}
    plans = (
        await load_plans(session, _quarters_between(start, end), unit_pk=unit_pk)
        if details
        else []
    )
    facts = Facts(
        units=units,
        conferences=conferences,
        releases=releases,
        incidents=incidents,
        policies=policies,
        risks=risks,
        people=people,
        roster_filings={k: _aware(v) for k, v in filings.items()},
        plans=plans,
    )
    if not with_evidence:
        return facts
    reminders = await _reminders(session, s, e + EVIDENCE_TAIL, unit_pk)
    stored = [
        StoredEntry(a.unit_id, a.rule, a.subject, a.period, a.created_at)
        for a in (
            await session.exec(
                _unit_filter(
                    select(AccountabilityEntry), col(AccountabilityEntry.unit_id), unit_pk
                )
            )
        ).all()
    ]
    return replace(facts, reminders=reminders, stored_entries=stored)


async def _releases(
    session: AsyncSession, s: datetime, e: datetime, unit_pk: int | None
) -> list[ReleaseFact]:
    """The channels of every release of a conference held in the window (R19–R23)."""
    held_ids = (
        _unit_filter(
            select(Conference.record_id)
            .where(col(Conference.state) == "held")
            .where(col(Conference.held_at) >= s)
            .where(col(Conference.held_at) < e),
            col(Conference.unit_id),
            unit_pk,
        )
    ).scalar_subquery()
    channels: dict[tuple[str, int], list[ChannelFact]] = defaultdict(list)
    for channel, state, sent_at, published_at, record_id, release_unit in (
        await _run(
            session,
            core_select(
                col(ReleaseChannel.channel),
                col(ReleaseChannel.state),
                col(ReleaseChannel.sent_at),
                col(ReleaseChannel.published_at),
                col(Release.record_id),
                col(Release.unit_id),
            )
            .join(Release, col(Release.id) == col(ReleaseChannel.release_id))
            .where(col(Release.record_id).in_(held_ids))
            .order_by(col(ReleaseChannel.id)),
        )
    ).all():
        channels[(record_id, release_unit)].append(
            ChannelFact(channel, state, sent_at, published_at)
        )
    return [ReleaseFact(rid, unit, tuple(chs)) for (rid, unit), chs in channels.items()]


async def _filings(
    session: AsyncSession, s: datetime, e: datetime, unit_pk: int | None
) -> dict[tuple[int, int], datetime]:
    """When each unit first filed its spokespersons for each year (R5)."""
    found = {
        (unit, year): at
        for unit, year, at in (
            await session.exec(
                _unit_filter(
                    select(
                        col(RosterFiling.unit_id),
                        col(RosterFiling.year),
                        func.min(RosterFiling.created_at),
                    )
                    .where(col(RosterFiling.year) >= s.year)
                    .where(col(RosterFiling.year) <= e.year)
                    .group_by(col(RosterFiling.unit_id), col(RosterFiling.year)),
                    col(RosterFiling.unit_id),
                    unit_pk,
                )
            )
        ).all()
    }
    return dict(found)


def _aware(moment: datetime) -> datetime:
    """func.min() loses the column type on SQLite: put the UTC zone back."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _quarters_between(start: datetime, end: datetime) -> list[str]:
    """Codes of the quarters overlapping [start, end), local time."""
    local = start.astimezone(SHANGHAI)
    year, q = local.year, (local.month - 1) // 3 + 1
    codes: list[str] = []
    while quarter_period(year, q).start < end and len(codes) < 200:
        codes.append(f"{year}Q{q}")
        year, q = (year + 1, 1) if q == 4 else (year, q + 1)
    return codes


async def _interpretation_times(
    session: AsyncSession, policy_ids: Sequence[str]
) -> dict[str, datetime]:
    """When each policy's interpretation was last registered (`政策 ZC-… 解读：…`), from
    the audit log; a policy filed with its interpretation has its filing time instead."""
    if not policy_ids:
        return {}
    found: dict[str, datetime] = {}
    rows = (
        await session.exec(
            select(AuditEntry)
            .where(col(AuditEntry.action) == "policy_update")
            .where(col(AuditEntry.record_id).in_(list(policy_ids)))
            .order_by(col(AuditEntry.at), col(AuditEntry.id))
        )
    ).all()
    for row in rows:
        if row.record_id and "解读" in (row.detail or {}).get("changed", []):
            found[row.record_id] = row.at
    return found


async def _risks(
    session: AsyncSession,
    s: datetime,
    e: datetime,
    unit_pk: int | None,
    policy_ids: Sequence[str],
) -> list[RiskFact]:
    """Risk letters filed in the window, and any letter linked to one of its policies."""
    links: dict[str, list[str]] = defaultdict(list)
    link_rows = (
        await session.exec(
            select(RiskLink).where(
                or_(
                    col(RiskLink.target_record_id).in_(list(policy_ids)),
                    (col(RiskLink.linked_at) >= s),
                )
            )
        )
    ).all()
    for link in link_rows:
        links[link.risk_record_id].append(link.target_record_id)
    query = core_select(
        col(RiskAssessment.record_id),
        col(RiskAssessment.unit_id),
        col(RiskAssessment.subject),
        col(RiskAssessment.level),
        col(RiskAssessment.created_at),
    ).where(
        or_(
            (col(RiskAssessment.created_at) >= s) & (col(RiskAssessment.created_at) < e),
            col(RiskAssessment.record_id).in_(sorted(links)),
        )
    )
    rows = (await _run(session, _unit_filter(query, col(RiskAssessment.unit_id), unit_pk))).all()
    others = {r.record_id for r in rows}
    missing = sorted(set(links) - others)
    if missing:  # letters filed earlier whose links were made in the window
        rows = list(rows) + list(
            (
                await _run(
                    session,
                    core_select(
                        col(RiskAssessment.record_id),
                        col(RiskAssessment.unit_id),
                        col(RiskAssessment.subject),
                        col(RiskAssessment.level),
                        col(RiskAssessment.created_at),
                    ).where(col(RiskAssessment.record_id).in_(missing)),
                )
            ).all()
        )
    return [
        RiskFact(
            r.record_id,
            r.unit_id,
            r.subject,
            r.level,
            r.created_at,
            tuple(sorted(links.get(r.record_id, []))),
        )
        for r in rows
        if unit_pk is None or r.unit_id == unit_pk
    ]


async def _reminders(
    session: AsyncSession, s: datetime, e: datetime, unit_pk: int | None
) -> list[ReminderEvidence]:
    """Sent reminders of the accountable rules in the window, with deliveries (two queries,
    plus one for names). Missed lists (unit id NULL) are loaded for every unit."""
    query = (
        core_select(
            col(ReminderInstance.id),
            col(ReminderInstance.key),
            col(ReminderInstance.rule),
            col(ReminderInstance.kind),
            col(ReminderInstance.due_at),
            col(ReminderInstance.recorded_at),
            col(ReminderInstance.text),
        )
        .where(col(ReminderInstance.rule).in_(ACCOUNTABLE_RULES))
        .where(col(ReminderInstance.status) == "sent")
        .where(col(ReminderInstance.recorded_at) >= s)
        .where(col(ReminderInstance.recorded_at) < e)
    )
    if unit_pk is not None:
        query = query.where(
            or_(col(ReminderInstance.unit_id) == unit_pk, col(ReminderInstance.unit_id).is_(None))
        )
    instances = (await _run(session, query.order_by(col(ReminderInstance.id)))).all()
    ids = [i.id for i in instances if i.id is not None]
    deliveries: dict[int, list[tuple[str, datetime | None, datetime | None]]] = defaultdict(list)
    if ids:
        rows = (
            await session.exec(
                select(
                    col(ReminderDelivery.instance_id),
                    col(ReminderDelivery.userid),
                    col(OutboxMessage.sent_at),
                    col(ReminderDelivery.acked_at),
                )
                .join(
                    OutboxMessage,
                    col(OutboxMessage.id) == col(ReminderDelivery.outbox_id),
                    isouter=True,
                )
                .where(
                    col(ReminderDelivery.instance_id).in_(
                        select(ReminderInstance.id)
                        .where(col(ReminderInstance.rule).in_(ACCOUNTABLE_RULES))
                        .where(col(ReminderInstance.status) == "sent")
                        .where(col(ReminderInstance.recorded_at) >= s)
                        .where(col(ReminderInstance.recorded_at) < e)
                    )
                )
                .order_by(col(ReminderDelivery.id))
            )
        ).all()
        for instance_id, userid, sent_at, acked_at in rows:
            deliveries[instance_id].append((userid, sent_at, acked_at))
    users = {u for items in deliveries.values() for u, _, _ in items}
    names = (
        dict(
            (
                await session.exec(
                    select(Person.userid, Person.name).where(col(Person.userid).in_(sorted(users)))
                )
            ).all()
        )
        if users
        else {}
    )
    return [
        ReminderEvidence(
            key=i.key,
            rule=i.rule,
            kind=i.kind,
            due_at=i.due_at,
            recorded_at=i.recorded_at,
            text=i.text,
            deliveries=tuple(
                DeliveryEvidence(u, names.get(u, u), sent, acked)
                for u, sent, acked in deliveries.get(i.id or 0, [])
            ),
        )
        for i in instances
    ]


async def load_plans(
    session: AsyncSession, quarters: Sequence[str], *, unit_pk: int | None = None
) -> list[PlanFact]:
    if not quarters:
        return []
    query = select(ReleasePlan).where(col(ReleasePlan.quarter).in_(list(quarters)))
    return [
        PlanFact(p.unit_id, p.quarter, tuple(p.topics), p.updated_at)
        for p in (await session.exec(_unit_filter(query, col(ReleasePlan.unit_id), unit_pk))).all()
    ]
