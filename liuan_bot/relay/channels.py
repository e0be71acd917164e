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
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "LIMITS",
    "TEMPLATES",
    "ChannelConfigError",
    "ChannelSpec",
    "load_channels",
    "load_robot_env",
]


class ChannelConfigError(ValueError):
    """`config/channels.toml` is malformed; the message says where and how."""


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


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ChannelConfigError(f"{path}: cannot read the channel file ({exc})") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ChannelConfigError(f"{path}: not valid TOML ({exc})") from exc


def load_robot_env(path: Path) -> dict[str, str]:
    """`[robots]`: robot name → name of the environment variable that holds its webhook key."""
    raw = _read(path).get("robots", {})
    if not isinstance(raw, dict):
        raise ChannelConfigError(f'{path}: [robots] must be a table of name = "ENV_VAR"')
    robots: dict[str, str] = {}
    for name, env in raw.items():
        where = f"{path}: robots.{name}"
        if not isinstance(env, str) or not env:
            raise ChannelConfigError(f"{where}: expected the name of an environment variable")
        if not _ENV_NAME.match(env):
            raise ChannelConfigError(
                f"{where}: not an environment variable name (A–Z, 0–9, _); webhook keys are "
                "secrets: put the key in the environment and the variable's name here"
            )
        robots[str(name)] = env
    return robots


def load_channels(path: Path) -> tuple[ChannelSpec, ...]:
    """The channels of `path`, in file order; a clear error for anything malformed."""
    raw = _read(path)
    robots = load_robot_env(path)
    tables = raw.get("channels")
    if not isinstance(tables, dict) or not tables:
        raise ChannelConfigError(f"{path}: no channels (expected [channels.<key>] tables)")
    unknown_top = set(raw) - {"channels", "robots", "groups"}  # groups: liuan_bot.groups
    if unknown_top:
        raise ChannelConfigError(f"{path}: unknown top-level keys {sorted(unknown_top)}")
    return tuple(
        _channel(str(key), table, robots, f"{path}: channels.{key}")
        for key, table in tables.items()
    )


def _channel(key: str, table: Any, robots: Mapping[str, str], where: str) -> ChannelSpec:
    if not isinstance(table, dict):
        raise ChannelConfigError(f"{where}: expected a table")
    if not _KEY.match(key):
        raise ChannelConfigError(f"{where}: the key must be lower-case ascii (a-z, 0-9, _)")
    unknown = set(table) - _CHANNEL_KEYS
    if unknown:
        raise ChannelConfigError(
            f"{where}: unknown keys {sorted(unknown)} (known: {sorted(_CHANNEL_KEYS)})"
        )
    for required in ("name", "template"):
        if not isinstance(table.get(required), str) or not table[required].strip():
            raise ChannelConfigError(f"{where}: missing {required} (a non-empty string)")
    template = table["template"]
    if template not in LIMITS:
        raise ChannelConfigError(
            f"{where}: unknown template {template!r} (one of {', '.join(TEMPLATES)})"
        )
    editors = _strings(table.get("editors", []), f"{where}.editors")
    bad = [e for e in editors if not _USERID.match(e)]
    if bad:
        raise ChannelConfigError(f"{where}.editors: not WeCom userids: {bad}")
    robot_names = _strings(table.get("robots", []), f"{where}.robots")
    missing = [name for name in robot_names if name not in robots]
    if missing:
        raise ChannelConfigError(f"{where}.robots: {missing} not declared in [robots]")
    if not editors and not robot_names:
        raise ChannelConfigError(f"{where}: nobody receives it (no editors and no robots)")
    county = table.get("county", False)
    if not isinstance(county, bool):
        raise ChannelConfigError(f"{where}.county: expected true or false")
    if county and template != "portal":
        raise ChannelConfigError(f"{where}.county: only a portal channel can be a county one")
    return ChannelSpec(
        key=key,
        name=table["name"].strip(),
        template=template,
        editors=editors,
        robots=robot_names,
        limits=MappingProxyType(_limits(template, table.get("limits", {}), f"{where}.limits")),
        county=county,
        aliases=_strings(table.get("aliases", []), f"{where}.aliases"),
    )


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ChannelConfigError(f"{where}: expected a list of non-empty strings")
    return tuple(dict.fromkeys(v.strip() for v in value))


def _limits(template: str, value: Any, where: str) -> dict[str, int]:
    known = LIMITS[template]
    if not isinstance(value, dict):
        raise ChannelConfigError(f"{where}: expected a table such as {{ max_chars = 140 }}")
    unknown = set(value) - set(known)
    if unknown:
        raise ChannelConfigError(
            f"{where}: {sorted(unknown)} are not limits of template {template!r} "
            f"(known: {', '.join(known)})"
        )
    limits = {name: default for name, (default, _) in known.items()}
    for name, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int):
            raise ChannelConfigError(f"{where}.{name}: expected an integer")
        smallest = known[name][1]
        if number < smallest:
            raise ChannelConfigError(f"{where}.{name}: {number} is below the minimum {smallest}")
        limits[name] = number
    return limits
