"""Human record ids: `<prefix>-<year>-<4 digits>`, distinct under concurrent filings."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import RecordCounter


async def next_record_id(session: AsyncSession, prefix: str, year: int) -> str:
    """Allocate the next id of `prefix` in `year` inside the caller's transaction.

    The counter row is created if missing (ON CONFLICT DO NOTHING) and bumped with
    UPDATE … RETURNING, which takes its row lock: concurrent transactions queue on it.
    """
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.exec(
        insert(RecordCounter)
        .values(prefix=prefix, year=year, last=0)
        .on_conflict_do_nothing(index_elements=["prefix", "year"])
    )
    result = await session.exec(
        update(RecordCounter)
        .where(col(RecordCounter.prefix) == prefix)
        .where(col(RecordCounter.year) == year)
        .values(last=RecordCounter.last + 1)
        .returning(col(RecordCounter.last))
    )
    number = int(result.scalar_one())
    return f"{prefix}-{year}-{number:04d}"
