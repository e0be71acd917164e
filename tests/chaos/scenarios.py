"""Chaos scenarios for issue 8, measured only through the public surface: the HTTP callback
(statuses, passive replies), the fake WeCom's delivered list and the database rows.

Every scenario returns a `Row`: its load and faults, and how many messages were lost,
duplicated, or answered with a 5xx. Each message comes from its own userid, so every answer —
passive or through the outbox — is attributed to exactly one message.
`scale` shrinks the loads for CI (tests/chaos/test_chaos.py); bench/chaos.py runs them full.

Two commands (`command`): "help" sends 帮助 (read-only) from unregistered users; "write" sends
a complete 舆情 (one `hot_issues` row each, filed by the sender) or, every third message, a
complete 突发 (one `incidents` row each) — two commands, two record counters — from users
registered before the bot starts (`import_chaos_roster`), and a message then counts as done
only with exactly one answer that reports it *and* exactly one record in its own table.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from sqlalchemy import text

from liuan_bot.app import ServerLimits, start_guarded
from liuan_bot.clock import SHANGHAI, FixedClock
from liuan_bot.settings import Settings
from liuan_bot.wecom.fake_server import FakeWeCom
from liuan_bot.wecom.simulate import CallbackSigner, text_message_xml
from tests.support import (
    AES_KEY,
    AGENT_ID,
    CORP_ID,
    DEMO_ROSTER,
    TOKEN,
    Harness,
    make_settings,
    running_bot,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
SECRET = "test-secret"


@dataclass
class Row:
    """One line of the chaos table."""

    scenario: str
    load: str
    faults: str
    messages: int = 0
    lost: int = 0
    duplicated: int = 0
    http_5xx: int = 0  # 5xx other than 503
    http_503: int = 0  # storage down: the one 5xx allowed (WeCom retries)
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.http_5xx == 0


def _n(full: int, scale: float, minimum: int = 1) -> int:
    return max(minimum, int(full * scale))


def user_of(i: int) -> str:
    return f"chaos{i:06d}"


# What every message of a scenario says: "help" the read-only 帮助 (unregistered senders),
# "write" a complete 舆情 or 突发 (registered senders, one record each; handlers/incidents.py).
COMMANDS = ("help", "write")
CHAOS_UNIT = "市舆情演练组"  # the 舆情 senders' unit (type 其他: no R4 duty of its own)


@dataclass(frozen=True)
class WriteKind:
    """One of the write variant's commands: what it says, where its record goes, how the
    answer to an accepted one starts."""

    word: str
    table: str
    answer: str


HOT_ISSUE = WriteKind("舆情", "hot_issues", "已报告舆情")
INCIDENT = WriteKind("突发", "incidents", "已登记突发事件")
WRITE_KINDS = (HOT_ISSUE, INCIDENT)
# (table, filer, records) of every record table: a message's record is looked for in its
# kind's table, and one in the other table is counted as a stray (duplicated)
RECORDS_SQL = " UNION ALL ".join(
    f"SELECT '{k.table}', filer, count(*) FROM {k.table} GROUP BY filer" for k in WRITE_KINDS
)


def write_kind(i: int) -> WriteKind:
    """Every third write message is a 突发, the others 舆情."""
    return INCIDENT if i % 3 == 2 else HOT_ISSUE


def incident_unit(i: int) -> str:
    """A 突发 sender's unit, of its own: 突发 alerts the unit's leader, spokespersons and
    liaisons (R17), which must not be other chaos users (each gets only its answer)."""
    return f"突发演练组{i:06d}"


def _content(i: int, command: str) -> str:
    if command != "write":
        return "帮助"
    if write_kind(i) is INCIDENT:
        return f"突发\n事件：网传我市某小区停水{i}\n级别：一般\n发生时间：刚才"
    return f"舆情\n内容：网民反映第{i}号小区惠民补贴未按时发放，转发量上升较快\n来源：新浪微博"


def _plaintext(i: int, ts: int, command: str = "help") -> str:
    return text_message_xml(
        corp_id=CORP_ID,
        from_user=user_of(i),
        content=_content(i, command),
        msg_id=str(8_000_000_000 + i),
        create_time=ts,
        agent_id=AGENT_ID,
    )


def chaos_roster_csv(n: int) -> bytes:
    """The demo roster (the news office that 舆情 and 突发 notify) plus chaos users 0…n-1,
    each a 联络员 (may file 舆情 and 突发): of `CHAOS_UNIT`, or a 突发 sender of its own
    `incident_unit`; config/demo-roster.csv's format."""
    lines = DEMO_ROSTER.read_text(encoding="utf-8-sig").rstrip("\n").split("\n")
    for i in range(n):
        unit = incident_unit(i) if write_kind(i) is INCIDENT else CHAOS_UNIT
        lines.append(f"{unit},其他,否,演练员{i},{user_of(i)},联络员,演练员,,否")
    return ("\n".join(lines) + "\n").encode()


async def import_chaos_roster(database_url: str, workdir: Path, n: int) -> None:
    """Migrate the database and import `chaos_roster_csv(n)` as `bot.py roster import FILE`
    does; before the bot starts, so no sender is looked up before it is registered."""
    from handlers.cli_commands import roster_import
    from storage.engine import make_engine
    from storage.migrate import upgrade

    engine = make_engine(database_url)
    await upgrade(engine)
    await engine.dispose()
    path = workdir / "chaos-roster.csv"
    path.write_bytes(chaos_roster_csv(n))
    settings = make_settings(database_url, workdir)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = await roster_import(settings, path.read_bytes(), if_empty=False)
    if status != 0:
        raise RuntimeError(f"chaos roster not imported: {out.getvalue()}")


# Scenarios whose WeCom gives up on an attempt after 5 s run with the production reply budget
# (settings.py: 2 s from arrival): tests/support.py's 60 s is for functional tests, and with it
# a reply computed after WeCom hung up would be written to a closed connection.
PRODUCTION_BUDGET = {"LIUAN_REPLY_BUDGET_S": "2"}


@dataclass
class Ledger:
    """Answers per message (passive replies and deliveries), records per message (write
    messages) and 5xx counts.

    With `command` "write", only an answer that reports the message's command
    (`write_kind(i).answer`) counts as the message's answer; anything else received by a
    chaos user (a refusal, an apology, a reminder) is counted in `other`. Likewise only a
    record in the message's own table counts as its record; one in the other table is a
    stray (`strays`), counted as duplicated."""

    n: int
    command: str = "help"
    passive: Counter[int] = field(default_factory=Counter)
    delivered: Counter[int] = field(default_factory=Counter)
    records: Counter[int] = field(default_factory=Counter)
    strays: Counter[int] = field(default_factory=Counter)
    other: Counter[int] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    never_accepted: set[int] = field(default_factory=set)

    def _answers(self, i: int, text: str) -> bool:
        return self.command != "write" or text.startswith(write_kind(i).answer)

    def add_passive(self, i: int, payload: bytes, signer: CallbackSigner) -> None:
        """A 200 with a body: the passive reply to message `i`."""
        if self.command == "write" and not self._answers(
            i, signer.open_reply(payload).get("Content", "")
        ):
            self.other[i] += 1
        else:
            self.passive[i] += 1

    def delivered_now(self, fake: FakeWeCom) -> tuple[Counter[int], Counter[int]]:
        """(answers, other messages) delivered so far to each chaos user."""
        answers: Counter[int] = Counter()
        other: Counter[int] = Counter()
        for message in fake.delivered:
            if message.to.startswith("chaos"):
                i = int(message.to[5:])
                (answers if self._answers(i, message.text) else other)[i] += 1
        return answers, other

    def add_deliveries(self, fake: FakeWeCom) -> None:
        answers, other = self.delivered_now(fake)
        self.delivered.update(answers)
        self.other.update(other)

    def all_answered(self, fake: FakeWeCom) -> bool:
        answers, _ = self.delivered_now(fake)
        return all(self.passive[i] or answers[i] for i in range(self.n))

    def add_records(self, by_filer: Iterable[Sequence[Any]]) -> None:
        """`RECORDS_SQL`'s rows (table, filer, count): the records each chaos user filed."""
        for table, filer, count in by_filer:
            if str(filer).startswith("chaos"):
                i = int(str(filer)[5:])
                mine = table == write_kind(i).table
                (self.records if mine else self.strays)[i] += int(count)

    def row(self, scenario: str, load: str, faults: str, notes: str = "") -> Row:
        answers = {i: self.passive[i] + self.delivered[i] for i in range(self.n)}
        row = Row(
            scenario,
            load,
            faults,
            messages=self.n,
            lost=sum(1 for a in answers.values() if a == 0),
            duplicated=sum(a - 1 for a in answers.values() if a > 1),
            http_5xx=sum(c for s, c in self.statuses.items() if s >= 500 and s != 503),
            http_503=self.statuses[503],
            notes=notes,
            extra={"statuses": dict(self.statuses)},
        )
        if self.command == "write":
            self._count_records(row, answers)
        return row

    def _count_records(self, row: Row, answers: dict[int, int]) -> None:
        """A write message is done with exactly one answer and exactly one record in its
        kind's table. Lost: an accepted message without either; never accepted (counted
        apart): WeCom gave up on it (no attempt got a 200) and nothing of it was stored or
        answered. Duplicated: answers and records beyond one, and records in the wrong
        table."""
        gave_up = {
            i
            for i in self.never_accepted
            if not answers[i] and not self.records[i] and not self.strays[i]
        }
        row.lost = sum(
            1 for i in range(self.n) if i not in gave_up and not (answers[i] and self.records[i])
        )
        row.duplicated = sum(max(0, a - 1) for a in answers.values()) + sum(
            max(0, self.records[i] - 1) + self.strays[i] for i in range(self.n)
        )
        other = sum(self.other.values())
        by_kind = {
            k.word: sum(self.records[i] for i in range(self.n) if write_kind(i) is k)
            for k in WRITE_KINDS
        }
        row.extra.update(
            gave_up=len(gave_up),
            records=sum(by_kind.values()),
            records_by_kind=by_kind,
            strays=sum(self.strays.values()),
            without_record=sum(1 for i in range(self.n) if not self.records[i]),
            without_answer=sum(1 for a in answers.values() if not a),
            other_answers=other,
        )
        kinds = ", ".join(f"{count} {word}" for word, count in by_kind.items())
        facts = (
            f"{row.extra['records']} records ({kinds}); in the wrong table: "
            f"{row.extra['strays']}; without a record: {row.extra['without_record']}, "
            f"without an answer: {row.extra['without_answer']}; other messages to chaos "
            f"users: {other}; never accepted: {len(gave_up)}"
        )
        row.notes = f"{facts}; {row.notes}" if row.notes else facts


@contextlib.asynccontextmanager
async def bot_harness(
    database_url: str, workdir: Path, clock: FixedClock | None = None, **env: str
) -> AsyncIterator[Harness]:
    """The bot in live mode against an in-process fake WeCom; worker driven by the caller."""
    from storage.engine import make_engine
    from storage.migrate import upgrade

    engine = make_engine(database_url)
    await upgrade(engine)
    await engine.dispose()
    clock = clock or FixedClock(NOW)
    fake = FakeWeCom(corp_id=CORP_ID, secret=SECRET, clock=clock)
    # as shipped: the inbox keeps a message storage refused (tests/support.py sets 0)
    production = {"LIUAN_STORE_PATIENCE_S": str(Settings.store_patience_s)}
    settings = make_settings(
        database_url, workdir, LIUAN_WECOM_SECRET=SECRET, **(production | env)
    )
    async with running_bot(settings, clock, fake) as harness:
        yield harness


async def _post(h: Harness, query: dict[str, str], body: bytes, ledger: Ledger, i: int) -> int:
    resp = await h.client.post("/wecom/callback", params=query, data=body)
    payload = await resp.read()
    ledger.statuses[resp.status] += 1
    if resp.status == 200 and payload:
        ledger.add_passive(i, payload, h.signer)
    return resp.status


async def _drain(h: Harness, ledger: Ledger) -> None:
    """Handlers finished, the outbox delivered what is due (replies; the news office's 舆情
    and 突发 notifications beyond its pacing window wait, and are not counted), records
    counted."""
    await h.bot.inbox.drain()
    await h.deliver_outbox(rounds=1000)
    ledger.add_deliveries(h.fake)
    if ledger.command == "write":
        ledger.add_records(await _records(h))


async def _records(h: Harness) -> list[tuple[str, str, int]]:
    async with h.bot.deps.sessions() as session:
        result = await session.exec(text(RECORDS_SQL))  # type: ignore[call-overload]
        return [(str(table), str(filer), int(count)) for table, filer, count in result.all()]


def _write_label(command: str) -> str:
    """How a write variant's scenario name ends ("help" rows keep their names)."""
    return ", write 舆情/突发" if command == "write" else ""


def _callbacks(command: str) -> str:
    """What a row's load is made of."""
    if command == "write":
        return "舆情 and (every third) 突发 callbacks from registered users"
    return "callbacks"


def _commanded(command: str) -> str:
    if command not in COMMANDS:
        raise ValueError(f"command must be one of {COMMANDS}, not {command!r}")
    return command


# --- 1. callbacks with 1–3 overlapping WeCom-style retries --------------------------------


async def retries(
    database_url: str, workdir: Path, scale: float = 1.0, *, command: str = "help"
) -> Row:
    n = _n(10_000, scale, 20)
    rng = secrets.SystemRandom()
    ledger = Ledger(n, _commanded(command))
    if database_url.startswith("postgresql"):
        await _reset_pg(database_url)  # bench/chaos.py runs both commands on one database
    if command == "write":
        await import_chaos_roster(database_url, workdir, n)
    async with bot_harness(database_url, workdir) as h:
        ts = int(h.clock.now().timestamp())
        gate = asyncio.Semaphore(64)

        async def one(i: int) -> None:
            signed = h.signer.sign(_plaintext(i, ts, command), timestamp=ts)
            copies = rng.choice((1, 2, 3, 4))  # the original and 0–3 retries, overlapping
            async with gate:
                statuses = await asyncio.gather(
                    *(_post(h, signed.query, signed.body, ledger, i) for _ in range(copies))
                )
                for _retry in range(4 - copies):  # WeCom retries until a 200 (4 in all)
                    if 200 in statuses:
                        break
                    statuses = [await _post(h, signed.query, signed.body, ledger, i)]

        await asyncio.gather(*(one(i) for i in range(n)))
        await _drain(h, ledger)
    db = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    return ledger.row(
        f"retries ({db}){_write_label(command)}",
        f"{n} {_callbacks(command)}, each sent 1–4 times at once",
        "WeCom retries overlapping the original",
    )


# --- 2. WeCom fault modes for 60 s, then a 4-hour outage (injected clock) -----------------

FAULT_MODES: list[tuple[str, dict[str, Any]]] = [
    ("gettoken 40014", {"errcode": 40014, "path": "/cgi-bin/gettoken"}),
    ("gettoken 42001", {"errcode": 42001, "path": "/cgi-bin/gettoken"}),
    ("gettoken 40001", {"errcode": 40001, "path": "/cgi-bin/gettoken"}),
    ("send 40014", {"errcode": 40014}),
    ("send 42001", {"errcode": 42001}),
    ("send -1", {"errcode": -1}),
    ("send 45009", {"errcode": 45009}),
    ("HTTP 502", {"http": 502}),
    ("timeout", {"delay": 30.0}),
]


def _inject(fake: FakeWeCom, spec: dict[str, Any], times: int) -> None:
    if "errcode" in spec:
        fake.fail_next(spec["errcode"], path=spec.get("path"), times=times)
    elif "http" in spec:
        fake.fail_http(spec["http"], times=times)
    else:
        fake.delay_next(spec["delay"], times=times)


async def _queue_replies(h: Harness, first: int, count: int, ledger: Ledger) -> None:
    ts = int(h.clock.now().timestamp())
    for i in range(first, first + count):
        signed = h.signer.sign(_plaintext(i, ts), timestamp=ts)
        await _post(h, signed.query, signed.body, ledger, i)
    await h.bot.inbox.drain()


async def wecom_faults(database_url: str, workdir: Path, scale: float = 1.0) -> list[Row]:
    """Replies queued in the outbox (reply budget 0) while WeCom fails for 60 s (clock
    advanced 1 s per worker round), then deliveries resume."""
    per_mode = _n(4, scale, 2)
    rows = []
    for name, spec in FAULT_MODES:
        sub = workdir / name.replace(" ", "_")
        sub.mkdir(parents=True, exist_ok=True)
        url = (
            database_url
            if database_url.startswith("postgresql")
            else f"sqlite+aiosqlite:///{sub}/db.sqlite"
        )
        if database_url.startswith("postgresql"):
            await _reset_pg(database_url)
        ledger = Ledger(per_mode)
        async with bot_harness(url, sub, LIUAN_REPLY_BUDGET_S="0") as h:
            await _queue_replies(h, 0, per_mode, ledger)
            _inject(h.fake, spec, times=10_000)
            with _short_api_timeouts(h, spec, ledger):
                for _ in range(60):
                    await h.deliver_outbox(rounds=3)
                    h.clock.advance(1)
            ledger.add_deliveries(h.fake)  # reset() forgets deliveries: count them first
            h.fake.reset()
            for step in range(400):  # up to 400 min of retry schedule after the fault clears
                await h.deliver_outbox(rounds=10)
                h.clock.advance(60)
                if step % 10 == 9 and not {"pending", "sending"} & set(
                    await _outbox_status_counts(h)
                ):
                    break
            ledger.add_deliveries(h.fake)
            parked = await _outbox_status_counts(h)
        rows.append(
            ledger.row(
                f"WeCom {name} for 60 s",
                f"{per_mode} replies via the outbox",
                name,
                notes=f"outbox rows: {parked}",
            )
        )
    return rows


@contextlib.contextmanager
def _short_api_timeouts(h: Harness, spec: dict[str, Any], ledger: Ledger) -> Iterator[None]:
    """A 'timeout' fault delays answers by 30 s of real time; the API client's own timeout
    (if it has one) decides. To keep the suite fast the fake's delay is capped by the
    harness: the fault is reported, not waited out, when it exceeds 2 s."""
    if "delay" in spec:
        ledger.add_deliveries(h.fake)
        h.fake.reset()
        _inject(h.fake, {"delay": 2.0}, times=10_000)
    yield


async def wecom_outage(database_url: str, workdir: Path, scale: float = 1.0) -> Row:
    """HTTP 503 from every WeCom endpoint for 4 hours of injected clock, then recovery."""
    n = _n(30, scale, 4)
    ledger = Ledger(n)
    async with bot_harness(database_url, workdir, LIUAN_REPLY_BUDGET_S="0") as h:
        await _queue_replies(h, 0, n, ledger)
        h.fake.fail_http(503, times=10**6)
        h.fake.fail_http(503, path="/cgi-bin/gettoken", times=10**6)
        for _ in range(4 * 60):  # 4 h in 1-minute steps
            await h.deliver_outbox(rounds=3)
            h.clock.advance(60)
        ledger.add_deliveries(h.fake)  # reset() forgets deliveries
        h.fake.reset()
        for step in range(24 * 12):  # then up to a day in 5-minute steps
            await h.deliver_outbox(rounds=10)
            h.clock.advance(300)
            if step % 10 == 9 and not {"pending", "sending"} & set(await _outbox_status_counts(h)):
                break
        ledger.add_deliveries(h.fake)
        status = await _outbox_status_counts(h)
    return ledger.row(
        "WeCom outage 4 h",
        f"{n} replies via the outbox",
        "HTTP 503 on every call for 4 h (injected clock)",
        notes=f"outbox rows: {status}",
    )


async def _outbox_status_counts(h: Harness) -> dict[str, int]:
    async with h.bot.deps.sessions() as session:
        result = await session.exec(  # type: ignore[call-overload]
            text("SELECT status, count(*) FROM outbox GROUP BY status")
        )
        return {str(s): int(c) for s, c in result.all()}


async def _reset_pg(url: str) -> None:
    from storage.engine import make_engine

    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


# --- 3. fuzz (hypothesis) ---------------------------------------------------------------


def fuzz(database_url: str, workdir: Path, examples: int = 300) -> Row:
    """Random and mutated callbacks: 0 5xx, and no row without a valid signature."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    loop = asyncio.new_event_loop()
    stack = contextlib.AsyncExitStack()
    h: Harness = loop.run_until_complete(
        stack.enter_async_context(bot_harness(database_url, workdir))
    )
    statuses: Counter[int] = Counter()
    ts = int(h.clock.now().timestamp())
    signed = h.signer.sign(_plaintext(0, ts), timestamp=ts)
    encrypted = signed.body.split(b"<Encrypt><![CDATA[")[1].split(b"]]>")[0].decode()
    keys = ("msg_signature", "timestamp", "nonce", "echostr")
    value = st.one_of(
        st.text(max_size=60),
        st.from_regex(r"[0-9a-f]{40}", fullmatch=True),
        st.integers(ts - 1000, ts + 1000).map(str),
        st.just(encrypted),
        st.sampled_from(list(signed.query.values())),
    )
    query = st.dictionaries(st.sampled_from(keys), value, max_size=4)
    body = st.one_of(
        st.binary(max_size=400),
        st.just(signed.body),
        st.binary(min_size=1, max_size=4).map(lambda b: signed.body.replace(b"A", b, 1)),
        st.text(max_size=200).map(lambda t: f"<xml><Encrypt>{t}</Encrypt></xml>".encode()),
        st.sampled_from(XML_ATTACKS).map(lambda a: a[1]),
    )
    headers = st.dictionaries(
        st.sampled_from(("Content-Encoding", "Content-Type", "Transfer-Encoding")),
        st.sampled_from(("gzip", "deflate", "br", "chunked", "text/xml", "x")),
        max_size=2,
    )

    async def send(method: str, q: dict[str, str], b: bytes, hd: dict[str, str]) -> int:
        try:
            if method == "GET":
                resp = await h.client.get("/wecom/callback", params=q)
            else:
                resp = await h.client.post("/wecom/callback", params=q, data=b, headers=hd)
            await resp.read()
            return resp.status
        except (aiohttp.ClientError, ValueError):  # the client refused to send it
            return 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.sampled_from(("GET", "POST")), query, body, headers)
    def probe(method: str, q: dict[str, str], b: bytes, hd: dict[str, str]) -> None:
        statuses[loop.run_until_complete(send(method, q, b, hd))] += 1

    try:
        probe()
        rows = loop.run_until_complete(_count_inbound(h))
        valid_sent = loop.run_until_complete(_valid_probe_rows(h))
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()
    return Row(
        "fuzz (hypothesis)",
        f"{examples} random/mutated GET and POST callbacks",
        "random query, body, encodings; mutated signed bodies",
        messages=examples,
        lost=0,
        duplicated=max(0, rows - valid_sent),
        http_5xx=sum(c for s, c in statuses.items() if s >= 500),
        notes=f"rows stored: {rows} (only the unmodified signed message may store one); "
        f"statuses {dict(sorted(statuses.items()))}",
    )


async def _count_inbound(h: Harness) -> int:
    async with h.bot.deps.sessions() as session:
        result = await session.exec(text("SELECT count(*) FROM inbound_messages"))  # type: ignore[call-overload]
        return int(result.one()[0])


async def _valid_probe_rows(h: Harness) -> int:
    """At most one row may exist: the one unmodified, validly signed message."""
    return min(1, await _count_inbound(h))


# --- 4. XML attacks -----------------------------------------------------------------------

_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]><xml><Encrypt>&lol9;</Encrypt></xml>"
)
XML_ATTACKS: list[tuple[str, bytes]] = [
    ("billion laughs", _LAUGHS),
    (
        "external entity",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b"<xml><Encrypt>&e;</Encrypt></xml>",
    ),
    (
        "parameter entity",
        b'<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]><xml/>',
    ),
    ("huge attribute", b'<xml a="' + b"x" * 60_000 + b'"><Encrypt>x</Encrypt></xml>'),
    ("many attributes", b"<xml " + b" ".join(b'a%d="1"' % i for i in range(5000)) + b"/>"),
    ("deep nesting", b"<xml>" + b"<a>" * 10_000 + b"</a>" * 10_000 + b"</xml>"),
    ("unclosed", b"<xml><Encrypt>" + b"A" * 1000),
]


async def xml_attacks(database_url: str, workdir: Path, scale: float = 1.0) -> Row:
    """Each attack unsigned, as a validly signed envelope, and as a signed plaintext."""
    statuses: Counter[int] = Counter()
    async with bot_harness(database_url, workdir) as h:
        ts = int(h.clock.now().timestamp())
        for _name, payload in XML_ATTACKS:
            signed = h.signer.sign(payload.decode("utf-8", "replace"), timestamp=ts)
            attempts = [
                (signed.query, payload),  # attack as the envelope
                (signed.query, signed.body),  # attack as the signed, encrypted plaintext
            ]
            for query, body in attempts:
                resp = await h.client.post("/wecom/callback", params=query, data=body)
                await resp.read()
                statuses[resp.status] += 1
        stored = await _count_inbound(h)
    return Row(
        "XML attacks",
        f"{len(XML_ATTACKS)} attacks × (envelope, signed plaintext)",
        ", ".join(n for n, _ in XML_ATTACKS),
        messages=2 * len(XML_ATTACKS),
        duplicated=stored,
        http_5xx=sum(c for s, c in statuses.items() if s >= 500),
        notes=f"rows stored: {stored}; statuses {dict(sorted(statuses.items()))}",
    )


# --- 5. slow connections ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def slow_connections(database_url: str, workdir: Path, scale: float = 1.0) -> Row:
    """N connections dribbling a request head (and some a body) while valid callbacks come
    in; the server's header/body timeouts are 2 s and its cap the default 512."""
    from bot import build_bot
    from storage.engine import make_engine
    from storage.migrate import upgrade

    n_slow, n_valid = _n(1100, scale, 30), _n(200, scale, 10)
    engine = make_engine(database_url)
    await upgrade(engine)
    await engine.dispose()
    clock = FixedClock(NOW)
    fake = FakeWeCom(corp_id=CORP_ID, secret=SECRET, clock=clock)
    settings = make_settings(
        database_url, workdir, LIUAN_WECOM_SECRET=SECRET, LIUAN_HTTP_BODY_TIMEOUT_S="2"
    )
    api = TestServer(fake.app())
    await api.start_server()
    bot = build_bot(
        settings,
        clock=clock,
        api_base=str(api.make_url("")).rstrip("/"),
        run_worker=False,
        run_scheduler=False,
    )
    port = _free_port()
    runner = await start_guarded(bot.app(), "127.0.0.1", port, ServerLimits(2.0, 512))
    signer = CallbackSigner(TOKEN, AES_KEY, CORP_ID)
    ledger = Ledger(n_valid)
    closed = 0
    writers: list[asyncio.StreamWriter] = []
    try:
        slow = []
        for k in range(n_slow):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            head = (
                "POST /wecom/callback?msg_signature=x&timestamp=1&nonce=2 HTTP/1.1\r\nHost: x\r\n"
            )
            if k % 5 == 0:
                head += "Content-Length: 900\r\n\r\n<xml>"
            writer.write(head.encode())
            writers.append(writer)
            slow.append(reader)
        ts = int(clock.now().timestamp())
        async with aiohttp.ClientSession() as http:

            async def valid(i: int) -> None:
                s = signer.sign(_plaintext(i, ts), timestamp=ts)
                try:
                    async with http.post(
                        f"http://127.0.0.1:{port}/wecom/callback", params=s.query, data=s.body
                    ) as resp:
                        payload = await resp.read()
                        ledger.statuses[resp.status] += 1
                        if resp.status == 200 and payload:
                            ledger.passive[i] += 1
                except aiohttp.ClientError:
                    ledger.statuses[0] += 1

            await asyncio.gather(*(valid(i) for i in range(n_valid)))

        async def closes(reader: asyncio.StreamReader) -> bool:
            try:
                await asyncio.wait_for(reader.read(), timeout=60)
                return True
            except (TimeoutError, OSError):
                return False

        closed = sum(await asyncio.gather(*(closes(r) for r in slow)))
        await bot.inbox.drain()
        assert bot.worker is not None
        for _ in range(100):
            if await bot.worker.run_once() == 0:
                break
        ledger.add_deliveries(fake)
    finally:
        for writer in writers:
            writer.close()
        await runner.cleanup()
        await api.close()
    row = ledger.row(
        "slow connections",
        f"{n_slow} slow clients + {n_valid} valid callbacks",
        "request heads and bodies dribbled, never finished",
        notes=f"slow connections closed by the server: {closed}/{len(slow)}",
    )
    row.extra["closed"], row.extra["slow"] = closed, len(slow)
    return row


# --- 6. kill -9 mid-burst and mid-drain (real `bot.py serve` processes) -------------------


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int


def _bot_env(
    database_url: str, workdir: Path, api_base: str, port: int, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIUAN_")}
    env.update(
        LIUAN_DATABASE_URL=database_url,
        LIUAN_DATA_DIR=str(workdir / "data"),
        LIUAN_HTTP_PORT=str(port),
        LIUAN_WECOM_CORP_ID=CORP_ID,
        LIUAN_WECOM_AGENT_ID=str(AGENT_ID),
        LIUAN_WECOM_SECRET=SECRET,
        LIUAN_WECOM_TOKEN=TOKEN,
        LIUAN_WECOM_AES_KEY=AES_KEY,
        LIUAN_WECOM_API_BASE=api_base,
        LIUAN_PUBLIC_URL=f"http://127.0.0.1:{port}",
        **extra,
    )
    return env


async def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:  # the child keeps its own descriptor
        proc = subprocess.Popen(  # noqa: ASYNC220 (started once, polled without blocking)
            [sys.executable, "bot.py", "serve"], cwd=ROOT, env=env, stdout=handle, stderr=handle
        )
    url = f"http://127.0.0.1:{env['LIUAN_HTTP_PORT']}/healthz"
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=1)) as resp:
                    if resp.status == 200:
                        return proc
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"bot.py serve did not start; see {log}")


async def _wecom_send(
    http: aiohttp.ClientSession, port: int, signer: CallbackSigner, i: int, ledger: Ledger
) -> None:
    """WeCom's behaviour: up to 4 attempts (original + 3 retries) about 5 s apart, until a
    200 (wecom-facts §1.6: no answer within 5 s → re-sent, 3 retries in total)."""
    ts = int(time.time())
    s = signer.sign(_plaintext(i, ts, ledger.command), timestamp=ts)
    for attempt in range(4):
        try:
            async with http.post(
                f"http://127.0.0.1:{port}/wecom/callback",
                params=s.query,
                data=s.body,
                timeout=aiohttp.ClientTimeout(total=5),
            ) as resp:
                payload = await resp.read()
                ledger.statuses[resp.status] += 1
                if resp.status == 200:
                    if payload:
                        ledger.add_passive(i, payload, signer)
                    return
        except (aiohttp.ClientError, TimeoutError):
            ledger.statuses[0] += 1
        if attempt < 3:
            await asyncio.sleep(5)
    ledger.never_accepted.add(i)


def _settle_default() -> float:
    """Past the outbox's claim lease (liuan_bot/outbox.py LEASE, 120 s on the merged main):
    rows claimed by the killed process come back when their lease runs out, so a row it
    held counts as late, not lost."""
    from liuan_bot.outbox import LEASE

    return LEASE.total_seconds() + 30.0


async def kill9(
    workdir: Path,
    scale: float = 1.0,
    *,
    drain: bool = False,
    settle_s: float | None = None,
    command: str = "help",
) -> Row:
    """A burst of callbacks into a real `bot.py serve` on SQLite, kill -9 half way (mid-burst;
    with `drain`, reply budget 0 and the kill while the outbox drains), restart at once on
    the same port; WeCom keeps retrying. Counted after the restarted bot settles."""
    from storage.engine import make_engine
    from storage.migrate import upgrade

    n = _n(250, scale, 20)
    os.makedirs(workdir, exist_ok=True)
    url = f"sqlite+aiosqlite:///{workdir}/bot.db"
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    if _commanded(command) == "write":
        await import_chaos_roster(url, workdir, n)  # before `bot.py serve` starts
    clock = FixedClock(datetime.now(SHANGHAI))
    fake = FakeWeCom(corp_id=CORP_ID, secret=SECRET, clock=clock)
    if drain:
        fake.delay_next(0.05, times=10**6)  # a slow API: the outbox is mid-drain at the kill
    api = TestServer(fake.app())
    await api.start_server()
    port = _free_port()
    extra = {"LIUAN_REPLY_BUDGET_S": "0"} if drain else {}
    env = _bot_env(url, workdir, str(api.make_url("")).rstrip("/"), port, **extra)
    log = workdir / "serve.log"
    signer = CallbackSigner(TOKEN, AES_KEY, CORP_ID)
    ledger = Ledger(n, command)
    proc = await _start(env, log)
    try:
        async with aiohttp.ClientSession() as http:
            tasks = []
            for i in range(n):
                tasks.append(asyncio.create_task(_wecom_send(http, port, signer, i, ledger)))
                await asyncio.sleep(0.004)
                if i == n // 2 and not drain:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    proc = await _start(env, log)
            if drain:
                await asyncio.gather(*tasks)
                await asyncio.sleep(0.3)  # the outbox is draining
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                proc = await _start(env, log)
            await asyncio.gather(*tasks)
        # settle: until every reply is out, or past the outbox's claim lease (a row claimed
        # by the killed process counts as late, not lost)
        deadline = time.monotonic() + (settle_s if settle_s is not None else _settle_default())
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if ledger.all_answered(fake):  # the news office's notifications are not waited for
                break
        ledger.add_deliveries(fake)
        unhandled = _sqlite_scalar(
            workdir / "bot.db", "SELECT count(*) FROM inbound_messages WHERE status='received'"
        )
        if command == "write":
            with contextlib.closing(sqlite3.connect(workdir / "bot.db")) as conn:
                ledger.add_records(conn.execute(RECORDS_SQL).fetchall())
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        await api.close()
    what = "mid-drain (reply budget 0)" if drain else "mid-burst"
    return ledger.row(
        f"kill -9 {what}{_write_label(command)}",
        f"{n} {_callbacks(command)}, WeCom retries (4 attempts, 5 s each)",
        "kill -9, immediate restart",
        notes=f"inbound rows left 'received': {unhandled}; never got a 200: "
        f"{len(ledger.never_accepted)}; attempts without an HTTP answer (cut by the kill, "
        f"or none in 5 s): {ledger.statuses[0]}",
    )


def _sqlite_scalar(path: Path, sql: str) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return int(conn.execute(sql).fetchone()[0])


# --- 7. SQLite writer lock held -----------------------------------------------------------


async def sqlite_lock(workdir: Path, scale: float = 1.0, messages: int | None = None) -> Row:
    """Another process-like writer holds SQLite's write lock for `hold` s while callbacks
    arrive; each is retried WeCom-style (4 attempts, 5 s each) over the harness client.
    `messages` (default: 120 × scale) spread over 1.5 × the lock."""
    hold = 25.0 * scale if scale < 1 else 25.0
    n = messages or _n(120, scale, 10)
    url = f"sqlite+aiosqlite:///{workdir}/lock.db"
    ledger = Ledger(n)
    async with bot_harness(url, workdir, **PRODUCTION_BUDGET) as h:
        locked = threading.Event()
        release = threading.Event()

        def holder() -> None:
            conn = sqlite3.connect(workdir / "lock.db", isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            locked.set()
            release.wait(hold)
            conn.execute("ROLLBACK")
            conn.close()

        thread = threading.Thread(target=holder, daemon=True)
        thread.start()
        locked.wait()
        ts = int(h.clock.now().timestamp())

        async def wecom(i: int, delay: float) -> None:
            await asyncio.sleep(delay)  # arrivals spread over 1.5 × the lock
            s = h.signer.sign(_plaintext(i, ts), timestamp=ts)
            for _attempt in range(4):
                try:
                    async with asyncio.timeout(5):
                        status = await _post(h, s.query, s.body, ledger, i)
                except TimeoutError:
                    ledger.statuses[0] += 1
                    continue
                if status == 200:
                    return
                await asyncio.sleep(1)
            ledger.never_accepted.add(i)

        await asyncio.gather(*(wecom(i, 1.5 * hold * i / n) for i in range(n)))
        release.set()
        thread.join()
        await _drain(h, ledger)
        stored = await _stored_messages(h)
    row = ledger.row(
        "SQLite writer lock",
        f"{n} callbacks, WeCom retries",
        f"write lock held {hold:g} s by another connection",
    )
    unanswered = [i for i in range(n) if not ledger.passive[i] + ledger.delivered[i]]
    never_stored = [i for i in unanswered if i not in stored and i in ledger.never_accepted]
    row.extra.update(
        never_stored=len(never_stored),
        stored_unanswered=len(unanswered) - len(never_stored),
        never_accepted=len(ledger.never_accepted),
    )
    kept = sum(1 for i in ledger.never_accepted if i not in unanswered)
    row.notes = (
        f"never got a 200: {len(ledger.never_accepted)}, of which stored by the bot's own "
        f"tries once the lock was released and answered through the outbox: {kept}; of the "
        f"lost, never stored (every attempt refused while the lock was held, WeCom gave up): "
        f"{len(never_stored)}, stored but unanswered: {len(unanswered) - len(never_stored)}"
    )
    return row


async def _stored_messages(h: Harness) -> set[int]:
    """Which chaos messages have an inbound row (dedupe key `msg:<MsgId>`)."""
    async with h.bot.deps.sessions() as session:
        result = await session.exec(text("SELECT dedupe_key FROM inbound_messages"))  # type: ignore[call-overload]
        keys = [str(k) for (k,) in result.all()]
    return {int(k[4:]) - 8_000_000_000 for k in keys if k.startswith("msg:8")}


Scenario = Callable[..., Any]


# --- 8. PostgreSQL connections terminated -------------------------------------------------


async def pg_terminated(
    pg_url: str, workdir: Path, scale: float = 1.0, *, command: str = "help"
) -> Row:
    """Callbacks spread over 45 s (WeCom retries: 4 attempts, 5 s each) while every backend
    of the bot's database is terminated (pg_terminate_backend) three times, 10 s apart."""
    from storage.engine import make_engine

    await _reset_pg(pg_url)
    n = _n(170, scale, 12)
    span = 45.0 if scale >= 1 else max(6.0, 45.0 * scale)
    ledger = Ledger(n, _commanded(command))
    if command == "write":
        await import_chaos_roster(pg_url, workdir, n)
    admin = make_engine(pg_url)
    kills = 0
    try:
        async with bot_harness(pg_url, workdir, **PRODUCTION_BUDGET) as h:
            ts = int(h.clock.now().timestamp())

            async def wecom(i: int, delay: float) -> None:
                await asyncio.sleep(delay)
                s = h.signer.sign(_plaintext(i, ts, command), timestamp=ts)
                for attempt in range(4):
                    try:
                        async with asyncio.timeout(5):
                            status = await _post(h, s.query, s.body, ledger, i)
                    except TimeoutError:
                        ledger.statuses[0] += 1
                        status = 0
                    if status == 200:
                        return
                    if attempt < 3:
                        await asyncio.sleep(1)
                ledger.never_accepted.add(i)

            senders = [asyncio.create_task(wecom(i, span * i / n)) for i in range(n)]
            for _ in range(3):
                await asyncio.sleep(span / 4)
                async with admin.connect() as conn:
                    result = await conn.execute(
                        text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        )
                    )
                    kills += int(result.scalar_one())
            await asyncio.gather(*senders)
            async with asyncio.timeout(120):
                await _drain(h, ledger)
    finally:
        await admin.dispose()
    return ledger.row(
        f"PostgreSQL connections terminated{_write_label(command)}",
        f"{n} {_callbacks(command)} over {span:g} s, WeCom retries",
        f"pg_terminate_backend on every bot connection, 3 times ({kills} backends)",
        notes=f"never got a 200: {len(ledger.never_accepted)}",
    )


# --- 9. PostgreSQL refused / blackholed (a TCP proxy between the bot and the server) ------


class PgProxy:
    """A TCP proxy in front of PostgreSQL that can refuse or blackhole.

    - **refused**: the listening socket is closed and every proxied connection aborted
      (RST), so connects fail at once with ECONNREFUSED — a server that is down.
    - **blackholed**: nothing is forwarded in either direction and new connections are
      accepted but never answered — a network partition; bytes already sent wait in the
      proxy, as TCP retransmits would, and flow again when the partition heals.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = _free_port()
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            await self.flowing.wait()  # blackholed: accepted, never answered
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except (OSError, asyncio.CancelledError):
            writer.transport.abort()
            self.writers.discard(writer)
            return
        self.writers.add(up_writer)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        for w in (writer, up_writer):
            w.transport.abort()
            self.writers.discard(w)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()

    async def refuse(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()
        self.server = None

    def blackhole(self) -> None:
        self.flowing.clear()

    async def heal(self) -> None:
        self.flowing.set()
        if self.server is None:
            await self.start()

    async def close(self) -> None:
        self.flowing.set()
        if self.server is not None:
            self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()


async def pg_outage(pg_url: str, workdir: Path, mode: str, scale: float = 1.0) -> Row:
    """Callbacks spread over 45 s (WeCom retries: 4 attempts, 5 s each, 1 s apart) while
    PostgreSQL is `refused` or `blackholed` for 30 s from the 10th second; then the inbox
    drains and the outbox delivers. The bot's engine has its connect and command timeouts
    (storage/engine.py), so a dead connection fails instead of hanging."""
    await _reset_pg(pg_url)
    n = _n(170, scale, 12)
    span = 45.0 if scale >= 1 else max(10.0, 45.0 * scale)
    hold = 30.0 if scale >= 1 else max(4.0, 30.0 * scale)
    start_at = span * 10 / 45
    gap = 5.0 if scale >= 1 else 2.0  # between WeCom's attempts; short: 4 attempts outlast hold
    from sqlalchemy.engine import make_url

    given = make_url(pg_url)
    proxy = PgProxy(given.host or "127.0.0.1", given.port or 5432)
    await proxy.start()
    url = given.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    ledger = Ledger(n)
    try:
        async with bot_harness(url, workdir, **PRODUCTION_BUDGET) as h:
            ts = int(h.clock.now().timestamp())

            async def wecom(i: int, delay: float) -> None:
                await asyncio.sleep(delay)
                s = h.signer.sign(_plaintext(i, ts), timestamp=ts)
                for attempt in range(4):
                    try:
                        async with asyncio.timeout(5):
                            status = await _post(h, s.query, s.body, ledger, i)
                    except TimeoutError:
                        ledger.statuses[0] += 1
                        status = 0
                    if status == 200:
                        return
                    if attempt < 3:
                        await asyncio.sleep(gap)
                ledger.never_accepted.add(i)

            senders = [asyncio.create_task(wecom(i, span * i / n)) for i in range(n)]
            await asyncio.sleep(start_at)
            if mode == "refused":
                await proxy.refuse()
            else:
                proxy.blackhole()
            await asyncio.sleep(hold)
            await proxy.heal()
            await asyncio.gather(*senders)
            async with asyncio.timeout(180):
                await _settle(h, ledger, n)
    finally:
        await proxy.close()
    row = ledger.row(
        f"PostgreSQL {mode}",
        f"{n} callbacks over {span:g} s, WeCom retries {gap:g} s apart",
        f"PostgreSQL {mode} for {hold:g} s (TCP proxy)",
    )
    # A message whose four attempts all fell inside the outage was never accepted: WeCom gave
    # up while nothing could be stored. The inbox keeps such a message and stores it when
    # PostgreSQL is back (LIUAN_STORE_PATIENCE_S), so it must be answered too: lost is any
    # message never answered, accepted or not.
    answered = [i for i in range(n) if ledger.passive[i] + ledger.delivered[i]]
    gave_up = len(ledger.never_accepted)
    kept = sum(1 for i in ledger.never_accepted if i in answered)
    row.lost = n - len(answered)
    row.extra["gave_up"] = gave_up
    row.notes = (
        f"never accepted (all 4 attempts inside the outage, WeCom gave up): {gave_up}, of "
        f"which stored by the bot's own tries and answered through the outbox: {kept}"
    )
    return row


async def _settle(h: Harness, ledger: Ledger, n: int, steps: int = 20) -> None:
    """After a storage fault: drain, then let the injected clock run 5 minutes per step (past
    the inbox's and the outbox's leases and backoffs) while the inbox sweep and the outbox
    worker run, as they do in `bot.py serve`, until every message is answered."""
    for _ in range(steps):
        await h.bot.inbox.drain()
        await h.deliver_outbox(rounds=1000)
        ledger.delivered.clear()
        ledger.other.clear()
        ledger.add_deliveries(h.fake)
        if all(ledger.passive[i] + ledger.delivered[i] for i in range(n)):
            return
        h.clock.advance(300)
        await h.bot.inbox.sweep()


# --- 10. two and three instances on one PostgreSQL (real `bot.py serve` processes) --------

RATE_USER = "ratemember"  # not "chaos…": Ledger attributes those by number


def _max_in_window(stamps: list[datetime], window_s: float = 60.0) -> int:
    """The most sends inside any window of `window_s` (sliding, not per calendar minute)."""
    ordered = sorted(s.timestamp() for s in stamps)
    best, start = 0, 0
    for end, stamp in enumerate(ordered):
        while stamp - ordered[start] >= window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


async def instances(
    pg_url: str,
    workdir: Path,
    count: int,
    scale: float = 1.0,
    *,
    rate_wait_s: float = 150.0,
    command: str = "help",
) -> Row:
    """`count` real `bot.py serve` processes on one PostgreSQL behind one fake WeCom; every
    reply goes through the shared outbox (reply budget 0). Inbound: each callback goes to
    one instance and a WeCom retry of it, at the same moment, to another (a load balancer
    in front): each must be answered exactly once. Rate: 45 distinct messages from one
    member spread over the instances: never more than 30 deliveries to that member in any
    60 s (WeCom drops the excess silently), and all 45 delivered once the window allows.

    With `command` "write" the callbacks are 舆情 and 突发 from registered users: the two
    instances' write transactions (group commit, storage/batch.py) take the same rows — the
    message's `inbound_messages` key, the command's record counter — so each message must
    also leave exactly one record; the deadlock / serialization retries the instances logged
    (`write unit: …; tried again in the next batch`) are counted in the notes."""
    from liuan_bot.clock import SystemClock
    from storage.engine import make_engine
    from storage.migrate import upgrade

    await _reset_pg(pg_url)
    engine = make_engine(pg_url)
    await upgrade(engine)
    await engine.dispose()
    n = _n(300, scale, 12)
    burst = 45
    if _commanded(command) == "write":
        await import_chaos_roster(pg_url, workdir, n)  # before the instances start
    fake = FakeWeCom(corp_id=CORP_ID, secret=SECRET, clock=SystemClock())
    api = TestServer(fake.app())
    await api.start_server()
    ports = [_free_port() for _ in range(count)]
    api_base = str(api.make_url("")).rstrip("/")
    signer = CallbackSigner(TOKEN, AES_KEY, CORP_ID)
    ledger = Ledger(n, command)
    procs: list[subprocess.Popen[bytes]] = []
    logs = [workdir / f"serve{k}.log" for k in range(count)]
    rate_statuses: Counter[int] = Counter()
    try:
        for k, port in enumerate(ports):
            env = _bot_env(pg_url, workdir / f"i{k}", api_base, port, LIUAN_REPLY_BUDGET_S="0")
            procs.append(await _start(env, logs[k]))
        async with aiohttp.ClientSession() as http:

            async def post(port: int, s: Any) -> tuple[int, bytes]:
                """(status, body); status 0: no HTTP answer within WeCom's 5 s."""
                try:
                    async with http.post(
                        f"http://127.0.0.1:{port}/wecom/callback",
                        params=s.query,
                        data=s.body,
                        timeout=aiohttp.ClientTimeout(total=5),
                    ) as resp:
                        return resp.status, await resp.read()
                except (aiohttp.ClientError, TimeoutError):
                    return 0, b""

            gate = asyncio.Semaphore(32)

            async def one(i: int) -> None:
                ts = int(time.time())
                s = signer.sign(_plaintext(i, ts, command), timestamp=ts)
                first, second = ports[i % count], ports[(i + 1) % count]
                async with gate:
                    for _attempt in range(4):
                        results = await asyncio.gather(post(first, s), post(second, s))
                        for status, payload in results:
                            ledger.statuses[status] += 1
                            if status == 200 and payload:
                                ledger.add_passive(i, payload, signer)
                        if any(status == 200 for status, _ in results):
                            return
                        await asyncio.sleep(1)
                ledger.never_accepted.add(i)

            async def rate(j: int) -> None:
                ts = int(time.time())
                plaintext = text_message_xml(
                    corp_id=CORP_ID,
                    from_user=RATE_USER,
                    content="帮助",
                    msg_id=str(9_000_000_000 + j),
                    create_time=ts,
                    agent_id=AGENT_ID,
                )
                s = signer.sign(plaintext, timestamp=ts)
                for _attempt in range(4):
                    status, _ = await post(ports[j % count], s)
                    rate_statuses[status] += 1
                    if status == 200:
                        return
                    await asyncio.sleep(1)

            await asyncio.gather(*(one(i) for i in range(n)), *(rate(j) for j in range(burst)))
            deadline = time.monotonic() + rate_wait_s
            while time.monotonic() < deadline:
                await asyncio.sleep(1)
                rated = sum(1 for m in fake.delivered if m.to == RATE_USER)
                if ledger.all_answered(fake) and rated >= burst:
                    break
            await asyncio.sleep(3)  # late duplicates, if any, would show now
        ledger.add_deliveries(fake)
        rate_sends = [m.at for m in fake.delivered if m.to == RATE_USER]
        if command == "write":
            ledger.add_records(await _pg_records(pg_url))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
        await api.close()
    row = ledger.row(
        f"{count} instances on one PostgreSQL{_write_label(command)}",
        f"{n} {_callbacks(command)}, each to one instance and its retry to another at once; "
        f"{burst} messages from one member",
        f"{count} `bot.py serve` processes sharing inbox, outbox and pacing",
    )
    peak = _max_in_window(rate_sends)
    row.extra.update(inbound_lost=row.lost, inbound_duplicated=row.duplicated)
    row.lost += max(0, burst - len(rate_sends))
    row.lost += max(0, peak - 30)  # over WeCom's 30/min per member: dropped silently
    row.duplicated += max(0, len(rate_sends) - burst)
    row.http_5xx += sum(c for s, c in rate_statuses.items() if s >= 500 and s != 503)
    row.extra.update(rate_peak=peak, rate_delivered=len(rate_sends))
    facts = (
        f"one member: {len(rate_sends)}/{burst} delivered, at most {peak} in any 60 s; "
        f"never got a 200: {len(ledger.never_accepted)}"
    )
    if command == "write":
        scanned = [_LogScan.of(log) for log in logs]
        retried = [scan.retried for scan in scanned]
        repeats = [scan.repeats for scan in scanned]
        errors = [len(scan.errors) for scan in scanned]
        row.extra.update(
            unit_retries=retried,
            duplicates_logged=repeats,
            log_errors=errors,
            # why, when a run fails in CI
            first_errors=[line for scan in scanned for line in scan.errors][:3],
        )
        facts += (
            f"; attempts without an HTTP answer in 5 s: {ledger.statuses[0]}; copies found "
            f"stored by another instance (per instance's log): {_sum_of(repeats)}; write units "
            f"tried again after a deadlock or serialization failure (per instance's log): "
            f"{_sum_of(retried)}; ERROR lines in the logs: {sum(errors)}"
        )
    row.notes = f"{row.notes}; {facts}" if row.notes else facts
    return row


# storage/batch.py's WARNING for a unit that hit a deadlock (40P01) or a serialization
# failure (40001) and runs again in a next batch (up to 3 attempts)
RETRIED_LINE = "tried again in the next batch"
# liuan_bot/inbox.py's INFO for a copy whose message is stored already (nothing done again)
DUPLICATE_LINE = "inbound duplicate key=msg:"


def _sum_of(counts: list[int]) -> str:
    return f"{' + '.join(map(str, counts))} = {sum(counts)}"


@dataclass
class _LogScan:
    """What one instance's log says: units run again, copies found stored, ERROR lines."""

    retried: int = 0
    repeats: int = 0
    errors: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, log: Path) -> _LogScan:
        scan = cls()
        if not log.exists():
            return scan
        with log.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                scan.retried += RETRIED_LINE in line
                scan.repeats += DUPLICATE_LINE in line
                if " ERROR " in line:
                    scan.errors.append(f"{log.name}: {line.strip()[:300]}")
        return scan


async def _pg_records(pg_url: str) -> list[tuple[str, str, int]]:
    """`RECORDS_SQL` on the instances' database, from outside them."""
    from storage.engine import make_engine

    engine = make_engine(pg_url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(RECORDS_SQL))
            return [(str(table), str(filer), int(count)) for table, filer, count in result.all()]
    finally:
        await engine.dispose()
