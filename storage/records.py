"""Human record ids: `<prefix>-<year>-<4 digits>`, distinct under concurrent filings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.prepared import Prepared, rows
from storage.tables import RecordCounter

_COUNTERS = RecordCounter.__table__  # type: ignore[attr-defined]


def _bump(dialect: Any) -> Any:
    """INSERT … ON CONFLICT (prefix, year) DO UPDATE SET last = last + 1 RETURNING last: the
    counter created at 1 or bumped, in one statement (built once, compiled once per dialect)."""
    return (
        dialect.insert(_COUNTERS)
        .values(prefix=bindparam("prefix"), year=bindparam("year"), last=1)
        .on_conflict_do_update(
            index_elements=["prefix", "year"], set_={"last": _COUNTERS.c.last + 1}
        )
        .returning(_COUNTERS.c.last)
    )


_BUMP = Prepared({"postgresql": _bump(postgresql), "sqlite": _bump(sqlite)})


async def next_record_id(session: AsyncSession, prefix: str, year: int) -> str:
    """Allocate the next id of `prefix` in `year` inside the caller's transaction.

    One upsert on the transaction's connection (no ORM unit of work, issue 11 §1); it takes
    the counter row's lock, so concurrent transactions queue on it.
    """
    found = await rows(session, _BUMP, {"prefix": prefix, "year": year})
    number = int(found[0][0])
    return f"{prefix}-{year}-{number:04d}"
