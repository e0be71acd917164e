"""The relay's channels (R19–R23), read from `config/channels.toml`.

A channel is data: a key, a Chinese name, a `template` (one of `TEMPLATES`), the limits of
that template it overrides, its editors (WeCom userids) and group robots. Adding a channel
needs no code; two channels may share a template (a county-site channel using `portal`).

    [robots]                      # robot name = NAME of the env var holding its webhook key
    county_sites = "LIUAN_ROBOT_COUNTY_SITES"

    [channels.weibo]              # the table key is the channel key
    name = "微博“六安市人民政府发布”"
    template = "weibo"
    editors = ["daijing"]         # WeCom userids
    robots = []                   # names from [robots]
    limits = { max_chars = 140, tags_max = 2 }
    county = false                # true: a repost notice for county sites (R21), portal only

Webhook keys are secrets and never appear in the file: a `[robots]` value must be the name of
an environment variable, and anything that looks like a key is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from liuan_bot.config_problems import Problems, check_keys, read_toml

__all__ = [
    "LIMITS",
    "TEMPLATES",
    "ChannelConfigError",
    "ChannelSpec",
    "load_channels",
    "load_robot_env",
    "parse_channels",
    "parse_robots",
]


class ChannelConfigError(ValueError):
    """`config/channels.toml` is malformed; the message lists every problem (file, key)."""


# template → limit → (default, smallest value the composer can honour).
# max_chars: the whole `Piece.text`, in characters (len(), each CJK character is 1).
LIMITS: Mapping[str, Mapping[str, tuple[int, int]]] = MappingProxyType(
    {
        "newspaper": {"title_max": (40, 12), "lead_max": (160, 60), "max_chars": (1500, 300)},
        "radio_tv": {"max_chars": (300, 80)},
        "portal": {"title_max": (60, 12), "summary_max": (120, 40), "max_chars": (2000, 400)},
        "news_site": {"item_max": (200, 60), "max_chars": (1500, 600)},
        "weibo": {"max_chars": (140, 60), "tags_max": (2, 1)},
        "wechat": {"title_max": (64, 12), "digest_max": (120, 40), "max_chars": (600, 300)},
        "new_media": {"points_max": (5, 1), "point_max": (60, 20), "max_chars": (1200, 400)},
    }
)
TEMPLATES: tuple[str, ...] = tuple(LIMITS)

_CHANNEL_KEYS = frozenset({"name", "template", "editors", "robots", "limits", "county", "aliases"})
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_USERID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


@dataclass(frozen=True)
class ChannelSpec:
    """One configured channel. `limits` holds every limit of the template (defaults filled)."""

    key: str
    name: str
    template: str
    editors: tuple[str, ...]
    robots: tuple[str, ...]
    limits: Mapping[str, int]
    county: bool = False
    aliases: tuple[str, ...] = ()  # what people call it (广电, 新闻网), resolved by the parser

    def limit(self, name: str) -> int:
        """The channel's value of limit `name`, else the template's default."""
        value = self.limits.get(name)
        if value is not None:
            return value
        return LIMITS[self.template][name][0]


def load_robot_env(path: Path) -> dict[str, str]:
    """`[robots]`: robot name → name of the environment variable that holds its webhook key."""
    problems = Problems(path.name)
    robots = parse_robots(read_toml(path, problems, required=True) or {}, problems)
    if problems:
        raise ChannelConfigError(problems.text())
    return robots


def load_channels(path: Path) -> tuple[ChannelSpec, ...]:
    """The channels of `path`, in file order; `ChannelConfigError` listing every problem."""
    problems = Problems(path.name)
    raw = read_toml(path, problems, required=True)
    channels = () if raw is None else parse_channels(raw, parse_robots(raw, problems), problems)
    if problems:
        raise ChannelConfigError(problems.text())
    return channels


def parse_robots(raw: Mapping[str, Any], problems: Problems) -> dict[str, str]:
    """`[robots]` of channels.toml (shared by the channels and the groups)."""
    table = raw.get("robots", {})
    if not isinstance(table, dict):
        problems.add("robots", '应为“名称 = "环境变量名"”的表')
        return {}
    robots: dict[str, str] = {}
    for name, env in table.items():
        where = f"robots.{name}"
        if not isinstance(env, str) or not env:
            problems.add(where, "应为保存机器人 Webhook 密钥的环境变量名")
        elif not _ENV_NAME.match(env):
            problems.add(
                where,
                "不是环境变量名（只能用大写字母、数字和下划线）；Webhook 密钥是机密，"
                "请把密钥放进环境变量，这里只写变量名",
            )
        else:
            robots[str(name)] = env
    return robots


def parse_channels(
    raw: Mapping[str, Any], robots: Mapping[str, str], problems: Problems
) -> tuple[ChannelSpec, ...]:
    """`[channels.<key>]` tables of channels.toml, in file order; one problem per mistake."""
    check_keys(raw, ("channels", "robots", "groups"), "", problems)  # groups: liuan_bot.groups
    tables = raw.get("channels")
    if not isinstance(tables, dict) or not tables:
        problems.add("channels", "没有配置任何渠道（应有 [channels.<key>] 表）")
        return ()
    channels = []
    for key, table in tables.items():
        spec = _channel(str(key), table, robots, f"channels.{key}", problems)
        if spec is not None:
            channels.append(spec)
    return tuple(channels)


def _channel(
    key: str, table: Any, robots: Mapping[str, str], where: str, problems: Problems
) -> ChannelSpec | None:
    if not isinstance(table, dict):
        problems.add(where, "应为一个表")
        return None
    before = len(problems)
    if not _KEY.match(key):
        problems.add(where, "渠道键只能用小写英文字母、数字和下划线（a-z、0-9、_）")
    check_keys(table, sorted(_CHANNEL_KEYS), where, problems)
    for required in ("name", "template"):
        if not isinstance(table.get(required), str) or not table[required].strip():
            problems.add(f"{where}.{required}", "缺少该项（应为非空文字）")
    template = table.get("template")
    if isinstance(template, str) and template.strip() and template not in LIMITS:
        problems.add(
            f"{where}.template", f"未知的模板 {template!r}（可用：{'、'.join(TEMPLATES)}）"
        )
    editors = _strings(table.get("editors", []), f"{where}.editors", problems)
    bad = [e for e in editors if not _USERID.match(e)]
    if bad:
        problems.add(f"{where}.editors", f"不是企业微信账号：{'、'.join(bad)}")
    robot_names = _strings(table.get("robots", []), f"{where}.robots", problems)
    missing = [name for name in robot_names if name not in robots]
    if missing:
        problems.add(f"{where}.robots", f"{'、'.join(missing)} 没有在 [robots] 中声明")
    if not editors and not robot_names:
        problems.add(where, "没有接收人（editors 和 robots 都为空）")
    county = table.get("county", False)
    if not isinstance(county, bool):
        problems.add(f"{where}.county", "应为 true 或 false")
        county = False
    if county and template != "portal":
        problems.add(f"{where}.county", "只有 portal 模板的渠道才能设为县区渠道")
    aliases = _strings(table.get("aliases", []), f"{where}.aliases", problems)
    limits = (
        _limits(template, table.get("limits", {}), f"{where}.limits", problems)
        if isinstance(template, str) and template in LIMITS
        else {}
    )
    if len(problems) > before or not isinstance(template, str):
        return None
    return ChannelSpec(
        key=key,
        name=table["name"].strip(),
        template=template,
        editors=editors,
        robots=robot_names,
        limits=MappingProxyType(limits),
        county=county,
        aliases=aliases,
    )


def _strings(value: Any, where: str, problems: Problems) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.add(where, "应为非空文字的列表")
        return ()
    return tuple(dict.fromkeys(v.strip() for v in value))


def _limits(template: str, value: Any, where: str, problems: Problems) -> dict[str, int]:
    known = LIMITS[template]
    limits = {name: default for name, (default, _) in known.items()}
    if not isinstance(value, dict):
        problems.add(where, "应为一个表，如 { max_chars = 140 }")
        return limits
    for name, number in value.items():
        if name not in known:
            problems.add(
                f"{where}.{name}", f"不是模板 {template!r} 的限制（可用：{'、'.join(known)}）"
            )
        elif isinstance(number, bool) or not isinstance(number, int):
            problems.add(f"{where}.{name}", "应为整数")
        elif number < known[name][1]:
            problems.add(f"{where}.{name}", f"{number} 小于最小值 {known[name][1]}")
        else:
            limits[name] = number
    return limits
