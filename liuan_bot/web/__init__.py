"""The news office's web console inside WeCom (issue 10 §1): `create_console_app`."""

from liuan_bot.web.app import create_console_app
from liuan_bot.web.backend import ActionResult, ConsoleBackend, ConsoleConfig

__all__ = ["ActionResult", "ConsoleBackend", "ConsoleConfig", "create_console_app"]
