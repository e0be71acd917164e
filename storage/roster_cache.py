"""The roster in memory, for the fast path: refreshed every minute and after changes.

Only read-only commands are answered from it (帮助, 我的信息); anything that acts on a record
looks the sender up in the database inside its own transaction. A sender missing from the
cache simply takes the ordinary path, so a newly registered person is never refused.
"""

from __future__ import annotations

import logging

from sqlmodel import col, select

from liuan_bot.domain.members import Member
from storage.engine import SessionFactory
from storage.roster_store import roles_of
from storage.tables import Person, Unit

log = logging.getLogger("storage.roster_cache")


class RosterCache:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        self._members: dict[str, Member] = {}

    def get(self, userid: str) -> Member | None:
        return self._members.get(userid)

    def __len__(self) -> int:
        return len(self._members)

    async def refresh(self) -> None:
        async with self._sessions() as session:
            rows = (
                await session.exec(
                    select(Person, Unit)
                    .join(Unit, col(Unit.id) == col(Person.unit_id))
                    .where(col(Person.active))
                )
            ).all()
        self._members = {
            p.userid: Member(
                userid=p.userid,
                name=p.name,
                unit=u.name,
                unit_type=u.unit_type,
                key_unit=u.key_unit,
                roles=roles_of(p.roles),
                title=p.title,
            )
            for p, u in rows
        }
        log.debug("roster cache refreshed: %s members", len(self._members))
