"""The sender lookup, cached and never stale (issue 11.1).

Every message's transaction reads the roster version (one indexed row, bumped by database
triggers in the same transaction as any write to `people` or `units`, by any instance or
tool). When it moved, the cache is emptied; a sender not yet cached is looked up alone (one
query, whatever the roster's size) and kept under the version read *before* the lookup, so an
entry is never older than its label. Unregistered senders are cached too (as None).
"""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.domain.members import Member
from storage.inbox_store import roster_version
from storage.roster_store import ROSTER_MEMO, find_member

log = logging.getLogger("storage.roster_cache")


class RosterCache:
    def __init__(self, max_entries: int = 20_000) -> None:
        self._members: dict[str, Member | None] = {}
        self._memo: dict[object, object] = {}  # roster lookups (storage.roster_store)
        self._version: int | None = None
        self._max = max_entries
        self.lookups = 0  # database lookups of single senders (for tests and the bench)

    def __len__(self) -> int:
        return len(self._members)

    def cached(self, userid: str) -> tuple[int | None, bool, Member | None]:
        """(version, cached?, member) as this cache knows it, with no query: the caller must
        confirm `version` is still the roster's in the statement that acts on it (the
        conditional INSERT of `SqliteDirect.insert`), else treat the lookup as not cached."""
        if self._version is None or userid not in self._members:
            return self._version, False, None
        return self._version, True, self._members[userid]

    async def member(self, session: AsyncSession, userid: str) -> Member | None:
        """The active roster entry of `userid` as of this transaction (cached)."""
        return await self.member_at(session, userid, await roster_version(session))

    async def member_at(self, session: AsyncSession, userid: str, version: int) -> Member | None:
        """`member`, given the roster version this transaction read (with other values, in one
        statement: `storage.inbox_store.begin_message`)."""
        if version != self._version:
            if self._version is not None:
                log.info(
                    "roster changed (version %s → %s): sender cache emptied",
                    self._version,
                    version,
                )
            self._members.clear()
            self._memo = {}
            self._version = version
        # this transaction read `version`: it may use the lookups memoised under it
        session.info[ROSTER_MEMO] = self._memo
        if userid in self._members:
            return self._members[userid]
        self.lookups += 1
        found = await find_member(session, userid)
        if self._version == version:  # nobody emptied the cache for a newer version meanwhile
            if len(self._members) >= self._max:
                self._members.clear()
            self._members[userid] = found
        return found
