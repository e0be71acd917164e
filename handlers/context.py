"""What a handler is given: the sender, the text after the command word, a transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import Clock
from liuan_bot.commands.fields import ParsedFields
from liuan_bot.commands.registry import Registry
from liuan_bot.commands.suggest import Suggester
from liuan_bot.domain.members import Member
from liuan_bot.groups import Group
from liuan_bot.messages import Incoming, Outgoing
from liuan_bot.outbox import Wake, no_wake
from liuan_bot.records_config import RecordsConfig
from liuan_bot.relay import ChannelSpec, Composer
from liuan_bot.settings import Settings
from storage.engine import SessionFactory
from storage.outbox_store import Queued, enqueue


@dataclass(frozen=True)
class RelayConfig:
    """Relay channels (config/channels.toml) and the piece composer (issue 5)."""

    channels: tuple[ChannelSpec, ...] = ()
    composer: Composer | None = None
    directory_url: str = ""
    preview_to_spokespersons: bool = False
    robots_ready: frozenset[str] | None = None  # robots whose webhook key is set; None: all


@dataclass(frozen=True)
class Deps:
    """Everything the use cases need, built once by `bot.py`."""

    sessions: SessionFactory
    clock: Clock
    registry: Registry
    settings: Settings
    wake_outbox: Wake = no_wake
    suggester: Suggester | None = None
    groups: Mapping[str, Group] = field(default_factory=dict)
    relay: RelayConfig = field(default_factory=RelayConfig)
    records: RecordsConfig = field(default_factory=RecordsConfig)  # issue 9 A5/A7/A8, 11 §3


@dataclass
class Context:
    """One command being handled, inside one database transaction."""

    deps: Deps
    session: AsyncSession
    now: datetime
    sender: Member
    incoming: Incoming
    args: str
    source: str
    fields: ParsedFields = field(default_factory=ParsedFields)
    word: str = ""
    card_outcome: str | None = None
    pushes: list[Outgoing] = field(default_factory=list)

    async def push(
        self,
        messages: Sequence[Outgoing],
        *,
        source: str | None = None,
        dedupe_key: str | None = None,
    ) -> list[Queued]:
        """Messages to others, in the outbox in this command's transaction (issue 11 §4).

        Without `source` they are collected and written by the dispatcher when the handler
        returns (source `inbound:<id>`, key `push:<source>`), so nothing is written for a
        refused command; the result is then empty. With `source` they are written now and the
        rows written are returned (none if `dedupe_key` was used already)."""
        if source is None:
            self.pushes.extend(messages)
            return []
        return await queue(self.session, messages, self.now, source=source, dedupe_key=dedupe_key)


async def queue(
    session: AsyncSession,
    messages: Sequence[Outgoing],
    now: datetime,
    *,
    source: str,
    dedupe_key: str | None = None,
    fresh: bool = False,
) -> list[Queued]:
    """The one way handlers/ write the outbox: in the caller's transaction, so a message is
    persisted exactly when the change that caused it commits (issue 11 §4). For work outside
    a Context (the dispatcher's replies, the reminder sweep, the console); handlers use
    `Context.push`. tests/test_architecture.py checks nothing else in handlers/ imports
    `enqueue`."""
    return await enqueue(session, messages, now, source=source, dedupe_key=dedupe_key, fresh=fresh)
