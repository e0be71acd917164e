"""Reminders as people receive them (issue 9 C1, C2): one message per reminder, one copy per
person, typed 收到."""

from __future__ import annotations

from sqlmodel import select

from handlers.reminders import sweep
from liuan_bot.pacing import WINDOW_MARGIN_S
from liuan_bot.wecom.simulate import event_xml
from storage.tables import ReminderDelivery
from tests.support import AGENT_ID, CORP_ID, Harness


async def _sweep(h: Harness) -> None:
    engine = h.bot.reminders
    assert engine is not None
    await sweep(engine, h.clock.now())
    await h.deliver_outbox()


async def _deliveries(h: Harness) -> list[ReminderDelivery]:
    async with h.bot.deps.sessions() as session:
        return list((await session.exec(select(ReminderDelivery))).all())


async def test_c2_typed_shou_dao_acknowledges_the_senders_outstanding_reminders(
    harness: Harness,
) -> None:
    h = harness
    h.clock.advance(hours=1)  # reminders are due on Nov 26 (R8 and others)
    await _sweep(h)
    deliveries = await _deliveries(h)
    assert deliveries
    user = deliveries[0].userid
    mine = [d for d in deliveries if d.userid == user]
    status, reply = await h.send_text(user, "收到")
    assert status == 200
    assert reply is not None
    assert f"已确认收到 {len(mine)} 项提醒" in reply
    assert all(d.acked_at is not None for d in await _deliveries(h) if d.userid == user)
    others = [d for d in await _deliveries(h) if d.userid != user]
    assert others
    assert all(d.acked_at is None for d in others)
    _, again = await h.send_text(user, "收到")
    assert again is not None
    assert "没有待确认的提醒" in again


async def test_c1_one_reminder_is_one_card_with_its_button_and_one_copy_per_person(
    harness: Harness,
) -> None:
    """demo is both spokesperson and liaison of 市财政局: one message, a card carrying the
    reminder text and its 收到 button, not a text followed by a card."""
    h = harness
    status, reply = await h.send_text("demo", "突发 事件：化工园区一企业发生火灾 级别：重大")
    assert status == 200
    assert reply is not None
    h.clock.advance(hours=1, minutes=1)
    before = len(h.fake.delivered_to("demo"))
    await _sweep(h)
    got = h.fake.delivered_to("demo")[before:]
    first = [d for d in got if "突发事件首发" in d.text]
    assert len(first) == 1
    [card] = first
    key = card.content["button_list"][0]["key"]
    same_batch = [d for d in got if (d.content.get("button_list") or [{}])[0].get("key") == key]
    assert same_batch == [card]  # no separate 收到 card for it
    assert card.msgtype == "template_card"
    assert card.content["main_title"]["title"] == "突发事件首发"
    assert "化工园区一企业发生火灾" in card.content["sub_title_text"]
    [button] = card.content["button_list"]
    assert button["text"] == "收到"
    status, clicked = await h.send_event(
        "demo",
        "template_card_event",
        event_key=button["key"],
        task_id=card.content["task_id"],
        card_type="button_interaction",
    )
    assert clicked is not None
    assert clicked["ReplaceName"].startswith("已收到")
    texts = len(h.fake.delivered_to("demo"))
    clicked_at = int(h.clock.now().timestamp())
    # WeCom's retry of the click 5 s on (its answer never arrived; the same CreateTime): the
    # same buttons again, and nothing done or sent twice
    h.clock.advance(5)
    status, again = await h.post_plaintext(
        event_xml(
            corp_id=CORP_ID,
            from_user="demo",
            event="template_card_event",
            create_time=clicked_at,
            agent_id=AGENT_ID,
            event_key=button["key"],
            task_id=card.content["task_id"],
            card_type="button_interaction",
        )
    )
    assert status == 200
    assert again is not None
    assert again["ReplaceName"] == clicked["ReplaceName"]
    await h.deliver_outbox()
    assert len(h.fake.delivered_to("demo")) == texts
    assert h.bot.metrics.callbacks["replayed"] == 1


def test_c1_a_reminder_too_long_for_a_card_goes_as_text_then_its_card() -> None:
    from handlers.reminders import reminder_messages

    long_text = "【季度发布会】" + "很长的提醒内容。" * 40
    messages = reminder_messages("rm-1", ["a"], long_text, 1)
    assert [m.body["msgtype"] for m in messages] == ["text", "template_card"]
    short = reminder_messages("rm-2", ["a", "b"], "【季度发布会】市财政局尚未召开。", 1)
    assert [m.body["msgtype"] for m in short] == ["template_card"]
    assert short[0].target == "a|b"


async def test_c1_start_up_catch_up_stays_within_30_messages_a_minute_per_member(
    harness: Harness,
) -> None:
    """Reminders due while the bot was down all fall due at once; WeCom silently drops more
    than 30 app messages a minute to one member, so the rest wait for the next minute."""
    h = harness
    for n in range(34):
        status, _ = await h.send_text("demo", f"突发 事件：第{n + 1}号测试事件 级别：重大")
        assert status == 200
    await h.deliver_outbox(rounds=40)
    h.clock.advance(hours=2)  # the first-release reminders of all 34 are due now
    start = len(h.fake.delivered_to("demo"))
    await _sweep(h)
    await h.deliver_outbox(rounds=40)
    first_minute = h.fake.delivered_to("demo")[start:]
    assert 0 < len(first_minute) <= 30
    h.clock.advance(seconds=61 + WINDOW_MARGIN_S)  # the minute and the pacer's margin
    await h.deliver_outbox(rounds=40)
    later = h.fake.delivered_to("demo")[start:]
    assert len([d for d in later if "突发事件首发" in d.text]) == 34  # none lost
