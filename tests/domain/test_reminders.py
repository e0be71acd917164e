"""The pure reminder planner (issue 4): R5, R7, R8, R9, R10, R17, R18 and conference reminders
over the real China working-day calendar (chinese-calendar data plus config/holidays.toml).

Every test builds a small `World` by hand and asks `plan` (or `next_precise`, `deliverable`)
at a fixed moment. Expected dates were checked against the loaded calendar and are written
out literally; the working-day facts they rely on are stated next to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liuan_bot.calendar_loader import load_calendar
from liuan_bot.clock import SHANGHAI
from liuan_bot.domain.calendar import WorkingCalendar
from liuan_bot.domain.reminders import (
    ConferenceFacts,
    IncidentFacts,
    PersonFacts,
    Plan,
    PolicyFacts,
    Reminder,
    ReminderConfig,
    Sent,
    UnitFacts,
    World,
    deliverable,
    next_precise,
    plan,
)
from liuan_bot.domain.roles import Role

HOLIDAYS_TOML = Path(__file__).resolve().parents[2] / "config" / "holidays.toml"
CFG = ReminderConfig()
NEWS = ("news-a", "news-b")
MINUTE = timedelta(minutes=1)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return load_calendar(HOLIDAYS_TOML)


# Hypothesis tests cannot take function-scoped fixtures; the calendar is immutable anyway.
CAL = load_calendar(HOLIDAYS_TOML)


# ------------------------------------------------------------------ factories


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


def people(uid: int) -> dict[Role, tuple[str, ...]]:
    return {
        Role.MAIN_LEADER: (f"u{uid}-leader",),
        Role.SPOKESPERSON: (f"u{uid}-spk1", f"u{uid}-spk2"),
        Role.LIAISON: (f"u{uid}-liaison",),
    }


def unit(
    uid: int = 1,
    *,
    name: str | None = None,
    key: bool = True,
    unit_type: str = "市直部门",
    held: Iterable[tuple[datetime, tuple[str, ...]]] = (),
    upcoming: Iterable[datetime] = (),
    filed: Iterable[int] = (),
) -> UnitFacts:
    return UnitFacts(
        id=uid,
        name=name or f"单位{uid}",
        key_unit=key,
        unit_type=unit_type,
        people=people(uid),
        held=tuple(held),
        upcoming=tuple(upcoming),
        roster_filed_years=frozenset(filed),
    )


def world(*units: UnitFacts, sent: Mapping[str, Sent] | None = None, **facts: object) -> World:
    return World(
        units=units or (unit(),),
        news_office=NEWS,
        sent=dict(sent or {}),
        **facts,  # type: ignore[arg-type]
    )


def incident(
    occurred_at: datetime, *, released: datetime | None = None, answered: bool = False
) -> IncidentFacts:
    return IncidentFacts(
        record_id="SJ-1",
        unit_id=1,
        title="某地化工厂火灾",
        level="重大",
        occurred_at=occurred_at,
        first_release_at=released,
        answered=answered,
    )


def policy(publish_at: datetime, *, ready: bool = False) -> PolicyFacts:
    return PolicyFacts(
        record_id="ZC-1",
        unit_id=1,
        title="关于促进民营经济发展的若干措施",
        publish_at=publish_at,
        interpretation_ready=ready,
        briefing=True,
    )


def conference(
    starts_at: datetime, *, held: bool = False, speakers: tuple[str, ...] = ("u1-spk1", "expert")
) -> ConferenceFacts:
    return ConferenceFacts(
        record_id="FB-1",
        unit_id=1,
        topic="一季度经济运行情况",
        starts_at=starts_at,
        venue="市政务服务中心三楼发布厅",
        filer="u1-filer",
        speaker_ids=speakers,
        held=held,
    )


def trainee(name: str, last: date | None) -> PersonFacts:
    return PersonFacts(userid=f"id-{name}", name=name, unit_id=1, last_trained=last)


def of(reminders: Iterable[Reminder], rule: str, *, lists: bool = True) -> list[Reminder]:
    """`rule`'s reminders; `lists=False` leaves out the news office's lists."""
    return [r for r in reminders if r.rule == rule and (lists or r.subject != "list")]


def steps(reminders: Iterable[Reminder], rule: str) -> list[str]:
    return [r.step for r in of(reminders, rule)]


def keys(
    reminders: Iterable[Reminder], rule: str | None = None, *, lists: bool = True
) -> set[str]:
    """Keys of `rule`'s reminders; `lists=False` leaves out the news office's lists."""
    return {
        r.key
        for r in reminders
        if (rule is None or r.rule == rule) and (lists or r.subject != "list")
    }


def one(reminders: Iterable[Reminder], key: str) -> Reminder:
    found = [r for r in reminders if r.key == key]
    assert len(found) == 1, f"{key} not found once in {sorted(r.key for r in reminders)}"
    return found[0]


def sent_at(*pairs: tuple[str, datetime], acked: bool = True) -> dict[str, Sent]:
    return {key: Sent(when, acked) for key, when in pairs}


def run(w: World, now: datetime, cal: WorkingCalendar, cfg: ReminderConfig = CFG) -> Plan:
    return plan(w, now, cal, cfg)


# ------------------------------------------------------------------ R8 quarterly conference


def test_r8_first_reminder_is_due_at_0900_when_30_days_remain_and_not_a_minute_before(
    cal: WorkingCalendar,
) -> None:
    # Q4 2026 ends on Thu Dec 31; 30 days left (counting Dec 31) is Wed Dec 2.
    w = world()
    assert of(run(w, at(2026, 12, 2, 8, 59), cal).due, "R8") == []
    due = of(run(w, at(2026, 12, 2, 9, 0), cal).due, "R8")
    assert [r.key for r in due] == ["R8|unit:1|2026Q4|d30"]
    assert due[0].due_at == at(2026, 12, 2)
    assert due[0].kind == "r8_due"
    assert due[0].data["period"] == "2026年第四季度"
    assert due[0].data["deadline"] == at(2026, 12, 31, 23, 59) + timedelta(seconds=59)


def test_r8_q4_2026_steps_fall_on_dec_2_dec_17_the_fifth_last_and_the_last_working_day(
    cal: WorkingCalendar,
) -> None:
    # Dec 17 = 15 days left; the last five working days are Dec 25 (Fri), 28, 29, 30, 31 (Thu).
    ladder = [
        ("d30", at(2026, 12, 2), at(2026, 12, 17)),
        ("d15", at(2026, 12, 17), at(2026, 12, 25)),
        ("wd5", at(2026, 12, 25), at(2026, 12, 31)),
        ("wd1", at(2026, 12, 31), at(2027, 1, 1, 0, 0)),
    ]
    w = world()
    for step, due_at, expires_at in ladder:
        assert step not in steps(run(w, due_at - MINUTE, cal).due, "R8")
        due = of(run(w, due_at, cal).due, "R8")
        assert [r.step for r in due] == [step]
        assert (due[0].due_at, due[0].expires_at) == (due_at, expires_at)


def test_r8_reminder_on_a_holiday_is_deferred_to_the_next_working_day_morning(
    cal: WorkingCalendar,
) -> None:
    # Q2 2025: 30 days left is Sun Jun 1, inside the Dragon Boat holiday (May 31 – Jun 2).
    w = world()
    assert of(run(w, at(2025, 6, 1, 9, 0), cal).due, "R8") == []
    assert of(run(w, at(2025, 6, 2, 12, 0), cal).due, "R8") == []
    assert of(run(w, at(2025, 6, 3, 8, 59), cal).due, "R8") == []
    due = of(run(w, at(2025, 6, 3, 9, 0), cal).due, "R8")
    assert [(r.step, r.due_at) for r in due] == [("d30", at(2025, 6, 3))]


def test_r8_reminder_deferred_from_a_holiday_lands_on_a_make_up_sunday(
    cal: WorkingCalendar,
) -> None:
    # Q3 2016: 15 days left is Fri Sep 16, Mid-Autumn holiday; Sun Sep 18 is a make-up day.
    w = world(sent=sent_at(("R8|unit:1|2016Q3|d30", at(2016, 9, 1))))
    assert of(run(w, at(2016, 9, 16, 9, 0), cal).due, "R8") == []
    assert of(run(w, at(2016, 9, 18, 8, 59), cal).due, "R8") == []
    due = of(run(w, at(2016, 9, 18, 9, 0), cal).due, "R8")
    assert [(r.step, r.due_at) for r in due] == [("d15", at(2016, 9, 18))]


def test_r8_last_working_day_of_q3_2023_ending_in_the_national_day_holiday_is_sep_28(
    cal: WorkingCalendar,
) -> None:
    # Sep 29 – Oct 6 2023 off: the last working day is Thu Sep 28, the fifth-last Fri Sep 22.
    w = world()
    wd5 = of(run(w, at(2023, 9, 22), cal).due, "R8")
    assert [(r.step, r.expires_at) for r in wd5] == [("wd5", at(2023, 9, 28))]
    wd1 = of(run(w, at(2023, 9, 28), cal).due, "R8")
    assert [(r.key, r.expires_at) for r in wd1] == [
        ("R8|unit:1|2023Q3|wd1", at(2023, 10, 1, 0, 0))
    ]


def test_r8_last_working_day_of_q4_2018_is_the_make_up_saturday_dec_29(
    cal: WorkingCalendar,
) -> None:
    # Dec 30 2018 – Jan 1 2019 off, Sat Dec 29 worked: fifth-last is Tue Dec 25.
    w = world()
    assert steps(run(w, at(2018, 12, 25), cal).due, "R8") == ["wd5"]
    assert steps(run(w, at(2018, 12, 28, 12, 0), cal).due, "R8") == ["wd5"]
    assert steps(run(w, at(2018, 12, 29, 9, 0), cal).due, "R8") == ["wd1"]


def test_r8_fifth_last_working_day_of_q3_2025_counts_the_make_up_sunday_sep_28(
    cal: WorkingCalendar,
) -> None:
    # Sep 30, 29, 28 (Sun, worked), 26, 25: the fifth-last working day is Thu Sep 25.
    w = world()
    assert steps(run(w, at(2025, 9, 24, 10, 0), cal).due, "R8") == ["d15"]
    assert steps(run(w, at(2025, 9, 25, 8, 59), cal).due, "R8") == []  # held for 09:00
    assert steps(run(w, at(2025, 9, 25, 9, 0), cal).due, "R8") == ["wd5"]
    assert steps(run(w, at(2025, 9, 28, 10, 0), cal).due, "R8") == ["wd5"]


def test_r8_step_whose_window_passed_while_the_bot_was_down_is_missed(
    cal: WorkingCalendar,
) -> None:
    # Q4 2025: d30 on Tue Dec 2, d15 on Wed Dec 17; the bot comes back on Thu Dec 18.
    result = run(world(), at(2025, 12, 18, 10, 0), cal)
    assert keys(result.due, "R8") == {"R8|unit:1|2025Q4|d15"}
    assert keys(result.missed, "R8", lists=False) == {"R8|unit:1|2025Q4|d30"}


def test_r8_step_already_in_sent_is_not_due_again(cal: WorkingCalendar) -> None:
    sent = sent_at(("R8|unit:1|2025Q4|d30", at(2025, 12, 2)))
    result = run(world(sent=sent), at(2025, 12, 5, 10, 0), cal)
    assert of(result.due, "R8") == []
    assert of(result.missed, "R8", lists=False) == []


def test_r8_scheduled_conference_in_the_quarter_is_mentioned(cal: WorkingCalendar) -> None:
    now = at(2025, 12, 2)
    soon, later = at(2025, 12, 20, 15, 0), at(2025, 12, 26, 10, 0)
    mentioned = unit(upcoming=(later, at(2026, 1, 8, 10, 0), soon))
    (r,) = of(run(world(mentioned), now, cal).due, "R8")
    assert r.data["scheduled"] == soon
    # Only a conference still ahead and inside this quarter counts as scheduled.
    not_in_quarter = unit(upcoming=(at(2025, 12, 1, 10, 0), at(2026, 1, 8, 10, 0)))
    (r,) = of(run(world(not_in_quarter), now, cal).due, "R8")
    assert "scheduled" not in r.data


def test_r8_conference_held_this_quarter_stops_the_reminders(cal: WorkingCalendar) -> None:
    now = at(2025, 12, 17)
    this_quarter = unit(held=[(at(2025, 10, 1, 0, 0), ("R8",))])
    assert of(run(world(this_quarter), now, cal).due, "R8") == []
    last_quarter = unit(held=[(at(2025, 9, 30, 23, 59), ("R8", "R9", "R10"))])
    assert steps(run(world(last_quarter), now, cal).due, "R8") == ["d15"]


def test_r8_recipients_are_exactly_the_liaison_and_the_spokespersons(
    cal: WorkingCalendar,
) -> None:
    w = world(unit(1), unit(2, key=False))
    due = of(run(w, at(2025, 12, 2), cal).due, "R8")
    assert [(r.unit_id, r.recipients) for r in due] == [(1, ("u1-liaison", "u1-spk1", "u1-spk2"))]
    assert due[0].routine


def test_r8_missed_list_names_exactly_the_key_units_without_a_conference_last_quarter(
    cal: WorkingCalendar,
) -> None:
    # Q3 2025 closes in the National Day holiday: the list comes on Thu Oct 9, 09:00.
    w = world(
        unit(1, name="市发改委"),
        unit(2, name="市教育局", held=[(at(2025, 8, 20, 15, 0), ("R8",))]),
        unit(3, name="市档案馆", key=False),
        unit(4, name="市卫健委", held=[(at(2025, 6, 30, 15, 0), ("R8", "R9", "R10"))]),
    )
    assert of(run(w, at(2025, 10, 9, 8, 59), cal).due, "R8") == []
    (r,) = of(run(w, at(2025, 10, 9, 9, 0), cal).due, "R8")
    assert r.key == "R8|list|2025Q3|missed"
    assert r.kind == "r8_missed"
    assert r.recipients == NEWS
    assert r.data["units"] == ("市发改委", "市卫健委")
    assert r.data["period"] == "2025年第三季度"
    assert r.accountability == ((1, "R8"), (4, "R8"))


def test_r8_missed_list_after_q4_2025_comes_on_the_make_up_sunday_jan_4_2026(
    cal: WorkingCalendar,
) -> None:
    w = world(unit(1), unit(2, held=[(at(2025, 11, 3, 10, 0), ("R8",))]))
    assert keys(run(w, at(2026, 1, 3, 12, 0), cal).due, "R8") == set()
    (r,) = of(run(w, at(2026, 1, 4, 9, 0), cal).due, "R8")
    assert (r.key, r.accountability) == ("R8|list|2025Q4|missed", ((1, "R8"),))
    assert r.due_at == at(2026, 1, 4)


# ------------------------------------------------------------------ R9 half-year


def test_r9_reminders_come_45_20_and_7_days_before_the_end_of_the_half_year(
    cal: WorkingCalendar,
) -> None:
    # H2 2025 ends Wed Dec 31: 45 left is Mon Nov 17, 20 left Fri Dec 12, 7 left Thu Dec 25.
    ladder = [
        ("d45", at(2025, 11, 17), at(2025, 12, 12)),
        ("d20", at(2025, 12, 12), at(2025, 12, 25)),
        ("d7", at(2025, 12, 25), at(2026, 1, 1, 0, 0)),
    ]
    w = world()
    assert of(run(w, at(2025, 11, 17, 8, 59), cal).due, "R9") == []
    for step, due_at, expires_at in ladder:
        (r,) = of(run(w, due_at, cal).due, "R9")
        assert (r.key, r.due_at, r.expires_at) == (f"R9|unit:1|2025H2|{step}", due_at, expires_at)
        assert r.recipients == ("u1-liaison", "u1-spk1", "u1-spk2")


def test_r9_reminder_on_a_sunday_is_deferred_to_monday_morning(cal: WorkingCalendar) -> None:
    # H1 2026 ends Tue Jun 30: 45 days left is Sun May 17.
    w = world()
    assert of(run(w, at(2026, 5, 17, 9, 0), cal).due, "R9") == []
    (r,) = of(run(w, at(2026, 5, 18, 9, 0), cal).due, "R9")
    assert (r.key, r.due_at) == ("R9|unit:1|2026H1|d45", at(2026, 5, 18))


def test_r9_self_held_r8_only_conference_does_not_satisfy_r9_or_r10(
    cal: WorkingCalendar,
) -> None:
    self_held = unit(held=[(at(2025, 11, 20, 10, 0), ("R8",))])
    due = run(world(self_held), at(2025, 12, 15), cal).due
    assert of(due, "R8") == []
    assert keys(due, "R9") == {"R9|unit:1|2025H2|d20"}
    assert keys(due, "R10") == {"R10|unit:1|2025|1215"}


def test_r9_city_conference_counts_for_its_own_half_year_only(cal: WorkingCalendar) -> None:
    now = at(2025, 11, 17)
    previous_half = unit(held=[(at(2025, 6, 30, 23, 59), ("R8", "R9"))])
    assert keys(run(world(previous_half), now, cal).due, "R9") == {"R9|unit:1|2025H2|d45"}
    this_half = unit(held=[(at(2025, 7, 1, 0, 0), ("R8", "R9"))])
    assert of(run(world(this_half), now, cal).due, "R9") == []


def test_r9_missed_list_on_the_first_working_day_of_the_next_half_year(
    cal: WorkingCalendar,
) -> None:
    w = world(
        unit(1, name="市发改委", held=[(at(2025, 9, 10, 10, 0), ("R8",))]),
        unit(2, name="市教育局", held=[(at(2025, 9, 10, 10, 0), ("R8", "R9"))]),
        unit(3, name="市档案馆", key=False),
    )
    (r,) = of(run(w, at(2026, 1, 4, 9, 0), cal).due, "R9")
    assert r.key == "R9|list|2025H2|missed"
    assert r.recipients == NEWS
    assert r.data["units"] == ("市发改委",)
    assert r.accountability == ((1, "R9"),)


# ------------------------------------------------------------------ R10 year


def test_r10_reminders_on_nov_1_dec_1_and_dec_15_to_the_main_leader_and_liaison(
    cal: WorkingCalendar,
) -> None:
    # Nov 1 2025 is a Saturday: deferred to Mon Nov 3; Dec 1 and Dec 15 are Mondays.
    ladder = [
        ("1101", at(2025, 11, 3), at(2025, 12, 1)),
        ("1201", at(2025, 12, 1), at(2025, 12, 15)),
        ("1215", at(2025, 12, 15), at(2026, 1, 1, 0, 0)),
    ]
    w = world()
    assert of(run(w, at(2025, 11, 1, 9, 0), cal).due, "R10") == []
    assert of(run(w, at(2025, 11, 3, 8, 59), cal).due, "R10") == []
    for step, due_at, expires_at in ladder:
        (r,) = of(run(w, due_at, cal).due, "R10")
        assert (r.key, r.due_at, r.expires_at) == (f"R10|unit:1|2025|{step}", due_at, expires_at)
        assert r.recipients == ("u1-leader", "u1-liaison")


def test_r10_conference_with_the_main_leader_counts_for_its_own_year_only(
    cal: WorkingCalendar,
) -> None:
    now = at(2025, 12, 1)
    this_year = unit(held=[(at(2025, 1, 2, 10, 0), ("R8", "R9", "R10"))])
    assert of(run(world(this_year), now, cal).due, "R10") == []
    last_year = unit(held=[(at(2024, 12, 31, 10, 0), ("R8", "R9", "R10"))])
    assert keys(run(world(last_year), now, cal).due, "R10") == {"R10|unit:1|2025|1201"}


def test_r10_missed_list_names_the_key_units_and_records_accountability(
    cal: WorkingCalendar,
) -> None:
    w = world(
        unit(1, name="市发改委", held=[(at(2025, 3, 3, 10, 0), ("R8", "R9"))]),
        unit(2, name="市教育局", held=[(at(2025, 3, 3, 10, 0), ("R8", "R9", "R10"))]),
        unit(3, name="市卫健委"),
    )
    assert of(run(w, at(2026, 1, 3, 9, 0), cal).due, "R10") == []
    (r,) = of(run(w, at(2026, 1, 4, 9, 0), cal).due, "R10")
    assert r.key == "R10|list|2025|missed"
    assert r.data["units"] == ("市发改委", "市卫健委")
    assert r.accountability == ((1, "R10"), (3, "R10"))
    assert r.recipients == NEWS


# ------------------------------------------------------------------ R17 the 24-hour clock


EVE = at(2025, 9, 30, 23, 0)  # the eve of National Day 2025


def r17(reminders: Iterable[Reminder]) -> list[Reminder]:
    return of(reminders, "R17")


def test_r17_first_release_reminder_at_midnight_of_national_day_for_an_incident_at_2300(
    cal: WorkingCalendar,
) -> None:
    w = world(incidents=[incident(EVE)])
    assert r17(run(w, at(2025, 9, 30, 23, 59), cal).due) == []
    (r,) = r17(run(w, at(2025, 10, 1, 0, 0), cal).due)
    assert r.key == "R17|incident:SJ-1|clock|first_release"
    assert r.due_at == at(2025, 10, 1, 0, 0)
    assert not r.routine
    assert r.recipients == ("u1-spk1", "u1-spk2", "u1-liaison")


def test_r17_no_first_release_reminder_once_information_was_released(
    cal: WorkingCalendar,
) -> None:
    w = world(incidents=[incident(EVE, released=EVE + timedelta(minutes=40))])
    assert r17(run(w, at(2025, 10, 1, 0, 30), cal).due) == []


def test_r17_reminders_at_12_18_20_and_22_hours_add_the_main_leader_from_20_hours(
    cal: WorkingCalendar,
) -> None:
    t0 = EVE
    team = ("u1-spk1", "u1-spk2", "u1-liaison")
    with_leader = (*team, "u1-leader")
    ladder = [
        ("h12", 12, 18, team, 12),
        ("h18", 18, 20, team, 6),
        ("h20", 20, 22, with_leader, 4),
        ("h22", 22, 24, with_leader, 2),
    ]
    released = world(incidents=[incident(t0, released=t0 + timedelta(minutes=30))])
    for step, h, until, recipients, hours_left in ladder:
        due_at = t0 + timedelta(hours=h)
        assert step not in steps(run(released, due_at - MINUTE, cal).due, "R17")
        (r,) = r17(run(released, due_at, cal).due)
        assert r.step == step
        assert (r.due_at, r.expires_at) == (due_at, t0 + timedelta(hours=until))
        assert r.recipients == recipients
        assert r.data["hours_left"] == hours_left
        assert not r.routine


def test_r17_overdue_at_24_hours_goes_to_the_main_leader_and_news_office_with_accountability(
    cal: WorkingCalendar,
) -> None:
    w = world(incidents=[incident(EVE, released=EVE + timedelta(minutes=30))])
    deadline = at(2025, 10, 1, 23, 0)
    assert keys(run(w, deadline - MINUTE, cal).due, "R17") == {"R17|incident:SJ-1|clock|h22"}
    (r,) = r17(run(w, deadline, cal).due)
    assert r.key == "R17|incident:SJ-1|clock|overdue"
    assert r.kind == "r17_overdue"
    assert r.recipients == ("u1-leader", *NEWS)
    assert r.accountability == ((1, "R17"),)
    # It stays due (until recorded) long after the deadline.
    assert keys(run(w, deadline + timedelta(days=5), cal).due, "R17") == {r.key}


def test_r17_clock_ignores_nights_weekends_and_holidays(cal: WorkingCalendar) -> None:
    # Sat Oct 4 2025, 03:00 (holiday, quiet hours): +12 h is Sat 15:00, +20 h Sun 00:00...
    t0 = at(2025, 10, 4, 3, 0)
    w = world(incidents=[incident(t0, released=t0 + timedelta(minutes=5))])
    assert steps(run(w, at(2025, 10, 4, 15, 0), cal).due, "R17") == ["h12"]
    assert steps(run(w, at(2025, 10, 4, 23, 0), cal).due, "R17") == ["h20"]
    assert steps(run(w, at(2025, 10, 5, 3, 0), cal).due, "R17") == ["overdue"]


def test_r17_step_superseded_while_the_bot_was_down_is_missed(cal: WorkingCalendar) -> None:
    w = world(incidents=[incident(EVE)])
    result = run(w, EVE + timedelta(hours=19), cal)
    assert keys(result.due, "R17") == {
        "R17|incident:SJ-1|clock|first_release",  # it stays due until the deadline
        "R17|incident:SJ-1|clock|h18",
    }
    assert keys(result.missed, "R17") == {"R17|incident:SJ-1|clock|h12"}


def test_r17_step_in_sent_is_not_due_again(cal: WorkingCalendar) -> None:
    sent = sent_at(
        ("R17|incident:SJ-1|clock|first_release", EVE + timedelta(hours=1)),
        ("R17|incident:SJ-1|clock|h12", EVE + timedelta(hours=12)),
    )
    w = world(incidents=[incident(EVE)], sent=sent)
    result = run(w, EVE + timedelta(hours=15), cal)
    assert r17(result.due) == []
    assert r17(result.missed) == []


def test_r17_unacknowledged_step_escalates_the_next_step_to_30_minutes_after_it_was_sent(
    cal: WorkingCalendar,
) -> None:
    t0 = EVE
    h12_sent = t0 + timedelta(hours=12, minutes=1)
    sent = sent_at(("R17|incident:SJ-1|clock|h12", h12_sent), acked=False)
    w = world(incidents=[incident(t0, released=t0 + timedelta(minutes=5))], sent=sent)
    assert r17(run(w, h12_sent + timedelta(minutes=29), cal).due) == []
    (r,) = r17(run(w, h12_sent + timedelta(minutes=30), cal).due)
    assert (r.step, r.due_at) == ("h18", h12_sent + timedelta(minutes=30))
    assert r.expires_at == t0 + timedelta(hours=20)  # the next step keeps its planned time
    # The escalated h18, sent and not acknowledged either, pulls h20 (with the leader) in.
    h18_sent = h12_sent + timedelta(minutes=30)
    sent2 = {**sent, **sent_at(("R17|incident:SJ-1|clock|h18", h18_sent), acked=False)}
    (r,) = r17(run(replace(w, sent=sent2), h18_sent + timedelta(minutes=30), cal).due)
    assert (r.step, r.due_at) == ("h20", h18_sent + timedelta(minutes=30))
    assert "u1-leader" in r.recipients


def test_r17_acknowledged_step_does_not_escalate(cal: WorkingCalendar) -> None:
    t0 = EVE
    sent = sent_at(("R17|incident:SJ-1|clock|h12", t0 + timedelta(hours=12)), acked=True)
    w = world(incidents=[incident(t0, released=t0 + timedelta(minutes=5))], sent=sent)
    assert r17(run(w, t0 + timedelta(hours=13), cal).due) == []
    assert steps(run(w, t0 + timedelta(hours=18), cal).due, "R17") == ["h18"]


def test_r17_escalation_never_delays_a_step(cal: WorkingCalendar) -> None:
    t0 = EVE
    late = t0 + timedelta(hours=17, minutes=50)
    sent = sent_at(("R17|incident:SJ-1|clock|h12", late), acked=False)
    w = world(incidents=[incident(t0, released=t0 + timedelta(minutes=5))], sent=sent)
    (r,) = r17(run(w, t0 + timedelta(hours=18), cal).due)
    assert (r.step, r.due_at) == ("h18", t0 + timedelta(hours=18))


def test_r17_answered_incident_stops_the_clock(cal: WorkingCalendar) -> None:
    w = world(incidents=[incident(EVE, answered=True)])
    for hours in (1, 12, 20, 24, 30):
        result = run(w, EVE + timedelta(hours=hours), cal)
        assert r17(result.due) == []
        assert r17(result.missed) == []
    assert next_precise(w, EVE) is None


def test_r17_next_precise_returns_the_next_r17_moment(cal: WorkingCalendar) -> None:
    t0 = EVE
    w = world(incidents=[incident(t0)])
    assert next_precise(world(), t0) is None
    assert next_precise(w, t0 + timedelta(minutes=10)) == t0 + timedelta(hours=1)
    first = ("R17|incident:SJ-1|clock|first_release", t0 + timedelta(hours=1))
    w = replace(w, sent=sent_at(first))
    assert next_precise(w, t0 + timedelta(hours=1)) == t0 + timedelta(hours=12)
    h12 = ("R17|incident:SJ-1|clock|h12", t0 + timedelta(hours=12))
    w = replace(w, sent=sent_at(first, h12, acked=False))
    assert next_precise(w, t0 + timedelta(hours=12)) == t0 + timedelta(hours=12, minutes=30)
    w = replace(w, sent=sent_at(first, h12, acked=True))
    assert next_precise(w, t0 + timedelta(hours=12)) == t0 + timedelta(hours=18)
    assert next_precise(w, t0 + timedelta(hours=22)) == t0 + timedelta(hours=24)
    assert next_precise(w, t0 + timedelta(hours=24)) is None


def test_r17_next_precise_ignores_routine_reminders(cal: WorkingCalendar) -> None:
    w = world(conferences=[conference(at(2025, 12, 15, 10, 0))])
    assert next_precise(w, at(2025, 12, 1)) is None


# ------------------------------------------------------------------ R18 policy


def test_r18_prepare_reminder_three_working_days_before_publication_at_0900(
    cal: WorkingCalendar,
) -> None:
    # Published Mon Dec 15 2025, 10:00: three working days before is Wed Dec 10.
    w = world(policies=[policy(at(2025, 12, 15, 10, 0))])
    assert of(run(w, at(2025, 12, 10, 8, 59), cal).due, "R18") == []
    (r,) = of(run(w, at(2025, 12, 10, 9, 0), cal).due, "R18")
    assert r.key == "R18|policy:ZC-1|publication|prepare"
    assert (r.due_at, r.expires_at) == (at(2025, 12, 10), at(2025, 12, 15, 10, 0))
    assert r.recipients == ("u1-spk1", "u1-spk2", "u1-liaison")
    assert r.routine


def test_r18_prepare_counts_back_over_national_day_to_the_make_up_sunday(
    cal: WorkingCalendar,
) -> None:
    # Published Thu Oct 9 2025: Sep 30, Sep 29, then Sun Sep 28 (a make-up working day).
    w = world(policies=[policy(at(2025, 10, 9, 10, 0))])
    assert of(run(w, at(2025, 9, 28, 8, 59), cal).due, "R18") == []
    assert steps(run(w, at(2025, 9, 28, 9, 0), cal).due, "R18") == ["prepare"]


def test_r18_at_publication_the_unit_and_the_news_office_are_reminded(
    cal: WorkingCalendar,
) -> None:
    published = at(2025, 10, 1, 0, 0)  # a holiday midnight: not deferred
    w = world(
        policies=[policy(published)],
        sent=sent_at(("R18|policy:ZC-1|publication|prepare", at(2025, 9, 25))),
    )
    assert of(run(w, published - MINUTE, cal).due, "R18") == []
    (r,) = of(run(w, published, cal).due, "R18")
    assert (r.step, r.due_at, r.expires_at) == ("published", published, at(2025, 10, 2, 0, 0))
    assert r.recipients == ("u1-spk1", "u1-spk2", "u1-liaison", *NEWS)
    assert not r.routine


def test_r18_overdue_24_hours_after_publication_with_accountability(
    cal: WorkingCalendar,
) -> None:
    published = at(2025, 12, 15, 10, 0)
    w = world(policies=[policy(published)])
    result = run(w, published + timedelta(hours=24), cal)
    (r,) = of(result.due, "R18")
    assert r.key == "R18|policy:ZC-1|publication|overdue"
    assert r.recipients == ("u1-leader", *NEWS)
    assert r.accountability == ((1, "R18"),)
    assert keys(result.missed, "R18") == {
        "R18|policy:ZC-1|publication|prepare",
        "R18|policy:ZC-1|publication|published",
    }


def test_r18_ready_interpretation_stops_the_reminders(cal: WorkingCalendar) -> None:
    published = at(2025, 12, 15, 10, 0)
    w = world(policies=[policy(published, ready=True)])
    for now in (at(2025, 12, 10), published, published + timedelta(hours=24)):
        result = run(w, now, cal)
        assert of(result.due, "R18") == []
        assert of(result.missed, "R18") == []


# ------------------------------------------------------------------ R5 roster filing


def roster_world(**kw: object) -> World:
    return world(
        unit(1, name="市发改委", unit_type="市直部门"),
        unit(2, name="霍山县", unit_type="县区", key=False),
        unit(3, name="六安经开区", unit_type="开发区", key=False),
        unit(4, name="皖西日报社", unit_type="新闻单位", key=False),
        unit(5, name="市档案馆", unit_type="其他", key=False),
        unit(6, name="市教育局", unit_type="市直部门", filed=[2026]),
        **kw,
    )


def test_r5_first_reminders_on_the_first_working_day_of_january_the_make_up_sunday_jan_4(
    cal: WorkingCalendar,
) -> None:
    w = roster_world()
    assert of(run(w, at(2026, 1, 2, 10, 0), cal).due, "R5") == []
    assert of(run(w, at(2026, 1, 4, 8, 59), cal).due, "R5") == []
    due = of(run(w, at(2026, 1, 4, 9, 0), cal).due, "R5")
    assert [(r.key, r.recipients) for r in due] == [
        ("R5|unit:1|2026|wd0", ("u1-liaison", "u1-leader")),
        ("R5|unit:2|2026|wd0", ("u2-liaison", "u2-leader")),
        ("R5|unit:3|2026|wd0", ("u3-liaison", "u3-leader")),
    ]
    assert all(r.due_at == at(2026, 1, 4) and r.expires_at == at(2026, 1, 9) for r in due)


def test_r5_reminders_repeat_every_5_working_days_across_the_spring_festival(
    cal: WorkingCalendar,
) -> None:
    # From Sun Jan 4 2026 (wd0): wd5 Fri Jan 9, ..., wd30 Fri Feb 13; then Sat Feb 14 (worked),
    # Feb 15–23 off, Feb 24, 25, 26 and Fri Feb 27 (wd35); Sat Feb 28 worked, Thu Mar 5 (wd40).
    w = world(unit(1))
    expected = [
        (at(2026, 1, 9), "wd5"),
        (at(2026, 1, 16), "wd10"),
        (at(2026, 1, 23), "wd15"),
        (at(2026, 1, 30), "wd20"),
        (at(2026, 2, 6), "wd25"),
        (at(2026, 2, 13), "wd30"),
        (at(2026, 2, 27), "wd35"),
        (at(2026, 3, 5), "wd40"),  # Sat Feb 28 is worked too
    ]
    for due_at, step in expected:
        (r,) = of(run(w, due_at, cal).due, "R5", lists=False)
        assert (r.step, r.due_at) == (step, due_at)
    (r,) = of(run(w, at(2026, 2, 13), cal).due, "R5", lists=False)
    assert r.expires_at == at(2026, 2, 27)
    assert steps(run(w, at(2026, 2, 26, 17, 0), cal).due, "R5") == ["wd30", "january"]


def test_r5_an_unsent_step_waits_for_0900_and_is_then_superseded_by_the_next(
    cal: WorkingCalendar,
) -> None:
    # wd0's window is [Jan 4 09:00, Jan 9 09:00). Caught up at 08:30 on Jan 9 it is held
    # for 09:00 (deferred reminders go out then), when wd5 replaces it.
    w = world(unit(1))
    assert of(run(w, at(2026, 1, 8, 17, 0), cal).due, "R5")[0].step == "wd0"
    assert of(run(w, at(2026, 1, 9, 8, 30), cal).due, "R5") == []
    later = run(w, at(2026, 1, 9, 9, 0), cal)
    assert [r.step for r in of(later.due, "R5")] == ["wd5"]
    assert "R5|unit:1|2026|wd0" in {r.key for r in later.missed}


def test_r5_step_superseded_while_the_bot_was_down_is_missed(cal: WorkingCalendar) -> None:
    result = run(world(unit(1)), at(2026, 1, 9, 9, 0), cal)
    assert keys(result.due, "R5") == {"R5|unit:1|2026|wd5"}
    assert keys(result.missed, "R5") == {"R5|unit:1|2026|wd0"}


def test_r5_step_already_in_sent_is_not_due_again(cal: WorkingCalendar) -> None:
    w = world(unit(1), sent=sent_at(("R5|unit:1|2026|wd5", at(2026, 1, 9))))
    assert of(run(w, at(2026, 1, 12, 10, 0), cal).due, "R5") == []


def test_r5_unit_that_filed_for_the_year_is_not_reminded(cal: WorkingCalendar) -> None:
    w = world(unit(1, filed=[2026]), unit(2, filed=[2025]))
    assert keys(run(w, at(2026, 1, 9), cal).due, "R5") == {"R5|unit:2|2026|wd5"}


def test_r5_news_office_gets_the_missing_units_on_the_last_working_day_of_january(
    cal: WorkingCalendar,
) -> None:
    sent = {
        f"R5|unit:{u}|2026|wd{n}": Sent(at(2026, 1, 30), acked=True)
        for u in range(1, 7)
        for n in (15, 20)
    }
    w = roster_world(sent=sent)
    assert of(run(w, at(2026, 1, 30, 8, 59), cal).due, "R5") == []
    (r,) = of(run(w, at(2026, 1, 30, 9, 0), cal).due, "R5")
    assert r.key == "R5|list|2026|january"
    assert r.recipients == NEWS
    assert r.data["units"] == ("市发改委", "霍山县", "六安经开区")


# ------------------------------------------------------------------ R7 training


def test_r7_monthly_list_sorts_people_into_never_lapsed_and_soon(cal: WorkingCalendar) -> None:
    # Mar 1 2026 is a Sunday: the list comes on Mon Mar 2.
    w = world(
        trainees=[
            trainee("张三", None),
            trainee("李四", date(2022, 6, 1)),
            trainee("王五", date(2023, 3, 2)),  # falls due today: lapsed
            trainee("赵六", date(2023, 5, 20)),
            trainee("钱七", date(2024, 9, 1)),
        ]
    )
    assert of(run(w, at(2026, 3, 2, 8, 59), cal).due, "R7") == []
    (r,) = of(run(w, at(2026, 3, 2, 9, 0), cal).due, "R7")
    assert r.key == "R7|list|2026-03|monthly"
    assert r.recipients == NEWS
    assert r.data["never"] == ("张三",)
    assert r.data["lapsed"] == ("李四", "王五")
    assert r.data["soon"] == ("赵六（5月20日到期）",)
    assert r.data["window"] == 3


def test_r7_list_of_october_2025_waits_for_the_end_of_the_national_day_holiday(
    cal: WorkingCalendar,
) -> None:
    w = world(trainees=[trainee("张三", None)])
    assert of(run(w, at(2025, 10, 1, 9, 0), cal).due, "R7") == []
    assert of(run(w, at(2025, 10, 8, 9, 0), cal).due, "R7") == []
    (r,) = of(run(w, at(2025, 10, 9, 9, 0), cal).due, "R7")
    assert (r.key, r.due_at, r.expires_at) == (
        "R7|list|2025-10|monthly",
        at(2025, 10, 9),
        at(2025, 11, 1, 0, 0),
    )


def test_r7_list_of_january_2026_comes_on_the_make_up_sunday(cal: WorkingCalendar) -> None:
    w = world(trainees=[trainee("张三", None)])
    assert steps(run(w, at(2026, 1, 4, 9, 0), cal).due, "R7") == ["monthly"]
    assert of(run(w, at(2026, 1, 3, 9, 0), cal).due, "R7") == []


def test_r7_list_already_sent_this_month_is_not_due_again(cal: WorkingCalendar) -> None:
    w = world(sent=sent_at(("R7|list|2026-03|monthly", at(2026, 3, 2))))
    assert of(run(w, at(2026, 3, 20, 10, 0), cal).due, "R7") == []
    assert keys(run(w, at(2026, 4, 1, 9, 0), cal).due, "R7") == {"R7|list|2026-04|monthly"}


# ------------------------------------------------------------------ conferences


def conf(reminders: Iterable[Reminder]) -> list[Reminder]:
    return of(reminders, "CONF")


def test_conf_eve_reminder_is_friday_1600_before_a_monday_conference(
    cal: WorkingCalendar,
) -> None:
    starts = at(2025, 12, 15, 10, 0)  # a Monday
    w = world(conferences=[conference(starts, speakers=("u1-spk1", "u1-liaison", "expert"))])
    assert conf(run(w, at(2025, 12, 12, 15, 59), cal).due) == []
    (r,) = conf(run(w, at(2025, 12, 12, 16, 0), cal).due)
    assert r.key == "CONF|conference:FB-1|meeting|eve"
    assert (r.due_at, r.expires_at) == (at(2025, 12, 12, 16, 0), starts)
    assert r.recipients == ("u1-spk1", "u1-liaison", "expert")
    assert r.data["venue"] == "市政务服务中心三楼发布厅"
    assert r.data["starts_at"] == starts


@pytest.mark.parametrize(
    ("starts", "eve"),
    [
        (at(2025, 9, 29, 10, 0), at(2025, 9, 28, 16, 0)),  # Mon after the make-up Sunday
        (at(2025, 10, 13, 10, 0), at(2025, 10, 11, 16, 0)),  # Mon after the make-up Saturday
        (at(2025, 10, 9, 10, 0), at(2025, 9, 30, 16, 0)),  # Thu after National Day
        (at(2026, 2, 24, 10, 0), at(2026, 2, 14, 16, 0)),  # Tue after the Spring Festival
    ],
)
def test_conf_eve_reminder_is_on_the_working_day_before_including_make_up_days(
    cal: WorkingCalendar, starts: datetime, eve: datetime
) -> None:
    w = world(conferences=[conference(starts)])
    assert conf(run(w, eve - MINUTE, cal).due) == []
    (r,) = conf(run(w, eve, cal).due)
    assert (r.step, r.due_at) == ("eve", eve)
    assert r.recipients == ("u1-spk1", "expert", "u1-liaison")


def test_conf_report_two_hours_after_the_start_asks_the_filer(cal: WorkingCalendar) -> None:
    starts = at(2025, 12, 15, 10, 0)
    eve = ("CONF|conference:FB-1|meeting|eve", at(2025, 12, 12, 16, 0))
    w = world(conferences=[conference(starts)], sent=sent_at(eve))
    assert conf(run(w, at(2025, 12, 15, 11, 59), cal).due) == []
    (r,) = conf(run(w, at(2025, 12, 15, 12, 0), cal).due)
    assert r.key == "CONF|conference:FB-1|meeting|report"
    assert r.recipients == ("u1-filer",)
    assert r.kind == "conference_report"


@pytest.mark.parametrize(
    ("starts", "report"),
    [
        (at(2025, 12, 12, 21, 0), at(2025, 12, 15, 9, 0)),  # Fri 23:00 → Mon morning
        (at(2025, 12, 16, 5, 0), at(2025, 12, 16, 9, 0)),  # Tue 07:00 → Tue 09:00
        (at(2025, 9, 30, 20, 30), at(2025, 10, 9, 9, 0)),  # 22:30 before National Day
        (at(2025, 12, 16, 19, 59), at(2025, 12, 16, 21, 59)),  # just before quiet hours
    ],
)
def test_conf_report_step_is_deferred_out_of_quiet_hours_and_days_off(
    cal: WorkingCalendar, starts: datetime, report: datetime
) -> None:
    eve = ("CONF|conference:FB-1|meeting|eve", starts - timedelta(days=1))
    w = world(conferences=[conference(starts)], sent=sent_at(eve))
    assert conf(run(w, report - MINUTE, cal).due) == []
    (r,) = conf(run(w, report, cal).due)
    assert (r.step, r.due_at) == ("report", report)


def test_conf_held_conference_gets_no_eve_or_report_reminder(cal: WorkingCalendar) -> None:
    starts = at(2025, 12, 15, 10, 0)
    w = world(conferences=[conference(starts, held=True)])
    for now in (at(2025, 12, 12, 16, 0), at(2025, 12, 15, 12, 0)):
        result = run(w, now, cal)
        assert conf(result.due) == []
        assert conf(result.missed) == []


def test_conf_eve_reminder_is_missed_once_the_conference_has_started(
    cal: WorkingCalendar,
) -> None:
    starts = at(2025, 12, 15, 10, 0)
    result = run(world(conferences=[conference(starts)]), starts, cal)
    assert keys(result.missed, "CONF") == {"CONF|conference:FB-1|meeting|eve"}
    assert conf(result.due) == []


# ------------------------------------------------------------------ delivery


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(2025, 12, 15, 7, 29), at(2025, 12, 15, 9, 0)),  # early morning: 09:00 that day
        (at(2025, 12, 15, 7, 30), at(2025, 12, 15, 7, 30)),  # quiet hours are over
        (at(2025, 12, 15, 21, 59), at(2025, 12, 15, 21, 59)),
        (at(2025, 12, 15, 22, 0), at(2025, 12, 16, 9, 0)),  # quiet: next working morning
        (at(2025, 12, 12, 22, 30), at(2025, 12, 15, 9, 0)),  # Friday night → Monday
        (at(2025, 12, 13, 10, 0), at(2025, 12, 15, 9, 0)),  # Saturday → Monday
        (at(2025, 9, 30, 23, 0), at(2025, 10, 9, 9, 0)),  # National Day week
        (at(2025, 10, 11, 10, 0), at(2025, 10, 11, 10, 0)),  # make-up Saturday works
        (at(2026, 2, 14, 23, 0), at(2026, 2, 24, 9, 0)),  # Spring Festival 2026
    ],
)
def test_delivery_deliverable_keeps_working_hours_and_defers_quiet_hours_and_days_off(
    cal: WorkingCalendar, moment: datetime, expected: datetime
) -> None:
    assert deliverable(moment, cal, CFG) == expected


def test_delivery_a_configured_time_in_quiet_hours_is_deferred_to_0900(
    cal: WorkingCalendar,
) -> None:
    early = replace(CFG, r8_time=time(6, 0))
    (r,) = of(run(world(), at(2025, 12, 2, 9, 0), cal, early).due, "R8")
    assert r.due_at == at(2025, 12, 2, 9, 0)
    late = replace(CFG, r8_time=time(23, 0))
    assert of(run(world(), at(2025, 12, 2, 23, 0), cal, late).due, "R8") == []
    (r,) = of(run(world(), at(2025, 12, 3, 9, 0), cal, late).due, "R8")
    assert (r.step, r.due_at) == ("d30", at(2025, 12, 3, 9, 0))


def test_delivery_routine_reminders_wait_while_the_bot_comes_back_in_quiet_hours(
    cal: WorkingCalendar,
) -> None:
    # d15 of Q4 2025 is due Wed Dec 17 09:00; the bot was down until 23:30 that night.
    sent = sent_at(("R8|unit:1|2025Q4|d30", at(2025, 12, 2)))
    t0 = at(2025, 12, 17, 12, 0)
    w = world(sent=sent, incidents=[incident(t0)])
    result = run(w, at(2025, 12, 17, 23, 30), cal)
    assert of(result.due, "R8") == []
    assert of(result.missed, "R8", lists=False) == []
    assert steps(result.due, "R17") == ["first_release"]  # R17 never waits
    assert of(run(w, at(2025, 12, 18, 7, 30), cal).due, "R8") == []  # deferred to 09:00
    assert steps(run(w, at(2025, 12, 18, 9, 0), cal).due, "R8") == ["d15"]


def test_delivery_routine_reminders_wait_over_a_weekend_and_are_missed_if_superseded(
    cal: WorkingCalendar,
) -> None:
    # A conference on Mon Dec 15 08:30: its eve reminder (Fri 16:00) is not sent on the weekend.
    starts = at(2025, 12, 15, 8, 30)
    w = world(conferences=[conference(starts)])
    assert conf(run(w, at(2025, 12, 13, 10, 0), cal).due) == []
    assert conf(run(w, at(2025, 12, 13, 10, 0), cal).missed) == []
    assert steps(run(w, at(2025, 12, 15, 8, 0), cal).due, "CONF") == []  # held for 09:00
    assert keys(run(w, starts, cal).missed, "CONF") == {"CONF|conference:FB-1|meeting|eve"}


def test_delivery_plan_refuses_a_naive_now(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="aware"):
        plan(world(), datetime(2025, 12, 2, 9, 0), cal)  # noqa: DTZ001


# ------------------------------------------------------------------ properties

WORLD_START = at(2025, 1, 1, 0, 0)


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2025, 1, 1),  # noqa: DTZ001
        max_value=datetime(2026, 12, 31, 23, 59),  # noqa: DTZ001
        timezones=st.just(SHANGHAI),
    ),
    incident_ago=st.integers(min_value=-60, max_value=30 * 60),
    policy_in=st.integers(min_value=-3 * 24 * 60, max_value=10 * 24 * 60),
    conference_in=st.integers(min_value=-24 * 60, max_value=10 * 24 * 60),
    acked=st.booleans(),
)
def test_delivery_property_due_routine_reminders_respect_working_hours_and_are_sent_once(
    now: datetime, incident_ago: int, policy_in: int, conference_in: int, acked: bool
) -> None:
    now = now.replace(second=0, microsecond=0)
    w = world(
        unit(1, held=[(at(2025, 5, 6, 10, 0), ("R8", "R9"))]),
        unit(2, unit_type="县区", upcoming=[at(2026, 6, 1, 10, 0)], filed=[2025]),
        unit(3, key=False, unit_type="开发区"),
        incidents=[incident(now - timedelta(minutes=incident_ago))],
        policies=[policy(now + timedelta(minutes=policy_in))],
        conferences=[conference(now + timedelta(minutes=conference_in))],
        trainees=[trainee("张三", None), trainee("李四", date(2023, 3, 2))],
    )
    first = plan(w, now, CAL)
    quiet = deliverable(now, CAL, CFG) != now
    for r in first.due:
        assert r.due_at <= now < r.expires_at
        if r.routine:
            assert not quiet, f"{r.key} due at a quiet {now}"
            assert CAL.is_working_day(r.due_at.date()), r.key
            assert CFG.quiet_end <= r.due_at.time() < CFG.quiet_start, r.key
    for r in first.missed:
        assert r.expires_at <= now
    sent = {**w.sent, **{r.key: Sent(now, acked) for r in first.due}}
    again = plan(replace(w, sent=sent), now, CAL)
    assert again.due == []
    assert {r.key for r in again.missed} == {r.key for r in first.missed}
