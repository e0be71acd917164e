"""Benchmark of the WeCom callback path: liuan-bot against a bare aiohttp + wechatpy handler.

    .venv/bin/python bench/callback.py [--mix help|write] [--db sqlite|postgresql]
                                       [--pg-url URL] [--shipped] [--duration S]
                                       [--requests N] [--concurrency C] [--warmup N]
                                       [--rounds R] [--no-fail] [--profile]

--mix help (default): every request is `帮助` from the demo user. --mix write: 舆情, 突发 and
申请发布会 in turn from three registered members (each a complete, valid command that writes
a record, its audit entries and its notifications). --db postgresql runs both servers on
PostgreSQL (URL from --pg-url or LIUAN_TEST_DATABASE_URL): each creates and drops a database
of its own; the reference then inserts with asyncpg. --shipped runs the bot as shipped
(INFO logging, reminder scheduler on) instead of WARNING logging and no scheduler.

Both servers run in their own subprocess on 127.0.0.1 (one after the other, so they never
share the CPU) and are driven from this process over 64 keep-alive connections. Every
request is a real encrypted `帮助` text message from the registered demo user, with its own
MsgId, signed before the clock starts.

- bot:  the full callback path of `bot.py` — verify signature, decrypt, dedupe + store, run
        `帮助` for the sender in one transaction, encrypted passive reply.
- bare: aiohttp + wechatpy `WeChatCrypto` — verify + decrypt, parse, ONE awaited aiosqlite
        INSERT (WAL, autocommit), encrypt a fixed reply.

Reported per server: throughput, p50/p99 latency, and the server process's own CPU time per
request (utime + stime of all its threads from /proc/<pid>/stat, over the measured run; the
event-loop thread alone on the next line). Targets: bot throughput >= 0.60 x bare and bot
p99 < 100 ms, every reply passive; exit status 1 if one is missed (unless --no-fail), 2 if a
request failed, a sampled reply was wrong, or the bot server imported `jieba` (parsing a
command must not need it).

--profile (diagnosis; slows the bot down): the bot server counts SQL statements, commits, new
database connections and aiosqlite thread round trips per callback, and py-spy (if installed in
the venv) samples its event-loop thread during the measured run; the summary is printed before
the table.

Internal entry point (used by the benchmark itself):
    python bench/callback.py --serve bot|bare --port P --workdir DIR [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CALLBACK = "/wecom/callback"
TOKEN = "liuanBenchToken2024"
AES_KEY = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"  # 43 chars [A-Za-z0-9]
CORP_ID = "wwbench000000001"
AGENT_ID = 1000002
USER = "demo"
COMMAND = "帮助"
HELP_MARKER = "您可以发送以下命令"
BARE_REPLY = "收到，正在处理。"
WECOM_SECRET = "bench-secret"
# Targets per mix (issue 11 §2): throughput ratio to the reference, bot p99, CPU per request.
TARGETS = {"help": (0.85, 100.0, None), "write": (0.50, 250.0, 2.0)}
# what each write-mix sender's reply begins with when the command was accepted (a refusal,
# e.g. a time that is not yet past at some hour of the day, is a different, cheaper path)
WRITE_ACCEPTED = {
    "demo": "已报告舆情",
    "liulei": "已登记突发事件",
    "yanglixin": "已提交发布会申请",
}
WRITE_MIX = (  # (user, text): complete commands, each writing a record (issue 11 §2)
    (
        "demo",
        "舆情\n内容：网民反映我市部分惠民补贴未按时发放，转发量上升较快\n来源：新浪微博"
        "\n链接：https://weibo.com/{i}",
    ),
    ("liulei", "突发\n事件：网传我市某小区停水{i}\n级别：一般\n发生时间：刚才"),
    (
        "yanglixin",
        "申请发布会\n主题：第{i}期惠民政策解读\n时间：{day}上午10点\n发布人：刘磊",
    ),
)
SHANGHAI = ZoneInfo("Asia/Shanghai")
CLK_TCK = os.sysconf("SC_CLK_TCK")
REPORT_PREFIX = "BENCH-REPORT "


# ---------------------------------------------------------------- servers (subprocesses)


def bot_environ(
    workdir: Path, port: int, database_url: str = "", wecom_api: str = ""
) -> dict[str, str]:
    """The bot's environment. Without `wecom_api`: sandbox mode, the fake WeCom API mounted
    in the bot's own process. With it: live mode against that API (the fake WeCom of
    `--serve wecom`, in a process of its own, as the real one is in production)."""
    environ = {
        "LIUAN_WECOM_TOKEN": TOKEN,
        "LIUAN_WECOM_AES_KEY": AES_KEY,
        "LIUAN_WECOM_CORP_ID": CORP_ID,
        "LIUAN_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{workdir}/bench.db",
        "LIUAN_REPLY_BUDGET_S": "2",
        "LIUAN_HTTP_HOST": HOST,
        "LIUAN_HTTP_PORT": str(port),
    }
    for tunable in ("LIUAN_WRITE_BATCH", "LIUAN_PG_WRITE_CONCURRENCY"):  # to compare settings
        if tunable in os.environ:
            environ[tunable] = os.environ[tunable]
    if wecom_api:
        environ |= {
            "LIUAN_WECOM_SECRET": WECOM_SECRET,
            "LIUAN_WECOM_AGENT_ID": str(AGENT_ID),
            "LIUAN_WECOM_API_BASE": wecom_api,
            "LIUAN_PUBLIC_URL": f"http://{HOST}:{port}",
        }
    return environ


def serve_wecom(port: int) -> None:
    """The fake WeCom API (`liuan_bot.wecom.fake_server`) alone: what the bot sends during a
    run is answered here, so its CPU is not counted as the bot's (issue 11 §2)."""
    sys.path.insert(0, str(ROOT))
    from aiohttp import web

    from liuan_bot.wecom.fake_server import FakeWeCom

    logging.basicConfig(level=logging.WARNING)
    fake = FakeWeCom(corp_id=CORP_ID, secret=WECOM_SECRET)
    app = fake.app()

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/healthz", health)
    web.run_app(app, host=HOST, port=port, access_log=None, print=None, shutdown_timeout=5)
    sent = sum(1 for r in fake.requests if r.path != "/cgi-bin/gettoken")
    print(REPORT_PREFIX + json.dumps({"api_calls": sent}), flush=True)


def pg_database(kind: str) -> str:
    return f"liuan_bench_{kind.replace('-', '_')}_{os.getpid()}"


def pg_admin(url: str, statement: str) -> None:
    """Run one statement on the given server's database in autocommit (create/drop)."""
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(go())


def pg_url_for(base: str, database: str) -> str:
    return base.rsplit("/", 1)[0] + "/" + database


def serve_bot(
    port: int,
    workdir: Path,
    profile: bool,
    database_url: str = "",
    shipped: bool = False,
    wecom_api: str = "",
) -> None:
    sys.path.insert(0, str(ROOT))

    from bot import _roster_import, build_bot, configure_logging
    from liuan_bot.app import PathOnlyAccessLogger, ServerLimits, run_guarded
    from liuan_bot.settings import load_settings
    from storage.engine import make_engine
    from storage.migrate import upgrade

    configure_logging(logging.WARNING)  # bot.py serve's handler and format
    environ = bot_environ(workdir, port, database_url, wecom_api)
    settings = load_settings(environ, data_dir=workdir)

    async def prepare() -> None:
        engine = make_engine(settings.database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        roster = (ROOT / "config" / "demo-roster.csv").read_bytes()
        with contextlib.redirect_stdout(io.StringIO()):
            status = await _roster_import(settings, roster, False)
        if status != 0:
            raise SystemExit(f"demo roster import failed ({status})")

    asyncio.run(prepare())
    # Unless --shipped: WARNING logging and the reminder scheduler off (its start-up sweep
    # would enqueue reminders for the whole demo roster, delivered during the measurement).
    logging.getLogger().setLevel(logging.INFO if shipped else logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    bot = build_bot(settings, run_scheduler=shipped)
    app = bot.app()
    counters: dict[str, int] = {}
    if profile:
        _instrument(bot.engine, app, counters)
    # the runner of `bot.py serve` (connection limits; the collector settled once started)
    limits = ServerLimits(settings.http_header_timeout_s, settings.http_max_connections)
    if shipped:
        run_guarded(app, HOST, port, limits, access_log_class=PathOnlyAccessLogger)
    else:
        run_guarded(app, HOST, port, limits, access_log=None)
    batcher = bot.pipeline.batcher if bot.pipeline is not None else None
    report = {
        "jieba_loaded": "jieba" in sys.modules,
        "counters": counters,
        "outbox": asyncio.run(_outbox_by_status(settings.database_url)),
        "batches": [batcher.batches, batcher.units, batcher.retried] if batcher else [],
    }
    print(REPORT_PREFIX + json.dumps(report), flush=True)


async def _outbox_by_status(database_url: str) -> dict[str, int]:
    """The bot's outbox rows by status at the end of the run (what its worker delivered)."""
    from sqlalchemy import text

    from storage.engine import make_engine

    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT status, count(*) FROM outbox GROUP BY status"))
            return {str(status): int(count) for status, count in rows}
    finally:
        await engine.dispose()


def _instrument(engine: Any, app: Any, counters: dict[str, int]) -> None:
    """Count callbacks, SQL statements, commits and aiosqlite thread round trips."""
    import aiosqlite.core
    from sqlalchemy import event

    counters.update(callbacks=0, statements=0, commits=0, aiosqlite_round_trips=0, connects=0)

    def on_statement(*_args: Any) -> None:
        counters["statements"] += 1

    def on_commit(*_args: Any) -> None:
        counters["commits"] += 1

    event.listen(engine.sync_engine, "before_cursor_execute", on_statement)
    event.listen(engine.sync_engine, "commit", on_commit)

    def on_connect(*_args: Any) -> None:  # a new database connection (PostgreSQL: a backend)
        counters["connects"] += 1

    event.listen(engine.sync_engine, "connect", on_connect)
    original = aiosqlite.core.Connection._execute

    async def counted(self: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        counters["aiosqlite_round_trips"] += 1
        return await original(self, fn, *args, **kwargs)

    aiosqlite.core.Connection._execute = counted  # type: ignore[method-assign]

    from aiohttp import web

    @web.middleware
    async def count_callbacks(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == CALLBACK and request.method == "POST":
            counters["callbacks"] += 1
        response: web.StreamResponse = await handler(request)
        return response

    app.middlewares.append(count_callbacks)


def serve_bare(port: int, workdir: Path) -> None:
    import aiosqlite
    import xmltodict
    from aiohttp import web
    from wechatpy.enterprise.crypto import WeChatCrypto
    from wechatpy.enterprise.exceptions import InvalidCorpIdException
    from wechatpy.exceptions import InvalidSignatureException

    logging.basicConfig(level=logging.WARNING)
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    db_key = web.AppKey("db", aiosqlite.Connection)

    async def database(app: web.Application) -> AsyncIterator[None]:
        db = await aiosqlite.connect(workdir / "bare.db", isolation_level=None)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute(
            "CREATE TABLE IF NOT EXISTS inbound (id INTEGER PRIMARY KEY, msg_id TEXT UNIQUE,"
            " from_user TEXT, content TEXT, received_at REAL)"
        )
        app[db_key] = db
        yield
        await db.close()

    async def callback(request: web.Request) -> web.Response:
        query = request.query
        body = await request.read()
        try:
            plaintext = crypto.decrypt_message(
                body, query["msg_signature"], query["timestamp"], query["nonce"]
            )
            msg = xmltodict.parse(plaintext)["xml"]
        except (InvalidSignatureException, InvalidCorpIdException):
            return web.Response(status=403, text="forbidden")
        except Exception:
            return web.Response(status=400, text="bad request")
        now = time.time()
        await request.app[db_key].execute(  # one statement in autocommit: one transaction
            "INSERT INTO inbound (msg_id, from_user, content, received_at) VALUES (?, ?, ?, ?)",
            (msg.get("MsgId"), msg.get("FromUserName"), msg.get("Content"), now),
        )
        reply = (
            f"<xml><ToUserName><![CDATA[{msg.get('FromUserName')}]]></ToUserName>"
            f"<FromUserName><![CDATA[{CORP_ID}]]></FromUserName>"
            f"<CreateTime>{int(now)}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{BARE_REPLY}]]></Content></xml>"
        )
        envelope = crypto.encrypt_message(reply, str(int(now * 1000) % 10**10), int(now))
        return web.Response(body=envelope.encode(), content_type="application/xml")

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.cleanup_ctx.append(database)
    app.router.add_post(CALLBACK, callback)
    app.router.add_get("/healthz", health)
    web.run_app(app, host=HOST, port=port, access_log=None, print=None, shutdown_timeout=5)
    print(REPORT_PREFIX + json.dumps({}), flush=True)


def serve_bare_pg(port: int, database_url: str) -> None:
    """The PostgreSQL reference: aiohttp + wechatpy + ONE awaited asyncpg INSERT (a pool of
    10 connections, autocommit), encrypt a fixed reply."""
    import asyncpg
    import xmltodict
    from aiohttp import web
    from wechatpy.enterprise.crypto import WeChatCrypto
    from wechatpy.enterprise.exceptions import InvalidCorpIdException
    from wechatpy.exceptions import InvalidSignatureException

    logging.basicConfig(level=logging.WARNING)
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    pool_key = web.AppKey("pool", asyncpg.Pool)
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")

    async def database(app: web.Application) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS inbound (id BIGSERIAL PRIMARY KEY, msg_id TEXT UNIQUE,"
            " from_user TEXT, content TEXT, received_at DOUBLE PRECISION)"
        )
        app[pool_key] = pool
        yield
        await pool.close()

    async def callback(request: web.Request) -> web.Response:
        query = request.query
        body = await request.read()
        try:
            plaintext = crypto.decrypt_message(
                body, query["msg_signature"], query["timestamp"], query["nonce"]
            )
            msg = xmltodict.parse(plaintext)["xml"]
        except (InvalidSignatureException, InvalidCorpIdException):
            return web.Response(status=403, text="forbidden")
        except Exception:
            return web.Response(status=400, text="bad request")
        now = time.time()
        await request.app[pool_key].execute(
            "INSERT INTO inbound (msg_id, from_user, content, received_at) VALUES ($1,$2,$3,$4)",
            msg.get("MsgId"),
            msg.get("FromUserName"),
            msg.get("Content"),
            now,
        )
        reply = (
            f"<xml><ToUserName><![CDATA[{msg.get('FromUserName')}]]></ToUserName>"
            f"<FromUserName><![CDATA[{CORP_ID}]]></FromUserName>"
            f"<CreateTime>{int(now)}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{BARE_REPLY}]]></Content></xml>"
        )
        envelope = crypto.encrypt_message(reply, str(int(now * 1000) % 10**10), int(now))
        return web.Response(body=envelope.encode(), content_type="application/xml")

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.cleanup_ctx.append(database)
    app.router.add_post(CALLBACK, callback)
    app.router.add_get("/healthz", health)
    web.run_app(app, host=HOST, port=port, access_log=None, print=None, shutdown_timeout=5)
    print(REPORT_PREFIX + json.dumps({}), flush=True)


# ---------------------------------------------------------------- load generator


@dataclass
class Server:
    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    workdir: Path


@dataclass
class LoadResult:
    requests: int = 0
    wall_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    by_message: dict[int, list[float]] = field(default_factory=dict)  # write mix: per command
    errors: list[str] = field(default_factory=list)
    empty_replies: int = 0
    samples: list[bytes] = field(default_factory=list)
    server_cpu_s: float = 0.0
    loop_thread_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    db_cpu_s: float = 0.0  # PostgreSQL backends serving this server's database
    wecom_cpu_s: float = 0.0  # the fake WeCom API's process, when it runs apart from the bot


@dataclass
class Summary:
    kind: str
    result: LoadResult
    wrong_replies: int
    report: dict[str, Any]

    @property
    def rps(self) -> float:
        return self.result.requests / self.result.wall_s if self.result.wall_s else 0.0

    def pct(self, q: float) -> float:
        return self.pct_of(self.result.latencies_ms, q)

    @staticmethod
    def pct_of(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    def per_request_ms(self, seconds: float) -> float:
        return seconds * 1000 / self.result.requests if self.result.requests else float("nan")

    def cores(self, seconds: float) -> float:
        return seconds / self.result.wall_s if self.result.wall_s else float("nan")

    @property
    def faults(self) -> str:
        return f"{len(self.result.errors)}/{self.result.empty_replies}/{self.wrong_replies}"


def proc_cpu_s(pid: int, tid: int | None = None) -> float:
    """utime + stime of process `pid` (all its threads), or of its thread `tid`, in seconds."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    with open(path, encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5)


def pg_backends_cpu_s(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend process connected to `database`: processes
    titled `postgres: <cluster>: <user> <database> <client> <state>` with `database` as one
    word. (Matching the name anywhere in the command line also counted the bot server
    itself, whose `--db-url` names the database: its whole CPU was reported twice.)"""
    found: dict[int, float] = {}
    if not database:
        return found
    name = database.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                title = cmdline.read()
            if not title.startswith(b"postgres: ") or name not in title.split():
                continue
            found[int(entry)] = proc_cpu_s(int(entry))
        except OSError:
            continue
    return found


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_server(
    kind: str,
    workdir: Path,
    profile: bool,
    database_url: str = "",
    shipped: bool = False,
    wecom_api: str = "",
) -> Server:
    port = free_port()
    serverdir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=workdir))
    log_path = serverdir / "server.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", kind]
    command += ["--port", str(port), "--workdir", str(serverdir)]
    if profile:
        command.append("--profile")
    if database_url:
        command += ["--db-url", database_url]
    if shipped:
        command.append("--shipped")
    if wecom_api:
        command += ["--wecom-api", wecom_api]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return Server(kind, port, process, log_path, serverdir)


def stop_server(server: Server, timeout_s: float = 30.0) -> dict[str, Any]:
    """SIGINT (aiohttp's graceful exit), then SIGKILL; the server's final report, if any."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(5)
    for line in server.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(REPORT_PREFIX):
            report: dict[str, Any] = json.loads(line.removeprefix(REPORT_PREFIX))
            return report
    print(f"warning: {server.kind} server gave no report:", file=sys.stderr)
    print(server_log_tail(server), file=sys.stderr)
    return {}


def server_log_tail(server: Server, lines: int = 30) -> str:
    text = server.log_path.read_text(encoding="utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def message_for(mix: str, i: int) -> tuple[str, str]:
    """(sender, text) of the i-th request of a mix."""
    if mix == "help":
        return USER, COMMAND
    user, template = WRITE_MIX[i % len(WRITE_MIX)]
    # a conference date 1-25 days ahead of today in Shanghai (a fixed date is refused as
    # past once the calendar reaches it)
    today = datetime.now(SHANGHAI).date()
    when = today + timedelta(days=1 + (i // 3) % 25)
    day = f"{when.month}月{when.day}日"
    return user, template.format(i=i, day=day)


def build_requests(
    port: int, count: int, first_msg_id: int, mix: str = "help"
) -> list[tuple[Any, bytes, int]]:
    """Signed, encrypted callbacks of the mix, each with its own MsgId and the index of its
    command in the write mix (built before the clock)."""
    from urllib.parse import urlencode

    from yarl import URL

    sys.path.insert(0, str(ROOT))
    from liuan_bot.wecom.simulate import CallbackSigner, text_message_xml

    signer = CallbackSigner(TOKEN, AES_KEY, CORP_ID)
    stamp = int(datetime.now(UTC).timestamp())
    built = []
    for i in range(count):
        user, content = message_for(mix, first_msg_id + i)
        plaintext = text_message_xml(
            corp_id=CORP_ID,
            from_user=user,
            content=content,
            msg_id=str(first_msg_id + i),
            create_time=stamp,
            agent_id=AGENT_ID,
        )
        signed = signer.sign(plaintext, timestamp=stamp)
        url = URL(f"http://{HOST}:{port}{CALLBACK}?{urlencode(signed.query)}", encoded=True)
        built.append((url, signed.body, (first_msg_id + i) % len(WRITE_MIX)))  # its command
    return built


async def wait_ready(server: Server, timeout_s: float) -> None:
    import aiohttp

    deadline = time.monotonic() + timeout_s
    url = f"http://{HOST}:{server.port}/healthz"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.kind} server exited:\n{server_log_tail(server)}")
            try:
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{server.kind} server not ready after {timeout_s:.0f}s")


async def drive(
    server: Server,
    requests: Sequence[tuple[Any, bytes, int]],
    *,
    concurrency: int,
    duration_s: float,
    request_timeout_s: float,
    sample_every: int,
    database: str = "",
    wecom_pid: int | None = None,
) -> LoadResult:
    """Send `requests` over `concurrency` keep-alive connections; stop early at `duration_s`."""
    import aiohttp

    result = LoadResult()
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    pending = iter(range(len(requests)))
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=request_timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            for i in pending:
                if time.perf_counter() > deadline:
                    return
                url, body, command = requests[i]
                sent = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        payload = await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    result.errors.append(f"request {i}: {type(exc).__name__}: {exc}")
                    continue
                latency_ms = (time.perf_counter() - sent) * 1000
                result.latencies_ms.append(latency_ms)
                result.by_message.setdefault(command, []).append(latency_ms)
                result.requests += 1
                if status != 200:
                    result.errors.append(f"request {i}: HTTP {status} {payload[:80]!r}")
                elif not payload:
                    result.empty_replies += 1  # answer deferred to the outbox (budget passed)
                elif i % sample_every == 0:
                    result.samples.append(payload)

        pid = server.process.pid
        cpu_before, loop_before, client_before = proc_cpu_s(pid), proc_cpu_s(pid, pid), own_cpu_s()
        db_before = pg_backends_cpu_s(database)
        wecom_before = proc_cpu_s(wecom_pid) if wecom_pid else 0.0
        start = time.perf_counter()
        deadline = start + duration_s
        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(concurrency))),
            timeout=duration_s + request_timeout_s + 10,
        )
        result.wall_s = time.perf_counter() - start
        result.client_cpu_s = own_cpu_s() - client_before
        result.server_cpu_s = proc_cpu_s(pid) - cpu_before
        result.loop_thread_cpu_s = proc_cpu_s(pid, pid) - loop_before
        if wecom_pid:
            result.wecom_cpu_s = proc_cpu_s(wecom_pid) - wecom_before
        db_after = pg_backends_cpu_s(database)
        result.db_cpu_s = sum(cpu - db_before.get(p, 0.0) for p, cpu in db_after.items())
    return result


def check_samples(kind: str, samples: list[bytes], mix: str = "help") -> int:
    """Decrypt sampled passive replies; the number that do not say what they should."""
    sys.path.insert(0, str(ROOT))
    from liuan_bot.wecom.simulate import CallbackSigner

    signer = CallbackSigner(TOKEN, AES_KEY, CORP_ID)
    users = {USER} if mix == "help" else {u for u, _ in WRITE_MIX}
    wrong = 0
    shown = 0
    for payload in samples:
        try:
            fields = signer.open_reply(payload)
        except Exception:
            wrong += 1
            continue
        content = fields.get("Content", "")
        if kind != "bot":
            ok = BARE_REPLY in content
        elif mix == "help":
            ok = HELP_MARKER in content
        else:
            expected = WRITE_ACCEPTED.get(fields.get("ToUserName", ""))
            ok = expected is not None and content.startswith(expected)
        if not ok or fields.get("ToUserName") not in users:
            wrong += 1
            if shown < 3:
                shown += 1
                print(f"wrong {kind} reply: {content[:200]!r}", file=sys.stderr)
    return wrong


def bench_one(kind: str, workdir: Path, args: argparse.Namespace, round_no: int) -> Summary:
    profile = args.profile and kind == "bot"
    database_url = ""
    if args.db == "postgresql":
        database_url = pg_url_for(args.pg_url, pg_database(kind))
        pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{pg_database(kind)}" WITH (FORCE)')
        pg_admin(args.pg_url, f'CREATE DATABASE "{pg_database(kind)}"')
    wecom = None
    if kind == "bot" and args.wecom == "apart":
        wecom = start_server("wecom", workdir, False)
    try:
        if wecom is not None:
            asyncio.run(wait_ready(wecom, args.startup_timeout))
        wecom_api = f"http://{HOST}:{wecom.port}" if wecom is not None else ""
        shipped = args.shipped and kind == "bot"
        server = start_server(kind, workdir, profile, database_url, shipped, wecom_api)
    except BaseException:
        if wecom is not None:
            stop_server(wecom)
        raise
    try:
        asyncio.run(wait_ready(server, args.startup_timeout))
        first = 10**12 + (1 if kind == "bot" else 2) * 10**10 + round_no * 10**8
        warm = build_requests(server.port, args.warmup, first, args.mix)
        measured = build_requests(server.port, args.requests, first + args.warmup, args.mix)
        options = {
            "concurrency": args.concurrency,
            "request_timeout_s": args.request_timeout,
            "sample_every": args.sample_every,
            "database": pg_database(kind) if database_url else "",
            "wecom_pid": wecom.process.pid if wecom is not None else None,
        }
        warm_result = asyncio.run(drive(server, warm, duration_s=args.duration, **options))
        if warm_result.errors:
            raise RuntimeError(f"{kind} warm-up failed: {warm_result.errors[:3]}")
        spy = start_py_spy(server) if profile else None
        try:
            result = asyncio.run(drive(server, measured, duration_s=args.duration, **options))
        finally:
            if spy is not None:
                stop_process(spy)
    finally:
        report = stop_server(server)
        if wecom is not None:
            report["wecom"] = stop_server(wecom)
        if database_url:
            pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{pg_database(kind)}" WITH (FORCE)')
    summary = Summary(kind, result, check_samples(kind, result.samples, args.mix), report)
    if profile:
        print_profile(summary, server.workdir / "py-spy.txt")
    return summary


def start_py_spy(server: Server) -> subprocess.Popen[bytes] | None:
    """Sample the server with py-spy (if installed) during the measured run."""
    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        print("--profile: py-spy not found (.venv/bin/pip install py-spy)", file=sys.stderr)
        return None
    out = server.workdir / "py-spy.txt"
    command = [str(exe), "record", "--pid", str(server.process.pid), "--format", "raw"]
    rate = os.environ.get("BENCH_SPY_RATE", "100")  # samples per second
    command += ["--threads", "--nonblocking", "--rate", rate, "--output", str(out)]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # let it attach before the clock starts
    return spy


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def print_profile(
    summary: Summary, spy_path: Path, top: int = int(os.environ.get("BENCH_TOP", "20"))
) -> None:
    """Per-callback counters, then py-spy's samples of the event-loop thread."""
    counters: dict[str, int] = summary.report.get("counters", {})
    callbacks = counters.get("callbacks") or 1
    print("\n---- bot server profile (--profile; the table below is slowed by it) ----")
    per = ", ".join(f"{k} {v / callbacks:.2f}" for k, v in counters.items() if k != "callbacks")
    print(f"per callback ({callbacks} callbacks incl. warm-up): {per}")
    if not spy_path.exists():
        print("no py-spy samples")
        return
    total = 0
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    packages: dict[str, int] = {}
    for line in spy_path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if not count_text.isdigit() or len(frames) < 2 or "MainThread" not in frames[0]:
            continue
        count = int(count_text)
        names = [_frame_name(f) for f in frames[1:]]
        total += count
        own[names[-1]] = own.get(names[-1], 0) + count
        package = _package(frames[-1])
        packages[package] = packages.get(package, 0) + count
        for name in set(names):
            if _package(name) in {"liuan_bot", "handlers", "storage", "bot.py"}:
                inclusive[name] = inclusive.get(name, 0) + count
    print(f"py-spy: {total} samples of the busy event-loop thread over the measured run")
    print(
        "(self time in EpollSelector.select and aiosqlite's Connection._execute is the hand-off"
        " to aiosqlite's worker threads — wake-ups and taking the GIL back — not SQL)"
    )
    for title, table in (
        ("self, by package of the innermost frame", packages),
        ("self, by function", own),
        ("inclusive, liuan-bot functions", inclusive),
    ):
        print(f"{title}:")
        for name, count in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {100 * count / max(total, 1):5.1f}%  {name}")


def _frame_name(frame: str) -> str:
    """`func (path/to/file.py:123)` → `func (path/to/file.py)`."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def _package(frame: str) -> str:
    where = frame.partition(" (")[2].rsplit(":", 1)[0].rstrip(")")
    parts = where.split("/")
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1]
    return parts[0] if where else frame


# ---------------------------------------------------------------- report


def median_round(rounds: list[Summary]) -> Summary:
    """The round with the median throughput (the lower one for an even count)."""
    ordered = sorted(rounds, key=lambda s: s.rps)
    return ordered[(len(ordered) - 1) // 2]


def render(bare: Summary, bot: Summary, args: argparse.Namespace) -> tuple[str, list[str]]:
    rows: list[tuple[str, Callable[[Summary], str]]] = [
        ("requests measured", lambda s: f"{s.result.requests}"),
        ("throughput (req/s)", lambda s: f"{s.rps:.0f}"),
        ("p50 latency (ms)", lambda s: f"{s.pct(0.50):.1f}"),
        ("p99 latency (ms)", lambda s: f"{s.pct(0.99):.1f}"),
        ("server CPU / request (ms)", lambda s: f"{s.per_request_ms(s.result.server_cpu_s):.2f}"),
        (
            "  event-loop thread (ms)",
            lambda s: f"{s.per_request_ms(s.result.loop_thread_cpu_s):.2f}",
        ),
        ("server CPU use (cores)", lambda s: f"{s.cores(s.result.server_cpu_s):.2f}"),
        ("PostgreSQL CPU / req (ms)", lambda s: f"{s.per_request_ms(s.result.db_cpu_s):.2f}"),
        ("fake WeCom CPU / req (ms)", lambda s: f"{s.per_request_ms(s.result.wecom_cpu_s):.2f}"),
        ("client CPU use (cores)", lambda s: f"{s.cores(s.result.client_cpu_s):.2f}"),
        ("errors / empty / wrong", lambda s: s.faults),
    ]
    rounds = f", median of {args.rounds} rounds" if args.rounds > 1 else ""
    target_ratio, target_p99, target_cpu = TARGETS[args.mix]
    reference = "aiohttp+asyncpg insert" if args.db == "postgresql" else "aiohttp+aiosqlite insert"
    lines = [
        f"liuan-bot callback benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"mix {args.mix}, {args.db}, bot {'as shipped' if args.shipped else 'WARNING logs'}, "
        f"fake WeCom API {'in its own process' if args.wecom == 'apart' else 'in the bot'}, "
        f"{args.concurrency} connections, {args.warmup} warm-up requests{rounds}, "
        f"load average before the run {args.load_before:.2f}; bare = {reference}",
        "",
        f"| {'':26} | {'bare':>8} | {'bot':>8} |",
        f"|{'-' * 28}|{'-' * 9}:|{'-' * 9}:|",
    ]
    lines += [f"| {label:26} | {cell(bare):>8} | {cell(bot):>8} |" for label, cell in rows]
    ratio = bot.rps / bare.rps if bare.rps else 0.0
    p99 = bot.pct(0.99)
    jieba = bot.report.get("jieba_loaded")
    missed = []
    cpu = bot.per_request_ms(bot.result.server_cpu_s)
    if ratio < target_ratio:
        missed.append(f"throughput ratio {ratio:.2f} < {target_ratio:.2f}")
    if not p99 < target_p99:
        missed.append(f"bot p99 {p99:.1f} ms >= {target_p99:.0f} ms")
    if target_cpu is not None and not cpu <= target_cpu:
        missed.append(f"bot CPU {cpu:.2f} ms/request > {target_cpu:.1f} ms")
    if bot.result.empty_replies:
        missed.append(f"{bot.result.empty_replies} replies deferred past the reply budget")
    mark = {True: "ok", False: "MISSED"}
    lines += [
        "",
        f"bot / bare throughput: {ratio:.2f}  (target >= {target_ratio:.2f}: "
        f"{mark[ratio >= target_ratio]})",
        f"bot p99 latency: {p99:.1f} ms  (target < {target_p99:.0f} ms: {mark[p99 < target_p99]})",
        f"bot CPU / request: {cpu:.2f} ms"
        + (f"  (target <= {target_cpu:.1f} ms: {mark[cpu <= target_cpu]})" if target_cpu else ""),
        f"jieba imported by the bot server after the run: {jieba}  "
        f"(must be False: {mark[jieba is False]})",
        "bot outbox rows by status at the end: "
        + (
            ", ".join(f"{k} {v}" for k, v in sorted(bot.report.get("outbox", {}).items()))
            or "none"
        ),
        "bot write transactions (storage/batch.py): "
        + (
            "{} for {} messages, {} run again after a deadlock".format(*bot.report["batches"])
            if bot.report.get("batches")
            else "none"
        ),
        *(
            [
                "bot latency by command (p50 / p99 ms): "
                + "; ".join(
                    f"{WRITE_MIX[n][1].split(chr(10))[0]} {bot.pct_of(v, 0.5):.0f} / "
                    f"{bot.pct_of(v, 0.99):.0f}"
                    for n, v in sorted(bot.result.by_message.items())
                )
            ]
            if args.mix == "write"
            else []
        ),
        "errors / empty / wrong = failed requests / empty 200s (reply deferred to the outbox) "
        "/ sampled replies that did not decrypt to the expected text",
    ]
    return "\n".join(lines), missed


def run(args: argparse.Namespace) -> int:
    results: dict[str, list[Summary]] = {"bare": [], "bot": []}
    args.load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="liuan-bench-") as tmp:
        for round_no in range(args.rounds):
            for kind in ("bare", "bot"):
                print(f"round {round_no + 1}: {kind} …", file=sys.stderr, flush=True)
                serve = "bare-pg" if kind == "bare" and args.db == "postgresql" else kind
                try:
                    summary = bench_one(serve, Path(tmp), args, round_no)
                    summary.kind = kind
                    results[kind].append(summary)
                except (RuntimeError, TimeoutError, OSError) as exc:
                    print(f"benchmark of {kind} failed: {exc!r}", file=sys.stderr)
                    return 2
    if args.rounds > 1:
        for kind, rounds in results.items():
            rates = ", ".join(f"{s.rps:.0f}" for s in rounds)
            median = statistics.median(s.rps for s in rounds)
            print(f"{kind} req/s per round: {rates} (median {median:.0f})", file=sys.stderr)
    bare, bot = median_round(results["bare"]), median_round(results["bot"])
    table, missed = render(bare, bot, args)
    print(table)
    broken = []
    for s in [*results["bare"], *results["bot"]]:
        if s.result.errors or s.wrong_replies:
            broken.append(f"{s.kind}: {s.faults} {s.result.errors[:3]}")
        if not s.result.samples:
            print(f"note: no passive reply from {s.kind} to check", file=sys.stderr)
        if s.kind == "bot" and s.report.get("jieba_loaded") is not False:
            broken.append(f"bot: jieba imported ({s.report.get('jieba_loaded')})")
    if broken:
        print("FAILED checks: " + "; ".join(broken), file=sys.stderr)
        return 2
    if missed:
        print("targets missed: " + "; ".join(missed), file=sys.stderr)
        return 0 if args.no_fail else 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=10.0, help="max seconds per run")
    parser.add_argument("--requests", type=int, default=15000, help="max requests per run")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up requests per server")
    parser.add_argument("--concurrency", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--rounds", type=int, default=1, help="bare+bot rounds; median kept")
    parser.add_argument("--request-timeout", type=float, default=10.0, help="per request (s)")
    parser.add_argument("--startup-timeout", type=float, default=60.0, help="server start (s)")
    parser.add_argument("--sample-every", type=int, default=25, help="decrypt 1 reply in N")
    parser.add_argument("--no-fail", action="store_true", help="report only; exit 0 on a miss")
    parser.add_argument("--profile", action="store_true", help="profile the bot server")
    parser.add_argument("--mix", choices=["help", "write"], default="help", help="messages")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("LIUAN_TEST_DATABASE_URL", ""),
        help="PostgreSQL server (any database on it; default LIUAN_TEST_DATABASE_URL)",
    )
    parser.add_argument("--shipped", action="store_true", help="INFO logs, scheduler on")
    parser.add_argument(
        "--wecom",
        choices=["apart", "in-bot"],
        default="apart",
        help="the fake WeCom API the bot sends to: in a process of its own, as the real one is"
        " (default), or mounted in the bot's process (sandbox mode; its CPU counted as the bot's)",
    )
    parser.add_argument("--db-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--wecom-api", default="", help=argparse.SUPPRESS)
    parser.add_argument(
        "--serve", choices=["bot", "bare", "bare-pg", "wecom"], help=argparse.SUPPRESS
    )
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        if args.port is None or args.workdir is None:
            parser.error("--serve needs --port and --workdir")
        if args.serve == "bot":
            serve_bot(
                args.port, args.workdir, args.profile, args.db_url, args.shipped, args.wecom_api
            )
        elif args.serve == "wecom":
            serve_wecom(args.port)
        elif args.serve == "bare-pg":
            serve_bare_pg(args.port, args.db_url)
        else:
            serve_bare(args.port, args.workdir)
        return 0
    if args.db == "postgresql" and not args.pg_url:
        parser.error("--db postgresql needs --pg-url or LIUAN_TEST_DATABASE_URL")
    if min(args.requests, args.warmup, args.concurrency, args.rounds, args.sample_every) < 1:
        parser.error("--requests, --warmup, --concurrency, --rounds, --sample-every must be >= 1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
