"""Pacing against WeCom's silent-drop limits (wecom-facts §3.4, §3.6).

WeCom discards, without an error, app messages beyond 30 per member per minute or 1000 per
member per hour, and group-robot messages beyond 20 per minute. The outbox asks `delay()`
before each send and defers the message instead of losing it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Sequence

APP_LIMITS: tuple[tuple[float, int], ...] = ((60.0, 30), (3600.0, 1000))
ROBOT_LIMITS: tuple[tuple[float, int], ...] = ((60.0, 20),)
# agent/set_workbench_data: 10 calls per minute per user per app (wecom-facts, web pages).
WORKBENCH_LIMITS: tuple[tuple[float, int], ...] = ((60.0, 10),)


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
            ordered = list(stamps)
            for window, limit in self._limits:
                first = bisect_right(ordered, now - window)
                in_window = len(ordered) - first
                if in_window >= limit:
                    # the oldest message that must leave the window before one more fits
                    wait = max(wait, ordered[first + in_window - limit] + window - now)
        return wait

    def record(self, keys: Iterable[str], now: float) -> None:
        for key in keys:
            self._sent.setdefault(key, deque()).append(now)

    def _prune(self, stamps: deque[float], now: float) -> None:
        while stamps and stamps[0] <= now - self._longest:
            stamps.popleft()
