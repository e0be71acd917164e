"""Names people use for channels and units (issue 9 E4): channel aliases from
config/channels.toml resolved by the grammar, unit short names wherever 公告 takes them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlmodel import select

from bot import configured_lexicons
from handlers.registry import build_registry
from liuan_bot.clock import SHANGHAI
from liuan_bot.commands.fields import lexicon, match_name
from liuan_bot.commands.registry import understand
from liuan_bot.relay import load_channels
from storage.tables import ReleaseChannel
from tests.support import Harness

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)


def test_e4_channel_aliases_from_config_resolve_to_the_channel() -> None:
    channels = load_channels(ROOT / "config" / "channels.toml")
    registry = build_registry(configured_lexicons(channels))
    for alias, name in (
        ("广电", "六安市广播电视台"),
        ("门户网站", "六安市人民政府网站“新闻发布”栏目"),
        ("新闻网", "六安新闻网专题页"),
        ("radio_tv", "六安市广播电视台"),
    ):
        got = understand(registry, f"已发布 SQ12 渠道：{alias} 链接：https://x.cn/1", NOW)
        assert got["fields"]["渠道"] == name, alias
        assert got["errors"] == []


def test_e4_an_alias_two_names_claim_is_not_resolved() -> None:
    vocabulary = lexicon([("甲网站", ("网站", "甲")), ("乙网站", ("网站",))])
    assert vocabulary["甲"] == "甲网站"
    assert "网站" not in vocabulary


def test_e4_unit_short_names_match_as_in_announcements() -> None:
    units = ["市财政局", "市公安局", "六安市广播电视台", "市政府新闻办", "市政府办公室"]
    assert match_name("财政局", units) == "市财政局"
    assert match_name("市财政局", units) == "市财政局"
    assert match_name("广播电视台", units) == "六安市广播电视台"
    assert match_name("市政府", units) is None  # two units: must be written out
    assert match_name("教育局", units) is None


async def test_e4_a_unit_short_name_works_in_status_and_reminder_log(harness: Harness) -> None:
    _status, reply = await harness.send_text("newsoffice", "我的 单位：财政局")
    assert reply is not None
    assert "名册里没有" not in reply
    assert "市财政局" in reply
    _status, reply = await harness.send_text("newsoffice", "提醒记录 单位：财政局")
    assert reply is not None
    assert "名册里没有" not in reply
    assert reply.startswith("市财政局")


async def test_e4_an_editor_confirms_with_the_channel_alias(harness: Harness) -> None:
    h = harness
    await h.send_text(
        "demo",
        "备案 主题：冬季供暖保障 时间：今天下午2点 地点：市财政局三楼会议室 发布人：郑学军",
    )
    h.clock.advance(hours=4, minutes=30)
    await h.send_text("demo", "已召开 BA-2026-0001 发布人：郑学军 要点：介绍供暖保障措施")
    await h.send_text("wanglin2", "已发布 BA-2026-0001 渠道：广电 链接：https://tv.luan.cn/1")
    async with h.bot.deps.sessions() as session:
        rows = (await session.exec(select(ReleaseChannel))).all()
    radio = next(row for row in rows if row.channel == "radio_tv")
    assert radio.state == "published"
    assert radio.link == "https://tv.luan.cn/1"


async def test_e4_a_unit_short_name_works_for_the_responsible_unit(harness: Harness) -> None:
    _status, reply = await harness.send_text(
        "newsoffice", "突发 事件：城区一路段积水 级别：一般 责任单位：应急管理局"
    )
    assert reply is not None
    assert "名册里没有" not in reply
    assert "市应急管理局" in reply


def test_e4_bot_parse_resolves_channel_aliases_as_the_bot_does() -> None:
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "bot.py", "parse", "已发布 SQ12 渠道：广电 链接：https://tv.luan.cn/1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["fields"]["渠道"] == "六安市广播电视台"
