"""In-process A/B of one write-path switch, in ONE process (issue 11 §2).

Runs the write mix of `bench/callback.py` (舆情, 突发, 申请发布会) straight into
`Inbox.accept`, as `bench/write_profile.py` does, in blocks of `--block` messages, the
switch off (A) and on (B) in alternate blocks (ABBA order), and reports the event-loop
thread's CPU a message for each. The two sides share the process, the heap, the database
file and the machine's state, so a drift of the shared host (which moves a whole run by
±15%) falls on both; `null` switches nothing and shows what is left of the noise.

Switches (B = the code as it is; A = the behaviour it replaced):
- `optimistic`: a batch first runs without savepoints (storage/batch.py); A: every unit in
  a savepoint of its own.
- `commit-thread`: SQLite's COMMIT in aiosqlite's worker thread (storage/engine.py); A: in
  the event-loop thread.
- `null`: nothing.

    .venv/bin/python bench/ab_write.py optimistic [--blocks 8] [--block 500] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _switches() -> dict[str, tuple[Callable[[], None], Callable[[], None]]]:
    """name → (as the code is, as it was)."""
    import aiosqlite

    import storage.batch as batch
    import storage.engine as engine

    optimistic = batch.WriteBatcher._run_batch

    async def careful(self: Any, jobs: Any) -> None:
        await self._run_transaction(jobs, careful=True)

    def set_batch(run: Any) -> Callable[[], None]:
        return lambda: setattr(batch.WriteBatcher, "_run_batch", run)

    threaded = engine.InlineConnection.commit

    def set_commit(commit: Any) -> Callable[[], None]:
        return lambda: setattr(engine.InlineConnection, "commit", commit)

    def nothing() -> None:
        pass

    return {
        "optimistic": (set_batch(optimistic), set_batch(careful)),
        "commit-thread": (set_commit(threaded), set_commit(aiosqlite.Connection.commit)),
        "null": (nothing, nothing),
    }


async def run(args: argparse.Namespace) -> None:
    if not args.pg_url:
        await _measure(args, "")
        return
    import asyncpg

    own = f"liuan_ab_write_{os.getpid()}"
    admin = args.pg_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{own}"')
    await conn.close()
    try:
        await _measure(args, args.pg_url.rsplit("/", 1)[0] + "/" + own)
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)')
        await conn.close()


async def _measure(args: argparse.Namespace, pg_url: str) -> None:
    from callback import WRITE_ACCEPTED, bot_environ, message_for
    from write_profile import incoming_for

    from bot import _roster_import, build_bot
    from liuan_bot.heap import settle_heap
    from liuan_bot.settings import load_settings
    from storage.engine import make_engine
    from storage.migrate import upgrade

    workdir = Path(tempfile.mkdtemp(prefix="liuan-ab-write-"))
    settings = load_settings(bot_environ(workdir, 8099, pg_url), data_dir=workdir)
    engine = make_engine(settings.database_url)
    await upgrade(engine)
    await engine.dispose()
    with contextlib.redirect_stdout(io.StringIO()):
        await _roster_import(settings, (ROOT / "config" / "demo-roster.csv").read_bytes(), False)
    switch_on, switch_off = _switches()[args.switch]
    bot = build_bot(settings, run_worker=False, run_scheduler=False)
    sent = 0

    async def block(size: int) -> float:
        nonlocal sent
        started = time.thread_time()
        for first in range(0, size, args.concurrency):
            numbers = range(sent, sent + min(args.concurrency, size - first))
            replies = await asyncio.gather(*(bot.inbox.accept(_incoming(i)) for i in numbers))
            for i, reply in zip(numbers, replies, strict=True):
                sender = message_for("write", i)[0]
                if reply is None or not reply.text.startswith(WRITE_ACCEPTED[sender]):
                    raise SystemExit(f"message {i}: not accepted: {reply!r}")
            sent += len(numbers)
        return (time.thread_time() - started) / size * 1000

    def _incoming(i: int) -> Any:
        return incoming_for(settings, "write", i)

    await block(300)  # warm-up
    settle_heap()
    off: list[float] = []
    on: list[float] = []
    for n in range(args.blocks):
        order = ((False, off), (True, on)) if n % 2 == 0 else ((True, on), (False, off))
        for enabled, into in order:
            (switch_on if enabled else switch_off)()
            into.append(await block(args.block))
    switch_on()
    a, b = statistics.median(off), statistics.median(on)
    print(
        f"{args.switch} on {'postgresql' if pg_url else 'sqlite'}: event-loop CPU a write "
        f"message, median of {args.blocks} blocks of {args.block}: "
        f"A (as it was) {a:.3f} ms, B (as it is) {b:.3f} ms, {100 * (b / a - 1):+.1f}%"
    )
    print("  A:", " ".join(f"{x:.3f}" for x in off))
    print("  B:", " ".join(f"{x:.3f}" for x in on))
    await bot.engine.dispose()
    if bot.pipeline is not None and bot.pipeline.direct is not None:
        await bot.pipeline.direct.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("switch", choices=["optimistic", "commit-thread", "null"])
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--block", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--pg-url", default="")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
