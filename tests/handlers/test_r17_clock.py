"""R17 end to end: an incident filed over an encrypted callback, its 24-hour ladder driven by
the precise-timer moments with an injected clock, each step reaching WeCom exactly once."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

from sqlmodel import select

from handlers.reminders import sweep
from storage.tables import AccountabilityEntry, Incident, ReminderInstance
from tests.support import Harness

UNIT_PEOPLE = {"demo", "baokeqin"}  # 市财政局: spokespersons (demo is also the liaison)
MAIN_LEADER = "zhengxuejun"


async def run_clock(h: Harness, until: timedelta, *, ack: bool, on_hour: dict[int, str]) -> None:
    """Sweep at every moment the precise timer asks for, as production does, until `until`."""
    engine = h.bot.reminders
    assert engine is not None
    start = h.clock.now()
    done: set[int] = set()
    while h.clock.now() - start <= until:
        report = await sweep(engine, h.clock.now())
        await h.deliver_outbox()
        if ack:
            await ack_all(h)
        elapsed_h = int((h.clock.now() - start).total_seconds() // 3600)
        for hour, text in on_hour.items():
            if hour <= elapsed_h and hour not in done:
                done.add(hour)
                status, reply = await h.send_text("demo", text)
                assert status == 200, reply
        step = report.next_precise or h.clock.now() + timedelta(hours=1)
        h.clock.set(min(step, h.clock.now() + timedelta(hours=1)))


async def ack_all(h: Harness) -> None:
    for delivered in list(h.fake.delivered):
        card = delivered.content if delivered.msgtype == "template_card" else {}
        key = (card.get("button_list") or [{}])[0].get("key", "")
        if key.startswith("ack|") and (delivered.to, key) not in ACKED:
            ACKED.add((delivered.to, key))
            await h.send_event(
                delivered.to,
                "template_card_event",
                event_key=key,
                task_id=card["task_id"],
                card_type="button_interaction",
            )


ACKED: set[tuple[str, str]] = set()


R17_HEADINGS = ("突发事件首发", "24小时时限", "已超时")


def r17_texts(h: Harness, user: str) -> list[str]:
    """R17 reminders a user received (each one message: a card with its 收到 button)."""
    return [
        d.text
        for d in h.fake.delivered_to(user)
        if d.msgtype in ("text", "template_card") and d.text.startswith(R17_HEADINGS)
    ]


async def open_incident(h: Harness) -> str:
    status, reply = await h.send_text("demo", "突发 事件：化工园区一企业发生火灾 级别：重大")
    assert status == 200
    assert reply is not None
    found = re.search(r"TF-2026-\d{4}", reply)
    assert found, reply
    return found.group(0)


async def test_r17_a_conference_at_15_hours_stops_the_ladder_and_each_step_is_sent_once(
    harness: Harness,
) -> None:
    h = harness
    ACKED.clear()
    record = await open_incident(h)
    await h.deliver_outbox()
    assert any(record in t for t in h.fake.texts_to(MAIN_LEADER))  # told at once
    await run_clock(
        h,
        timedelta(hours=26),
        ack=True,
        on_hour={
            14: f"备案 主题：火灾情况通报 时间：今天凌晨1点 地点：市应急指挥中心 发布人：张演示 "
            f"事件：{record}",
            15: "已召开 BA-2026-0001 发布人：张演示 要点：通报火情",
        },
    )
    for user in UNIT_PEOPLE:
        texts = r17_texts(h, user)
        assert len([t for t in texts if "突发事件首发" in t]) == 1, texts
        assert len([t for t in texts if "还剩约12小时" in t]) == 1, texts  # the +12 h step
        assert not any("还剩约6小时" in t or "已超时" in t for t in texts), texts
    assert not [t for t in r17_texts(h, MAIN_LEADER) if "还剩" in t or "已超时" in t]
    async with h.bot.deps.sessions() as session:
        incident = (await session.exec(select(Incident))).one()
        keys = (await session.exec(select(ReminderInstance.key))).all()
        entries = (await session.exec(select(AccountabilityEntry))).all()
    assert incident.state == "answered"
    assert sorted(k.split("|")[-1] for k in keys if k.startswith("R17")) == [
        "first_release",
        "h12",
    ]
    assert entries == []


async def test_r17_without_a_conference_the_ladder_escalates_and_goes_overdue_once(
    harness: Harness,
) -> None:
    h = harness
    ACKED.clear()
    record = await open_incident(h)
    await run_clock(
        h,
        timedelta(hours=27),
        ack=True,
        on_hour={
            2: f"首发 {record} 内容：火情已控制，无人员伤亡",
        },
    )
    counts = Counter(t for t in r17_texts(h, "baokeqin"))
    assert all(n == 1 for n in counts.values()), counts  # nothing twice
    steps = [t for t in counts if "还剩" in t]
    assert len(steps) == 4  # +12, +18, +20, +22 hours
    assert len([t for t in counts if "突发事件首发" in t]) == 1  # 首发 came only at +2 h
    leader = r17_texts(h, MAIN_LEADER)
    assert len([t for t in leader if "还剩" in t]) == 2  # added from +20 h
    assert len([t for t in leader if "已超时" in t]) == 1
    assert len([t for t in r17_texts(h, "newsoffice") if "已超时" in t]) == 1
    async with h.bot.deps.sessions() as session:
        [entry] = (await session.exec(select(AccountabilityEntry))).all()
    assert (entry.rule, entry.label, entry.subject) == (
        "R17",
        "热点回应不及时",
        f"incident:{record}",
    )
    assert len(entry.evidence) == 6  # first release reminder, four steps, overdue


async def test_r17_an_unacknowledged_step_escalates_after_30_minutes(harness: Harness) -> None:
    h = harness
    ACKED.clear()
    await open_incident(h)
    await run_clock(h, timedelta(hours=13), ack=False, on_hour={})
    async with h.bot.deps.sessions() as session:
        rows = (
            await session.exec(select(ReminderInstance).where(ReminderInstance.rule == "R17"))
        ).all()
    start = min(r.due_at for r in rows) - timedelta(hours=1)
    due = {r.key.split("|")[-1]: r.due_at - start for r in rows}
    assert due["h12"] == timedelta(hours=12)
    assert due["h18"] == timedelta(hours=12, minutes=30)  # one step early: nobody pressed 收到


async def test_r14_the_reminder_log_shows_delivery_and_acknowledgement_times(
    harness: Harness,
) -> None:
    h = harness
    ACKED.clear()
    await open_incident(h)
    await run_clock(h, timedelta(hours=1, minutes=5), ack=True, on_hour={})
    log = await h.send_text("newsoffice", "提醒记录 单位：市财政局")
    assert log[1] is not None
    text = log[1]
    assert "市财政局 · 提醒记录" in text
    assert "突发事件首发：" in text  # E1: the reminder's own heading, no internal key
    assert "first_release" not in text
    assert "张演示（送达" in text
    assert "确认" in text
    refused = await h.send_text("demo", "提醒记录 单位：市财政局")
    assert refused[1] is not None
    assert "仅限" in refused[1]
