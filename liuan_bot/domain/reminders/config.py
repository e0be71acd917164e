"""ReminderConfig: the offsets, times and recipients of every reminder rule.

Loaded from config/reminders.toml (liuan_bot/reminder_config.py); the defaults are the notice's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta

from liuan_bot.domain.roles import Role


@dataclass(frozen=True)
class ReminderConfig:
    """Offsets, times and recipients of every rule (config/reminders.toml)."""

    quiet_start: time = time(22, 0)
    quiet_end: time = time(7, 30)
    deferred_to: time = time(9, 0)
    ack_escalation: timedelta = timedelta(minutes=30)
    r8_time: time = time(9, 0)
    r8_days_left: tuple[int, ...] = (30, 15)
    r8_working_days_left: tuple[int, ...] = (5, 1)
    r8_to: tuple[Role, ...] = (Role.LIAISON, Role.SPOKESPERSON)
    r9_time: time = time(9, 0)
    r9_days_left: tuple[int, ...] = (45, 20, 7)
    r9_to: tuple[Role, ...] = (Role.LIAISON, Role.SPOKESPERSON)
    r10_time: time = time(9, 0)
    r10_dates: tuple[tuple[int, int], ...] = ((11, 1), (12, 1), (12, 15))
    r10_to: tuple[Role, ...] = (Role.MAIN_LEADER, Role.LIAISON)
    r17_first_release_h: int = 1
    r17_reminder_h: tuple[int, ...] = (12, 18, 22)
    r17_main_leader_from_h: int = 20
    r17_deadline_h: int = 24
    r17_to: tuple[Role, ...] = (Role.SPOKESPERSON, Role.LIAISON)
    r18_working_days_before: int = 3
    r18_time: time = time(9, 0)
    r18_overdue: timedelta = timedelta(hours=24)
    r5_time: time = time(9, 0)
    r5_every: int = 5
    r5_until_month: int = 3  # the annual filing is a start-of-year duty: nag until March
    r7_time: time = time(9, 0)
    r7_window_years: int = 3
    r7_due_within_months: int = 3
    eve_time: time = time(16, 0)
    report_after: timedelta = timedelta(hours=2)
    relay_confirm_after: timedelta = timedelta(hours=24)
    digest_time: time = time(17, 30)
