"""THE command table: every command, declared once. Help is generated from it."""

from __future__ import annotations

from handlers.help import help_command, whoami_command
from liuan_bot.commands.registry import CommandSpec, Registry
from liuan_bot.domain.roles import ALL_ROLES

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        key="help",
        name="帮助",
        aliases=("help", "菜单", "?"),
        summary="查看您可以使用的命令",
        usage="帮助 [命令名]",
        example="帮助\n帮助 我的信息",
        handler=help_command,
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
        roles=ALL_ROLES,
        rules=("R1", "R4"),
    ),
)


def build_registry() -> Registry:
    return Registry(COMMANDS)
