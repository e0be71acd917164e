"""Read `config/reminders.toml` into the planner's `ReminderConfig` (issue 4).

`parse_reminder_config` collects every problem (unknown keys included) instead of stopping at
the first (issue 11 §5); `liuan_bot.config.load_config` reports them with the other files'.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import time, timedelta
from pathlib import Path
from typing import Any, TypeVar

from liuan_bot.config_problems import Problems, check_keys, read_toml, table_of
from liuan_bot.domain.reminders import ReminderConfig
from liuan_bot.domain.roles import Role, parse_role

FILE = "reminders.toml"
T = TypeVar("T")

# section → its keys (issue 11 §5: anything else is refused)
SECTIONS: dict[str, tuple[str, ...]] = {
    "delivery": ("quiet_start", "quiet_end", "deferred_to", "ack_escalation_minutes"),
    "r8": ("time", "days_left", "working_days_left", "to"),
    "r9": ("time", "days_left", "to"),
    "r10": ("time", "dates", "to"),
    "r17": (
        "first_release_hours",
        "reminder_hours",
        "main_leader_from_hours",
        "deadline_hours",
        "to",
    ),
    "r18": ("working_days_before", "time", "overdue_hours"),
    "r5": ("time", "every_working_days", "until_month"),
    "r7": ("time", "window_years", "due_within_months"),
    "conference": ("eve_time", "report_after_hours"),
}


class ReminderConfigError(ValueError):
    pass


def _time(text: Any) -> time:
    hour, minute = str(text).split(":")
    return time(int(hour), int(minute))


def _number(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(value)
    return value


def _hours(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(value)
    return float(value)


def _numbers(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise ValueError(value)
    return tuple(_number(x) for x in value)


def _roles(names: Any) -> tuple[Role, ...]:
    if not isinstance(names, list):
        raise ValueError(names)
    roles = tuple(parse_role(str(n)) for n in names)
    if any(r is None for r in roles):
        raise ValueError(names)
    return tuple(r for r in roles if r is not None)


def _month_days(value: Any) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, list):
        raise ValueError(value)
    days = []
    for item in value:
        month, day = (int(x) for x in str(item).split("-"))
        if not (1 <= month <= 12 and 1 <= day <= 31):
            raise ValueError(item)
        days.append((month, day))
    return tuple(days)


_EXPECTED: dict[Callable[[Any], Any], str] = {
    _time: '应为“时:分”格式的时间，如 "09:00"',
    _number: "应为不小于 0 的整数",
    _hours: "应为不小于 0 的小时数",
    _numbers: "应为整数列表，如 [30, 15]",
    _roles: "应为角色列表（主要负责人、新闻发言人、联络员、新闻办等）",
    _month_days: '应为“月-日”列表，如 ["11-01", "12-01"]',
}


def parse_reminder_config(raw: dict[str, Any], problems: Problems) -> ReminderConfig:
    """Defaults for anything the file leaves out; one problem per malformed or unknown key."""
    check_keys(raw, SECTIONS, "", problems)
    tables = {name: table_of(raw, name, "", problems) for name in SECTIONS}
    for name, keys in SECTIONS.items():
        check_keys(tables[name], keys, name, problems)
    base = ReminderConfig()

    def get(section: str, key: str, read: Callable[[Any], T], default: T) -> T:
        if key not in tables[section]:
            return default
        value = tables[section][key]
        try:
            return read(value)
        except (ValueError, TypeError):
            problems.add(f"{section}.{key}", f"{_EXPECTED[read]}，当前为 {value!r}")
            return default

    return ReminderConfig(
        quiet_start=get("delivery", "quiet_start", _time, base.quiet_start),
        quiet_end=get("delivery", "quiet_end", _time, base.quiet_end),
        deferred_to=get("delivery", "deferred_to", _time, base.deferred_to),
        ack_escalation=timedelta(
            minutes=get(
                "delivery",
                "ack_escalation_minutes",
                _number,
                int(base.ack_escalation.total_seconds() // 60),
            )
        ),
        r8_time=get("r8", "time", _time, base.r8_time),
        r8_days_left=get("r8", "days_left", _numbers, base.r8_days_left),
        r8_working_days_left=get("r8", "working_days_left", _numbers, base.r8_working_days_left),
        r8_to=get("r8", "to", _roles, base.r8_to),
        r9_time=get("r9", "time", _time, base.r9_time),
        r9_days_left=get("r9", "days_left", _numbers, base.r9_days_left),
        r9_to=get("r9", "to", _roles, base.r9_to),
        r10_time=get("r10", "time", _time, base.r10_time),
        r10_dates=get("r10", "dates", _month_days, base.r10_dates),
        r10_to=get("r10", "to", _roles, base.r10_to),
        r17_first_release_h=get("r17", "first_release_hours", _number, base.r17_first_release_h),
        r17_reminder_h=get("r17", "reminder_hours", _numbers, base.r17_reminder_h),
        r17_main_leader_from_h=get(
            "r17", "main_leader_from_hours", _number, base.r17_main_leader_from_h
        ),
        r17_deadline_h=get("r17", "deadline_hours", _number, base.r17_deadline_h),
        r17_to=get("r17", "to", _roles, base.r17_to),
        r18_working_days_before=get(
            "r18", "working_days_before", _number, base.r18_working_days_before
        ),
        r18_time=get("r18", "time", _time, base.r18_time),
        r18_overdue=timedelta(
            hours=get("r18", "overdue_hours", _hours, base.r18_overdue.total_seconds() / 3600)
        ),
        r5_time=get("r5", "time", _time, base.r5_time),
        r5_every=get("r5", "every_working_days", _number, base.r5_every),
        r5_until_month=get("r5", "until_month", _number, base.r5_until_month),
        r7_time=get("r7", "time", _time, base.r7_time),
        r7_window_years=get("r7", "window_years", _number, base.r7_window_years),
        r7_due_within_months=get("r7", "due_within_months", _number, base.r7_due_within_months),
        eve_time=get("conference", "eve_time", _time, base.eve_time),
        report_after=timedelta(
            hours=get(
                "conference",
                "report_after_hours",
                _hours,
                base.report_after.total_seconds() / 3600,
            )
        ),
    )


def load_reminder_config(path: Path) -> ReminderConfig:
    """The file alone (defaults when it is absent); `ReminderConfigError` listing every problem."""
    problems = Problems(path.name)
    raw = read_toml(path, problems)
    config = parse_reminder_config(raw or {}, problems)
    if problems:
        raise ReminderConfigError(problems.text())
    return config
