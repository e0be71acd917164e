"""config/channels.toml: the seven channels and the county sites; clear errors; no secrets;
a new channel is a few lines of configuration, no code."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from liuan_bot.relay import (
    TEMPLATES,
    ChannelConfigError,
    ChannelSpec,
    Composer,
    load_channels,
    load_robot_env,
)
from tests.relay.facts import CHANNELS_PATH, GOLDEN, ROOT


def channel_editors() -> set[str]:
    with (ROOT / "config" / "demo-roster.csv").open(encoding="utf-8") as stream:
        return {row["企业微信账号"] for row in csv.DictReader(stream) if "渠道编辑" in row["角色"]}


def test_the_file_declares_every_template_the_county_sites_and_their_limits(
    channels: tuple[ChannelSpec, ...],
) -> None:
    by_key = {c.key: c for c in channels}
    assert list(by_key) == [
        "newspaper",
        "radio_tv",
        "portal",
        "news_site",
        "county_sites",
        "weibo",
        "wechat",
        "new_media",
    ]
    assert {c.template for c in channels} == set(TEMPLATES)
    assert by_key["newspaper"].name == "皖西日报“政务发布”专栏"
    assert by_key["radio_tv"].limits["max_chars"] == 300
    assert by_key["weibo"].limits["max_chars"] == 140
    assert by_key["wechat"].limits["title_max"] == 64
    assert by_key["wechat"].limits["digest_max"] == 120
    assert by_key["portal"].limits["summary_max"] == 120
    county = by_key["county_sites"]
    assert county.county
    assert county.template == "portal"
    assert county.robots == ("county_sites",)
    assert all(not c.county for c in channels if c is not county)


def test_editors_are_the_demo_rosters_channel_editors(channels: tuple[ChannelSpec, ...]) -> None:
    known = channel_editors()
    assert known  # the demo roster has 渠道编辑 users
    for channel in channels:
        assert set(channel.editors) <= known, channel.key
        assert channel.editors or channel.robots, channel.key


def test_robots_name_environment_variables_never_keys() -> None:
    robots = load_robot_env(CHANNELS_PATH)
    assert robots == {
        "county_sites": "LIUAN_ROBOT_COUNTY_SITES",
        "new_media": "LIUAN_ROBOT_NEW_MEDIA",
        "newsroom": "LIUAN_ROBOT_NEWSROOM",
    }


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "channels.toml"
    path.write_text(body, encoding="utf-8")
    return path


GOOD = """
[robots]
group = "LIUAN_ROBOT_GROUP"

[channels.a]
name = "渠道"
template = "weibo"
editors = ["daijing"]
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (GOOD.replace('"weibo"', '"tiktok"'), "channels.a.template：未知的模板 'tiktok'"),
        (GOOD.replace('name = "渠道"\n', ""), "channels.a.name：缺少该项"),
        (GOOD.replace('template = "weibo"\n', ""), "channels.a.template：缺少该项"),
        (
            GOOD + "limits = { max_chars = 140, title_max = 20 }\n",
            "channels.a.limits.title_max：不是模板 'weibo' 的限制",
        ),
        (GOOD + "limits = { max_chars = 10 }\n", "channels.a.limits.max_chars：10 小于最小值 60"),
        (GOOD + 'limits = { max_chars = "140" }\n', "channels.a.limits.max_chars：应为整数"),
        (GOOD + "colour = 1\n", "channels.a.colour：未知的配置项"),
        (GOOD + 'robots = ["other"]\n', "channels.a.robots：other 没有在 [robots] 中声明"),
        (GOOD.replace('["daijing"]', "[]"), "channels.a：没有接收人"),
        (GOOD + "county = true\n", "channels.a.county：只有 portal 模板"),
        (
            GOOD.replace('"LIUAN_ROBOT_GROUP"', '"693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"'),
            "robots.group：不是环境变量名.*密钥是机密",
        ),
        ("[robots]\n", "channels：没有配置任何渠道"),
        ("[channels\n", "：不是有效的 TOML 格式，第 1 行"),
    ],
)
def test_malformed_files_get_clear_errors(tmp_path: Path, body: str, message: str) -> None:
    pattern = message.replace("[", r"\[").replace("]", r"\]")
    with pytest.raises(ChannelConfigError, match="channels.toml.*" + pattern):
        load_channels(write(tmp_path, body))


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ChannelConfigError, match="nowhere.toml：找不到该文件"):
        load_channels(tmp_path / "nowhere.toml")


def test_a_new_channel_needs_no_code(tmp_path: Path, composer: Composer) -> None:
    """A county's own site on the portal template, a second Weibo account with one tag."""
    path = write(
        tmp_path,
        GOOD
        + """
[channels.jinzhai_site]
name = "金寨县人民政府网站“新闻发布”栏目"
template = "portal"
editors = ["yufang"]
limits = { summary_max = 60 }

[channels.weibo_two]
name = "微博“六安发布厅”"
template = "weibo"
robots = ["group"]
limits = { max_chars = 100, tags_max = 1 }
""",
    )
    channels = load_channels(path)
    assert [c.key for c in channels] == ["a", "jinzhai_site", "weibo_two"]
    site, weibo = channels[1], channels[2]
    assert site.limits["summary_max"] == 60
    assert site.limits["title_max"] == 60  # the template's default
    pieces = composer.compose_all(GOLDEN, channels)
    assert len(pieces[1].part("summary")) <= 60
    assert pieces[1].text.startswith("标题：2026年秋粮收购政策解读新闻发布会")
    assert len(pieces[2].text) <= 100
    assert pieces[2].text.count("#") == 2
    assert weibo.robots == ("group",)
