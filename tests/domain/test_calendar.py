"""The working-day calendar: official holidays and make-up working days (调休) for the reminder
rules (R5, R8, R15, R18), the fallback beyond the known years, the overrides file, and
properties over random days.

Facts use the real calendar (chinese-calendar data plus config/holidays.toml). Every expected
date was checked against chinese_calendar 1.11.0 and is written out literally.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from liuan_bot.calendar_loader import CalendarConfigError, load_calendar, warn_if_unknown
from liuan_bot.clock import SHANGHAI
from liuan_bot.domain.calendar import WorkingCalendar
from liuan_bot.domain.periods import quarter, year

HOLIDAYS_TOML = Path(__file__).resolve().parents[2] / "config" / "holidays.toml"
CAL = load_calendar(HOLIDAYS_TOML)
WEEKDAYS = WorkingCalendar.weekdays_only()


def quarter_bounds(day: date) -> tuple[date, date]:
    """[start, end) of `day`'s quarter, through the domain's Period."""
    period = quarter(datetime.combine(day, time(12), tzinfo=SHANGHAI))
    return period.start.date(), period.end.date()


# --- the loaded data ----------------------------------------------------------------------


def test_the_package_years_are_known_and_2027_is_not() -> None:
    assert set(range(2004, 2027)) <= CAL.known_years
    assert CAL.is_known(date(2026, 12, 31))
    assert not CAL.is_known(date(2027, 1, 1))


def test_national_day_2025_is_off_from_october_1_to_8() -> None:
    assert [CAL.is_working_day(date(2025, 10, d)) for d in range(1, 10)] == [False] * 8 + [True]


def test_the_make_up_days_of_national_day_2025_are_working_days() -> None:
    sunday, saturday = date(2025, 9, 28), date(2025, 10, 11)
    assert (sunday.weekday(), saturday.weekday()) == (6, 5)
    assert CAL.is_working_day(sunday)
    assert CAL.is_working_day(saturday)
    assert not CAL.is_working_day(date(2025, 10, 12))  # the Sunday after is an ordinary one


def test_spring_festival_2026_is_off_from_february_15_to_23_with_two_make_up_saturdays() -> None:
    days = [date(2026, 2, 13) + timedelta(days=i) for i in range(17)]  # Fri Feb 13 … Sun Mar 1
    working = [day for day in days if CAL.is_working_day(day)]
    assert working == [
        date(2026, 2, 13),
        date(2026, 2, 14),  # Saturday, make-up
        date(2026, 2, 24),
        date(2026, 2, 25),
        date(2026, 2, 26),
        date(2026, 2, 27),
        date(2026, 2, 28),  # Saturday, make-up
    ]
    assert CAL.next_working_day(date(2026, 2, 14)) == date(2026, 2, 24)
    assert CAL.previous_working_day(date(2026, 2, 24)) == date(2026, 2, 14)


@pytest.mark.parametrize(
    "saturday",
    [
        date(2024, 5, 11),
        date(2024, 9, 14),
        date(2024, 10, 12),
        date(2025, 2, 8),
        date(2025, 10, 11),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 10, 10),
    ],
)
def test_make_up_saturdays_are_working_days(saturday: date) -> None:
    assert saturday.weekday() == 5
    assert CAL.is_working_day(saturday)
    assert CAL.previous_working_day(saturday + timedelta(days=1)) == saturday


def test_an_ordinary_weekend_is_off_and_an_ordinary_weekday_works() -> None:
    assert not CAL.is_working_day(date(2025, 11, 15))  # Saturday
    assert not CAL.is_working_day(date(2025, 11, 16))  # Sunday
    assert CAL.is_working_day(date(2025, 11, 17))  # Monday


def test_the_years_have_their_official_number_of_working_days() -> None:
    assert CAL.working_days_between(date(2024, 1, 1), date(2025, 1, 1)) == 251
    assert CAL.working_days_between(date(2025, 1, 1), date(2026, 1, 1)) == 248
    assert CAL.working_days_between(date(2026, 1, 1), date(2027, 1, 1)) == 248


# --- R8: the quarter ------------------------------------------------------------------------


def test_r8_last_working_day_of_a_quarter_ending_on_a_working_tuesday() -> None:
    start, end = quarter_bounds(date(2025, 8, 15))
    assert (start, end) == (date(2025, 7, 1), date(2025, 10, 1))
    assert CAL.last_working_day(start, end) == date(2025, 9, 30)


def test_r8_last_working_day_of_a_quarter_ending_on_a_weekend() -> None:
    assert date(2024, 3, 31).weekday() == 6
    assert CAL.last_working_day(*quarter_bounds(date(2024, 2, 1))) == date(2024, 3, 29)


def test_r8_last_working_day_of_a_quarter_ending_on_a_holiday_is_a_make_up_saturday() -> None:
    # 2018-12-31 is a Monday off for New Year's Day; Saturday 2018-12-29 was worked for it.
    assert date(2018, 12, 31).weekday() == 0
    assert not CAL.is_working_day(date(2018, 12, 31))
    assert CAL.last_working_day(*quarter_bounds(date(2018, 11, 1))) == date(2018, 12, 29)


def test_r8_last_working_day_of_a_quarter_ending_in_the_national_day_holiday() -> None:
    # 2023-09-30 (Saturday) is already in the Mid-autumn / National Day holiday, Sep 29 too.
    assert CAL.last_working_day(*quarter_bounds(date(2023, 8, 1))) == date(2023, 9, 28)


def test_r8_fifth_last_working_day_of_q4_2026() -> None:
    start, end = quarter_bounds(date(2026, 11, 26))
    assert CAL.nth_last_working_day(start, end, 5) == date(2026, 12, 25)
    assert CAL.working_days_in(date(2026, 12, 25), end) == [
        date(2026, 12, 25),
        date(2026, 12, 28),
        date(2026, 12, 29),
        date(2026, 12, 30),
        date(2026, 12, 31),
    ]


def test_r8_counting_back_from_the_end_of_q3_2025_counts_the_make_up_sunday() -> None:
    # Sunday 2025-09-28 is a make-up working day, so it counts.
    assert CAL.nth_last_working_day(date(2025, 7, 1), date(2025, 10, 1), 4) == date(2025, 9, 26)
    assert CAL.nth_last_working_day(date(2025, 7, 1), date(2025, 10, 1), 3) == date(2025, 9, 28)


def test_r8_first_working_day_of_the_next_quarter_after_national_day() -> None:
    _, end = quarter_bounds(date(2025, 9, 30))
    _, next_end = quarter_bounds(end)
    assert CAL.first_working_day(end, next_end) == date(2025, 10, 9)


def test_r8_q4_2026_starts_after_the_national_day_week() -> None:
    assert CAL.first_working_day(date(2026, 10, 1), date(2027, 1, 1)) == date(2026, 10, 8)


# --- R5: January; the year boundary -----------------------------------------------------------


def test_r5_first_working_day_of_january_2026_is_the_make_up_sunday() -> None:
    period = year(datetime(2026, 3, 1, tzinfo=SHANGHAI))
    january = (period.start.date(), date(2026, 2, 1))
    assert CAL.first_working_day(*january) == date(2026, 1, 4)
    assert date(2026, 1, 4).weekday() == 6


def test_r5_first_working_day_of_january_2025_is_the_second() -> None:
    assert CAL.first_working_day(date(2025, 1, 1), date(2025, 2, 1)) == date(2025, 1, 2)


def test_working_days_cross_the_year_boundary_over_new_years_day() -> None:
    assert CAL.add_working_days(date(2025, 12, 31), 1) == date(2026, 1, 4)
    assert CAL.previous_working_day(date(2026, 1, 4)) == date(2025, 12, 31)
    assert CAL.working_days_between(date(2025, 12, 31), date(2026, 1, 5)) == 2


def test_first_working_day_of_each_month_skips_the_may_day_holiday() -> None:
    assert CAL.first_working_day(date(2025, 5, 1), date(2025, 6, 1)) == date(2025, 5, 6)
    assert CAL.first_working_day(date(2026, 5, 1), date(2026, 6, 1)) == date(2026, 5, 6)
    assert CAL.first_working_day(date(2026, 3, 1), date(2026, 4, 1)) == date(2026, 3, 2)


# --- counting working days across the National Day week -----------------------------------


def test_one_working_day_after_september_30_2025_is_october_9() -> None:
    assert CAL.add_working_days(date(2025, 9, 30), 1) == date(2025, 10, 9)
    assert CAL.add_working_days(date(2025, 10, 9), -1) == date(2025, 9, 30)


def test_r18_three_working_days_before_a_publication_on_october_9_2025() -> None:
    # Sep 30, Sep 29, then the make-up Sunday Sep 28.
    assert CAL.add_working_days(date(2025, 10, 9), -3) == date(2025, 9, 28)


def test_r15_the_working_day_before_a_conference_after_a_holiday() -> None:
    assert CAL.previous_working_day(date(2025, 10, 9)) == date(2025, 9, 30)
    assert CAL.previous_working_day(date(2026, 2, 24)) == date(2026, 2, 14)


def test_every_5_working_days_counts_the_make_up_day_and_not_the_holiday() -> None:
    assert CAL.add_working_days(date(2025, 9, 24), 5) == date(2025, 9, 30)
    assert CAL.add_working_days(date(2025, 9, 30), 5) == date(2025, 10, 14)
    assert CAL.working_days_between(date(2025, 9, 30), date(2025, 10, 14)) == 5
    assert CAL.working_days_between(date(2025, 10, 1), date(2025, 10, 9)) == 0


def test_a_reminder_due_in_the_holiday_is_deferred_to_9_00_of_the_next_working_day() -> None:
    due = datetime(2025, 10, 4, 10, 0, tzinfo=SHANGHAI)
    day = CAL.next_working_day(due.date(), include=True)
    assert datetime.combine(day, time(9), tzinfo=SHANGHAI) == datetime(
        2025, 10, 9, 9, 0, tzinfo=SHANGHAI
    )
    assert CAL.next_working_day(date(2025, 10, 11), include=True) == date(2025, 10, 11)


def test_add_zero_working_days_keeps_a_working_day_and_moves_off_a_day_off() -> None:
    assert CAL.add_working_days(date(2025, 9, 28), 0) == date(2025, 9, 28)
    assert CAL.add_working_days(date(2025, 10, 1), 0) == date(2025, 10, 9)


def test_from_a_day_off_one_working_day_back_is_the_previous_working_day() -> None:
    assert CAL.add_working_days(date(2025, 10, 4), -1) == date(2025, 9, 30)
    assert CAL.add_working_days(date(2025, 10, 4), 1) == date(2025, 10, 9)


# --- ranges without working days ------------------------------------------------------------


def test_a_range_without_working_days_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"no working day in \[2025-10-01, 2025-10-09\)"):
        CAL.first_working_day(date(2025, 10, 1), date(2025, 10, 9))
    with pytest.raises(ValueError, match="no working day"):
        CAL.last_working_day(date(2025, 10, 1), date(2025, 10, 9))
    with pytest.raises(ValueError, match="no working day"):
        CAL.last_working_day(date(2025, 10, 9), date(2025, 10, 9))


def test_asking_for_more_working_days_than_the_range_has_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"only 2 working day\(s\) in .* not 3"):
        CAL.nth_last_working_day(date(2025, 9, 29), date(2025, 10, 9), 3)
    with pytest.raises(ValueError, match="n must be 1 or more"):
        CAL.nth_last_working_day(date(2025, 9, 1), date(2025, 10, 1), 0)


def test_a_backwards_range_is_refused_when_counting() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        CAL.working_days_between(date(2025, 10, 9), date(2025, 10, 1))


def test_stepping_past_the_end_of_dates_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no working day after"):
        WEEKDAYS.next_working_day(date.max)
    with pytest.raises(ValueError, match="no working day before"):
        WEEKDAYS.previous_working_day(date.min)


def test_a_datetime_is_refused_where_a_date_is_expected() -> None:
    with pytest.raises(TypeError, match="not a datetime"):
        CAL.is_working_day(datetime(2025, 10, 9, 9, 0, tzinfo=SHANGHAI))


def test_a_day_cannot_be_both_a_holiday_and_a_make_up_working_day() -> None:
    day = date(2025, 10, 11)
    with pytest.raises(ValueError, match="2025-10-11"):
        WorkingCalendar(frozenset({day}), frozenset({day}), frozenset({2025}))


# --- beyond the data: Monday–Friday, with one warning --------------------------------------


def test_d_2027_new_years_day_is_a_holiday_computed_from_the_law() -> None:
    """Issue 9 D: no official data for 2027, so the law's days off are computed."""
    assert not CAL.is_known(date(2027, 1, 1))
    assert 2027 in CAL.estimated_years
    assert not CAL.is_working_day(date(2027, 1, 1))  # 元旦, a Friday
    assert CAL.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)


def test_d_2027_statutory_days_off_follow_the_2024_text_of_the_law() -> None:
    # 春节: 除夕 Fri Feb 5 to 初三 Mon Feb 8; 初一 and 初二 fall on the weekend: 补假 Feb 9, 10.
    spring = [date(2027, 2, d) for d in range(5, 11)]
    assert not any(CAL.is_working_day(d) for d in spring)
    assert CAL.is_working_day(date(2027, 2, 11))
    assert not CAL.is_working_day(date(2027, 4, 5))  # 清明, Monday
    assert not CAL.is_working_day(date(2027, 5, 3))  # 劳动节 May 1–2 (Sat, Sun): 补假 Mon
    assert not CAL.is_working_day(date(2027, 5, 4))
    assert CAL.is_working_day(date(2027, 5, 5))
    assert not CAL.is_working_day(date(2027, 6, 9))  # 端午, Wednesday
    assert not CAL.is_working_day(date(2027, 9, 15))  # 中秋, Wednesday
    assert not CAL.is_working_day(date(2027, 10, 1))  # 国庆 Oct 1–3 (Fri–Sun): 补假 Mon, Tue
    assert not CAL.is_working_day(date(2027, 10, 5))
    assert CAL.is_working_day(date(2027, 10, 6))
    assert CAL.is_working_day(date(2027, 3, 1))  # an ordinary Monday


def test_d_the_law_gives_the_2025_and_2026_official_days_off() -> None:
    """Checked against the State Council's arrangements the package carries: every day the
    law names is a day off there too (the arrangements add 调休 around them)."""
    from liuan_bot.calendar_loader import lunar_dates
    from liuan_bot.domain.calendar import statutory_days_off

    for yr in (2025, 2026):
        named = {
            d for d in statutory_days_off(yr, lunar_dates(yr)) if d.weekday() < 5 and d.year == yr
        }
        assert {d for d in named if CAL.is_working_day(d)} == set(), yr


def test_d_a_year_listed_in_the_file_replaces_the_estimate(tmp_path: Path) -> None:
    path = tmp_path / "holidays.toml"
    path.write_text('[2027]\nholidays = ["2027-01-01"]\nworkdays = ["2027-02-20"]\n')
    listed = load_calendar(path)
    assert listed.is_known(date(2027, 1, 1))
    assert 2027 not in listed.estimated_years
    assert listed.is_working_day(date(2027, 2, 20))  # a make-up Saturday
    assert listed.is_working_day(date(2027, 2, 9))  # no longer estimated off


def test_d_calendar_file_reloads_when_the_file_changes(tmp_path: Path) -> None:
    from liuan_bot.calendar_loader import CalendarFile

    path = tmp_path / "holidays.toml"
    path.write_text("# empty\n")
    watched = CalendarFile(path)
    assert 2027 in watched.current().estimated_years
    path.write_text('[2027]\nholidays = ["2027-01-01"]\nworkdays = ["2027-02-20"]\n')
    assert watched.current().is_working_day(date(2027, 2, 20))
    assert 2027 not in watched.current().estimated_years


def test_warn_if_unknown_logs_one_warning_naming_the_years_without_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="liuan_bot.calendar"):
        unknown = warn_if_unknown(CAL, [2026, 2027, 2028, 2027])
    assert unknown == [2027, 2028]
    records = [r for r in caplog.records if r.name == "liuan_bot.calendar"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert "2027, 2028" in records[0].getMessage()
    assert "make-up working days unknown" in records[0].getMessage()


def test_warn_if_unknown_is_silent_when_every_year_is_known(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="liuan_bot.calendar"):
        assert warn_if_unknown(CAL, range(2024, 2027)) == []
    assert not [r for r in caplog.records if r.name == "liuan_bot.calendar"]


def test_loading_does_not_warn_by_itself(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="liuan_bot.calendar"):
        load_calendar(HOLIDAYS_TOML)
    assert not [r for r in caplog.records if r.name == "liuan_bot.calendar"]


# --- the overrides file -------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "holidays.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_overrides_in_the_file_win_over_the_package(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [2025]
        holidays = ["2025-10-09"]            # the package says: working day
        workdays = ["2025-10-04", 2025-10-12] # the package says: days off / an ordinary Sunday
        """,
    )
    calendar = load_calendar(path)
    assert not calendar.is_working_day(date(2025, 10, 9))
    assert calendar.is_working_day(date(2025, 10, 4))
    assert calendar.is_working_day(date(2025, 10, 12))
    assert calendar.first_working_day(date(2025, 10, 5), date(2025, 11, 1)) == date(2025, 10, 10)
    # Untouched days keep the package's answer.
    assert not calendar.is_working_day(date(2025, 10, 8))
    assert calendar.is_working_day(date(2025, 10, 11))


def test_a_new_year_in_the_file_becomes_known_with_its_holidays(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [2027]
        holidays = ["2027-01-01"]
        workdays = ["2026-12-27"]  # a neighbouring-year make-up day is allowed
        """,
    )
    calendar = load_calendar(path)
    assert calendar.is_known(date(2027, 6, 1))
    assert not calendar.is_working_day(date(2027, 1, 1))
    assert calendar.is_working_day(date(2026, 12, 27))
    assert calendar.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert warn_if_unknown(calendar, [2027]) == []


def test_the_shipped_file_changes_nothing_the_package_knows() -> None:
    bare = load_calendar(None)
    assert CAL.known_years == bare.known_years
    assert CAL.holidays == bare.holidays
    assert CAL.workdays == bare.workdays


def test_years_limits_the_loaded_data() -> None:
    calendar = load_calendar(HOLIDAYS_TOML, years=range(2025, 2027))
    assert calendar.known_years == frozenset({2025, 2026})
    assert not calendar.is_known(date(2024, 2, 12))
    assert calendar.is_working_day(date(2024, 2, 12))  # Spring Festival 2024, now Mon–Fri
    assert not calendar.is_working_day(date(2025, 10, 1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[twenty]\nholidays = []\n", "twenty：每个小节应以年份命名"),
        ('[2027]\nholiday = ["2027-01-01"]\n', "2027.holiday：未知的配置项"),
        ('[2027]\nholidays = "2027-01-01"\n', "2027.holidays：应为日期列表"),
        ('[2027]\nholidays = ["2027-13-01"]\n', "2027.holidays：'2027-13-01' 不是有效的日期"),
        ('[2027]\nholidays = ["2030-01-01"]\n', "2027.holidays：2030-01-01 离 2027 年太远"),
        (
            '[2027]\nholidays = ["2027-01-01"]\nworkdays = ["2027-01-01"]\n',
            "2027：以下日期同时写在了 holidays 和 workdays 里：2027-01-01",
        ),
        ("[2027\n", "不是有效的 TOML 格式"),
        ("2027 = 1\n", "2027：应为一个含 holidays 和 workdays 的表"),
    ],
)
def test_a_malformed_holidays_file_is_refused_with_its_place(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CalendarConfigError, match=message):
        load_calendar(path)


def test_a_missing_holidays_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CalendarConfigError, match="nope.toml：找不到该文件"):
        load_calendar(tmp_path / "nope.toml")


# --- properties ---------------------------------------------------------------------------

CALENDARS = pytest.mark.parametrize("calendar", [WEEKDAYS, CAL], ids=["weekdays_only", "real"])
days = st.dates(min_value=date(2003, 1, 1), max_value=date(2028, 12, 31))


@given(days)
def test_weekdays_only_works_monday_to_friday(day: date) -> None:
    assert WEEKDAYS.is_working_day(day) == (day.weekday() < 5)
    assert not WEEKDAYS.is_known(day)


@CALENDARS
@given(days)
def test_next_working_day_is_a_later_working_day_with_none_in_between(
    calendar: WorkingCalendar, day: date
) -> None:
    found = calendar.next_working_day(day)
    assert found > day
    assert calendar.is_working_day(found)
    assert calendar.working_days_between(day + timedelta(days=1), found) == 0
    assert calendar.next_working_day(day, include=True) == (
        day if calendar.is_working_day(day) else found
    )


@CALENDARS
@given(days)
def test_previous_working_day_is_an_earlier_working_day(
    calendar: WorkingCalendar, day: date
) -> None:
    found = calendar.previous_working_day(day)
    assert found < day
    assert calendar.is_working_day(found)
    assert calendar.working_days_between(found + timedelta(days=1), day) == 0


@CALENDARS
@given(days, st.integers(min_value=-40, max_value=40))
def test_adding_working_days_round_trips_from_a_working_day(
    calendar: WorkingCalendar, day: date, n: int
) -> None:
    assume(calendar.is_working_day(day))
    moved = calendar.add_working_days(day, n)
    assert calendar.is_working_day(moved)
    assert calendar.add_working_days(moved, -n) == day
    if n >= 0:
        assert calendar.working_days_between(day, moved) == n


@CALENDARS
@given(days, st.integers(min_value=1, max_value=120))
def test_the_first_last_and_nth_last_working_days_agree_with_the_list(
    calendar: WorkingCalendar, start: date, length: int
) -> None:
    end = start + timedelta(days=length)
    listed = calendar.working_days_in(start, end)
    assert len(listed) == calendar.working_days_between(start, end)
    assume(listed)
    assert calendar.first_working_day(start, end) == listed[0]
    assert calendar.last_working_day(start, end) == listed[-1]
    assert calendar.nth_last_working_day(start, end, 1) == calendar.last_working_day(start, end)
    assert calendar.nth_last_working_day(start, end, len(listed)) == listed[0]


def test_d_no_reminder_is_planned_on_new_years_day_2027() -> None:
    """Issue 9 D: without official 2027 data the R5 filing reminders used to start on Fri
    Jan 1 2027 (元旦); with the law's holidays they start on Mon Jan 4."""
    from liuan_bot.domain.reminders import ReminderConfig, plan
    from tests.domain.test_reminders import at, of, unit, world

    w = world(unit(1, name="市发改委"))
    every_hour = [at(2027, 1, 1, h) for h in range(24)]
    assert all(of(plan(w, t, CAL, ReminderConfig()).due, "R5") == [] for t in every_hour)
    due = of(plan(w, at(2027, 1, 4, 9), CAL, ReminderConfig()).due, "R5")
    assert [r.key for r in due] == ["R5|unit:1|2027|wd0"]
