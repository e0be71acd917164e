"""Queries for the spokesperson roster filing (R5) and training records (R7)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import Person, RosterFiling, Training, Unit


async def person_by_userid(session: AsyncSession, userid: str) -> tuple[Person, Unit] | None:
    """The active person with this WeCom userid (case-insensitive, as WeCom treats it)."""
    return (
        await session.exec(
            select(Person, Unit)
            .join(Unit, col(Unit.id) == col(Person.unit_id))
            .where(func.lower(col(Person.userid)) == userid.casefold())
            .where(col(Person.active))
        )
    ).first()


async def people_named(session: AsyncSession, name: str) -> list[tuple[Person, Unit]]:
    """Every active person called `name`, with their unit, ordered by userid."""
    rows = await session.exec(
        select(Person, Unit)
        .join(Unit, col(Unit.id) == col(Person.unit_id))
        .where(col(Person.name) == name)
        .where(col(Person.active))
        .order_by(col(Person.userid))
    )
    return list(rows.all())


async def replace_roster_filing(
    session: AsyncSession, unit_pk: int, year: int, rows: list[RosterFiling]
) -> list[RosterFiling]:
    """R5: the unit's filing for `year` becomes `rows`; returns the rows it replaced."""
    old = list(
        (
            await session.exec(
                select(RosterFiling)
                .where(col(RosterFiling.unit_id) == unit_pk)
                .where(col(RosterFiling.year) == year)
                .order_by(col(RosterFiling.id))
            )
        ).all()
    )
    if old:
        await session.exec(
            delete(RosterFiling)
            .where(col(RosterFiling.unit_id) == unit_pk)
            .where(col(RosterFiling.year) == year)
        )
    session.add_all(rows)
    await session.flush()
    return old


async def training_exists(
    session: AsyncSession, person_pk: int, trained_on: datetime, course: str
) -> bool:
    found = await session.exec(
        select(Training.id)
        .where(col(Training.person_id) == person_pk)
        .where(col(Training.trained_on) == trained_on)
        .where(col(Training.course) == course)
    )
    return found.first() is not None


async def latest_training(session: AsyncSession, person_pk: int) -> datetime | None:
    """When the person was last trained (R7), or None."""
    found = await session.exec(
        select(Training.trained_on)
        .where(col(Training.person_id) == person_pk)
        .order_by(col(Training.trained_on).desc())
    )
    return found.first()
