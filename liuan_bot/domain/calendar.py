"""China's working-day calendar: statutory holidays and make-up working days (调休).

Routine reminders go out on working days only. A day is a working day when it is a listed
make-up working day, or a Monday–Friday that is not a listed day off. Years without official
data fall back to plain Monday–Friday; the loader (`liuan_bot.calendar_loader`) fills the data
and warns about such years, since the domain does no I/O and no logging.

Ranges are half-open, [start, end), like `Period`; pass `period.start.date()` and
`period.end.date()` for a quarter (R8), a half-year (R9) or a year (R10). The rules phrase
themselves in these terms:

    fifth-last working day of the quarter    nth_last_working_day(q_start, q_end, 5)
    its last working day                     last_working_day(q_start, q_end)
    first working day of the next quarter    first_working_day(q_end, next_q_end)
    first working day of January / a month   first_working_day(month_start, next_month_start)
    every 5 working days                     working_days_between(last, today) >= 5
    3 working days before publication        add_working_days(publication, -3)
    the working day before a conference      previous_working_day(conference)
    deferred to the next working day         next_working_day(day, include=True)

For a year the State Council has not arranged yet (no package data, nothing in the file), the
loader estimates the days off from the law, 《全国年节及纪念日放假办法》 as amended in 2024
(`statutory_days_off`): 元旦 1 day, 春节 4 days (除夕 to 初三), 清明 1, 劳动节 2 (May 1–2),
端午 1, 中秋 1, 国庆 3 (Oct 1–3), and a holiday on a weekend given off on the next working day
(补假, article 6). Make-up working days (调休) cannot be derived: those years are `estimated`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class WorkingCalendar:
    """Official days off and make-up working days; Monday–Friday everywhere else."""

    holidays: frozenset[date]
    """Official days off: those on Monday–Friday matter, weekend ones may be listed too."""
    workdays: frozenset[date]
    """Make-up working days (调休上班), usually a Saturday or a Sunday."""
    known_years: frozenset[int]
    """Years with official data; outside them the calendar is plain Monday–Friday."""
    estimated_years: frozenset[int] = frozenset()
    """Years whose days off were computed from the law: make-up working days are unknown."""

    def __post_init__(self) -> None:
        both = self.holidays & self.workdays
        if both:
            listed = ", ".join(day.isoformat() for day in sorted(both))
            raise ValueError(f"days listed both as holidays and as working days: {listed}")

    @classmethod
    def weekdays_only(cls) -> WorkingCalendar:
        """Monday–Friday with no official data (tests, and the fallback without data)."""
        return cls(holidays=frozenset(), workdays=frozenset(), known_years=frozenset())

    def is_known(self, day: date) -> bool:
        """Whether official data covers `day`'s year (otherwise it is Monday–Friday)."""
        return day.year in self.known_years

    def is_working_day(self, day: date) -> bool:
        if isinstance(day, datetime):
            raise TypeError(f"expected a date, not a datetime: {day!r}")
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def next_working_day(self, day: date, *, include: bool = False) -> date:
        """The first working day after `day`, or on it when `include` is true."""
        current = day if include else _step(day, 1)
        while not self.is_working_day(current):
            current = _step(current, 1)
        return current

    def previous_working_day(self, day: date, *, include: bool = False) -> date:
        """The last working day before `day`, or on it when `include` is true."""
        current = day if include else _step(day, -1)
        while not self.is_working_day(current):
            current = _step(current, -1)
        return current

    def add_working_days(self, day: date, n: int) -> date:
        """Move `n` working days from `day`: forward when positive, back when negative.

        n = 0 gives `day` if it is a working day, else the next one. From a day off, one
        working day forward is the next working day and one back is the previous one.
        """
        if n == 0:
            return self.next_working_day(day, include=True)
        current = day
        for _ in range(abs(n)):
            if n > 0:
                current = self.next_working_day(current)
            else:
                current = self.previous_working_day(current)
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """The number of working days in [start, end); 0 when end == start."""
        return len(self.working_days_in(start, end))

    def working_days_in(self, start: date, end: date) -> list[date]:
        """The working days in [start, end), in order."""
        if end < start:
            raise ValueError(f"range ends before it starts: [{start}, {end})")
        days: list[date] = []
        current = start
        while current < end:
            if self.is_working_day(current):
                days.append(current)
            current += _ONE_DAY
        return days

    def first_working_day(self, start: date, end: date) -> date:
        """The first working day in [start, end); ValueError when there is none."""
        current = start
        while current < end:
            if self.is_working_day(current):
                return current
            current += _ONE_DAY
        raise ValueError(f"no working day in [{start}, {end})")

    def last_working_day(self, start: date, end: date) -> date:
        """The last working day in [start, end); ValueError when there is none."""
        return self.nth_last_working_day(start, end, 1)

    def nth_last_working_day(self, start: date, end: date, n: int) -> date:
        """The n-th working day counted back from the end of [start, end); n = 1 is the last."""
        if n < 1:
            raise ValueError(f"n must be 1 or more (1 is the last working day), got {n}")
        found = 0
        current = end
        while current > start:
            current -= _ONE_DAY
            if self.is_working_day(current):
                found += 1
                if found == n:
                    return current
        if found == 0:
            raise ValueError(f"no working day in [{start}, {end})")
        raise ValueError(f"only {found} working day(s) in [{start}, {end}), not {n}")


@dataclass(frozen=True)
class LunarDates:
    """The year's movable holidays, in the Gregorian calendar (from a lunar-calendar library)."""

    new_year_eve: date  # 除夕, the day before 正月初一
    qingming: date  # 清明 (a solar term)
    dragon_boat: date  # 端午, 五月初五
    mid_autumn: date  # 中秋, 八月十五


def statutory_days_off(year: int, lunar: LunarDates) -> frozenset[date]:
    """The days off of 《全国年节及纪念日放假办法》 (2024 text, in force since 2025) for `year`,
    with 补假: a holiday falling on a Saturday or Sunday is given off on the next weekday that
    is not already a day off. The make-up working days (调休) of the State Council's yearly
    arrangement are not in the law and are not guessed."""
    holidays: list[date] = [date(year, 1, 1)]
    holidays += [lunar.new_year_eve + timedelta(days=i) for i in range(4)]
    holidays += [lunar.qingming, date(year, 5, 1), date(year, 5, 2)]
    holidays += [lunar.dragon_boat, lunar.mid_autumn]
    holidays += [date(year, 10, d) for d in (1, 2, 3)]
    off = set(holidays)
    for day in sorted(holidays):
        if day.weekday() >= 5:
            substitute = day + _ONE_DAY
            while substitute.weekday() >= 5 or substitute in off:
                substitute += _ONE_DAY
            off.add(substitute)
    return frozenset(off)


def _step(day: date, sign: int) -> date:
    try:
        return day + sign * _ONE_DAY
    except OverflowError:
        direction = "after" if sign > 0 else "before"
        raise ValueError(f"no working day {direction} {day}: out of the date range") from None
