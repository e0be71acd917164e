"""What a handler is given: the sender, the text after the command word, a transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
from liuan_bot.records_config import RecordsConfig
from liuan_bot.relay import ChannelSpec, Composer
from liuan_bot.settings import Settings
from storage.engine import SessionFactory


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
    wake_outbox: Callable[[], None] = lambda: None
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

    def push(self, messages: list[Outgoing]) -> None:
        """Messages to others, enqueued in the outbox in this transaction."""
        self.pushes.extend(messages)
