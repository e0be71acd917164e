"""Reminder facts and records. `load_world` issues a fixed number of queries, whatever the
number of units; `claim` records instance keys once (ON CONFLICT DO NOTHING … RETURNING)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy import insert as insert_stmt
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from liuan_bot.domain.periods import half_year, quarter, year
from liuan_bot.domain.reminders import (
    ConferenceFacts,
    IncidentFacts,
    PersonFacts,
    PolicyFacts,
    RelayFacts,
    Sent,
    UnitFacts,
    World,
)
from liuan_bot.domain.roles import Role, parse_role
from storage.engine import batch_size
from storage.tables import (
    AccountabilityEntry,
    Incident,
    OutboxMessage,
    Policy,
    Release,
    ReleaseChannel,
    ReminderDelivery,
    ReminderInstance,
    RosterFiling,
    Training,
    Unit,
)


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def history_start(now: datetime) -> datetime:
    """How far back the rules look: the previous quarter and half-year (for their missed lists),
    this year (R10), and in January–February the previous year too (its R10 missed list)."""
    previous_quarter = quarter(quarter(now).start - timedelta(days=1)).start
    previous_half = half_year(half_year(now).start - timedelta(days=1)).start
    start = min(previous_quarter, previous_half, year(now).start)
    return year(year(now).start - timedelta(days=1)).start if now.month <= 2 else start


async def _routine_facts(
    session: AsyncSession, now: datetime, since: datetime
) -> tuple[Sequence[Any], Sequence[Policy], Sequence[Any], Sequence[Any]]:
    """Conferences, pending policies, roster filings, trainings: all but R17 needs them."""
    conn = await session.connection()  # plain column rows: no ORM objects to build
    c = SQLModel.metadata.tables["conferences"].c
    confs = (
        await conn.execute(
            core_select(
                c.record_id,
                c.unit_id,
                c.state,
                c.held_at,
                c.counts_for,
                c.starts_at,
                c.topic,
                c.venue,
                c.filer,
                c.speakers,
            ).where((c.held_at >= since) | c.state.in_(("scheduled", "filed")))
        )
    ).all()
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
    return confs, policies, filed, trained


RelayChannels = Mapping[str, tuple[str, tuple[str, ...]]]  # key -> (name, editors)


async def _relays(
    session: AsyncSession, now: datetime, channels: RelayChannels
) -> list[RelayFacts]:
    """Channels of today's releases, and of every release still waiting for one."""
    tz = now.tzinfo
    today = utc(now.replace(hour=0, minute=0, second=0, microsecond=0))
    waiting = select(ReleaseChannel.release_id).where(
        col(ReleaseChannel.state).in_(("pending", "sent"))
    )
    recent = select(Release.id).where(col(Release.created_at) >= today)
    rows = (
        await session.exec(
            select(ReleaseChannel, Release)
            .join(Release, col(Release.id) == col(ReleaseChannel.release_id))
            .where(col(Release.id).in_(waiting) | col(Release.id).in_(recent))
            .order_by(col(Release.id), col(ReleaseChannel.id))
        )
    ).all()
    return [
        RelayFacts(
            rel.record_id,
            rel.topic,
            ch.channel,
            channels.get(ch.channel, ("已停用的渠道", ()))[0],  # never the channel id (E1)
            channels.get(ch.channel, ("", ()))[1],
            ch.state,
            ch.sent_at.astimezone(tz) if ch.sent_at else None,
            rel.created_at.astimezone(tz),
            ch.link,
        )
        for ch, rel in rows
    ]


async def load_world(
    session: AsyncSession,
    now: datetime,
    *,
    only_r17: bool = False,
    relay_channels: RelayChannels | None = None,
) -> World:
    """All facts the reminder rules need, in nine queries whatever the number of units;
    `only_r17` loads just what the incident clocks need (the precise timer's sweep)."""
    tz = now.tzinfo
    since = utc(history_start(now))
    units = (await session.exec(select(Unit.id, Unit.name, Unit.key_unit, Unit.unit_type))).all()
    conn = await session.connection()
    p = SQLModel.metadata.tables["people"].c
    people = (
        await conn.execute(core_select(p.id, p.userid, p.name, p.unit_id, p.roles).where(p.active))
    ).all()
    incidents = (await session.exec(select(Incident).where(col(Incident.state) == "open"))).all()
    confs: Sequence[Any] = ()
    policies: Sequence[Policy] = ()
    filed: Sequence[Any] = ()
    trained: Sequence[Any] = ()
    if not only_r17:
        confs, policies, filed, trained = await _routine_facts(session, now, since)
    oldest_open = min((i.occurred_at for i in incidents), default=None)
    keys_since = min(since, utc(oldest_open)) if oldest_open else since
    instance_query = select(
        ReminderInstance.id, ReminderInstance.key, ReminderInstance.recorded_at
    ).where(col(ReminderInstance.recorded_at) >= keys_since)
    if only_r17:
        instance_query = instance_query.where(col(ReminderInstance.rule) == "R17")
    instances = (await session.exec(instance_query)).all()
    acked_ids = set(
        (
            await session.exec(
                select(ReminderDelivery.instance_id)
                .where(col(ReminderDelivery.acked_at).is_not(None))
                .where(
                    col(ReminderDelivery.instance_id).in_(
                        select(ReminderInstance.id)
                        .where(col(ReminderInstance.rule) == "R17")
                        .where(col(ReminderInstance.recorded_at) >= keys_since)
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
    for person_pk, userid, name, unit_pk, role_names in people:
        roles = {r for r in (parse_role(n) for n in role_names) if r is not None}
        by_name[unit_pk][name] = userid
        for role in roles:
            by_role[unit_pk][role].append(userid)
        if Role.NEWS_OFFICE in roles:
            news_office.append(userid)
        if roles & {Role.SPOKESPERSON, Role.MAIN_LEADER}:
            last = last_trained.get(person_pk or 0)
            trainees.append(
                PersonFacts(userid, name, unit_pk, last.astimezone(tz).date() if last else None)
            )
    held: dict[int, list[tuple[datetime, tuple[str, ...]]]] = defaultdict(list)
    upcoming: dict[int, list[datetime]] = defaultdict(list)
    conference_facts: list[ConferenceFacts] = []
    for record_id, unit_pk, state, held_at, counts, starts_at, topic, venue, filer, named in confs:
        if state == "held" and held_at is not None:
            held[unit_pk].append((held_at.astimezone(tz), tuple(counts)))
        elif starts_at is not None:
            start = starts_at.astimezone(tz)
            upcoming[unit_pk].append(start)
            names = by_name[unit_pk]
            speakers = tuple(names[n] for n in named if n in names)
            conference_facts.append(
                ConferenceFacts(
                    record_id, unit_pk, topic, start, venue, filer, speakers, held=False
                )
            )
    filed_by_unit: dict[int, set[int]] = defaultdict(set)
    for unit_pk, filed_year in filed:
        filed_by_unit[unit_pk].add(filed_year)
    unit_facts = [
        UnitFacts(
            pk or 0,
            name,
            key_unit,
            unit_type,
            {role: tuple(users) for role, users in by_role[pk or 0].items()},
            tuple(held[pk or 0]),
            tuple(sorted(upcoming[pk or 0])),
            frozenset(filed_by_unit[pk or 0]),
        )
        for pk, name, key_unit, unit_type in units
    ]
    relays = [] if only_r17 else await _relays(session, now, relay_channels or {})
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
        relays=relays,
        sent={key: Sent(at.astimezone(tz), pk in acked_ids) for pk, key, at in instances},
    )


async def claim(session: AsyncSession, rows: Sequence[dict[str, object]]) -> dict[str, int]:
    """Insert instance rows; the keys this transaction recorded first, with their ids."""
    claimed: dict[str, int] = {}
    insert = _insert(session)
    size = batch_size(rows[0]) if rows else 1
    for start in range(0, len(rows), size):
        chunk = list(rows[start : start + size])
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
    size = batch_size(rows[0]) if rows else 1
    for start in range(0, len(rows), size):
        await session.exec(
            insert(AccountabilityEntry)
            .values(list(rows[start : start + size]))
            .on_conflict_do_nothing(index_elements=["rule", "subject", "period", "unit_id"])
        )


async def evidence_keys(session: AsyncSession, patterns: Sequence[str]) -> list[str]:
    """Keys of the sent reminders matching any LIKE pattern (evidence for accountability)."""
    if not patterns:
        return []
    rows = (
        await session.exec(
            select(ReminderInstance.key)
            .where(or_(*(col(ReminderInstance.key).like(p) for p in patterns)))
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


async def ack_outstanding(session: AsyncSession, userid: str, now: datetime) -> int:
    """A typed 收到 (issue 9 C2): every reminder this person has not acknowledged yet."""
    rows = (
        await session.exec(
            select(ReminderDelivery)
            .where(col(ReminderDelivery.userid) == userid)
            .where(col(ReminderDelivery.acked_at).is_(None))
        )
    ).all()
    for row in rows:
        row.acked_at = utc(now)
        session.add(row)
    return len(rows)


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


async def insert_deliveries(session: AsyncSession, rows: Sequence[dict[str, object]]) -> None:
    """Who received which reminder in which message, in bulk."""
    size = batch_size(rows[0]) if rows else 1
    for start in range(0, len(rows), size):
        await session.exec(insert_stmt(ReminderDelivery).values(list(rows[start : start + size])))
