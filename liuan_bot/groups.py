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

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liuan_bot.config_problems import Problems, check_keys, read_toml
from liuan_bot.relay.channels import parse_robots


@dataclass(frozen=True)
class Group:
    name: str
    robot: str | None = None
    chat_id: str | None = None


class GroupConfigError(ValueError):
    pass


def load_groups(path: Path) -> tuple[dict[str, Group], dict[str, str]]:
    """Groups by name, and robot name → the env var holding its webhook key."""
    problems = Problems(path.name)
    raw = read_toml(path, problems)
    if raw is None and not problems:
        return {}, {}
    robots = parse_robots(raw or {}, problems)
    groups = parse_groups(raw or {}, robots, problems)
    if problems:
        raise GroupConfigError(problems.text())
    return groups, robots


def parse_groups(
    raw: Mapping[str, Any], robots: Mapping[str, str], problems: Problems
) -> dict[str, Group]:
    """`[groups."<name>"]` of channels.toml: exactly one of `robot` (a name from [robots]) and
    `chat_id`; one problem per mistake (issue 11 §5)."""
    groups: dict[str, Group] = {}
    tables = raw.get("groups", {})
    if not isinstance(tables, dict):
        problems.add("groups", '应写成 [groups."群名"] 表')
        return groups
    for name, spec in tables.items():
        where = f"groups.{name}"
        if not isinstance(spec, dict):
            problems.add(where, "应为一个表")
            continue
        check_keys(spec, ("robot", "chat_id"), where, problems)
        robot, chat = spec.get("robot"), spec.get("chat_id")
        if robot is not None and not isinstance(robot, str):
            problems.add(f"{where}.robot", "应为 [robots] 中的机器人名称")
            continue
        if chat is not None and not isinstance(chat, str):
            problems.add(f"{where}.chat_id", "应为群聊的 chatid（文字）")
            continue
        if bool(robot) == bool(chat):
            problems.add(where, "robot 和 chat_id 必须且只能写一个")
            continue
        if robot and robot not in robots:
            problems.add(f"{where}.robot", f"机器人 {robot!r} 没有在 [robots] 中声明")
            continue
        groups[str(name)] = Group(str(name), robot=robot, chat_id=chat)
    return groups


def webhook_keys(robots: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """Robot name → webhook key, for the robots whose env var is set."""
    return {name: environ[var] for name, var in robots.items() if environ.get(var)}
