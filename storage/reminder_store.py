"""Reminder facts and records. `load_world` issues a fixed number of queries, whatever the
number of units; `claim` records instance keys once (ON CONFLICT DO NOTHING … RETURNING)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from liuan_bot.domain.reminders import (
    ConferenceFacts,
    IncidentFacts,
    PersonFacts,
    PolicyFacts,
    Sent,
    UnitFacts,
    World,
)
from liuan_bot.domain.roles import Role, parse_role
from storage.tables import (
    AccountabilityEntry,
    Conference,
    Incident,
    OutboxMessage,
    Person,
    Policy,
    ReminderDelivery,
    ReminderInstance,
    RosterFiling,
    Training,
    Unit,
)

CHUNK = 400


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def load_world(session: AsyncSession, now: datetime) -> World:
    """All facts the reminder rules need, in nine queries."""
    tz = now.tzinfo
    since = utc(
        now.replace(year=now.year - 1, month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    )
    units = (await session.exec(select(Unit))).all()
    people = (await session.exec(select(Person).where(col(Person.active)))).all()
    confs = (
        await session.exec(
            select(Conference).where(
                (col(Conference.held_at) >= since)
                | col(Conference.state).in_(("scheduled", "filed"))
            )
        )
    ).all()
    incidents = (await session.exec(select(Incident).where(col(Incident.state) == "open"))).all()
    policies = (
        await session.exec(
            select(Policy)
            .where(col(Policy.interpretation_url) == "")
            .where(col(Policy.publish_at) >= utc(now - timedelta(days=30)))
        )
    ).all()
    filed = (
        await session.exec(
            select(RosterFiling.unit_id, RosterFiling.year)
            .where(col(RosterFiling.year) == now.year)
            .distinct()
        )
    ).all()
    trained = (
        await session.exec(
            select(Training.person_id, func.max(Training.trained_on)).group_by(
                col(Training.person_id)
            )
        )
    ).all()
    instances = (
        await session.exec(
            select(ReminderInstance.id, ReminderInstance.key, ReminderInstance.recorded_at).where(
                col(ReminderInstance.recorded_at) >= since
            )
        )
    ).all()
    acked_ids = set(
        (
            await session.exec(
                select(ReminderDelivery.instance_id)
                .where(col(ReminderDelivery.acked_at).is_not(None))
                .where(
                    col(ReminderDelivery.instance_id).in_(
                        select(ReminderInstance.id).where(col(ReminderInstance.rule) == "R17")
                    )
                )
            )
        ).all()
    )

    by_role: dict[int, dict[Role, list[str]]] = defaultdict(lambda: defaultdict(list))
    by_name: dict[int, dict[str, str]] = defaultdict(dict)
    news_office: list[str] = []
    trainees: list[PersonFacts] = []
    last_trained = {pid: day for pid, day in trained}
    for p in people:
        roles = {r for r in (parse_role(n) for n in p.roles) if r is not None}
        by_name[p.unit_id][p.name] = p.userid
        for role in roles:
            by_role[p.unit_id][role].append(p.userid)
        if Role.NEWS_OFFICE in roles:
            news_office.append(p.userid)
        if roles & {Role.SPOKESPERSON, Role.MAIN_LEADER}:
            last = last_trained.get(p.id or 0)
            trainees.append(
                PersonFacts(
                    p.userid, p.name, p.unit_id, last.astimezone(tz).date() if last else None
                )
            )
    held: dict[int, list[tuple[datetime, tuple[str, ...]]]] = defaultdict(list)
    upcoming: dict[int, list[datetime]] = defaultdict(list)
    conference_facts: list[ConferenceFacts] = []
    for c in confs:
        if c.state == "held" and c.held_at is not None:
            held[c.unit_id].append((c.held_at.astimezone(tz), tuple(c.counts_for)))
        elif c.starts_at is not None:
            start = c.starts_at.astimezone(tz)
            upcoming[c.unit_id].append(start)
            names = by_name[c.unit_id]
            speakers = tuple(names[n] for n in c.speakers if n in names)
            conference_facts.append(
                ConferenceFacts(
                    c.record_id, c.unit_id, c.topic, start, c.venue, c.filer, speakers, held=False
                )
            )
    filed_by_unit: dict[int, set[int]] = defaultdict(set)
    for unit_pk, filed_year in filed:
        filed_by_unit[unit_pk].add(filed_year)
    unit_facts = [
        UnitFacts(
            u.id or 0,
            u.name,
            u.key_unit,
            u.unit_type,
            {role: tuple(users) for role, users in by_role[u.id or 0].items()},
            tuple(held[u.id or 0]),
            tuple(sorted(upcoming[u.id or 0])),
            frozenset(filed_by_unit[u.id or 0]),
        )
        for u in units
    ]
    return World(
        units=unit_facts,
        news_office=tuple(sorted(news_office)),
        incidents=[
            IncidentFacts(
                i.record_id,
                i.unit_id,
                i.title,
                i.level,
                i.occurred_at.astimezone(tz),
                i.first_release_at.astimezone(tz) if i.first_release_at else None,
                answered=False,
            )
            for i in incidents
        ],
        policies=[
            PolicyFacts(
                p.record_id,
                p.unit_id,
                p.title,
                p.publish_at.astimezone(tz),
                interpretation_ready=False,
                briefing=p.briefing,
            )
            for p in policies
        ],
        conferences=conference_facts,
        trainees=trainees,
        sent={key: Sent(at.astimezone(tz), pk in acked_ids) for pk, key, at in instances},
    )


async def claim(session: AsyncSession, rows: Sequence[dict[str, object]]) -> dict[str, int]:
    """Insert instance rows; the keys this transaction recorded first, with their ids."""
    claimed: dict[str, int] = {}
    insert = _insert(session)
    for start in range(0, len(rows), CHUNK):
        chunk = list(rows[start : start + CHUNK])
        result = await session.exec(
            insert(ReminderInstance)
            .values(chunk)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(col(ReminderInstance.id), col(ReminderInstance.key))
        )
        claimed.update({key: pk for pk, key in result.all()})
    return claimed


async def record_accountability(session: AsyncSession, rows: Sequence[dict[str, object]]) -> None:
    insert = _insert(session)
    for start in range(0, len(rows), CHUNK):
        await session.exec(
            insert(AccountabilityEntry)
            .values(list(rows[start : start + CHUNK]))
            .on_conflict_do_nothing(index_elements=["rule", "subject", "period", "unit_id"])
        )


async def evidence_keys(session: AsyncSession, prefix: str) -> list[str]:
    """Keys of the reminders sent about one subject (evidence for the accountability list)."""
    rows = (
        await session.exec(
            select(ReminderInstance.key)
            .where(col(ReminderInstance.key).startswith(prefix))
            .where(col(ReminderInstance.status) == "sent")
            .order_by(col(ReminderInstance.id))
        )
    ).all()
    return list(rows)


async def ack_batch(session: AsyncSession, batch: str, userid: str, now: datetime) -> int:
    """Record 收到 for every reminder of one message; the number newly acknowledged."""
    rows = (
        await session.exec(
            select(ReminderDelivery)
            .where(col(ReminderDelivery.batch) == batch)
            .where(col(ReminderDelivery.userid) == userid)
        )
    ).all()
    fresh = 0
    for row in rows:
        if row.acked_at is None:
            row.acked_at = utc(now)
            session.add(row)
            fresh += 1
    return fresh if rows else -1


async def unit_reminder_log(
    session: AsyncSession, unit_pk: int, *, limit: int
) -> list[tuple[ReminderInstance, list[tuple[ReminderDelivery, datetime | None]]]]:
    """The latest reminders sent about a unit, each with its deliveries and delivery times."""
    instances = (
        await session.exec(
            select(ReminderInstance)
            .where(col(ReminderInstance.unit_id) == unit_pk)
            .where(col(ReminderInstance.status) == "sent")
            .order_by(col(ReminderInstance.recorded_at).desc(), col(ReminderInstance.id).desc())
            .limit(limit)
        )
    ).all()
    ids = [i.id for i in instances]
    rows = (
        await session.exec(
            select(ReminderDelivery, OutboxMessage.sent_at)
            .join(
                OutboxMessage,
                col(OutboxMessage.id) == col(ReminderDelivery.outbox_id),
                isouter=True,
            )
            .where(col(ReminderDelivery.instance_id).in_(ids))
            .order_by(col(ReminderDelivery.id))
        )
    ).all()
    by_instance: dict[int, list[tuple[ReminderDelivery, datetime | None]]] = defaultdict(list)
    for delivery, sent_at in rows:
        by_instance[delivery.instance_id].append((delivery, sent_at))
    return [(i, by_instance[i.id or 0]) for i in instances]
