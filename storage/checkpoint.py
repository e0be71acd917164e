"""SQLite's WAL checkpoints, off the event loop (issue 11 §2).

In WAL mode a commit appends the pages it changed to the write-ahead log; a checkpoint copies
them back into the database file and syncs it. By default the connection whose commit takes the
log past 1,000 pages does that itself, inside its commit. The pipeline's connections commit in
the event-loop thread (`storage.engine.InlineConnection`, `storage.inbox_store.SqliteDirect`),
so every callback waited while one of them copied and synced: up to 9.6 ms on the bench
host's disk, longer on a slower one. (Over HTTP it made no measurable difference to CPU or
throughput there: bench/README.md, stop 21.)

Those connections leave checkpoints to this one (`PRAGMA wal_autocheckpoint=0` on them): every
`every` commits it runs a PASSIVE checkpoint on a connection of its own, in a thread of its own,
where sqlite3 releases the GIL while SQLite copies and syncs. PASSIVE never waits for, nor
blocks, a reader or a writer: frames a reader still needs are copied by a later checkpoint.
A checkpoint that fails is logged and tried again after the next `every` commits; on close,
the log is checkpointed once more (SQLite's last connection to close would do it as well).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from storage.engine import sqlite_file

log = logging.getLogger(__name__)

EVERY_COMMITS = 100


class WalCheckpointer:
    """Checkpoints the WAL of the SQLite database at `database` in a thread, every `every`
    commits it is told of (`committed`, called in the event-loop thread)."""

    def __init__(self, database: Path, every: int = EVERY_COMMITS) -> None:
        self.database = database
        self.every = every
        self._commits = 0
        self._running: asyncio.Future[tuple[int, int, int]] | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self.checkpoints = 0  # checkpoints that ran to the end (for tests and the bench)

    @classmethod
    def for_url(cls, url: str) -> WalCheckpointer | None:
        """Only for a file-backed SQLite database."""
        database = sqlite_file(url)
        return None if database is None else cls(database)

    def committed(self) -> None:
        """One more commit on a connection whose checkpoints are left to this one."""
        self._commits += 1
        if self._commits < self.every or self._running is not None:
            return
        self._commits = 0
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="liuan-checkpoint")
        running = asyncio.get_running_loop().run_in_executor(self._thread, self._checkpoint)
        running.add_done_callback(self._done)
        self._running = running

    def _checkpoint(self) -> tuple[int, int, int]:
        """(busy, frames in the log, frames checkpointed), as SQLite reports them."""
        if self._conn is None:
            self._conn = sqlite3.connect(self.database, isolation_level=None)
        busy, frames, done = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(busy), int(frames), int(done)

    def _done(self, running: asyncio.Future[tuple[int, int, int]]) -> None:
        self._running = None
        if running.cancelled():
            return
        exc = running.exception()
        if exc is not None:
            log.warning("SQLite checkpoint failed (tried again later): %s", exc)
            return
        self.checkpoints += 1

    async def wait(self) -> None:
        """Until the checkpoint under way, if any, has ended."""
        running = self._running
        if running is not None:
            await asyncio.gather(running, return_exceptions=True)

    async def close(self) -> None:
        await self.wait()
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(thread, self._checkpoint)
        except sqlite3.Error as exc:
            log.warning("SQLite checkpoint at close failed: %s", exc)
        conn, self._conn = self._conn, None
        if conn is not None:
            await loop.run_in_executor(thread, conn.close)
        thread.shutdown(wait=True)
