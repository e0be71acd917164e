"""Incidents (R11, R17) and hot-issue reports (R24)."""

from __future__ import annotations

from liuan_bot.commands.registry import CommandSpec

COMMANDS: tuple[CommandSpec, ...] = ()
