"""Work groups the news office can address with 公告 (issue 5): group robots and app group
chats, named in `config/channels.toml` next to the relay channels. A robot's webhook key is a
secret, so the file names only the environment variable that holds it (one `[robots]` table
for groups and channels alike).

    [robots]
    newsroom = "LIUAN_ROBOT_NEWSROOM"      # robot name = env var with its webhook key

    [groups."全市新闻发言人群"]
    robot = "newsroom"                      # a group robot …
    [groups."新闻办工作群"]
    chat_id = "wrkSFfCgAAxxxx"              # … or an app group chat (appchat/send)
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Group:
    name: str
    robot: str | None = None
    chat_id: str | None = None


class GroupConfigError(ValueError):
    pass


def load_groups(path: Path) -> tuple[dict[str, Group], dict[str, str]]:
    """Groups by name, and robot name → the env var holding its webhook key."""
    if not path.exists():
        return {}, {}
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    robots = {str(k): str(v) for k, v in raw.get("robots", {}).items()}
    groups: dict[str, Group] = {}
    for name, spec in raw.get("groups", {}).items():
        robot, chat = spec.get("robot"), spec.get("chat_id")
        if bool(robot) == bool(chat):
            raise GroupConfigError(f"{path}: group {name!r} needs exactly one of robot, chat_id")
        if robot and robot not in robots:
            raise GroupConfigError(f"{path}: group {name!r} uses unknown robot {robot!r}")
        groups[str(name)] = Group(str(name), robot=robot, chat_id=chat)
    return groups, robots


def webhook_keys(robots: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """Robot name → webhook key, for the robots whose env var is set."""
    return {name: environ[var] for name, var in robots.items() if environ.get(var)}
