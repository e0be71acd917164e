"""Issue 9 A1, A4, A5, A8 and issue 11 §3 in the pure domain: speaker matching, the incident
state machine, venues and intervals, the disclosure office in the conference workflow."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from liuan_bot.clock import SHANGHAI
from liuan_bot.domain.calendar import WorkingCalendar
from liuan_bot.domain.incidents import (
    IncidentAction,
    IncidentActor,
    clock_running,
    r17_deadline,
)
from liuan_bot.domain.incidents import transition as incident_step
from liuan_bot.domain.members import Member
from liuan_bot.domain.reminders import IncidentFacts, ReminderConfig, UnitFacts, World, plan
from liuan_bot.domain.roles import Role
from liuan_bot.domain.roster import RosterPerson, match_speakers, strip_speaker_title
from liuan_bot.domain.venues import Booking, Venue, VenueBook, clash, range_end
from liuan_bot.domain.workflow import (
    Action,
    IllegalTransition,
    NotAllowed,
    State,
    actors_of,
    check_correction,
    transition,
)

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
GUO = RosterPerson("郭学军", "guoxuejun", "党组书记、局长")
XU = RosterPerson("徐启航", "xuqihang", "党组成员、副局长")


# --- A1: speakers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("郭学军局长", "郭学军"),
        ("徐启航副局长", "徐启航"),
        ("市教育局局长郭学军", "郭学军"),
        ("党组书记局长郭学军", "郭学军"),
        ("徐启航（副局长）", "徐启航"),
        ("王强同志", "王强"),
        ("李明主任", "李明"),
        ("张伟秘书长", "张伟"),
        ("徐启航", "徐启航"),
        ("局长", "局长"),  # only a title: nothing to strip to
    ],
)
def test_a1_r10_titles_and_honorifics_are_stripped_before_matching(typed: str, name: str) -> None:
    assert strip_speaker_title(typed) == name


def test_a1_r10_a_titled_main_leader_matches_the_roster() -> None:
    found = match_speakers(["郭学军局长", "徐启航"], [GUO, XU])
    assert [person.userid for _, person in found.matched] == ["guoxuejun", "xuqihang"]
    assert found.unknown == ()
    assert not found.needs_question


def test_a1_a_near_name_is_asked_about_and_a_stranger_is_not() -> None:
    found = match_speakers(["郭学君局长", "赵六"], [GUO, XU])
    assert found.matched == ()
    assert found.unknown == ("郭学君局长", "赵六")
    assert found.suggestions == {"郭学君局长": (GUO,)}
    assert found.needs_question
    assert GUO.label("市教育局") == "郭学军（市教育局党组书记、局长）"
    assert not match_speakers(["赵六"], [GUO, XU]).needs_question


# --- A4: incidents -----------------------------------------------------------------------

BOTH = frozenset({IncidentActor.UNIT})


def test_a4_r17_the_clock_runs_only_for_open_extra_major_and_major_incidents() -> None:
    assert clock_running("open", "特别重大")
    assert clock_running("open", "重大")
    assert not clock_running("open", "较大")
    assert not clock_running("open", "一般")
    assert not clock_running("closed", "重大")
    assert not clock_running("withdrawn", "重大")
    assert not clock_running("answered", "重大")


def test_a4_closing_and_withdrawing_stop_the_clock_and_need_a_reason() -> None:
    step = incident_step("open", "重大", IncidentAction.CLOSE, "TF-1", BOTH, reason="已处置")
    assert (step.new, step.clock_change) == ("closed", "stopped")
    step = incident_step("open", "重大", IncidentAction.WITHDRAW, "TF-1", BOTH, reason="误报")
    assert (step.new, step.clock_change) == ("withdrawn", "stopped")
    with pytest.raises(IllegalTransition, match="需要写明原因"):
        incident_step("open", "重大", IncidentAction.CLOSE, "TF-1", BOTH)
    with pytest.raises(IllegalTransition, match="已结案"):
        incident_step("closed", "重大", IncidentAction.CLOSE, "TF-1", BOTH, reason="再结一次")
    with pytest.raises(NotAllowed, match="市政府新闻办或责任单位"):
        incident_step("open", "重大", IncidentAction.CLOSE, "TF-1", frozenset(), reason="x")


def test_a4_regrading_starts_or_stops_the_clock() -> None:
    up = incident_step(
        "open", "较大", IncidentAction.REGRADE, "TF-1", BOTH, reason="影响扩大", new_level="重大"
    )
    assert (up.new, up.clock_change) == ("open", "started")
    down = incident_step(
        "open", "重大", IncidentAction.REGRADE, "TF-1", BOTH, reason="核实", new_level="一般"
    )
    assert down.clock_change == "stopped"
    with pytest.raises(IllegalTransition, match="无需调整"):
        incident_step(
            "open", "重大", IncidentAction.REGRADE, "TF-1", BOTH, reason="x", new_level="重大"
        )


def _world(level: str, state: str = "open") -> World:
    unit = UnitFacts(1, "市财政局", True, "市直部门", {Role.SPOKESPERSON: ("baokeqin",)})
    incident = IncidentFacts("TF-2026-0001", 1, "火灾", level, NOW, None, False, state)
    return World(units=[unit], news_office=("newsoffice",), incidents=[incident])


@pytest.mark.parametrize(
    ("level", "state", "planned"),
    [
        ("特别重大", "open", True),
        ("重大", "open", True),
        ("较大", "open", False),
        ("一般", "open", False),
        ("重大", "closed", False),
        ("重大", "withdrawn", False),
    ],
)
def test_a4_r17_the_planner_plans_steps_only_for_open_major_incidents(
    level: str, state: str, planned: bool
) -> None:
    calendar = WorkingCalendar(holidays=frozenset(), workdays=frozenset(), known_years=frozenset())
    at = NOW + timedelta(hours=25)
    decided = plan(_world(level, state), at, calendar, ReminderConfig(), only_r17=True)
    r17 = [r for r in decided.due + decided.missed if r.rule == "R17"]
    assert bool(r17) == planned
    assert any(r.accountability for r in r17) == planned


def test_11_3_the_r17_deadline_is_computed_from_the_configured_hours() -> None:
    assert r17_deadline(NOW, 24) == NOW + timedelta(hours=24)
    assert r17_deadline(NOW, 12) == NOW + timedelta(hours=12)


# --- A5: venues --------------------------------------------------------------------------

BOOK = VenueBook.of(
    [Venue("市政府新闻发布厅", ("新闻发布厅", "市政府新闻发布厅（三楼）"))], timedelta(hours=2)
)


def test_a5_r15_aliases_name_the_same_venue() -> None:
    assert BOOK.canonical("新闻发布厅") == "市政府新闻发布厅"
    assert BOOK.canonical("市政府新闻发布厅(三楼)") == "市政府新闻发布厅"
    assert BOOK.same("新闻发布厅", "市政府新闻发布厅（三楼）")
    assert not BOOK.same("新闻发布厅", "市财政局三楼会议室")


def test_a5_r15_a_clash_is_an_overlap_of_intervals() -> None:
    start = NOW.replace(hour=14, minute=30)
    other = Booking("BA-1", "新闻发布厅", start, start.replace(hour=16))
    at_1530 = start.replace(hour=15, minute=30)
    assert clash(BOOK, "市政府新闻发布厅（三楼）", at_1530, None, [other]) == other
    assert clash(BOOK, "市政府新闻发布厅", start.replace(hour=16), None, [other]) is None
    # default duration (2 h): 12:30–14:30 ends as the other starts; 13:00 overlaps
    assert clash(BOOK, "新闻发布厅", start.replace(hour=12), None, [other]) is None
    assert clash(BOOK, "新闻发布厅", start.replace(hour=13), None, [other]) == other


def test_a5_r15_a_time_range_sets_the_end() -> None:
    start = NOW.replace(hour=14, minute=30)
    assert range_end("12月3日14:30-16:00", start) == start.replace(hour=16, minute=0)
    assert range_end("12月3日下午2点半到4点", start) == start.replace(hour=16, minute=0)
    assert range_end("12月3日下午2点半", start) is None


# --- A8, A2, "held not before start" -----------------------------------------------------


def _member(*roles: Role, unit: str = "市政务公开办", userid: str = "huangting") -> Member:
    return Member(userid, "黄婷", unit, "其他", False, frozenset(roles))


def test_a8_r1_the_disclosure_office_schedules_and_holds_but_reviews_only_if_configured() -> None:
    office = _member(Role.DISCLOSURE_OFFICE)
    actors = actors_of(office, record_unit="市财政局", record_filer="demo")
    step = transition("application", State.APPROVED, Action.SCHEDULE, "SQ-1", actors)
    assert step.new == State.SCHEDULED
    with pytest.raises(NotAllowed, match="审核只能由市政府新闻办办理"):
        transition("application", State.SUBMITTED, Action.REVIEW_PASS, "SQ-1", actors)
    reviewing = actors_of(
        office, record_unit="市财政局", record_filer="demo", disclosure_reviews=True
    )
    step = transition("application", State.SUBMITTED, Action.REVIEW_PASS, "SQ-1", reviewing)
    assert step.new == State.REVIEWED
    check_correction("SQ-1", actors, "写错了")  # A2: corrects like the news office


def test_a2_a_correction_needs_the_news_office_and_a_reason() -> None:
    unit_member = _member(Role.LIAISON, unit="市财政局", userid="demo")
    with pytest.raises(NotAllowed):
        check_correction(
            "SQ-1", actors_of(unit_member, record_unit="市财政局", record_filer="demo"), "x"
        )
    news = actors_of(_member(Role.NEWS_OFFICE), record_unit="市财政局", record_filer="demo")
    with pytest.raises(IllegalTransition, match="更正需要写明原因"):
        check_correction("SQ-1", news, " ")


def test_11_3_a_conference_is_not_held_before_its_start_inside_the_workflow() -> None:
    actors = frozenset({*actors_of(_member(Role.NEWS_OFFICE), record_unit="x", record_filer="y")})
    with pytest.raises(IllegalTransition, match="还没到时间"):
        transition(
            "application",
            State.SCHEDULED,
            Action.HOLD,
            "SQ-1",
            actors,
            now=NOW,
            starts_at=NOW + timedelta(hours=1),
        )
    step = transition(
        "application", State.SCHEDULED, Action.HOLD, "SQ-1", actors, now=NOW, starts_at=NOW
    )
    assert step.new == State.HELD
