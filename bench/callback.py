"""Benchmark of the WeCom callback path: liuan-bot against a bare aiohttp + wechatpy handler.

    .venv/bin/python bench/callback.py [--requests N] [--duration S] [--concurrency C]
                                       [--warmup N] [--no-fail] [--profile]

Both servers run in their own subprocess on 127.0.0.1 (one after the other, so they never
share the CPU) and are driven by this process with 64 keep-alive connections. Every request
is a real encrypted `帮助` text message from the registered demo user, with a unique MsgId.

- bot:  the full callback path of `bot.py` — verify signature, decrypt, dedupe + store, run
        `帮助` for the sender in one transaction, encrypted passive reply.
- bare: aiohttp + wechatpy `WeChatCrypto` — verify + decrypt, parse, ONE awaited aiosqlite
        INSERT (WAL, autocommit), encrypt a fixed reply.

Reported per server: throughput, p50/p99 latency, and the server process's own CPU time per
request (utime + stime of all its threads from /proc/<pid>/stat, over the measured run).
Targets: bot throughput >= 0.60 x bare, bot p99 < 100 ms; the exit status is 1 if one is
missed (unless --no-fail) and 2 if any request failed or a reply was wrong. The bot server
also reports whether `jieba` was imported (parsing a command must not need it).

Internal entry point (used by the benchmark itself):
    python bench/callback.py --serve bot|bare --port P --workdir DIR
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
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
TARGET_RATIO = 0.60
TARGET_P99_MS = 100.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- servers (subprocesses)


def bot_environ(workdir: Path, port: int) -> dict[str, str]:
    return {
        "LIUAN_WECOM_TOKEN": TOKEN,
        "LIUAN_WECOM_AES_KEY": AES_KEY,
        "LIUAN_WECOM_CORP_ID": CORP_ID,
        "LIUAN_DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/bench.db",
        "LIUAN_REPLY_BUDGET_S": "2",
        "LIUAN_HTTP_HOST": HOST,
        "LIUAN_HTTP_PORT": str(port),  # sandbox mode: the fake WeCom API is on this server
    }


def serve_bot(port: int, workdir: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from aiohttp import web

    from bot import _roster_import, build_bot
    from liuan_bot.settings import load_settings
    from storage.engine import make_engine
    from storage.migrate import upgrade

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings(bot_environ(workdir, port), data_dir=workdir)

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
    logging.getLogger().setLevel(logging.WARNING)
    bot = build_bot(settings)
    app = bot.app()
    web.run_app(app, host=HOST, port=port, access_log=None, print=None, shutdown_timeout=5)
    report = {"jieba_loaded": "jieba" in sys.modules, "cpu": _own_cpu_s()}
    print("BENCH-REPORT " + json.dumps(report), flush=True)


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
        await request.app[db_key].execute(
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
    print("BENCH-REPORT " + json.dumps({"cpu": _own_cpu_s()}), flush=True)


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- load generator


@dataclass
class Server:
    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class LoadResult:
    requests: int = 0
    wall_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    empty_replies: int = 0
    samples: list[bytes] = field(default_factory=list)
    server_cpu_s: float = 0.0
    main_thread_cpu_s: float = 0.0
    client_cpu_s: float = 0.0


@dataclass
class Summary:
    kind: str
    result: LoadResult
    wrong_replies: int
    jieba_loaded: bool | None

    @property
    def rps(self) -> float:
        return self.result.requests / self.result.wall_s if self.result.wall_s else 0.0

    def pct(self, q: float) -> float:
        values = sorted(self.result.latencies_ms)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(q * len(values)))]

    @property
    def cpu_per_req_ms(self) -> float:
        n = self.result.requests
        return self.result.server_cpu_s * 1000 / n if n else float("nan")

    @property
    def main_cpu_per_req_ms(self) -> float:
        n = self.result.requests
        return self.result.main_thread_cpu_s * 1000 / n if n else float("nan")


def proc_cpu_s(pid: int, tid: int | None = None) -> float:
    """utime + stime of process `pid` (all its threads), or of its thread `tid`, in seconds."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    with open(path, encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_server(kind: str, workdir: Path) -> Server:
    port = free_port()
    serverdir = workdir / kind
    serverdir.mkdir()
    log_path = workdir / f"{kind}.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", kind]
    command += ["--port", str(port), "--workdir", str(serverdir)]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return Server(kind, port, process, log_path)


def stop_server(server: Server, timeout_s: float = 20.0) -> dict[str, Any]:
    """SIGINT (aiohttp's graceful exit), then SIGKILL; the server's final report, if any."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(5)
    for line in server.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("BENCH-REPORT "):
            report: dict[str, Any] = json.loads(line.removeprefix("BENCH-REPORT "))
            return report
    return {}


def server_log_tail(server: Server, lines: int = 30) -> str:
    text = server.log_path.read_text(encoding="utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def build_requests(port: int, count: int, first_msg_id: int) -> list[tuple[Any, bytes]]:
    """Signed, encrypted `帮助` callbacks, each with its own MsgId (built before the clock)."""
    from urllib.parse import urlencode

    from yarl import URL

    sys.path.insert(0, str(ROOT))
    from liuan_bot.wecom.simulate import CallbackSigner, text_message_xml

    signer = CallbackSigner(TOKEN, AES_KEY, CORP_ID)
    stamp = int(datetime.now(UTC).timestamp())
    built = []
    for i in range(count):
        plaintext = text_message_xml(
            corp_id=CORP_ID,
            from_user=USER,
            content=COMMAND,
            msg_id=str(first_msg_id + i),
            create_time=stamp,
            agent_id=AGENT_ID,
        )
        signed = signer.sign(plaintext, timestamp=stamp)
        url = URL(f"http://{HOST}:{port}{CALLBACK}?{urlencode(signed.query)}", encoded=True)
        built.append((url, signed.body))
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
    requests: Sequence[tuple[Any, bytes]],
    *,
    concurrency: int,
    duration_s: float,
    request_timeout_s: float,
    sample_every: int,
) -> LoadResult:
    """Send `requests` over `concurrency` keep-alive connections; stop early at `duration_s`."""
    import aiohttp

    result = LoadResult()
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    pending = iter(range(len(requests)))
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=request_timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        deadline = start + duration_s

        async def worker() -> None:
            for i in pending:
                if time.perf_counter() > deadline:
                    return
                url, body = requests[i]
                sent = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        payload = await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    result.errors.append(f"request {i}: {type(exc).__name__}: {exc}")
                    continue
                result.latencies_ms.append((time.perf_counter() - sent) * 1000)
                result.requests += 1
                if status != 200:
                    result.errors.append(f"request {i}: HTTP {status} {payload[:80]!r}")
                elif not payload:
                    result.empty_replies += 1  # the reply went to the outbox (budget passed)
                elif i % sample_every == 0:
                    result.samples.append(payload)

        pid = server.process.pid
        cpu_before, main_before = proc_cpu_s(pid), proc_cpu_s(pid, pid)
        client_before = _own_cpu_s()
        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(concurrency))),
            timeout=duration_s + request_timeout_s + 10,
        )
        result.wall_s = time.perf_counter() - start
        result.client_cpu_s = _own_cpu_s() - client_before
        result.server_cpu_s = proc_cpu_s(pid) - cpu_before
        result.main_thread_cpu_s = proc_cpu_s(pid, pid) - main_before
    return result


def check_samples(kind: str, samples: list[bytes]) -> int:
    """Decrypt sampled passive replies; the number that do not say what they should."""
    sys.path.insert(0, str(ROOT))
    from liuan_bot.wecom.simulate import CallbackSigner

    signer = CallbackSigner(TOKEN, AES_KEY, CORP_ID)
    marker = HELP_MARKER if kind == "bot" else BARE_REPLY
    wrong = 0
    for payload in samples:
        try:
            fields = signer.open_reply(payload)
        except Exception:
            wrong += 1
            continue
        if marker not in fields.get("Content", "") or fields.get("ToUserName") != USER:
            wrong += 1
    return wrong


def bench_one(kind: str, workdir: Path, args: argparse.Namespace) -> Summary:
    server = start_server(kind, workdir)
    profile_out = workdir / f"{kind}.pyspy" if args.profile and kind == "bot" else None
    spy: subprocess.Popen[bytes] | None = None
    try:
        asyncio.run(wait_ready(server, args.startup_timeout))
        first = 10**12 + (1 if kind == "bot" else 2) * 10**9
        warm = build_requests(server.port, args.warmup, first)
        measured = build_requests(server.port, args.requests, first + args.warmup)
        options = {
            "concurrency": args.concurrency,
            "request_timeout_s": args.request_timeout,
            "sample_every": args.sample_every,
        }
        warm_result = asyncio.run(drive(server, warm, duration_s=args.duration, **options))
        if warm_result.errors:
            raise RuntimeError(f"{kind} warm-up failed: {warm_result.errors[:3]}")
        if profile_out is not None:
            spy = start_py_spy(server.process.pid, profile_out)
        result = asyncio.run(drive(server, measured, duration_s=args.duration, **options))
    finally:
        if spy is not None:
            stop_process(spy)
        report = stop_server(server)
    if server.process.returncode not in (0, None) and not report:
        print(f"warning: {kind} server exited {server.process.returncode}:", file=sys.stderr)
        print(server_log_tail(server), file=sys.stderr)
    wrong = check_samples(kind, result.samples)
    if profile_out is not None:
        print_profile(profile_out)
    jieba = report.get("jieba_loaded") if kind == "bot" else None
    return Summary(kind, result, wrong, None if jieba is None else bool(jieba))


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    command = [str(exe), "record", "--pid", str(pid), "--format", "raw", "--rate", "250"]
    command += ["--nonblocking", "--output", str(out)]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # let it attach before the measured run starts
    return spy


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def print_profile(path: Path, top: int = 25) -> None:
    """Summarise py-spy's collapsed stacks: self and inclusive share of the (non-idle) samples."""
    if not path.exists():
        print("py-spy wrote no profile (could not attach?)", file=sys.stderr)
        return
    total = 0
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    packages: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";")[1:]]  # [0] is the process
        if not frames:
            continue
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for name in set(frames):
            inclusive[name] = inclusive.get(name, 0) + count
        package = _package(stack.split(";")[-1])
        packages[package] = packages.get(package, 0) + count
    print(f"\n---- bot server, py-spy: {total} non-idle samples over the measured run ----")
    for title, table in (
        ("self time by package (leaf frame)", packages),
        ("self time by function", own),
        ("inclusive time by function", inclusive),
    ):
        print(f"\n{title}:")
        for name, count in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {100 * count / max(total, 1):5.1f}%  {name}")


def _frame_name(frame: str) -> str:
    """`func (path/to/file.py:123)` → `func (path/to/file.py)`."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def _package(frame: str) -> str:
    where = frame.partition(" (")[2].rsplit(":", 1)[0]
    parts = where.split("/")
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1]
    if parts and parts[0] in {"liuan_bot", "handlers", "storage", "bot.py"}:
        return parts[0]
    return parts[0] if len(parts) > 1 else (where or frame)


def render(summaries: dict[str, Summary], args: argparse.Namespace) -> tuple[str, list[str]]:
    bare, bot = summaries["bare"], summaries["bot"]
    rows = [
        ("requests measured", lambda s: f"{s.result.requests}"),
        ("throughput (req/s)", lambda s: f"{s.rps:.0f}"),
        ("p50 latency (ms)", lambda s: f"{s.pct(0.50):.1f}"),
        ("p99 latency (ms)", lambda s: f"{s.pct(0.99):.1f}"),
        ("server CPU / request (ms)", lambda s: f"{s.cpu_per_req_ms:.2f}"),
        ("  of it, event-loop thread", lambda s: f"{s.main_cpu_per_req_ms:.2f}"),
        ("server CPU use (cores)", lambda s: f"{s.result.server_cpu_s / s.result.wall_s:.2f}"),
        ("client CPU use (cores)", lambda s: f"{s.result.client_cpu_s / s.result.wall_s:.2f}"),
        ("errors / empty / wrong", lambda s: _faults(s)),
    ]
    lines = [
        f"liuan-bot callback benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"{args.concurrency} connections, {args.warmup} warm-up requests",
        "",
        f"| {'':27} | {'bare':>9} | {'bot':>9} |",
        f"|{'-' * 29}|{'-' * 10}:|{'-' * 10}:|",
    ]
    for label, cell in rows:
        lines.append(f"| {label:27} | {cell(bare):>9} | {cell(bot):>9} |")
    ratio = bot.rps / bare.rps if bare.rps else 0.0
    p99 = bot.pct(0.99)
    missed = []
    if ratio < TARGET_RATIO:
        missed.append(f"throughput ratio {ratio:.2f} < {TARGET_RATIO:.2f}")
    if not p99 < TARGET_P99_MS:
        missed.append(f"bot p99 {p99:.1f} ms >= {TARGET_P99_MS:.0f} ms")
    mark = {True: "ok", False: "MISSED"}
    lines += [
        "",
        f"bot / bare throughput: {ratio:.2f}  (target >= {TARGET_RATIO:.2f}: "
        f"{mark[ratio >= TARGET_RATIO]})",
        f"bot p99 latency: {p99:.1f} ms  (target < {TARGET_P99_MS:.0f} ms: "
        f"{mark[p99 < TARGET_P99_MS]})",
        f"jieba imported by the bot server after the run: {bot.jieba_loaded}  "
        f"(must be False: {mark[bot.jieba_loaded is False]})",
    ]
    return "\n".join(lines), missed


def _faults(s: Summary) -> str:
    return f"{len(s.result.errors)}/{s.result.empty_replies}/{s.wrong_replies}"


def run(args: argparse.Namespace) -> int:
    summaries: dict[str, Summary] = {}
    with tempfile.TemporaryDirectory(prefix="liuan-bench-") as tmp:
        for kind in ("bare", "bot"):
            print(f"benchmarking {kind} …", file=sys.stderr, flush=True)
            summaries[kind] = bench_one(kind, Path(tmp), args)
    table, missed = render(summaries, args)
    print(table)
    broken = []
    for s in summaries.values():
        if s.result.errors or s.result.empty_replies or s.wrong_replies or not s.result.samples:
            broken.append(f"{s.kind}: {_faults(s)} {s.result.errors[:3]}")
    if summaries["bot"].jieba_loaded is not False:
        broken.append(f"bot: jieba imported ({summaries['bot'].jieba_loaded})")
    if broken:
        print("FAILED checks: " + "; ".join(broken), file=sys.stderr)
        return 2
    if missed:
        print("targets missed: " + "; ".join(missed), file=sys.stderr)
        return 0 if args.no_fail else 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=4000, help="measured requests/server")
    parser.add_argument("--duration", type=float, default=30.0, help="cap on a run (s)")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up requests/server")
    parser.add_argument("--concurrency", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--request-timeout", type=float, default=10.0, help="per request (s)")
    parser.add_argument("--startup-timeout", type=float, default=60.0, help="server start (s)")
    parser.add_argument("--sample-every", type=int, default=25, help="decrypt 1 reply in N")
    parser.add_argument("--no-fail", action="store_true", help="report only; exit 0 on a miss")
    parser.add_argument(
        "--profile", action="store_true", help="sample the bot server with py-spy (measured run)"
    )
    parser.add_argument("--serve", choices=["bot", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        if args.port is None or args.workdir is None:
            parser.error("--serve needs --port and --workdir")
        if args.serve == "bot":
            serve_bot(args.port, args.workdir)
        else:
            serve_bare(args.port, args.workdir)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
