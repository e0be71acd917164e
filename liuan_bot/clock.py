"""Injected time. Domain rules take `now`; everything else asks a `Clock`.

All datetimes are timezone-aware: people see Asia/Shanghai, storage keeps UTC.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    """Source of the current time and of waiting."""

    tz: tzinfo

    def now(self) -> datetime:
        """The current time, aware, in `tz`."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait (a fake clock advances instead)."""
        ...


class SystemClock:
    """The real clock in a given zone."""

    def __init__(self, tz: tzinfo = SHANGHAI) -> None:
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(self.tz)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ShiftedClock(SystemClock):
    """The real clock moved to start at a chosen instant; time then runs normally.

    For rehearsals and demos (`bot.py serve --clock-start`): see on a test database what
    the bot does on the last working day of a quarter, without waiting for it.
    """

    def __init__(self, start: datetime, tz: tzinfo = SHANGHAI) -> None:
        super().__init__(tz)
        if start.tzinfo is None:
            raise ValueError("ShiftedClock needs an aware datetime")
        self._offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        return (datetime.now(UTC) + self._offset).astimezone(self.tz)


class FixedClock:
    """A clock that only moves when told to; `sleep` advances it instantly."""

    def __init__(self, start: datetime, tz: tzinfo = SHANGHAI) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.tz = tz
        self._now = start.astimezone(tz)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        self._now = self._now + timedelta(seconds=seconds, **kwargs)
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = moment.astimezone(self.tz)

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


def utc(moment: datetime) -> datetime:
    """The same instant in UTC (the storage zone)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every datetime in liuan-bot must be aware")
    return moment.astimezone(UTC)
