"""`python bot.py parse` reports every error the handler would (issue 9 E5): one grammar, one
source of truth. Each message below is refused by the handler; every error `understand`
reports must be in the handler's reply, and nothing is stored."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot import configured_lexicons
from handlers.registry import build_registry
from liuan_bot.commands.registry import understand
from liuan_bot.relay import load_channels
from storage.tables import Conference
from tests.commands.test_vocabulary import ROOT
from tests.support import Harness

REFUSED = [
    ("newsoffice", "审核 SQ-2026-0001"),  # no decision
    ("newsoffice", "审核 SQ-2026-0001 退回"),  # a rejection without a reason
    ("newsoffice", "审核 SQ-2026-0001 不同意"),
    ("approver", "审批 SQ-2026-0001"),
    ("newsoffice", "排期 SQ-2026-0001 时间：12月3日下午 地点：市政府新闻发布厅"),
    ("demo", "备案 主题：冬季供暖 时间：明天上午 地点：市财政局三楼会议室 发布人：王强"),
    ("demo", "申请发布会 主题：冬季供暖 时间：2099年12月3日上午10点 发布人：王强"),
    ("demo", "申请发布会 主题：冬季供暖 时间：11月29日 03:00 发布人：王强"),
    ("demo", "申请发布会 主题：冬季供暖 时间：12月3日10点-9点 发布人：王强"),
    ("demo", "申请发布会 时间：12月3日上午10点"),
]


@pytest.mark.parametrize(("user", "text"), REFUSED, ids=[text[:14] for _, text in REFUSED])
async def test_e5_parse_reports_what_the_handler_refuses(
    harness: Harness, user: str, text: str
) -> None:
    registry = build_registry(
        configured_lexicons(load_channels(ROOT / "config" / "channels.toml"))
    )
    errors = understand(registry, text, harness.clock.now())["errors"]
    assert errors, text
    _status, reply = await harness.send_text(user, text)
    assert reply is not None
    for error in errors:
        assert error.removeprefix("缺少：") in reply, (error, reply)
    async with harness.bot.deps.sessions() as session:
        assert (await session.exec(select(Conference))).all() == []
