"""Issue 9 E2 (R15, R16): every refusal of the conference workflow names the record's real
state and the next step, and says "不能再…" only for a step already taken. Table-driven over
every (kind, state, action) the state machine refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from liuan_bot.domain.incidents import STATE_LABELS as INCIDENT_STATE_LABELS
from liuan_bot.domain.incidents import IncidentAction, IncidentActor, IncidentState
from liuan_bot.domain.incidents import transition as incident_transition
from liuan_bot.domain.workflow import (
    TRANSITIONS,
    Action,
    Actor,
    IllegalTransition,
    NotAllowed,
    State,
    transition,
)

APPLICATION_STATES = (
    State.SUBMITTED,
    State.REVIEWED,
    State.APPROVED,
    State.SCHEDULED,
    State.HELD,
    State.REJECTED,
    State.DECLINED,
    State.WITHDRAWN,
)
FILING_STATES = (State.FILED, State.HELD, State.WITHDRAWN)

# Written out by hand (not derived from the code under test): which steps a record in each
# state has already been through.
DONE: dict[tuple[str, State], frozenset[Action]] = {
    ("application", State.SUBMITTED): frozenset(),
    ("application", State.REVIEWED): frozenset({Action.REVIEW_PASS, Action.REVIEW_REJECT}),
    ("application", State.APPROVED): frozenset(
        {Action.REVIEW_PASS, Action.REVIEW_REJECT, Action.APPROVE, Action.DISAPPROVE}
    ),
    ("application", State.SCHEDULED): frozenset(
        {Action.REVIEW_PASS, Action.REVIEW_REJECT, Action.APPROVE, Action.DISAPPROVE}
    ),
    ("application", State.HELD): frozenset(
        {
            Action.REVIEW_PASS,
            Action.REVIEW_REJECT,
            Action.APPROVE,
            Action.DISAPPROVE,
            Action.SCHEDULE,
            Action.HOLD,
        }
    ),
    ("application", State.REJECTED): frozenset({Action.REVIEW_PASS, Action.REVIEW_REJECT}),
    ("application", State.DECLINED): frozenset(
        {Action.REVIEW_PASS, Action.REVIEW_REJECT, Action.APPROVE, Action.DISAPPROVE}
    ),
    ("application", State.WITHDRAWN): frozenset({Action.WITHDRAW}),
    ("filing", State.FILED): frozenset(),
    ("filing", State.HELD): frozenset({Action.HOLD}),
    ("filing", State.WITHDRAWN): frozenset({Action.WITHDRAW}),
}

# How a person reads each state in a reply.
STATE_WORDS: dict[State, tuple[str, ...]] = {
    State.SUBMITTED: ("等待市政府新闻办审核",),
    State.REVIEWED: ("已通过审核",),
    State.APPROVED: ("已批准",),
    State.SCHEDULED: ("已排期",),
    State.HELD: ("已召开",),
    State.REJECTED: ("已驳回",),
    State.DECLINED: ("未获批准",),
    State.WITHDRAWN: ("已撤回",),
    State.FILED: ("已备案",),
}
# What tells the person what happens next (or that nothing does).
NEXT_WORDS = ("下一步", "才能", "流程", "更正", "已完成")

EVERYONE = frozenset(Actor)
EVERYONE_INCIDENT = frozenset(IncidentActor)


def refusals() -> list[tuple[str, State, Action]]:
    cases = [("application", s, a) for s in APPLICATION_STATES for a in Action]
    cases += [("filing", s, a) for s in FILING_STATES for a in Action]
    return [case for case in cases if case not in TRANSITIONS]


@pytest.mark.parametrize(("kind", "state", "action"), refusals())
def test_e2_r15_r16_every_refusal_names_the_state_and_the_next_step(
    kind: str, state: State, action: Action
) -> None:
    record = "SQ-2026-0001" if kind == "application" else "BA-2026-0001"
    with pytest.raises(IllegalTransition) as caught:
        transition(kind, state, action, record, EVERYONE)
    text = caught.value.message
    assert text.startswith(record)
    assert any(word in text for word in STATE_WORDS[state]), text
    assert any(word in text for word in NEXT_WORDS), text
    done = action in DONE[(kind, state)]
    assert ("不能再" in text) == done, text


def test_e2_r15_scheduling_an_application_still_under_review_says_it_waits_for_review() -> None:
    with pytest.raises(IllegalTransition) as caught:
        transition("application", State.SUBMITTED, Action.SCHEDULE, "SQ-2026-0001", EVERYONE)
    assert caught.value.message == (
        "SQ-2026-0001 还在等待市政府新闻办审核，审核并经副秘书长审批后才能排期。"
    )


def test_e2_r15_approving_before_review_and_reviewing_twice() -> None:
    with pytest.raises(IllegalTransition) as early:
        transition("application", State.SUBMITTED, Action.APPROVE, "SQ-2026-0001", EVERYONE)
    assert "还在等待市政府新闻办审核，审核通过后才能审批" in early.value.message
    with pytest.raises(IllegalTransition) as twice:
        transition("application", State.REVIEWED, Action.REVIEW_PASS, "SQ-2026-0001", EVERYONE)
    assert "已通过审核，待审批，不能再审核" in twice.value.message
    assert "等待分管副秘书长审批" in twice.value.message


def test_e2_r16_a_filing_needs_no_review_and_a_held_record_is_corrected_not_amended() -> None:
    with pytest.raises(IllegalTransition) as filing:
        transition("filing", State.FILED, Action.REVIEW_PASS, "BA-2026-0001", EVERYONE)
    assert "无需审核" in filing.value.message
    with pytest.raises(IllegalTransition) as held:
        transition("application", State.HELD, Action.AMEND, "SQ-2026-0001", EVERYONE)
    assert "已召开，不能修改" in held.value.message
    assert "更正" in held.value.message


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (State.SUBMITTED, Action.REVIEW_PASS),
        (State.REVIEWED, Action.APPROVE),
        (State.APPROVED, Action.SCHEDULE),
        (State.SCHEDULED, Action.WITHDRAW),
    ],
)
def test_e2_r1_a_refusal_for_the_wrong_person_names_the_state_and_the_next_step(
    state: State, action: Action
) -> None:
    with pytest.raises(NotAllowed) as caught:
        transition("application", state, action, "SQ-2026-0001", frozenset({Actor.UNIT}))
    text = caught.value.message
    assert any(word in text for word in STATE_WORDS[state]) or "待审核" in text, text
    assert "只能由" in text
    assert "下一步" in text


@pytest.mark.parametrize(
    ("state", "action", "done"),
    [
        (IncidentState.CLOSED, IncidentAction.CLOSE, True),
        (IncidentState.CLOSED, IncidentAction.WITHDRAW, False),
        (IncidentState.CLOSED, IncidentAction.REGRADE, False),
        (IncidentState.WITHDRAWN, IncidentAction.WITHDRAW, True),
        (IncidentState.WITHDRAWN, IncidentAction.CLOSE, False),
        (IncidentState.WITHDRAWN, IncidentAction.REGRADE, False),
        (IncidentState.ANSWERED, IncidentAction.ANSWER, True),
    ],
)
def test_e2_r17_incident_refusals_name_the_state_and_say_again_only_when_done(
    state: IncidentState, action: IncidentAction, done: bool
) -> None:
    with pytest.raises(IllegalTransition) as caught:
        incident_transition(state, "重大", action, "TF-2026-0001", EVERYONE_INCIDENT, reason="x")
    text = caught.value.message
    assert INCIDENT_STATE_LABELS[state] in text
    assert ("不能再" in text) == done, text
    assert text.count("。") >= 2, text  # the refusal, then what comes next


@pytest.mark.parametrize(
    ("kind", "state"), [("application", State.SCHEDULED), ("filing", State.FILED)]
)
def test_e2_r8_held_before_the_start_names_the_state(kind: str, state: State) -> None:
    start = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    with pytest.raises(IllegalTransition) as caught:
        transition(
            kind,
            state,
            Action.HOLD,
            "X-1",
            EVERYONE,
            now=start - timedelta(hours=1),
            starts_at=start,
        )
    assert (
        caught.value.message == f"X-1 {STATE_WORDS[state][0]}，还没到时间，召开后再发送“已召开”。"
    )
