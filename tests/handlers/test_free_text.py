"""Free text that is not a command gets a pre-filled suggestion (issue 3)."""

from __future__ import annotations

from tests.support import Harness


async def answer(h: Harness, user: str, text: str) -> str:
    """The reply, passive or (on a busy machine, past the reply budget) through the outbox."""
    before = len(h.fake.texts_to(user))
    _status, reply = await h.send_text(user, text)
    if reply is not None:
        return reply
    await h.bot.inbox.drain(600)  # waits for the handler to finish; no time budget
    await h.deliver_outbox(rounds=1)
    later = h.fake.texts_to(user)[before:]
    assert later, "no answer by either route"
    return "\n".join(later)


async def test_free_text_gets_the_likely_command_prefilled_and_ready_to_copy(
    harness: Harness,
) -> None:
    reply = await answer(harness, "demo", "我们下周三想开个发布会讲讲秋粮收购")
    assert "可以复制下面的内容" in reply
    suggestion = reply.split("\n\n", 1)[1]
    assert suggestion.startswith("申请发布会\n主题：秋粮收购\n时间：12月2日（周三）")
    assert "。。" not in reply
    # the copied text, completed, is a valid application
    completed = suggestion.replace("时间：12月2日（周三）", "时间：12月2日上午10点").replace(
        "发布人：（请填写）", "发布人：张演示"
    )
    filed = await answer(harness, "demo", completed)
    assert "已提交发布会申请 SQ-2026-0001" in filed


async def test_a_suggestion_is_only_offered_for_a_command_the_sender_may_use(
    harness: Harness,
) -> None:
    # 专家 may not apply: no application is suggested to them
    reply = await answer(harness, "fengxinmin", "我们下周三想开个发布会讲讲医保")
    assert "申请发布会\n" not in reply


async def test_small_talk_gets_the_help_hint(harness: Harness) -> None:
    reply = await answer(harness, "demo", "谢谢你们")
    assert "发送“帮助”" in reply


async def test_e3_a_greeting_gets_a_short_polite_answer(harness: Harness) -> None:
    reply = await answer(harness, "demo", "你好")
    assert reply.startswith("您好！")
    assert "没有看懂" not in reply
    thanks = await answer(harness, "demo", "辛苦了")
    assert thanks.startswith("不客气")


async def test_e3_a_count_question_leads_to_status(harness: Harness) -> None:
    assert harness.bot.deps.suggester is not None
    harness.bot.deps.suggester.load()  # jieba's ~1 s load is not what this test is about
    reply = await answer(harness, "demo", "我们单位这季度开了几场？")
    assert reply.endswith("\n\n我的")
