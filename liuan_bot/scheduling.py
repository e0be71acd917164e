"""APScheduler 3 drives the reminder sweeps; the database is the source of truth.

Two jobs with fixed ids on an `AsyncIOScheduler` and no persistent job store (nothing is
pickled, nothing lost on restart: a sweep recomputes what is due from the records):
- `reminder-sweep`: every minute, and once at start-up (catching up missed steps);
- `reminder-precise`: a one-off at the next R17 step, re-armed after every sweep, so a step
  due at T is handed to the outbox within a second of T.
wecom-facts §6: start() needs the running loop; aware datetimes only; a generous misfire
grace time so a late tick still runs (coalesced) instead of being silently dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from liuan_bot.clock import Clock

log = logging.getLogger("liuan_bot.scheduling")

# sweep(now, precise) -> the next R17 moment; precise sweeps look at the R17 clocks only
Sweep = Callable[[datetime, bool], Awaitable[datetime | None]]


class ReminderScheduler:
    """Runs `sweep(now)` every `interval_s` and exactly at the next precise moment it reports."""

    def __init__(self, sweep: Sweep, clock: Clock, *, interval_s: float = 60.0) -> None:
        self._sweep = sweep
        self._clock = clock
        self._interval = interval_s
        self._lock = asyncio.Lock()
        self._scheduler = AsyncIOScheduler(
            timezone=clock.tz,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )

    def _wall(self, moment: datetime | None = None) -> datetime:
        """APScheduler runs on wall-clock time: the wall-clock instant at which the injected
        clock will read `moment` (now, when None). They differ only for a shifted clock."""
        wall = datetime.now(self._clock.tz)
        return wall if moment is None else wall + (moment - self._clock.now())

    def start(self) -> None:
        """Inside the running loop (aiohttp start-up)."""
        self._scheduler.start()
        self._scheduler.add_job(
            self.run,
            IntervalTrigger(seconds=self._interval, timezone=self._clock.tz),
            id="reminder-sweep",
            replace_existing=True,
            next_run_time=self._wall(),  # catch up at start-up
        )

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def run(self, precise: bool = False) -> None:
        async with self._lock:  # one sweep at a time in this process
            now = self._clock.now()
            try:
                upcoming = await self._sweep(now, precise)
            except Exception:
                log.exception("reminder sweep at %s failed", now.isoformat())
                return
        if upcoming is not None and self._scheduler.running:
            # Re-armed from inside the running job: allow a second instance, or APScheduler
            # would skip a step that is already due (the lock still serialises the sweeps).
            self._scheduler.add_job(
                self.run,
                DateTrigger(self._wall(upcoming)),
                kwargs={"precise": True},
                id="reminder-precise",
                replace_existing=True,
                max_instances=2,
            )
