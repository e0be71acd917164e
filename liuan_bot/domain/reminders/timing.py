"""When a reminder may go out: working days, quiet hours, and step ladders.

Routine reminders go out on working days only and never in quiet hours (deferred to the
morning of the next working day); R17 steps run on wall-clock hours and ignore both.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta, tzinfo

from liuan_bot.domain.calendar import WorkingCalendar
from liuan_bot.domain.reminders.config import ReminderConfig
from liuan_bot.domain.reminders.reminder import Reminder

FAR = timedelta(days=3650)


def at_time(day: date, at: time, tz: tzinfo | None) -> datetime:
    """`day` at the clock time `at`, in `tz`."""
    return datetime.combine(day, at, tzinfo=tz)


def deliverable(moment: datetime, cal: WorkingCalendar, cfg: ReminderConfig) -> datetime:
    """When a routine reminder planned for `moment` may go out: working day, not quiet."""
    tz = moment.tzinfo
    day, clock = moment.date(), moment.timetz().replace(tzinfo=None)
    if cal.is_working_day(day) and cfg.quiet_end <= clock < cfg.quiet_start:
        return moment
    if cal.is_working_day(day) and clock < cfg.quiet_end:
        return at_time(day, cfg.deferred_to, tz)
    return at_time(cal.next_working_day(day), cfg.deferred_to, tz)


def ladder(proto: Reminder, steps: list[tuple[str, datetime]], end: datetime) -> list[Reminder]:
    """Steps in time order; each expires when the next becomes due (or at `end`)."""
    ordered: list[tuple[str, datetime]] = []
    for name, due in sorted(steps, key=lambda s: s[1]):
        if ordered and ordered[-1][1] == due:
            continue  # two schedules landing on one moment: one reminder
        ordered.append((name, due))
    return [
        replace(
            proto,
            step=name,
            due_at=due,
            expires_at=ordered[i + 1][1] if i + 1 < len(ordered) else end,
        )
        for i, (name, due) in enumerate(ordered)
    ]
