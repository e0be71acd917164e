"""The PostgreSQL pool's pre-ping (storage.engine._ping_on_checkout, issue 8 and issue 11 §2):
one round trip per checkout, and a pooled connection whose backend was terminated is replaced
before use, so the next transaction succeeds instead of failing the message that drew it."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text

from storage.engine import make_engine

pytestmark = pytest.mark.postgres


async def _rollbacks(url: str) -> int:
    """Transactions rolled back in the database so far (a bare asyncpg connection in
    autocommit: it adds none of its own)."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        value = await conn.fetchval(
            "SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(value or 0)
    finally:
        await conn.close()


async def test_terminated_backend_is_replaced_on_checkout(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    engine = make_engine(database_url)
    killer = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            old_pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        # the connection is back in the pool, idle; its backend is terminated under it
        async with killer.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            assert await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": old_pid})
        for _ in range(3):  # every checkout after the kill works, on a new backend
            async with engine.begin() as conn:
                new_pid = await conn.scalar(text("SELECT pg_backend_pid()"))
                assert await conn.scalar(text("SELECT 1")) == 1
            assert new_pid != old_pid
    finally:
        await engine.dispose()
        await killer.dispose()


async def test_pre_ping_is_one_round_trip_without_a_transaction(database_url: str) -> None:
    """SQLAlchemy's pool_pre_ping on asyncpg is BEGIN; ";"; ROLLBACK (a rolled-back
    transaction per checkout); ours is ";" alone."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:  # the pool's one connection, opened
            await conn.scalar(text("SELECT 1"))
        await engine.dispose()  # a backend's statistics are flushed when it exits
        await asyncio.sleep(0.5)
        before = await _rollbacks(database_url)
        for _ in range(20):
            async with engine.begin() as conn:
                await conn.scalar(text("SELECT 1"))
        await engine.dispose()
        after = before
        for _ in range(10):  # the exiting backend reports its counts within moments
            await asyncio.sleep(0.2)
            after = await _rollbacks(database_url)
        assert after - before < 5  # 20 with BEGIN; ";"; ROLLBACK
    finally:
        await engine.dispose()
