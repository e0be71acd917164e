"""Golden files: one realistic held conference → each channel's piece, read and checked by
hand as something a Chinese editor would publish. `UPDATE_GOLDEN=1` rewrites them (read the
diff before committing it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from liuan_bot.messages import TEXT_MAX_BYTES, split_text
from liuan_bot.relay import ChannelSpec, Composer
from tests.relay.facts import GOLDEN

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
CHANNEL_KEYS = (
    "newspaper",
    "radio_tv",
    "portal",
    "news_site",
    "county_sites",
    "weibo",
    "wechat",
    "new_media",
)


@pytest.mark.parametrize("key", CHANNEL_KEYS)
def test_each_channel_matches_its_golden_file(
    composer: Composer, channels: tuple[ChannelSpec, ...], key: str
) -> None:
    channel = next(c for c in channels if c.key == key)
    piece = composer.compose(GOLDEN, channel)
    path = GOLDEN_DIR / f"{key}.txt"
    if UPDATE:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(piece.text + "\n", encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with UPDATE_GOLDEN=1"
    assert piece.text + "\n" == path.read_text(encoding="utf-8")


def test_compose_all_gives_the_same_pieces_in_channel_order(
    composer: Composer, channels: tuple[ChannelSpec, ...]
) -> None:
    pieces = composer.compose_all(GOLDEN, channels)
    assert [p.channel for p in pieces] == [c.key for c in channels]
    assert pieces == [composer.compose(GOLDEN, c) for c in channels]
    assert {c.key for c in channels} == set(CHANNEL_KEYS)


def test_the_golden_pieces_drop_nothing_mid_sentence(
    composer: Composer, channels: tuple[ChannelSpec, ...]
) -> None:
    for piece in composer.compose_all(GOLDEN, channels):
        assert "……" not in piece.text, piece.channel
        for part in split_text(piece.text, TEXT_MAX_BYTES):
            assert len(part.encode()) <= TEXT_MAX_BYTES


def test_the_golden_pieces_say_what_the_record_says(
    composer: Composer, channels: tuple[ChannelSpec, ...]
) -> None:
    by_key = {p.channel: p for p in composer.compose_all(GOLDEN, channels)}
    assert by_key["newspaper"].title == "市财政局解读2026年秋粮收购政策"
    assert "本报讯　9月24日上午，市财政局召开2026年秋粮收购政策解读新闻发布会。" in (
        by_key["newspaper"].part("lead")
    )
    assert "党组书记、局长郑学军，党组成员、副局长鲍克勤" in by_key["newspaper"].text
    assert by_key["radio_tv"].text.startswith("本台消息：9月24日上午，市财政局召开")
    assert "http" not in by_key["radio_tv"].text
    assert by_key["weibo"].text.startswith("#秋粮收购# #最低收购价#【2026年秋粮收购政策解读】")
    assert GOLDEN.transcript_url in by_key["portal"].text
    assert GOLDEN.video_url in by_key["portal"].text
    site = by_key["news_site"].text
    for needed in (
        "【发布预告】",
        "【文字实录】",
        "【直播回放】",
        "【新闻发言人名录】",
        "【专家解读】",
    ):
        assert needed in site
    assert GOLDEN.directory_url in site
    assert by_key["county_sites"].text.startswith("各县区人民政府网站：")
    assert "原文链接：" + GOLDEN.transcript_url in by_key["county_sites"].text
    assert by_key["wechat"].part("title") == "市财政局解读2026年秋粮收购政策"
    tasks = by_key["new_media"].text
    for product in ("微视频", "H5", "一图读懂"):
        assert product in tasks
