"""R5 and R7: the annual spokesperson roster filing and the training window.

R5: a unit that has not filed this year's roster is reminded every few working days until
March; at the end of January the news office gets the units still missing.
R7: on the first working day of each month the news office gets who was never trained, whose
training lapsed, and whose lapses within the next months.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from liuan_bot.domain.calendar import WorkingCalendar
from liuan_bot.domain.reminders.config import ReminderConfig
from liuan_bot.domain.reminders.facts import World
from liuan_bot.domain.reminders.reminder import Reminder
from liuan_bot.domain.reminders.timing import at_time
from liuan_bot.domain.roles import Role

FILING_UNIT_TYPES = ("市直部门", "县区", "开发区")


def roster_reminders(
    world: World, cal: WorkingCalendar, cfg: ReminderConfig, now: datetime
) -> list[Reminder]:
    """R5: this year's filing reminders of the units missing it, and January's list."""
    tz, y = now.tzinfo, now.year
    first = cal.first_working_day(date(y, 1, 1), date(y, 2, 1))
    missing = [
        u
        for u in world.units
        if u.unit_type in FILING_UNIT_TYPES and y not in u.roster_filed_years
    ]
    result: list[Reminder] = []
    if first <= now.date() and now.month <= cfg.r5_until_month:
        elapsed = cal.working_days_between(first, now.date() + timedelta(days=1)) - 1
        latest = elapsed - elapsed % cfg.r5_every  # the latest step on or before today
        # The step before it too: still due before today's step time, else missed if unsent.
        for n in (latest - cfg.r5_every, latest):
            if n < 0:
                continue
            day = cal.add_working_days(first, n)
            due = at_time(day, cfg.r5_time, tz)
            expires = at_time(cal.add_working_days(first, n + cfg.r5_every), cfg.r5_time, tz)
            for unit in missing:
                result.append(
                    Reminder(
                        "R5",
                        f"unit:{unit.id}",
                        str(y),
                        f"wd{n}",
                        kind="r5_due",
                        due_at=due,
                        expires_at=expires,
                        recipients=unit.to((Role.LIAISON, Role.MAIN_LEADER)),
                        unit_id=unit.id,
                        data={"unit": unit.name, "year": y},
                    )
                )
    end_of_january = cal.last_working_day(date(y, 1, 1), date(y, 2, 1))
    due = at_time(end_of_january, cfg.r5_time, tz)
    result.append(
        Reminder(
            "R5",
            "list",
            str(y),
            "january",
            kind="r5_missing",
            due_at=due,
            expires_at=due + timedelta(days=30),
            recipients=world.news_office,
            data={"year": y, "units": tuple(u.name for u in missing)},
        )
    )
    return result


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def training_reminders(
    world: World, cal: WorkingCalendar, cfg: ReminderConfig, now: datetime
) -> list[Reminder]:
    """R7: this month's training list for the news office."""
    today = now.date()
    month_start = today.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    day = cal.first_working_day(month_start, next_month)
    due = at_time(day, cfg.r7_time, now.tzinfo)
    horizon = today + timedelta(days=31 * cfg.r7_due_within_months)
    never, lapsed, soon = [], [], []
    for person in world.trainees:
        if person.last_trained is None:
            never.append(person.name)
            continue
        due_on = _add_years(person.last_trained, cfg.r7_window_years)
        if due_on <= today:
            lapsed.append(person.name)
        elif due_on <= horizon:
            soon.append(f"{person.name}（{due_on.month}月{due_on.day}日到期）")
    data = {
        "never": tuple(never),
        "lapsed": tuple(lapsed),
        "soon": tuple(soon),
        "window": cfg.r7_window_years,
    }
    code = f"{today.year}-{today.month:02d}"
    return [
        Reminder(
            "R7",
            "list",
            code,
            "monthly",
            kind="r7_training",
            due_at=due,
            expires_at=at_time(next_month, time(0, 0), now.tzinfo),
            recipients=world.news_office,
            data=data,
        )
    ]
