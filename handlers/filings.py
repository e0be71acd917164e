"""Policy (R18), risk assessment (R13), spokesperson roster (R5) and training (R7) filings."""

from __future__ import annotations

from liuan_bot.commands.registry import CommandSpec

COMMANDS: tuple[CommandSpec, ...] = ()
