"""Pacing against WeCom's silent-drop limits (wecom-facts §3.4, §3.6).

WeCom discards, without an error, app messages beyond 30 per member per minute or 1000 per
member per hour, app messages beyond the app's daily budget (licensed seats × 200 recipient
sends per natural day), and group-robot messages beyond 20 per minute. The outbox asks a
`Pacer` to reserve a slot before each send and, when there is none, defers the message (and
every other row to the same target) to when the budget frees, instead of losing it.

Two pacers: `InProcessPacer` here (one process, SQLite) and `storage.outbox_store.SqlPacer`
(PostgreSQL: several instances share one set of windows under advisory locks).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from liuan_bot.clock import SHANGHAI

APP_LIMITS: tuple[tuple[float, int], ...] = ((60.0, 30), (3600.0, 1000))
ROBOT_LIMITS: tuple[tuple[float, int], ...] = ((60.0, 20),)
# agent/set_workbench_data: 10 calls per minute per user per app (wecom-facts, web pages).
WORKBENCH_LIMITS: tuple[tuple[float, int], ...] = ((60.0, 10),)
LIMITS_BY_KIND: dict[str, tuple[tuple[float, int], ...]] = {
    "app": APP_LIMITS,
    "webhook": ROBOT_LIMITS,
    "workbench": WORKBENCH_LIMITS,
}
DEFAULT_LICENSED_SEATS = 500
SENDS_PER_SEAT_PER_DAY = 200


class Pacer(Protocol):
    async def reserve(self, kind: str, target: str, now: datetime) -> float:
        """Take one slot for a message of `kind` to `target`: 0 when taken (the message may
        leave now), else the seconds until one frees (nothing is taken)."""
        ...


def pacing_keys(kind: str, target: str) -> list[str]:
    """The windows a message counts in: each member of an app message, the robot of a
    webhook message, the member of a workbench-tile update; other kinds are not paced."""
    if kind == "app":
        return [f"app:{user}" for user in target.split("|") if user]
    if kind == "webhook":
        return [f"robot:{target}"]
    if kind == "workbench":
        return [f"workbench:{target}"]
    return []


def budget_cost(kind: str, target: str) -> int:
    """Recipient sends an app message costs against the app's daily budget."""
    if kind != "app":
        return 0
    return max(1, len([u for u in target.split("|") if u]))


# Our send times are when a message left, not when WeCom counted it: the latency of each call
# varies by up to a few seconds, so two sends exactly a window apart here can land inside one
# window at WeCom's end (the chaos suite saw 31 in 60 s across instances). Every window is
# kept this much longer than WeCom's.
WINDOW_MARGIN_S = 3.0
LONGEST_WINDOW_S = 3600.0 + WINDOW_MARGIN_S  # how far back send times are kept and read


def window_wait(stamps: Sequence[float], limits: Sequence[tuple[float, int]], now: float) -> float:
    """Seconds before one more message fits every (window, limit), given the sorted send
    times `stamps` of one key; each window widened by `WINDOW_MARGIN_S`."""
    wait = 0.0
    for window, limit in limits:
        span = window + WINDOW_MARGIN_S
        first = bisect_right(stamps, now - span)
        in_window = len(stamps) - first
        if in_window >= limit:
            # the oldest message that must leave the window before one more fits
            wait = max(wait, stamps[first + in_window - limit] + span - now)
    return wait


def over_budget(used: int, cost: int, budget: int) -> bool:
    """Whether `cost` more sends break the day's budget (a first message always goes, or
    one bigger than the whole budget would wait for ever)."""
    return used > 0 and used + cost > budget


def day_of(now: datetime) -> str:
    """WeCom's daily budget runs per natural day (Beijing time)."""
    return now.astimezone(SHANGHAI).date().isoformat()


def seconds_to_next_day(now: datetime) -> float:
    local = now.astimezone(SHANGHAI)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), SHANGHAI)
    return max(1.0, (midnight - local).total_seconds())


class SlidingWindowLimiter:
    """Per-key sliding windows; time is given in seconds (from the injected clock)."""

    def __init__(self, limits: Sequence[tuple[float, int]]) -> None:
        self._limits = tuple(limits)
        self._longest = max(window for window, _ in self._limits)
        self._sent: dict[str, deque[float]] = {}

    def delay(self, keys: Iterable[str], now: float) -> float:
        """Seconds to wait before one more message to all `keys` stays within every limit."""
        wait = 0.0
        for key in keys:
            stamps = self._sent.get(key)
            if not stamps:
                continue
            self._prune(stamps, now)
            wait = max(wait, window_wait(list(stamps), self._limits, now))
        return wait

    def record(self, keys: Iterable[str], now: float) -> None:
        for key in keys:
            self._sent.setdefault(key, deque()).append(now)

    def _prune(self, stamps: deque[float], now: float) -> None:
        while stamps and stamps[0] <= now - self._longest:
            stamps.popleft()


class InProcessPacer:
    """Windows and the daily budget in this process's memory (SQLite: one instance)."""

    def __init__(self, daily_budget: int | None = None) -> None:
        self._limiters = {kind: SlidingWindowLimiter(lim) for kind, lim in LIMITS_BY_KIND.items()}
        self._daily_budget = daily_budget
        self._day = ""
        self._used = 0

    async def reserve(self, kind: str, target: str, now: datetime) -> float:
        limiter = self._limiters.get(kind)
        keys = pacing_keys(kind, target)
        if limiter is None or not keys:
            return 0.0
        stamp = now.timestamp()
        wait = limiter.delay(keys, stamp)
        if wait > 0:
            return wait
        cost = budget_cost(kind, target)
        if self._daily_budget is not None and cost:
            if self._day != day_of(now):
                self._day, self._used = day_of(now), 0
            if over_budget(self._used, cost, self._daily_budget):
                return seconds_to_next_day(now)
            self._used += cost
        limiter.record(keys, stamp)
        return 0.0
