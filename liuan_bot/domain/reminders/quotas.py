"""R8, R9, R10 (4·2·1): a key unit is reminded until its quota is held in the period; on the
first working day after a period the news office gets the units that missed it, and each is
recorded for accountability (R14).

R8: a conference every quarter (days left and last working days of the quarter).
R9: the spokesperson (or a responsible official) at a city-government conference every
half-year.
R10: the main leader at a city-government conference every year (fixed dates).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from liuan_bot.domain.calendar import WorkingCalendar
from liuan_bot.domain.periods import Period, half_year, quarter, year
from liuan_bot.domain.reminders.config import ReminderConfig
from liuan_bot.domain.reminders.facts import UnitFacts, World
from liuan_bot.domain.reminders.reminder import Reminder
from liuan_bot.domain.reminders.timing import at_time, deliverable, ladder


def _period_code(period: Period, kind: str) -> str:
    start = period.start
    if kind == "quarter":
        return f"{start.year}Q{(start.month - 1) // 3 + 1}"
    if kind == "half":
        return f"{start.year}H{1 if start.month == 1 else 2}"
    return f"{start.year}"


def _held_in(unit: UnitFacts, period: Period, rule: str) -> bool:
    return any(rule in counts and period.contains(at) for at, counts in unit.held)


def _days_left_day(period: Period, days_left: int) -> date:
    last = (period.end - timedelta(days=1)).date()
    return last - timedelta(days=days_left - 1)


def _quota_steps(
    rule: str,
    period: Period,
    code: str,
    unit: UnitFacts,
    cal: WorkingCalendar,
    cfg: ReminderConfig,
    now: datetime,
) -> list[Reminder]:
    """The R8, R9 or R10 ladder of one unit that has not held its quota in `period`."""
    tz = now.tzinfo
    first, last = period.start.date(), (period.end - timedelta(days=1)).date()
    steps: list[tuple[str, datetime]] = []
    if rule == "R8":
        roles, at = cfg.r8_to, cfg.r8_time
        steps += [(f"d{d}", at_time(_days_left_day(period, d), at, tz)) for d in cfg.r8_days_left]
        for n in cfg.r8_working_days_left:
            day = cal.nth_last_working_day(first, last + timedelta(days=1), n)
            steps.append((f"wd{n}", at_time(day, at, tz)))
    elif rule == "R9":
        roles, at = cfg.r9_to, cfg.r9_time
        steps += [(f"d{d}", at_time(_days_left_day(period, d), at, tz)) for d in cfg.r9_days_left]
    else:
        roles, at = cfg.r10_to, cfg.r10_time
        steps += [
            (f"{m:02d}{d:02d}", at_time(date(period.start.year, m, d), at, tz))
            for m, d in cfg.r10_dates
        ]
    steps = [(name, deliverable(due, cal, cfg)) for name, due in steps]
    upcoming = [s for s in unit.upcoming if period.contains(s) and s >= now]
    data: dict[str, object] = {
        "unit": unit.name,
        "period": period.label,
        "deadline": period.end - timedelta(seconds=1),
    }
    if upcoming:
        data["scheduled"] = min(upcoming)
    proto = Reminder(
        rule,
        f"unit:{unit.id}",
        code,
        "",
        kind=f"{rule.lower()}_due",
        due_at=now,
        expires_at=now,
        recipients=unit.to(roles),
        unit_id=unit.id,
        data=data,
    )
    return ladder(proto, steps, period.end)


def _missed_list(
    rule: str,
    previous: Period,
    code: str,
    units: Sequence[UnitFacts],
    world: World,
    cal: WorkingCalendar,
    cfg: ReminderConfig,
    now: datetime,
) -> list[Reminder]:
    """On the first working day after a period: the news office gets the units that missed."""
    missed = [u for u in units if u.key_unit and not _held_in(u, previous, rule)]
    day = cal.first_working_day(previous.end.date(), previous.end.date() + timedelta(days=40))
    due = at_time(day, cfg.r8_time, now.tzinfo)
    data = {"period": previous.label, "units": tuple(u.name for u in missed)}
    return [
        Reminder(
            rule,
            "list",
            code,
            "missed",
            kind=f"{rule.lower()}_missed",
            due_at=due,
            expires_at=due + timedelta(days=30),
            recipients=world.news_office,
            data=data,
            accountability=tuple((u.id, rule) for u in missed),
        )
    ]


def quota_reminders(
    world: World, cal: WorkingCalendar, cfg: ReminderConfig, now: datetime
) -> list[Reminder]:
    """R8, R9, R10: this period's ladders of the key units, and last period's missed lists."""
    result: list[Reminder] = []
    keys = [u for u in world.units if u.key_unit]
    for rule, period_of, kind in (
        ("R8", quarter, "quarter"),
        ("R9", half_year, "half"),
        ("R10", year, "year"),
    ):
        period = period_of(now)
        code = _period_code(period, kind)
        for unit in keys:
            if not _held_in(unit, period, rule):
                result += _quota_steps(rule, period, code, unit, cal, cfg, now)
        previous = period_of(period.start - timedelta(days=1))
        result += _missed_list(
            rule, previous, _period_code(previous, kind), keys, world, cal, cfg, now
        )
    return result
