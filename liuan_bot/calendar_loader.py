"""Build the working-day calendar from the `chinese-calendar` package and `config/holidays.toml`.

The package carries the State Council's yearly arrangement (statutory holidays and make-up
working days, 调休) for the years it knows (2004–2026 in 1.11.0). `config/holidays.toml`
corrects or extends it, one table per year (format in that file's comments); its dates win over
the package's. For a year in neither, the statutory days off are computed from the law
(`statutory_days_off`, with the lunar dates from `lunar-python`): such a year is *estimated*,
its make-up working days unknown until the file lists them. `warn_if_unknown` logs that once
when the caller asks (at start-up, for the years the reminders will cover); the news office is
told in chat by the reminder sweep. `CalendarFile` reloads the file when it changes, so adding
a year's arrangement re-plans the reminders without a restart.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from liuan_bot.config_problems import Problems, check_keys, read_toml
from liuan_bot.domain.calendar import LunarDates, WorkingCalendar, statutory_days_off

log = logging.getLogger("liuan_bot.calendar")

_YEAR = re.compile(r"\d{4}")
_KINDS = ("holidays", "workdays")


class CalendarConfigError(ValueError):
    """The holidays file cannot be read or is malformed; the message says where."""


@dataclass
class _Days:
    holidays: set[date] = field(default_factory=set)
    workdays: set[date] = field(default_factory=set)
    known_years: set[int] = field(default_factory=set)
    estimated_years: set[int] = field(default_factory=set)


ESTIMATE_AHEAD = 10  # years past the package's data for which the law's holidays are computed


def lunar_dates(year: int) -> LunarDates:
    """除夕, 清明, 端午 and 中秋 of `year` (Gregorian dates), from lunar-python."""
    from lunar_python import Lunar, Solar

    def ymd(solar: Any) -> date:
        return date(solar.getYear(), solar.getMonth(), solar.getDay())

    new_year = ymd(Lunar.fromYmd(year, 1, 1).getSolar())
    return LunarDates(
        new_year_eve=date.fromordinal(new_year.toordinal() - 1),
        qingming=ymd(Solar.fromYmd(year, 4, 20).getLunar().getJieQiTable()["清明"]),
        dragon_boat=ymd(Lunar.fromYmd(year, 5, 5).getSolar()),
        mid_autumn=ymd(Lunar.fromYmd(year, 8, 15).getSolar()),
    )


def load_calendar(
    path: Path | None,
    *,
    years: range | None = None,
    overrides: list[tuple[int, list[date], list[date]]] | None = None,
) -> WorkingCalendar:
    """The official calendar: the package's data, then the overrides in `path` (if given).

    `years` limits the calendar to those years (package data and overrides alike); None keeps
    every year available. A day listed in the file replaces what the package says about it.
    `overrides`, when given, are the file's tables already parsed (`parse_overrides`).
    """
    days = _package_days(years)
    if overrides is None:
        overrides = _read_overrides(path) if path is not None else []
    listed = {year for year, _, _ in overrides}
    last = max(days.known_years | listed, default=2026)
    for year in years if years is not None else range(last + 1, last + 1 + ESTIMATE_AHEAD):
        if year in days.known_years or year in listed:
            continue
        days.estimated_years.add(year)
        days.holidays |= statutory_days_off(year, lunar_dates(year))
    if overrides:
        for year, holidays, workdays in overrides:
            if years is not None and year not in years:
                continue
            days.known_years.add(year)
            for day in holidays:
                days.workdays.discard(day)
                days.holidays.add(day)
            for day in workdays:
                days.holidays.discard(day)
                days.workdays.add(day)
    return WorkingCalendar(
        holidays=frozenset(days.holidays),
        workdays=frozenset(days.workdays),
        known_years=frozenset(days.known_years),
        estimated_years=frozenset(days.estimated_years),
    )


def file_stamp(path: Path) -> tuple[int, int] | None:
    """What tells a changed file: modification time and size (None: no file)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class CalendarFile:
    """The calendar of `path`, reloaded when the file changes (issue 9 D: re-plan when the
    make-up working days are added)."""

    def __init__(
        self,
        path: Path,
        *,
        years: range | None = None,
        overrides: list[tuple[int, list[date], list[date]]] | None = None,
        stamp: tuple[int, int] | None = None,
    ) -> None:
        """`overrides` and `stamp`: the file as `load_config` read it at start-up (read once)."""
        self._path, self._years = path, years
        self._stamp = stamp if overrides is not None else self._stat()
        self.calendar = load_calendar(path, years=years, overrides=overrides)

    def _stat(self) -> tuple[int, int] | None:
        return file_stamp(self._path)

    def current(self) -> WorkingCalendar:
        stamp = self._stat()
        if stamp != self._stamp:
            try:
                self.calendar = load_calendar(self._path, years=self._years)
            except CalendarConfigError:
                log.exception("holidays file changed but cannot be read; keeping the last one")
            else:
                log.info("holidays file changed: working-day calendar reloaded")
            self._stamp = stamp
        return self.calendar


def warn_if_unknown(calendar: WorkingCalendar, years: Iterable[int]) -> list[int]:
    """Log one warning naming those of `years` without official data; return them, sorted."""
    unknown = sorted(set(years) - calendar.known_years)
    if unknown:
        estimated = [y for y in unknown if y in calendar.estimated_years]
        log.warning(
            "no official holiday data for %s: %s; add the State Council's arrangement to "
            "config/holidays.toml",
            ", ".join(str(year) for year in unknown),
            "statutory holidays computed from the law, make-up working days unknown"
            if estimated == unknown
            else "working days there are plain Monday–Friday",
        )
    return unknown


def _package_days(years: range | None) -> _Days:
    try:
        import chinese_calendar
    except ImportError:  # pragma: no cover - a pinned dependency; fall back to the file only
        return _Days()
    off: Mapping[date, str] = chinese_calendar.holidays
    on: Mapping[date, str] = chinese_calendar.workdays
    if not off:  # pragma: no cover - the package always ships data
        return _Days()
    first, last = min(off).year, max(off).year
    known = {year for year in range(first, last + 1) if years is None or year in years}
    return _Days(
        holidays={day for day in off if day.year in known},
        workdays={day for day in on if day.year in known},
        known_years=known,
    )


def _read_overrides(path: Path) -> list[tuple[int, list[date], list[date]]]:
    problems = Problems(path.name)
    raw = read_toml(path, problems, required=True)
    sections = parse_overrides(raw or {}, problems)
    if problems:
        raise CalendarConfigError(problems.text())
    return sections


def parse_overrides(
    raw: Mapping[str, Any], problems: Problems
) -> list[tuple[int, list[date], list[date]]]:
    """The year tables of holidays.toml; one problem per mistake (issue 11 §5)."""
    sections: list[tuple[int, list[date], list[date]]] = []
    for key, table in raw.items():
        if not _YEAR.fullmatch(key):
            problems.add(key, "每个小节应以年份命名，如 [2027]")
            continue
        if not isinstance(table, dict):
            problems.add(key, "应为一个含 holidays 和 workdays 的表")
            continue
        check_keys(table, _KINDS, key, problems)
        year = int(key)
        holidays = _dates(table.get("holidays", []), year, f"{key}.holidays", problems)
        workdays = _dates(table.get("workdays", []), year, f"{key}.workdays", problems)
        both = sorted(set(holidays) & set(workdays))
        if both:
            listed = "、".join(day.isoformat() for day in both)
            problems.add(key, f"以下日期同时写在了 holidays 和 workdays 里：{listed}")
        sections.append((year, holidays, workdays))
    return sections


def _dates(values: Any, year: int, where: str, problems: Problems) -> list[date]:
    if not isinstance(values, list):
        problems.add(where, f'应为日期列表，如 ["{year}-01-01"]')
        return []
    days: list[date] = []
    for value in values:
        day = _date(value)
        if day is None:
            problems.add(where, f'{value!r} 不是有效的日期，应写成 "{year}-01-01" 这样的格式')
            continue
        # A year's arrangement may reach into the neighbouring years (e.g. a make-up
        # working day in late December for New Year's Day), but no further.
        if abs(day.year - year) > 1:
            problems.add(where, f"{day.isoformat()} 离 {year} 年太远（最多到相邻年份）")
            continue
        days.append(day)
    return days


def _date(value: Any) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    return None
