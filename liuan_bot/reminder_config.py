"""Read `config/reminders.toml` into the planner's `ReminderConfig` (issue 4)."""

from __future__ import annotations

import tomllib
from datetime import time, timedelta
from pathlib import Path
from typing import Any

from liuan_bot.domain.reminders import ReminderConfig
from liuan_bot.domain.roles import Role, parse_role


class ReminderConfigError(ValueError):
    pass


def _time(text: Any, where: str) -> time:
    try:
        hour, minute = str(text).split(":")
        return time(int(hour), int(minute))
    except ValueError as exc:
        raise ReminderConfigError(f"{where}: expected HH:MM, got {text!r}") from exc


def _roles(names: Any, where: str) -> tuple[Role, ...]:
    roles = tuple(parse_role(str(n)) for n in names)
    if any(r is None for r in roles):
        raise ReminderConfigError(f"{where}: unknown role in {names!r}")
    return tuple(r for r in roles if r is not None)


def load_reminder_config(path: Path) -> ReminderConfig:
    """Defaults for anything the file leaves out; a clear error for anything malformed."""
    if not path.exists():
        return ReminderConfig()
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    d, r8, r9, r10 = (
        raw.get("delivery", {}),
        raw.get("r8", {}),
        raw.get("r9", {}),
        raw.get("r10", {}),
    )
    r17, r18, r5, r7 = raw.get("r17", {}), raw.get("r18", {}), raw.get("r5", {}), raw.get("r7", {})
    conf = raw.get("conference", {})
    base = ReminderConfig()
    return ReminderConfig(
        quiet_start=_time(d.get("quiet_start", "22:00"), "delivery.quiet_start"),
        quiet_end=_time(d.get("quiet_end", "07:30"), "delivery.quiet_end"),
        deferred_to=_time(d.get("deferred_to", "09:00"), "delivery.deferred_to"),
        ack_escalation=timedelta(minutes=int(d.get("ack_escalation_minutes", 30))),
        r8_time=_time(r8.get("time", "09:00"), "r8.time"),
        r8_days_left=tuple(int(x) for x in r8.get("days_left", base.r8_days_left)),
        r8_working_days_left=tuple(
            int(x) for x in r8.get("working_days_left", base.r8_working_days_left)
        ),
        r8_to=_roles(r8.get("to", [r.value for r in base.r8_to]), "r8.to"),
        r9_time=_time(r9.get("time", "09:00"), "r9.time"),
        r9_days_left=tuple(int(x) for x in r9.get("days_left", base.r9_days_left)),
        r9_to=_roles(r9.get("to", [r.value for r in base.r9_to]), "r9.to"),
        r10_time=_time(r10.get("time", "09:00"), "r10.time"),
        r10_dates=tuple(
            (int(x.split("-")[0]), int(x.split("-")[1]))
            for x in r10.get("dates", ["11-01", "12-01", "12-15"])
        ),
        r10_to=_roles(r10.get("to", [r.value for r in base.r10_to]), "r10.to"),
        r17_first_release_h=int(r17.get("first_release_hours", 1)),
        r17_reminder_h=tuple(int(x) for x in r17.get("reminder_hours", base.r17_reminder_h)),
        r17_main_leader_from_h=int(r17.get("main_leader_from_hours", 20)),
        r17_deadline_h=int(r17.get("deadline_hours", 24)),
        r17_to=_roles(r17.get("to", [r.value for r in base.r17_to]), "r17.to"),
        r18_working_days_before=int(r18.get("working_days_before", 3)),
        r18_time=_time(r18.get("time", "09:00"), "r18.time"),
        r18_overdue=timedelta(hours=int(r18.get("overdue_hours", 24))),
        r5_time=_time(r5.get("time", "09:00"), "r5.time"),
        r5_every=int(r5.get("every_working_days", 5)),
        r5_until_month=int(r5.get("until_month", 3)),
        r7_time=_time(r7.get("time", "09:00"), "r7.time"),
        r7_window_years=int(r7.get("window_years", 3)),
        r7_due_within_months=int(r7.get("due_within_months", 3)),
        eve_time=_time(conf.get("eve_time", "16:00"), "conference.eve_time"),
        report_after=timedelta(hours=float(conf.get("report_after_hours", 2))),
    )
