"""Shared test helpers: settings for tests, a running bot against a fake WeCom, callbacks."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from bot import Bot, build_bot
from handlers.context import Deps
from handlers.registry import CARD_ACTIONS, COMMANDS
from liuan_bot.clock import FixedClock
from liuan_bot.commands.registry import CommandSpec, Handler, Registry
from liuan_bot.messages import Incoming
from liuan_bot.settings import Settings, load_settings
from liuan_bot.wecom.fake_server import FakeWeCom
from liuan_bot.wecom.simulate import CallbackSigner, event_xml, text_message_xml
from storage.engine import SessionFactory, transaction
from storage.inbox_store import message_values
from storage.tables import InboundMessage

# wecom-facts §1.7 vector A (the official 2014 sample)
CORP_ID = "wx5823bf96d3bd56c7"
TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
AGENT_ID = 1000002
ROOT = Path(__file__).resolve().parent.parent
DEMO_ROSTER = ROOT / "config" / "demo-roster.csv"
_msg_ids = itertools.count(7_000_000_000_000_000_000)


def make_settings(database_url: str, data_dir: Path, **overrides: str) -> Settings:
    env = {
        "LIUAN_WECOM_CORP_ID": CORP_ID,
        "LIUAN_WECOM_TOKEN": TOKEN,
        "LIUAN_WECOM_AES_KEY": AES_KEY,
        "LIUAN_WECOM_AGENT_ID": str(AGENT_ID),
        "LIUAN_DATABASE_URL": database_url,
        # Functional tests never defer a reply because the machine is slow (a loaded CI box
        # must stay green); tests of the budget set their own or move the injected clock.
        "LIUAN_REPLY_BUDGET_S": "60",
        # A message that could not be stored is answered 503 and not tried again by the bot:
        # what a test sees after a 503 does not depend on a pause in real time. The inbox's
        # own retries are tested with an injected pause (tests/transport/test_inbox.py) and,
        # at the production setting, by the chaos harness (tests/chaos/scenarios.py).
        "LIUAN_STORE_PATIENCE_S": "0",
        "LIUAN_PUBLIC_URL": "https://xwb.example.gov.cn",
        **overrides,
    }
    return load_settings(env, data_dir=data_dir)


def next_msg_id() -> str:
    return str(next(_msg_ids))


async def store_left_received(
    sessions: SessionFactory,
    incoming: Incoming,
    received_at: datetime,
    owner: str | None = None,
    lease_until: datetime | None = None,
) -> int | None:
    """Store a message `received` and leave it (leased to `owner` until `lease_until`): what
    a crash while handling it left when a write message was stored before it was handled
    (before 2026-12-07); None if its key is stored already."""
    row = message_values(incoming) | {
        "received_at": received_at,
        "status": "received",
        "claimed_by": owner,
        "lease_until": lease_until,
    }
    async with transaction(sessions) as session:
        conn = await session.connection()
        insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
        statement = insert(InboundMessage.__table__)  # type: ignore[attr-defined]
        found = await conn.execute(
            statement.values(row).on_conflict_do_nothing().returning(col(InboundMessage.id))
        )
        inserted = found.first()
    return None if inserted is None else int(inserted[0])


@dataclass
class Harness:
    """A bot served over HTTP with a fake WeCom API and a fixed clock."""

    bot: Bot
    client: TestClient[Any, Any]
    fake: FakeWeCom
    clock: FixedClock
    signer: CallbackSigner

    def use_deps(self, deps: Deps) -> None:
        """Swap the running bot's dependencies (a changed configuration)."""
        self.bot.use_deps(deps)

    async def post_plaintext(self, plaintext: str) -> tuple[int, dict[str, str] | None]:
        signed = self.signer.sign(plaintext, timestamp=int(self.clock.now().timestamp()))
        resp = await self.client.post("/wecom/callback", params=signed.query, data=signed.body)
        body = await resp.read()
        if resp.status != 200 or not body:
            return resp.status, None
        return resp.status, self.signer.open_reply(body)

    async def send_text(
        self, user: str, content: str, *, msg_id: str | None = None
    ) -> tuple[int, str | None]:
        plaintext = text_message_xml(
            corp_id=CORP_ID,
            from_user=user,
            content=content,
            msg_id=msg_id or next_msg_id(),
            create_time=int(self.clock.now().timestamp()),
            agent_id=AGENT_ID,
        )
        status, reply = await self.post_plaintext(plaintext)
        return status, (reply or {}).get("Content")

    async def send_event(
        self, user: str, event: str, **fields: str
    ) -> tuple[int, dict[str, str] | None]:
        plaintext = event_xml(
            corp_id=CORP_ID,
            from_user=user,
            event=event,
            create_time=int(self.clock.now().timestamp()),
            agent_id=AGENT_ID,
            **fields,
        )
        return await self.post_plaintext(plaintext)

    async def deliver_outbox(self, rounds: int = 10) -> None:
        """Run the outbox worker until nothing more is due now."""
        assert self.bot.worker is not None
        for _ in range(rounds):
            if await self.bot.worker.run_once() == 0:
                return


@asynccontextmanager
async def running_bot(
    settings: Settings,
    clock: FixedClock,
    fake: FakeWeCom,
    registry: Registry | None = None,
    environ: dict[str, str] | None = None,
) -> AsyncIterator[Harness]:
    """Serve `fake` and the bot; the outbox worker is driven by the test (`deliver_outbox`)."""
    fake_server = TestServer(fake.app())
    await fake_server.start_server()
    bot = build_bot(
        settings,
        clock=clock,
        api_base=str(fake_server.make_url("")).rstrip("/"),
        run_worker=False,
        run_scheduler=False,
        registry=registry,
        environ=environ,
    )
    client = TestClient(TestServer(bot.app()))
    await client.start_server()
    # jieba once per test process, outside any reply budget: no test depends on how fast
    # this machine loads it (issue 9 F3)
    composer, suggester = bot.deps.relay.composer, bot.deps.suggester
    if composer is not None and not composer.loaded:
        await asyncio.to_thread(composer.load)
    if suggester is not None and not suggester.loaded:
        await asyncio.to_thread(suggester.load)
    try:
        yield Harness(bot, client, fake, clock, CallbackSigner(TOKEN, AES_KEY, CORP_ID))
    finally:
        await client.close()
        await fake_server.close()


def registry_with(key: str, name: str, handler: Handler) -> Registry:
    """The bot's registry plus one test command."""
    extra = CommandSpec(
        key=key, name=name, summary="测试", usage=name, example=name, handler=handler
    )
    return Registry((*COMMANDS, extra), CARD_ACTIONS)


def shanghai(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Statements:
    """Every statement sent on an engine's connections but BEGIN, as a `before_cursor_execute`
    listener sees them (SQLAlchemy's and `storage.prepared`'s)."""

    def __init__(self, engine: Any) -> None:
        self.seen: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._on)

    def _on(self, _c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if not statement.startswith("BEGIN"):
            self.seen.append(statement)

    def reset(self) -> None:
        self.seen.clear()

    def starting(self, word: str) -> list[str]:
        """The statements that begin with `word` (`SAVEPOINT`, `RELEASE`)."""
        return [s for s in self.seen if s.lstrip().upper().startswith(word)]
