"""Issue 11 §4: handlers return typed replies. Every command and card action answers a
`Reply` (never a bare string: dispatch coerces nothing), and its kind says what happened:
`ok`, `refused` (nothing was changed) or `ask` (a question waiting for 确认)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import configured_lexicons
from handlers.console import run_command
from handlers.registry import CARD_ACTIONS, COMMANDS
from liuan_bot.clock import FixedClock
from liuan_bot.commands.registry import CardAction, Handler, Registry
from liuan_bot.messages import Incoming, Reply
from liuan_bot.relay import load_channels
from liuan_bot.wecom.fake_server import FakeWeCom
from storage.roster_store import find_member
from tests.conftest import load_demo_roster
from tests.support import (
    AGENT_ID,
    CORP_ID,
    ROOT,
    Harness,
    make_settings,
    next_msg_id,
    registry_with,
    running_bot,
)

# demo-roster members covering every role, in the order a command's sender is chosen
SENDERS = ("demo", "newsoffice", "approver", "huangting", "daijing", "fengxinmin", "baochuanhua")


def test_the_constructors_give_each_kind() -> None:
    assert Reply.ok("好") == Reply("好", None, kind="ok")
    assert Reply.ok(button_label="已阅") == Reply(None, "已阅", kind="ok")
    assert Reply.refused("不行", button_label="已失效") == Reply("不行", "已失效", kind="refused")
    assert Reply.ask("是否是 郭学军？") == Reply("是否是 郭学军？", None, kind="ask")
    assert Reply.ok("好") != Reply.refused("好")


def test_a_reply_always_names_its_kind() -> None:
    with pytest.raises(TypeError):
        Reply("好")  # type: ignore[call-arg]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Reply.ok("好").kind = "refused"  # type: ignore[misc]


Returned = list[tuple[str, object]]

# the records the help examples name, as the earlier examples of this run create them
RECORDS = {"SQ-2026-0012": "SQ-2026-0001", "ZC-2026-0003": "ZC-2026-0001"}
_RECORDS = re.compile("|".join(RECORDS))


def _recording(returned: Returned, key: str, handler: Handler) -> Handler:
    async def run(ctx: Any) -> Reply:
        result = await handler(ctx)
        returned.append((key, result))
        return result

    return run


def _recording_registry(returned: Returned) -> Registry:
    """The bot's registry (with its configured vocabularies), every handler recorded."""
    lexicons = configured_lexicons(load_channels(ROOT / "config" / "channels.toml"))
    return Registry(
        [dataclasses.replace(s, handler=_recording(returned, s.key, s.handler)) for s in COMMANDS],
        [CardAction(a.prefix, _recording(returned, a.prefix, a.handler)) for a in CARD_ACTIONS],
        lexicons,
    )


@pytest.fixture
async def recorded(
    sqlite_url: str, tmp_path: Path, clock: FixedClock, fake_wecom: FakeWeCom
) -> AsyncIterator[tuple[Harness, Returned]]:
    """The bot of the `harness` fixture, with every handler's raw return value recorded."""
    returned: Returned = []
    await load_demo_roster(sqlite_url)
    settings = make_settings(
        sqlite_url, tmp_path, LIUAN_WECOM_SECRET="test-secret", LIUAN_WECOM_AGENT_ID="1000002"
    )
    async with running_bot(settings, clock, fake_wecom, _recording_registry(returned)) as h:
        yield h, returned


async def test_every_command_example_and_card_action_returns_a_reply(
    recorded: tuple[Harness, Returned],
) -> None:
    h, returned = recorded
    async with h.bot.deps.sessions() as session:
        senders = [m for u in SENDERS if (m := await find_member(session, u)) is not None]
    assert [m.userid for m in senders] == list(SENDERS)
    for spec in COMMANDS:
        sender = next(m for m in senders if spec.allowed(m.roles))
        for written in spec.example.split("\n\n"):
            example = _RECORDS.sub(lambda m: RECORDS[m.group(0)], written)
            status, _ = await h.send_text(sender.userid, example)
            assert status == 200, example
            await h.bot.inbox.drain()
    for action in CARD_ACTIONS:
        await h.send_event(
            "demo",
            "template_card_event",
            event_key=f"{action.prefix}|GG-2026-9999",
            task_id="no-such-task",
            card_type="button_interaction",
        )
    not_replies = [(key, result) for key, result in returned if not isinstance(result, Reply)]
    assert not_replies == []
    # the examples, run in help order, mostly get as far as a return (a few are refused by
    # a UserError first: 已召开 before the time, a step after 撤回 or 结案)
    keys = {key for key, _ in returned}
    assert {a.prefix for a in CARD_ACTIONS} <= keys
    assert len(keys & {s.key for s in COMMANDS}) >= len(COMMANDS) * 4 // 5, keys


async def _reply(h: Harness, user: str, content: str) -> Reply:
    """The typed reply the pipeline hands back to the callback (passive) for `content`."""
    incoming = Incoming(
        msg_type="text",
        from_user=user,
        corp_id=CORP_ID,
        create_time=int(h.clock.now().timestamp()),
        agent_id=str(AGENT_ID),
        msg_id=next_msg_id(),
        content=content,
    )
    reply = await h.bot.inbox.accept(incoming)
    assert reply is not None, content
    return reply


APPLY = "申请发布会 主题：冬季供暖保障 时间：12月3日上午10点 发布人：郭学君"


async def test_kinds_ok_ask_and_refused_through_the_pipeline(harness: Harness) -> None:
    h = harness
    assert (await _reply(h, "demo", "帮助")).kind == "ok"
    assert (await _reply(h, "demo", "收到")) == Reply.refused("您没有待确认的提醒。")
    assert (await _reply(h, "demo", "确认")) == Reply.refused("目前没有需要您确认的发布人。")
    # a UserError (here R1) is a refusal
    denied = await _reply(h, "demo", "审核 SQ-2026-0001 通过")
    assert denied.kind == "refused"
    assert denied.text is not None
    assert "仅限" in denied.text
    # not on the roster
    assert (await _reply(h, "nobody", "帮助")).kind == "refused"


async def test_a_speaker_question_asks_and_its_answer_is_ok(harness: Harness) -> None:
    h = harness
    filed = await _reply(
        h,
        "demo",
        "备案 主题：冬季供暖 时间：11月20日上午10点 地点：市财政局三楼会议室 发布人：郑学君",
    )
    assert filed.kind == "ask", filed
    assert filed.text is not None
    assert "回复“确认”" in filed.text
    confirmed = await _reply(h, "demo", "是")  # A1: a bare 是 is 确认
    assert confirmed.kind == "ok", confirmed
    assert confirmed.text is not None
    assert confirmed.text.startswith("已记录")


async def test_resend_asks_before_it_resends(harness: Harness) -> None:
    h = harness
    announced = await _reply(h, "newsoffice", "公告 对象：联络员 内容：请报送计划。 回执：是")
    assert announced.kind == "ok"
    found = re.search(r"GG-2026-\d{4}", announced.text or "")
    assert found, announced
    record = found.group(0)
    asked = await _reply(h, "newsoffice", f"补发 {record}")
    assert asked.kind == "ask"
    assert asked.text is not None
    assert asked.text.endswith(f"确认请发送：补发 {record} 确认")
    assert (await _reply(h, "newsoffice", f"补发 {record} 确认")).kind == "ok"


async def _console(h: Harness, reply: Reply) -> tuple[bool, str]:
    async def answer(ctx: object) -> Reply:
        return reply

    deps = dataclasses.replace(h.bot.deps, registry=registry_with("t", "测试", answer))
    async with deps.sessions() as session:
        member = await find_member(session, "newsoffice")
    assert member is not None
    result = await run_command(deps, member, "测试")
    return result.ok, result.text


async def test_the_console_shows_a_refused_reply_as_not_done(harness: Harness) -> None:
    assert await _console(harness, Reply.ok("已处理。")) == (True, "已处理。")
    assert await _console(harness, Reply.ask("是否继续？")) == (True, "是否继续？")
    assert await _console(harness, Reply.refused("无需处理。")) == (False, "无需处理。")
