"""The R15 application workflow and the R16 self-held filing, as an explicit state machine.

R15: a unit applies (submitted); the news office reviews (reviewed / rejected); the deputy
secretary-general approves (approved / declined); the news office schedules time, venue and
draft format (scheduled); the conference is held (held). R16: a self-held conference is filed
with the news office (filed) and then held, with no approval chain. A filer may withdraw an
open record or amend it; an amendment after review returns the application to review.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from liuan_bot.domain.members import Member
from liuan_bot.domain.roles import Role


class State(StrEnum):
    SUBMITTED = "submitted"
    REVIEWED = "reviewed"
    REJECTED = "rejected"
    APPROVED = "approved"
    DECLINED = "declined"
    SCHEDULED = "scheduled"
    HELD = "held"
    WITHDRAWN = "withdrawn"
    FILED = "filed"


class Action(StrEnum):
    REVIEW_PASS = "review_pass"
    REVIEW_REJECT = "review_reject"
    APPROVE = "approve"
    DISAPPROVE = "disapprove"
    SCHEDULE = "schedule"
    HOLD = "hold"
    WITHDRAW = "withdraw"
    AMEND = "amend"


class Actor(StrEnum):
    """Who may take a step: resolved per record from the member's roles and unit (R1)."""

    NEWS_OFFICE = "news_office"
    APPROVER = "approver"
    UNIT = "unit"  # a member of the record's unit (or a city-wide role, R1)
    FILER = "filer"


STATE_LABELS: dict[State, str] = {
    State.SUBMITTED: "待审核",
    State.REVIEWED: "已通过审核，待审批",
    State.REJECTED: "已驳回",
    State.APPROVED: "已批准，待排期",
    State.DECLINED: "未获批准",
    State.SCHEDULED: "已排期",
    State.HELD: "已召开",
    State.WITHDRAWN: "已撤回",
    State.FILED: "已备案",
}

ACTION_LABELS: dict[Action, str] = {
    Action.REVIEW_PASS: "审核",
    Action.REVIEW_REJECT: "审核",
    Action.APPROVE: "审批",
    Action.DISAPPROVE: "审批",
    Action.SCHEDULE: "排期",
    Action.HOLD: "报告召开",
    Action.WITHDRAW: "撤回",
    Action.AMEND: "修改",
}

NEXT_STEP: dict[State, str] = {
    State.SUBMITTED: "下一步：等待市政府新闻办审核",
    State.REVIEWED: "下一步：等待分管副秘书长审批",
    State.APPROVED: "下一步：等待市政府新闻办排期（确定时间、地点和稿件格式）",
    State.SCHEDULED: "下一步：按时召开，会后由本单位或新闻办发送“已召开”",
    State.FILED: "下一步：召开后发送“已召开”报告发布人和要点",
    State.HELD: "已完成，后续由新闻办组织各渠道转发",
    State.REJECTED: "流程结束；如需再次申请，请修改后重新提交“申请发布会”",
    State.DECLINED: "流程结束",
    State.WITHDRAWN: "流程结束",
}

OPEN_APPLICATION = (State.SUBMITTED, State.REVIEWED, State.APPROVED, State.SCHEDULED)

# (kind, state, action) -> (new state, who may do it)
TRANSITIONS: dict[tuple[str, State, Action], tuple[State, frozenset[Actor]]] = {
    ("application", State.SUBMITTED, Action.REVIEW_PASS): (
        State.REVIEWED,
        frozenset({Actor.NEWS_OFFICE}),
    ),
    ("application", State.SUBMITTED, Action.REVIEW_REJECT): (
        State.REJECTED,
        frozenset({Actor.NEWS_OFFICE}),
    ),
    ("application", State.REVIEWED, Action.APPROVE): (State.APPROVED, frozenset({Actor.APPROVER})),
    ("application", State.REVIEWED, Action.DISAPPROVE): (
        State.DECLINED,
        frozenset({Actor.APPROVER}),
    ),
    ("application", State.APPROVED, Action.SCHEDULE): (
        State.SCHEDULED,
        frozenset({Actor.NEWS_OFFICE}),
    ),
    ("application", State.SCHEDULED, Action.SCHEDULE): (
        State.SCHEDULED,
        frozenset({Actor.NEWS_OFFICE}),
    ),
    ("application", State.SCHEDULED, Action.HOLD): (
        State.HELD,
        frozenset({Actor.UNIT, Actor.NEWS_OFFICE}),
    ),
    ("filing", State.FILED, Action.HOLD): (State.HELD, frozenset({Actor.UNIT, Actor.NEWS_OFFICE})),
    ("filing", State.FILED, Action.AMEND): (State.FILED, frozenset({Actor.FILER})),
    ("filing", State.FILED, Action.WITHDRAW): (State.WITHDRAWN, frozenset({Actor.FILER})),
}
for _state in OPEN_APPLICATION:
    TRANSITIONS[("application", _state, Action.WITHDRAW)] = (
        State.WITHDRAWN,
        frozenset({Actor.FILER}),
    )
    TRANSITIONS[("application", _state, Action.AMEND)] = (
        State.SUBMITTED,
        frozenset({Actor.FILER}),
    )

ACTOR_LABELS: dict[Actor, str] = {
    Actor.NEWS_OFFICE: "市政府新闻办",
    Actor.APPROVER: "分管副秘书长",
    Actor.UNIT: "本单位人员",
    Actor.FILER: "提交人",
}


@dataclass(frozen=True)
class Step:
    """An allowed transition."""

    old: State
    new: State


class IllegalTransition(Exception):
    """The record's state does not allow the action; `message` says why, in Chinese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAllowed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def actors_of(member: Member, *, record_unit: str, record_filer: str) -> frozenset[Actor]:
    """The workflow actors `member` counts as for one record (R1)."""
    actors: set[Actor] = set()
    if Role.NEWS_OFFICE in member.roles:
        actors.add(Actor.NEWS_OFFICE)
    if Role.APPROVER in member.roles:
        actors.add(Actor.APPROVER)
    if member.city_wide or member.unit == record_unit:
        actors.add(Actor.UNIT)
    if member.userid == record_filer:
        actors.add(Actor.FILER)
    return frozenset(actors)


def transition(
    kind: str, state: State, action: Action, record_id: str, actors: frozenset[Actor]
) -> Step:
    """The step `actors` may take, or an exception whose message is the reply."""
    allowed = TRANSITIONS.get((kind, state, action))
    if allowed is None:
        raise IllegalTransition(
            f"{record_id} {STATE_LABELS[state]}，不能再{ACTION_LABELS[action]}。"
            f"{NEXT_STEP[state]}。"
        )
    new, who = allowed
    if not who & actors:
        names = "或".join(ACTOR_LABELS[a] for a in sorted(who))
        raise NotAllowed(f"{record_id} 的{ACTION_LABELS[action]}只能由{names}办理。")
    return Step(state, new)
