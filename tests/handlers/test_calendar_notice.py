"""Issue 9 D: the news office is told in chat, once, that next year's make-up working days
are unknown until the holidays file has them."""

from __future__ import annotations

from handlers.reminders import sweep
from tests.support import Harness


async def test_d_news_office_is_told_once_that_2027_make_up_days_are_unknown(
    harness: Harness,
) -> None:
    h = harness
    engine = h.bot.reminders
    assert engine is not None
    await sweep(engine, h.clock.now())
    await h.deliver_outbox()
    await sweep(engine, h.clock.now())
    h.clock.advance(days=1)
    await sweep(engine, h.clock.now())
    await h.deliver_outbox()
    notices = [t for t in h.fake.texts_to("newsoffice") if "【工作日历】" in t]
    assert len(notices) == 1
    assert "2027年" in notices[0]
    assert "调休上班日暂不清楚" in notices[0]
    assert "元旦" in notices[0]
