"""In-process cost of one write message (issue 11 §2), without HTTP and crypto.

Builds the real bot (`bot.build_bot`) on a temporary SQLite database (or PostgreSQL with
`--pg-url`), imports the demo roster, then feeds the write mix of `bench/callback.py` (舆情,
突发, 申请发布会) straight into `Inbox.accept`, one message at a time, and reports per message:
process CPU time, SQL statements (a `before_cursor_execute` listener) and, with `--profile`,
a pyinstrument profile of the measured messages. With `--with-worker` the outbox worker runs
beside the pipeline and delivers the messages' notifications to the sandbox WeCom API served on
port 8099, as the bot server of `bench/callback.py` does; its CPU is counted too.

    .venv/bin/python bench/write_profile.py [--messages 300] [--profile] [--pg-url URL]
                                            [--with-worker]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
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
    from callback import bot_environ, message_for
    from sqlalchemy import event

    from bot import _roster_import, build_bot
    from liuan_bot.settings import load_settings
    from liuan_bot.wecom.inbound import parse_incoming
    from liuan_bot.wecom.simulate import text_message_xml
    from storage.engine import make_engine
    from storage.migrate import upgrade

    workdir = Path(tempfile.mkdtemp(prefix="liuan-write-profile-"))
    settings = load_settings(bot_environ(workdir, PORT, args.pg_url or ""), data_dir=workdir)
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

    event.listen(bot.engine.sync_engine, "before_cursor_execute", count)

    def incoming(i: int) -> Any:
        user, content = message_for("write", i)
        xml = text_message_xml(
            corp_id=settings.corp_id,
            from_user=user,
            content=content,
            msg_id=str(9_000_000 + i),
            create_time=1_764_640_000 + i,
            agent_id=settings.agent_id,
        )
        return parse_incoming(xml)

    for i in range(args.warmup):
        await bot.inbox.accept(incoming(i))
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002, async_mode="disabled")
        profiler.start()
    counting[0] = True
    per_kind: dict[int, list[float]] = {0: [], 1: [], 2: []}
    start_cpu = time.process_time()
    for i in range(args.warmup, args.warmup + args.messages):
        before = time.process_time()
        reply = await bot.inbox.accept(incoming(i))
        per_kind[i % 3].append(time.process_time() - before)
        if reply is None or not reply.text:
            raise SystemExit(f"message {i}: no passive reply")
    if args.with_worker:
        await asyncio.sleep(0.5)  # the last messages' deliveries are part of their cost
    total = time.process_time() - start_cpu
    counting[0] = False
    if profiler is not None:
        profiler.stop()
    n = args.messages
    names = ("舆情", "突发", "申请发布会")
    print(f"database: {'postgresql' if args.pg_url else 'sqlite'}; {n} messages")
    print(f"CPU per message: {total / n * 1000:.2f} ms (process, all threads)")
    for k, times in per_kind.items():
        times.sort()
        print(f"  {names[k]}: median {times[len(times) // 2] * 1000:.2f} ms")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
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
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
