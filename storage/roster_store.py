"""The roster in the database: units and people, upserted all-or-nothing (R4–R6)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, func
from sqlalchemy.orm import ORMExecuteState, Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from liuan_bot.commands.fields import match_name
from liuan_bot.domain.members import Member
from liuan_bot.domain.roles import Role, parse_role
from liuan_bot.domain.roster import RosterRow
from storage.tables import Person, Unit


@dataclass(frozen=True)
class ImportSummary:
    units_created: int
    units_updated: int
    people_created: int
    people_updated: int


# Roster lookups memoised per roster version (issue 11 §1: the sender lookup and the roster
# queries of the write path cached, invalidated by every roster write, never stale). The
# pipeline puts the memo of the roster version its transaction read into `session.info`
# (storage/roster_cache.py); a transaction that writes to `people` or `units` stops using it
# (its own writes are not in the memo; the version trigger empties it for everyone else).
ROSTER_MEMO = "liuan_roster_memo"
_ROSTER_WRITTEN = "liuan_roster_written"
_ROSTER_TABLES = frozenset({"people", "units"})


def _touches_roster(objects: Any) -> bool:
    return any(isinstance(obj, (Person, Unit)) for obj in objects)


@event.listens_for(Session, "before_flush")
def _note_roster_flush(session: Session, _context: Any, _instances: Any) -> None:
    if ROSTER_MEMO in session.info and (
        _touches_roster(session.new)
        or _touches_roster(session.dirty)
        or _touches_roster(session.deleted)
    ):
        session.info[_ROSTER_WRITTEN] = True


@event.listens_for(Session, "do_orm_execute")
def _note_roster_statement(state: ORMExecuteState) -> None:
    if ROSTER_MEMO in state.session.info and not state.is_select:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in _ROSTER_TABLES:
            state.session.info[_ROSTER_WRITTEN] = True


@event.listens_for(Session, "after_transaction_end")
def _forget_roster_memo(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(ROSTER_MEMO, None)
        session.info.pop(_ROSTER_WRITTEN, None)


def roster_memo(session: AsyncSession) -> dict[Any, Any] | None:
    """The memo this transaction may use, or None (no memo, or the roster was written)."""
    memo: dict[Any, Any] | None = session.info.get(ROSTER_MEMO)
    if memo is None or session.info.get(_ROSTER_WRITTEN):
        return None
    sync = session.sync_session
    if _touches_roster(sync.new) or _touches_roster(sync.dirty) or _touches_roster(sync.deleted):
        session.info[_ROSTER_WRITTEN] = True
        return None
    return memo


def roles_of(names: Sequence[str]) -> frozenset[Role]:
    return frozenset(r for r in (parse_role(n) for n in names) if r is not None)


def _role_list(roles: frozenset[Role]) -> list[str]:
    order = list(Role)
    return [r.value for r in sorted(roles, key=order.index)]


async def import_roster(
    session: AsyncSession, rows: Sequence[RosterRow], now: datetime
) -> ImportSummary:
    """Upsert units by name and people by 企业微信账号 in the caller's transaction."""
    stamp = utc(now)
    units = {u.name: u for u in (await session.exec(select(Unit))).all()}
    units_created = units_updated = people_created = people_updated = 0
    phones: dict[str, str] = {}
    for row in rows:
        if row.office_phone:
            phones.setdefault(row.unit, row.office_phone)
    for row in rows:
        unit = units.get(row.unit)
        if unit is None:
            unit = Unit(
                name=row.unit,
                unit_type=row.unit_type.value,
                key_unit=row.key_unit,
                created_at=stamp,
                updated_at=stamp,
            )
            session.add(unit)
            units[row.unit] = unit
            units_created += 1
        phone = phones.get(row.unit, "")
        if phone and unit.office_phone != phone:  # B3: the unit's news-release contact (R6)
            unit.office_phone, unit.updated_at = phone, stamp
            session.add(unit)
        if (unit.unit_type, unit.key_unit) != (row.unit_type.value, row.key_unit):
            unit.unit_type, unit.key_unit, unit.updated_at = (
                row.unit_type.value,
                row.key_unit,
                stamp,
            )
            session.add(unit)
            units_updated += 1
    await session.flush()
    userids = [row.userid for row in rows]
    people = {
        p.userid: p
        for p in (await session.exec(select(Person).where(col(Person.userid).in_(userids)))).all()
    }
    for row in rows:
        unit_id = units[row.unit].id
        assert unit_id is not None
        person = people.get(row.userid)
        if person is None:
            person = Person(
                userid=row.userid,
                name=row.name,
                unit_id=unit_id,
                created_at=stamp,
                updated_at=stamp,
            )
            people_created += 1
        else:
            people_updated += 1
        person.name, person.unit_id, person.title = row.name, unit_id, row.title
        person.roles, person.mobile = _role_list(row.roles), row.mobile
        person.public, person.active, person.updated_at = row.public, True, stamp
        session.add(person)
    await session.flush()
    return ImportSummary(units_created, units_updated, people_created, people_updated)


async def find_member(session: AsyncSession, userid: str) -> Member | None:
    """The active roster entry of a WeCom user id."""
    found = (
        await session.exec(
            select(Person, Unit)
            .join(Unit, col(Unit.id) == col(Person.unit_id))
            .where(col(Person.userid) == userid)
            .where(col(Person.active))
        )
    ).first()
    if found is None:
        return None
    person, unit = found
    return Member(
        userid=person.userid,
        name=person.name,
        unit=unit.name,
        unit_type=unit.unit_type,
        key_unit=unit.key_unit,
        roles=roles_of(person.roles),
        title=person.title,
    )


async def count_people(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(Person))).one())


async def userids_with_role(
    session: AsyncSession, role: Role, *, unit: str | None = None
) -> list[str]:
    """Active members holding `role` (in `unit`, when given), ordered by user id."""
    memo = roster_memo(session)
    key = ("userids_with_role", role, unit)
    if memo is not None and key in memo:
        return list(memo[key])
    query = (
        select(Person.userid, Person.roles)
        .join(Unit, col(Unit.id) == col(Person.unit_id))
        .where(col(Person.active))
        .order_by(col(Person.userid))
    )
    if unit is not None:
        query = query.where(col(Unit.name) == unit)
    rows = (await session.exec(query)).all()
    found = [userid for userid, roles in rows if role.value in roles]
    if memo is not None:
        memo[key] = tuple(found)
    return found


async def unit_id(session: AsyncSession, name: str) -> int | None:
    """The unit named `name`, or the only unit whose name contains it (财政局 → 市财政局), as
    公告 resolves units (issue 9 E4)."""
    memo = roster_memo(session)
    key = ("unit_id", name)
    if memo is not None and key in memo:
        cached: int | None = memo[key]
        return cached
    found = (await session.exec(select(Unit.id).where(col(Unit.name) == name))).first()
    if found is not None or not name:
        if memo is not None:
            memo[key] = found
        return found
    units = {unit.name: unit.id for unit in await all_units(session)}
    short = match_name(name, units)
    return units[short] if short is not None else None


async def unit_name(session: AsyncSession, unit_pk: int) -> str:
    unit = await session.get(Unit, unit_pk)
    return unit.name if unit else "未知单位"


async def unit_members(session: AsyncSession, unit_pk: int) -> list[Member]:
    """Everyone active in a unit, as the rules see them (for matching speakers, R8–R10)."""
    memo = roster_memo(session)
    key = ("unit_members", unit_pk)
    if memo is not None and key in memo:
        return list(memo[key])
    rows = (
        await session.exec(
            select(Person, Unit)
            .join(Unit, col(Unit.id) == col(Person.unit_id))
            .where(col(Person.unit_id) == unit_pk)
            .where(col(Person.active))
        )
    ).all()
    members = [
        Member(
            userid=p.userid,
            name=p.name,
            unit=u.name,
            unit_type=u.unit_type,
            key_unit=u.key_unit,
            roles=roles_of(p.roles),
            title=p.title,
        )
        for p, u in rows
    ]
    if memo is not None:
        memo[key] = tuple(members)
    return members


async def all_units(session: AsyncSession) -> list[Unit]:
    return list((await session.exec(select(Unit).order_by(col(Unit.id)))).all())


async def names_of(session: AsyncSession, userids: set[str]) -> dict[str, str]:
    """Display names of WeCom user ids (for histories)."""
    if not userids:
        return {}
    rows = (
        await session.exec(
            select(Person.userid, Person.name).where(col(Person.userid).in_(sorted(userids)))
        )
    ).all()
    return dict(rows)
