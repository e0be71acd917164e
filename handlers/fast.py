"""The fast path of the inbox: read-only commands of registered members, no ORM, one write.

Taken only when everything needed is in memory: a text message, a sender in the roster
cache, a command whose spec has a pure `fast` reply the sender may use, and a reply that fits
one passive message. Otherwise — and whenever SQLite's write lock is busy — the message takes
the ordinary transactional path (handlers/dispatch.py); both store it under the same dedupe key.
"""

from __future__ import annotations

import asyncio
import logging

from liuan_bot.clock import Clock
from liuan_bot.commands.registry import Registry
from liuan_bot.inbox import FastOutcome, Reply
from liuan_bot.messages import TEXT_MAX_BYTES
from liuan_bot.wecom.inbound import Incoming
from storage.fast_store import SqliteFastInbox, Stored
from storage.roster_cache import RosterCache

log = logging.getLogger("handlers.fast")
BUSY_RETRIES = (0.001, 0.002, 0.004, 0.008, 0.016)  # ~30 ms in all, then the ordinary path


class FastPath:
    def __init__(
        self, registry: Registry, cache: RosterCache, store: SqliteFastInbox, clock: Clock
    ) -> None:
        self._registry = registry
        self._cache = cache
        self._store = store
        self._clock = clock

    async def __call__(self, incoming: Incoming) -> FastOutcome | None:
        if incoming.msg_type != "text":
            return None
        member = self._cache.get(incoming.from_user)
        if member is None:
            return None
        match = self._registry.match(incoming.content)
        if match is None or match.spec.fast is None or not match.spec.allowed(member.roles):
            return None
        text = match.spec.fast(self._registry, member, match.rest)
        if len(text.encode()) > TEXT_MAX_BYTES:
            return None
        stored = self._store.record_handled(incoming, self._clock.now(), text)
        for pause in BUSY_RETRIES:  # another writer holds the lock for a moment
            if stored is not Stored.BUSY:
                break
            await asyncio.sleep(pause)
            stored = self._store.record_handled(incoming, self._clock.now(), text)
        if stored is Stored.BUSY:
            return None
        if stored is Stored.DUPLICATE:
            return FastOutcome(duplicate=True, reply=None)
        log.info(
            "inbound key=%s from=%s %s (fast)",
            incoming.dedupe_key,
            incoming.from_user,
            match.spec.key,
        )
        return FastOutcome(duplicate=False, reply=Reply(text=text))
