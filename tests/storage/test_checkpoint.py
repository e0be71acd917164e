"""SQLite's WAL checkpoints run in a thread of their own, not inside a commit on the event
loop (issue 11 §2, storage/checkpoint.py)."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from liuan_bot.messages import Incoming
from storage.checkpoint import WalCheckpointer
from storage.engine import make_engine, make_session_factory, transaction
from storage.inbox_store import SqliteDirect
from storage.migrate import upgrade
from storage.records import next_record_id

NOW = datetime.fromisoformat("2026-12-02T09:00:00+08:00")


def _path(sqlite_url: str) -> Path:
    database = make_url(sqlite_url).database
    assert database is not None
    return Path(database)


def _in_the_file_alone(path: Path, tmp_path: Path) -> list[tuple[str, int]]:
    """The record counters in the database file itself, without its WAL: what checkpoints
    have copied there (a copy of the file is read, so nothing is checkpointed by looking)."""
    alone = tmp_path / "alone.db"
    shutil.copyfile(path, alone)
    with sqlite3.connect(alone) as conn:
        return list(conn.execute("SELECT prefix, last FROM record_counters ORDER BY prefix"))


async def test_an_engine_given_a_checkpointer_leaves_checkpoints_to_it(sqlite_url: str) -> None:
    checkpointer = WalCheckpointer(_path(sqlite_url), every=5)
    engine = make_engine(sqlite_url, checkpointer=checkpointer)
    plain = make_engine(sqlite_url)
    try:
        await upgrade(plain)
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one() == 0
        async with plain.connect() as conn:  # no checkpointer: SQLite's own, in the commit
            assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one() == 1000
        before = checkpointer.checkpoints
        assert before == 0
        sessions = make_session_factory(engine)
        for _ in range(4):
            async with transaction(sessions) as session:
                await next_record_id(session, "SQ", 2026)
        await checkpointer.wait()
        assert checkpointer.checkpoints == before  # not yet: every 5 commits
        async with transaction(sessions) as session:
            await next_record_id(session, "SQ", 2026)
        await checkpointer.wait()
        assert checkpointer.checkpoints == before + 1
    finally:
        await plain.dispose()
        await engine.dispose()
        await checkpointer.close()


async def test_the_direct_store_tells_the_checkpointer_of_each_group(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    await upgrade(engine)
    await engine.dispose()
    checkpointer = WalCheckpointer(_path(sqlite_url), every=1)
    direct = SqliteDirect(_path(sqlite_url), checkpointer=checkpointer)
    try:
        assert direct.pragma("wal_autocheckpoint") == 0
        stored = await direct.store_handled_at(
            Incoming("text", "demo", "wwtest", 1, msg_id="1", content="帮助"),
            NOW,
            NOW,
            status="handled",
            reply_text="好",
            reply_route="passive",
            roster_version=0,
        )
        assert stored is not None
        await checkpointer.wait()
        assert checkpointer.checkpoints == 1
    finally:
        await direct.close()
        await checkpointer.close()


class _Witness:
    """A checkpointer that, when told of a commit, reads what another connection sees."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: list[list[tuple[str, int]]] = []

    def committed(self) -> None:
        conn = sqlite3.connect(self.path)
        try:
            self.seen.append(conn.execute("SELECT prefix, last FROM record_counters").fetchall())
        finally:
            conn.close()


async def test_the_checkpointer_is_told_of_a_commit_once_it_is_written(sqlite_url: str) -> None:
    """A checkpoint started before the commit is written would leave that commit in the log
    (the commit runs in aiosqlite's thread): told only after it, every reading has it."""
    path = _path(sqlite_url)
    plain = make_engine(sqlite_url)
    await upgrade(plain)
    await plain.dispose()
    witness = _Witness(path)
    engine = make_engine(sqlite_url, checkpointer=witness)  # type: ignore[arg-type]
    sessions = make_session_factory(engine)
    try:
        for prefix in ("SQ", "TF"):
            async with transaction(sessions) as session:
                await next_record_id(session, prefix, 2026)
    finally:
        await engine.dispose()
    assert witness.seen == [[("SQ", 1)], [("SQ", 1), ("TF", 1)]]


async def test_a_checkpoint_copies_the_log_into_the_database_file(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = _path(sqlite_url)
    plain = make_engine(sqlite_url)
    await upgrade(plain)
    await plain.dispose()  # the last connection closed: the log is in the file
    checkpointer = WalCheckpointer(path, every=3)
    engine = make_engine(sqlite_url, checkpointer=checkpointer)
    sessions = make_session_factory(engine)
    try:
        for prefix in ("SQ", "TF"):
            async with transaction(sessions) as session:
                await next_record_id(session, prefix, 2026)
        assert _in_the_file_alone(path, tmp_path) == []  # in the log only
        async with transaction(sessions) as session:
            await next_record_id(session, "SQ", 2026)
        await checkpointer.wait()  # the third commit: a checkpoint
        assert _in_the_file_alone(path, tmp_path) == [("SQ", 2), ("TF", 1)]
        async with transaction(sessions) as session:
            await next_record_id(session, "TF", 2026)
        assert _in_the_file_alone(path, tmp_path) == [("SQ", 2), ("TF", 1)]
        await checkpointer.close()  # closing checkpoints what is left
        assert _in_the_file_alone(path, tmp_path) == [("SQ", 2), ("TF", 2)]
    finally:
        await engine.dispose()
        await checkpointer.close()


async def test_a_failing_checkpoint_is_logged_and_tried_again_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpointer = WalCheckpointer(tmp_path / "missing" / "bot.db", every=2)  # cannot open
    try:
        with caplog.at_level(logging.WARNING, logger="storage.checkpoint"):
            for _ in range(2):
                checkpointer.committed()
            await checkpointer.wait()
        assert checkpointer.checkpoints == 0
        assert "SQLite checkpoint failed" in caplog.text
        (tmp_path / "missing").mkdir()  # now it can
        for _ in range(2):
            checkpointer.committed()
        await checkpointer.wait()
        assert checkpointer.checkpoints == 1
    finally:
        await checkpointer.close()


def test_the_checkpointer_is_for_a_sqlite_file_only() -> None:
    assert WalCheckpointer.for_url("sqlite+aiosqlite:///:memory:") is None
    assert WalCheckpointer.for_url("postgresql+asyncpg://u@h/db") is None
    found = WalCheckpointer.for_url("sqlite+aiosqlite:////tmp/x/bot.db")
    assert found is not None
    assert found.database == Path("/tmp/x/bot.db")
