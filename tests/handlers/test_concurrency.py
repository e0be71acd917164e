"""200 concurrent filings from different users: distinct ids, nothing lost (issue 3).

Runs over real encrypted callbacks on SQLite and, when configured, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from sqlmodel import col, select

from liuan_bot.clock import FixedClock
from liuan_bot.domain.roles import Role
from liuan_bot.domain.roster import RosterRow, UnitType
from liuan_bot.wecom.fake_server import FakeWeCom
from storage.engine import make_engine, make_session_factory, transaction
from storage.migrate import upgrade
from storage.roster_store import import_roster
from storage.tables import Conference, InboundMessage
from tests.support import make_settings, running_bot

USERS = 200


async def seed(url: str, clock: FixedClock) -> None:
    rows = [
        RosterRow(
            line=i + 2,
            unit=f"测试单位{i:03d}",
            unit_type=UnitType.CITY_DEPARTMENT,
            key_unit=True,
            name=f"测试{i:03d}",
            userid=f"user{i:03d}",
            roles=frozenset({Role.SPOKESPERSON}),
            title="副局长",
            mobile="",
            public=False,
        )
        for i in range(USERS)
    ]
    engine = make_engine(url)
    await upgrade(engine)
    async with transaction(make_session_factory(engine)) as session:
        await import_roster(session, rows, clock.now())
    await engine.dispose()


async def test_r15_200_concurrent_applications_get_distinct_ids_and_none_is_lost(
    database_url: str, tmp_path: Path, clock: FixedClock, fake_wecom: FakeWeCom
) -> None:
    await seed(database_url, clock)
    settings = make_settings(database_url, tmp_path, LIUAN_WECOM_SECRET="test-secret")
    async with running_bot(settings, clock, fake_wecom) as h:
        results = await asyncio.gather(
            *(
                h.send_text(
                    f"user{i:03d}",
                    f"申请发布会 主题：第{i}号议题 时间：12月10日上午10点 发布人：测试{i:03d}",
                )
                for i in range(USERS)
            )
        )
        assert all(status == 200 for status, _ in results)
        await h.bot.inbox.drain()
        await h.deliver_outbox(rounds=50)
        async with h.bot.deps.sessions() as session:
            confs = (await session.exec(select(Conference))).all()
            inbound = (await session.exec(select(InboundMessage))).all()
        ids = sorted(c.record_id for c in confs)
        assert ids == [f"SQ-2026-{n:04d}" for n in range(1, USERS + 1)]
        assert sorted(c.topic for c in confs) == sorted(f"第{i}号议题" for i in range(USERS))
        assert all(row.status == "handled" for row in inbound)
        for i, (_status, passive) in enumerate(results):
            pushed = [t for t in h.fake.texts_to(f"user{i:03d}") if "已提交发布会申请" in t]
            replies = ([passive] if passive else []) + pushed
            assert len(replies) == 1, (i, replies)  # one answer each, passive or pushed
            assert re.search(r"SQ-2026-\d{4}", replies[0])
        async with h.bot.deps.sessions() as session:
            owners = (
                await session.exec(
                    select(Conference.filer, Conference.topic).order_by(col(Conference.filer))
                )
            ).all()
        assert all(topic == f"第{int(filer[4:])}号议题" for filer, topic in owners)
