"""In-process cost of one write message (issue 11 §2), without HTTP and crypto.

Builds the real bot (`bot.build_bot`) on a temporary SQLite database (or PostgreSQL with
`--pg-url`), imports the demo roster, then feeds the write mix of `bench/callback.py` (舆情,
突发, 申请发布会) straight into `Inbox.accept`, one message at a time, and reports per message:
process CPU time; with `--pg-url`, the PostgreSQL backends' CPU time (/proc/<pid>/stat) and the
same time charged to what each backend served (pre-ping, BEGIN, each statement, COMMIT:
/proc/<pid>/schedstat read around every call); SQL statements (a `before_cursor_execute`
listener) and, with `--profile`, a pyinstrument profile of the measured messages. With
`--with-worker` the outbox worker runs beside the pipeline and delivers the messages'
notifications to the sandbox WeCom API served on port 8099, as the bot server of
`bench/callback.py` does; its CPU is counted too. `--mix help` feeds 帮助 from the demo user
instead: the read-only path, measured the same way.

    .venv/bin/python bench/write_profile.py [--messages 300] [--profile] [--pg-url URL]
                                            [--with-worker] [--concurrency C] [--mix help]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


PORT = 8099


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="liuan-write-profile-"))
    pg_url = ""
    if args.pg_url:  # a database of its own, dropped at the end (the message ids repeat)
        own = f"liuan_write_profile_{os.getpid()}"
        await _pg_admin(args.pg_url, f'CREATE DATABASE "{own}"')
        pg_url = args.pg_url.rsplit("/", 1)[0] + "/" + own
    try:
        await _profile(args, workdir, pg_url)
    finally:
        if pg_url:
            await _pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)')


async def _pg_admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _profile(args: argparse.Namespace, workdir: Path, pg_url: str) -> None:
    from callback import (
        HELP_MARKER,
        WRITE_ACCEPTED,
        bot_environ,
        message_for,
        pg_backends_cpu_s,
    )
    from sqlalchemy import event

    from bot import _roster_import, build_bot
    from liuan_bot.heap import settle_heap
    from liuan_bot.settings import load_settings
    from storage.engine import make_engine
    from storage.migrate import upgrade

    settings = load_settings(bot_environ(workdir, PORT, pg_url), data_dir=workdir)
    engine = make_engine(settings.database_url)
    await upgrade(engine)
    await engine.dispose()
    with contextlib.redirect_stdout(io.StringIO()):
        await _roster_import(settings, (ROOT / "config" / "demo-roster.csv").read_bytes(), False)
    bot = build_bot(settings, run_worker=args.with_worker, run_scheduler=False)
    runner = None
    if args.with_worker:  # the outbox worker delivers to the sandbox API served on the port
        from aiohttp import web

        runner = web.AppRunner(bot.app(), access_log=None)
        await runner.setup()  # starts the bot (its worker) through the app's lifecycle
        await web.TCPSite(runner, "127.0.0.1", PORT).start()
    statements: Counter[str] = Counter()
    counting = [False]

    def count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if counting[0]:
            statements[" ".join(statement.split())[:90]] += 1

    if args.count:  # a statement listener takes SQLAlchemy's slower, observed paths
        event.listen(bot.engine.sync_engine, "before_cursor_execute", count)
    backend_cpu: Counter[str] = Counter()  # PostgreSQL backend CPU (ns) by what it served
    backend_calls: Counter[str] = Counter()
    if pg_url and args.count:  # listeners too: --no-count leaves them out
        _attribute_backend_cpu(bot.engine, counting, backend_cpu, backend_calls)

    def incoming(i: int) -> Any:
        return incoming_for(settings, args.mix, i)

    for i in range(args.warmup):
        await bot.inbox.accept(incoming(i))
    settle_heap()  # as the server does once started (liuan_bot.app.run_guarded)
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002, async_mode="disabled")
        profiler.start()
    counting[0] = True
    per_kind: dict[int, list[float]] = {0: [], 1: [], 2: []}
    database = settings.database_url.rsplit("/", 1)[-1].split("?")[0] if pg_url else ""
    db_before = pg_backends_cpu_s(database)
    start_cpu = time.process_time()
    start_loop = time.thread_time()
    first, step = args.warmup, max(1, args.concurrency)
    for start in range(first, first + args.messages, step):
        numbers = range(start, min(start + step, first + args.messages))
        before = time.process_time()
        replies = await asyncio.gather(*(bot.inbox.accept(incoming(i)) for i in numbers))
        spent = (time.process_time() - before) / len(numbers)
        for i, reply in zip(numbers, replies, strict=True):
            per_kind[i % 3].append(spent)
            if reply is None or not reply.text:
                raise SystemExit(f"message {i}: no passive reply")
            if args.mix == "help":
                accepted = HELP_MARKER in reply.text
            else:
                accepted = reply.text.startswith(WRITE_ACCEPTED[message_for("write", i)[0]])
            if not accepted:
                raise SystemExit(f"message {i}: not accepted: {reply.text[:120]!r}")
    if args.with_worker:
        await asyncio.sleep(0.5)  # the last messages' deliveries are part of their cost
    total = time.process_time() - start_cpu
    loop = time.thread_time() - start_loop
    db_after = pg_backends_cpu_s(database)
    db_cpu = sum(cpu - db_before.get(pid, 0.0) for pid, cpu in db_after.items())
    counting[0] = False
    if profiler is not None:
        profiler.stop()
    n = args.messages
    names = ("舆情", "突发", "申请发布会")
    print(f"database: {'postgresql' if pg_url else 'sqlite'}; {n} messages ({args.mix})")
    print(f"CPU per message: {total / n * 1000:.2f} ms (process, all threads)")
    print(f"  event-loop thread: {loop / n * 1000:.3f} ms")
    for k, times in per_kind.items() if args.mix == "write" else ():
        times.sort()
        print(f"  {names[k]}: median {times[len(times) // 2] * 1000:.2f} ms")
    attributed = sum(backend_cpu.values())
    if database:
        print(f"PostgreSQL backend CPU per message: {db_cpu / n * 1000:.2f} ms (/proc/<pid>/stat)")
    if attributed:
        print(
            f"  by what the backend served (/proc/<pid>/schedstat around each call): "
            f"{attributed / n / 1e6:.2f} ms"
        )
        for label, ns in backend_cpu.most_common(args.top):
            print(f"  {ns / n / 1e3:7.1f} us  {backend_calls[label] / n:5.2f}x  {label}")
    print(f"SQL statements per message: {sum(statements.values()) / n:.1f}")
    for text, c in statements.most_common(args.top):
        print(f"  {c / n:5.2f}  {text}")
    if profiler is not None:
        text = profiler.output_text(unicode=True, color=False, show_all=False)
        await asyncio.to_thread(Path(args.profile_out).write_text, text)
        print(f"profile: {args.profile_out}")
    if runner is not None:
        await runner.cleanup()
    await bot.engine.dispose()
    if bot.pipeline is not None and bot.pipeline.direct is not None:
        await bot.pipeline.direct.close()


def incoming_for(settings: Any, mix: str, i: int) -> Any:
    """The i-th message of a mix of `bench/callback.py`, as the callback parses it."""
    from callback import message_for

    from liuan_bot.wecom.inbound import parse_incoming
    from liuan_bot.wecom.simulate import text_message_xml

    user, content = message_for(mix, i)
    xml = text_message_xml(
        corp_id=settings.corp_id,
        from_user=user,
        content=content,
        msg_id=str(9_000_000 + i),
        create_time=1_764_640_000 + i,
        agent_id=settings.agent_id,
    )
    return parse_incoming(xml)


def _schedstat_ns(pid: int) -> int:
    """CPU time (ns) of process `pid` so far: the first field of /proc/<pid>/schedstat."""
    with open(f"/proc/{pid}/schedstat", encoding="ascii") as stat:
        return int(stat.read().split()[0])


def _attribute_backend_cpu(
    engine: Any, counting: list[bool], spent: Counter[str], calls: Counter[str]
) -> None:
    """Charge each PostgreSQL backend's CPU time to what it was serving: pool pre-ping, BEGIN,
    each statement (parse, bind, execute), COMMIT, ROLLBACK; the write path runs one message
    at a time, so the backend did nothing else between two readings."""
    from sqlalchemy import event
    from sqlalchemy.dialects.postgresql import asyncpg as pg

    adapter = pg.AsyncAdapt_asyncpg_connection
    last: dict[int, tuple[int, str]] = {}

    def mark(pid: int, label: str, *, resumed: bool = False) -> None:
        now = _schedstat_ns(pid)
        before, current = last.get(pid, (now, "idle"))
        if counting[0]:
            spent[current] += now - before
            if label != "idle" and not resumed:
                calls[label] += 1
        last[pid] = (now, label)

    def pid_of(adapted: Any) -> int:
        return int(adapted._connection.get_server_pid())

    def wrap_sync(name: str, label: str) -> None:
        original = getattr(adapter, name)

        def wrapped(self: Any, *a: Any, **kw: Any) -> Any:
            pid = pid_of(self)
            mark(pid, label)
            try:
                return original(self, *a, **kw)
            finally:
                mark(pid, "idle")

        setattr(adapter, name, wrapped)

    def wrap_async(name: str, label: str) -> None:
        original = getattr(adapter, name)

        async def wrapped(self: Any, *a: Any, **kw: Any) -> Any:
            pid = pid_of(self)
            previous = last.get(pid, (0, "idle"))[1]
            mark(pid, label)
            try:
                return await original(self, *a, **kw)
            finally:
                mark(pid, previous, resumed=True)

        setattr(adapter, name, wrapped)

    # pre-ping: SQLAlchemy's pool_pre_ping (BEGIN; ";"; ROLLBACK) or storage.engine's
    # checkout listener (";"), which the two checkout listeners below bracket
    wrap_sync("ping", "pool pre-ping (BEGIN; ; ROLLBACK)")
    event.listen(
        engine.sync_engine.pool,
        "checkout",
        lambda dbapi, _r, _p: mark(pid_of(dbapi), "pool pre-ping on checkout"),
        insert=True,
    )
    event.listen(
        engine.sync_engine.pool, "checkout", lambda dbapi, _r, _p: mark(pid_of(dbapi), "idle")
    )
    wrap_sync("commit", "COMMIT (WAL flush)")
    wrap_sync("rollback", "ROLLBACK")
    wrap_async("_start_transaction", "BEGIN")

    def before(conn: Any, _cur: Any, statement: str, *_a: Any) -> None:
        mark(pid_of(conn.connection.dbapi_connection), " ".join(statement.split())[:80])

    def after(conn: Any, *_a: Any) -> None:
        mark(pid_of(conn.connection.dbapi_connection), "idle")

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument(
        "--mix",
        choices=("write", "help"),
        default="write",
        help="the write mix (default), or 帮助 from the demo user: the read-only path",
    )
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-out", default="/tmp/write_profile.txt")
    parser.add_argument("--pg-url", default="")
    parser.add_argument(
        "--with-worker",
        action="store_true",
        help="run the outbox worker too, delivering to the sandbox API on port 8099",
    )
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="messages handed to the inbox at once (they share write transactions, as under "
        "load; the per-command medians are then the group's mean)",
    )
    parser.add_argument(
        "--count",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="count SQL statements (--no-count: the CPU figure without the listener)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
