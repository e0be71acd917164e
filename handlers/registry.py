"""THE command table: every command, declared once, in help order.

Each use-case module declares its commands in its own `COMMANDS` tuple (name, aliases, usage,
example, roles, rule ids, grammar, handler); this module puts them together. Help, `parse`
and dispatch all read the result.
"""

from __future__ import annotations

from collections.abc import Mapping

from handlers import (
    announcements,
    conferences,
    incidents,
    policies,
    relay,
    reminders,
    roster,
    status,
)
from handlers.evaluation import COMMANDS as EVALUATION_COMMANDS
from handlers.help import help_command, whoami_command
from handlers.plans import COMMANDS as PLAN_COMMANDS
from liuan_bot.commands.registry import CardAction, CommandSpec, Registry
from liuan_bot.domain.roles import ALL_ROLES

CORE: tuple[CommandSpec, ...] = (
    CommandSpec(
        key="help",
        name="帮助",
        aliases=("help", "菜单", "?"),
        summary="查看您可以使用的命令",
        usage="帮助 [命令名]",
        example="帮助\n\n帮助 申请发布会",
        handler=help_command,
        read_only=True,
        roles=ALL_ROLES,
    ),
    CommandSpec(
        key="whoami",
        name="我的信息",
        aliases=("我是谁",),
        summary="查看机器人登记的您的单位、职务和角色",
        usage="我的信息",
        example="我的信息",
        handler=whoami_command,
        read_only=True,
        roles=ALL_ROLES,
        rules=("R1", "R4"),
    ),
)


COMMANDS: tuple[CommandSpec, ...] = (
    *CORE,
    *conferences.COMMANDS,
    *incidents.COMMANDS,
    *policies.COMMANDS,
    *roster.COMMANDS,
    *status.COMMANDS,
    *reminders.COMMANDS,
    *announcements.COMMANDS,
    *relay.COMMANDS,
    *PLAN_COMMANDS,
    *EVALUATION_COMMANDS,
)


# Buttons that are not a text command: 收到 on a reminder (R14), 已阅 on an announcement.
CARD_ACTIONS: tuple[CardAction, ...] = (
    CardAction("ack", reminders.acknowledge),
    CardAction("read", announcements.mark_read),
)


def build_registry(lexicons: Mapping[str, Mapping[str, str]] | None = None) -> Registry:
    """The registry; `lexicons` are the configured vocabularies the grammars resolve (the
    channels' aliases: 广电 → 六安市广播电视台), from `channel_lexicon`."""
    return Registry(COMMANDS, CARD_ACTIONS, lexicons)
