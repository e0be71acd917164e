"""Errors the bot knows how to answer.

    BotError
    ├── UserError            its Chinese message goes back to the sender as is
    │   ├── UsageError       missing/unknown fields, unparsable values
    │   ├── PermissionDenied R1: acting outside one's role or unit
    │   ├── NotFound         no such record
    │   ├── Conflict         illegal state change, venue already booked (R15)
    │   └── NotRegistered    sender not in the roster
    └── (transport errors live in liuan_bot.wecom.api: WeComError …)

Anything else is a bug: logged with the MsgId, answered with a generic apology.
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error the bot raises on purpose."""


class UserError(BotError):
    """An error whose message (Chinese) is the reply to the sender."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(UserError):
    pass


class PermissionDenied(UserError):
    pass


class NotFound(UserError):
    pass


class Conflict(UserError):
    pass


class NotRegistered(UserError):
    pass


APOLOGY = "抱歉，处理这条消息时出了点问题，已记录下来。请稍后再试，或联系市政府新闻办。"
