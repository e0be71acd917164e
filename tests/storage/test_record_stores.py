"""The records' queries on both databases (issue 9 A1, A5): a pending speaker question is found
for its filer only, and an unset one is SQL NULL; bookings near an interval."""

from __future__ import annotations

from datetime import timedelta

from liuan_bot.clock import FixedClock
from storage.conference_store import bookings_near, pending_speaker_question
from storage.engine import SessionFactory, transaction
from storage.tables import Conference, Unit


def _conference(unit_pk: int, number: int, clock: FixedClock, **extra: object) -> Conference:
    now = clock.now()
    values: dict[str, object] = {
        "record_id": f"BA-2026-{number:04d}",
        "kind": "filing",
        "unit_id": unit_pk,
        "filer": "demo",
        "state": "filed",
        "topic": f"第{number}场",
        "starts_at": now + timedelta(days=1, hours=number),
        "venue": "新闻发布厅",
        "created_at": now,
        "updated_at": now,
        **extra,
    }
    return Conference.model_validate(values)


async def test_a1_a_pending_question_is_found_for_its_filer_and_none_is_stored_as_null(
    sessions: SessionFactory, clock: FixedClock
) -> None:
    async with transaction(sessions) as session:
        unit = Unit(
            name="市财政局", unit_type="市直部门", created_at=clock.now(), updated_at=clock.now()
        )
        session.add(unit)
        await session.flush()
        assert unit.id is not None
        session.add(_conference(unit.id, 1, clock))
        session.add(_conference(unit.id, 2, clock, pending_held={"by": "demo", "speakers": ["x"]}))
        session.add(_conference(unit.id, 3, clock, pending_held=None))
    async with sessions() as session:
        found = await pending_speaker_question(session, "demo")
        assert found is not None
        assert found.record_id == "BA-2026-0002"
        assert await pending_speaker_question(session, "baokeqin") is None
        start = clock.now() + timedelta(days=1, hours=2)
        near = await bookings_near(
            session, start, start + timedelta(hours=2), exclude="BA-2026-0002"
        )
        assert [b.record_id for b in near] == ["BA-2026-0001", "BA-2026-0003"]
