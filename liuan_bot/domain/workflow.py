"""The R15 application workflow and the R16 self-held filing, as an explicit state machine.

R15: a unit applies (submitted); the news office reviews (reviewed / rejected); the deputy
secretary-general approves (approved / declined); the news office schedules time, venue and
draft format (scheduled); the conference is held (held). R16: a self-held conference is filed
with the news office (filed) and then held, with no approval chain. A filer may withdraw an
open record or amend it; an amendment after review returns the application to review.
A conference cannot be reported held before its start.

R1: the disclosure office (政务公开办) acts as the news office does on records, except the
review of applications, unless configured to review too (`disclosure_reviews`). The news
office (and the disclosure office) may correct a record in any state (更正, issue 9 A2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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
    DISCLOSURE_OFFICE = "disclosure_office"  # R1: acts as the news office, review aside
    DISCLOSURE_REVIEWER = "disclosure_reviewer"  # …and reviews too, when configured


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
    Actor.DISCLOSURE_OFFICE: "市政务公开办",
    Actor.DISCLOSURE_REVIEWER: "市政务公开办",
}

REVIEW_ACTIONS = frozenset({Action.REVIEW_PASS, Action.REVIEW_REJECT})


@dataclass(frozen=True)
class Step:
    """An allowed transition."""

    old: State
    new: State


class Refusal(Exception):
    """A domain rule refuses a step; `message` is the reply, in Chinese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IllegalTransition(Refusal):
    """The record's state does not allow the action; `message` says why, in Chinese."""


class NotAllowed(Refusal):
    """The member is not one of the actors who may take the step (R1)."""


def actors_of(
    member: Member, *, record_unit: str, record_filer: str, disclosure_reviews: bool = False
) -> frozenset[Actor]:
    """The workflow actors `member` counts as for one record (R1)."""
    actors: set[Actor] = set()
    if Role.NEWS_OFFICE in member.roles:
        actors.add(Actor.NEWS_OFFICE)
    if Role.DISCLOSURE_OFFICE in member.roles:
        actors.add(Actor.DISCLOSURE_OFFICE)
        if disclosure_reviews:
            actors.add(Actor.DISCLOSURE_REVIEWER)
    if Role.APPROVER in member.roles:
        actors.add(Actor.APPROVER)
    if member.may_act_for(record_unit):
        actors.add(Actor.UNIT)
    if member.userid == record_filer:
        actors.add(Actor.FILER)
    return frozenset(actors)


def _who(action: Action, who: frozenset[Actor]) -> frozenset[Actor]:
    """R1: wherever the news office may act, the disclosure office may too (reviews only
    when configured)."""
    if Actor.NEWS_OFFICE not in who:
        return who
    stand_in = Actor.DISCLOSURE_REVIEWER if action in REVIEW_ACTIONS else Actor.DISCLOSURE_OFFICE
    return who | {stand_in}


# The application's steps in order, and how far each state has come along them (E2).
_STEP_OF: dict[Action, int] = {
    Action.REVIEW_PASS: 0,
    Action.REVIEW_REJECT: 0,
    Action.APPROVE: 1,
    Action.DISAPPROVE: 1,
    Action.SCHEDULE: 2,
    Action.HOLD: 3,
}
_PROGRESS: dict[State, int] = {
    State.SUBMITTED: 0,
    State.REVIEWED: 1,
    State.APPROVED: 2,
    State.SCHEDULED: 3,
    State.HELD: 4,
    State.REJECTED: 1,  # reviewed, and that ended it
    State.DECLINED: 2,  # reviewed and decided on
}
_WAITING: dict[State, str] = {
    State.SUBMITTED: "还在等待市政府新闻办审核",
    State.REVIEWED: "已通过审核，还在等待分管副秘书长审批",
    State.APPROVED: "已批准，还在等待市政府新闻办排期",
}
_STILL_TO_DO: dict[tuple[State, Action], str] = {
    (State.SUBMITTED, Action.APPROVE): "审核通过后才能审批",
    (State.SUBMITTED, Action.SCHEDULE): "审核并经副秘书长审批后才能排期",
    (State.SUBMITTED, Action.HOLD): "审核、审批并排期后才能召开并报告“已召开”",
    (State.REVIEWED, Action.SCHEDULE): "经副秘书长审批同意后才能排期",
    (State.REVIEWED, Action.HOLD): "经副秘书长审批同意并排期后才能召开并报告“已召开”",
    (State.APPROVED, Action.HOLD): "排期后才能召开并报告“已召开”",
}
_ENDED_NEXT: dict[tuple[str, State], str] = {
    ("application", State.REJECTED): "如需再次申请，请修改后重新提交“申请发布会”",
    ("application", State.DECLINED): "如需再次申请，请重新提交“申请发布会”",
    ("application", State.WITHDRAWN): "如需召开，请重新提交“申请发布会”",
    ("filing", State.WITHDRAWN): "如需召开，请重新“备案”",
}
_HELD_NEXT = "如记录有误，请联系市政府新闻办“更正”"


def already_done(kind: str, state: State, action: Action) -> bool:
    """Whether `action` was already taken on a record in `state` (E2: only then may a
    refusal say "不能再…")."""
    if action == Action.WITHDRAW:
        return state == State.WITHDRAWN
    if action == Action.AMEND or action not in _STEP_OF:
        return False
    if kind == "filing":
        return action == Action.HOLD and state == State.HELD
    return _PROGRESS.get(state, -1) > _STEP_OF[action]


def refusal_text(kind: str, state: State, action: Action, record_id: str) -> str:
    """The reply to a step the record's state does not allow (E2): it names the real state
    and the next step, and says "不能再…" only for a step already taken."""
    label, verb = STATE_LABELS[state], ACTION_LABELS[action]
    if already_done(kind, state, action):
        tail = _HELD_NEXT if state == State.HELD else NEXT_STEP[state]
        return f"{record_id} {label}，不能再{verb}。{tail}。"
    if kind == "filing" and action in _STEP_OF and action != Action.HOLD:
        return f"{record_id} 是自行召开的备案发布会（{label}），无需{verb}。{NEXT_STEP[state]}。"
    base = {Action.DISAPPROVE: Action.APPROVE, Action.REVIEW_REJECT: Action.REVIEW_PASS}
    still = _STILL_TO_DO.get((state, base.get(action, action)))
    if still is not None:
        return f"{record_id} {_WAITING[state]}，{still}。"
    if state == State.HELD:
        return f"{record_id} 已召开，不能{verb}。{_HELD_NEXT}。"
    ended = _ENDED_NEXT.get((kind, state), "")
    if action == Action.WITHDRAW:
        return f"{record_id} {label}，流程已结束，无需撤回。" + (f"{ended}。" if ended else "")
    return f"{record_id} {label}，流程已结束，不能{verb}。" + (f"{ended}。" if ended else "")


def transition(
    kind: str,
    state: State,
    action: Action,
    record_id: str,
    actors: frozenset[Actor],
    *,
    now: datetime | None = None,
    starts_at: datetime | None = None,
) -> Step:
    """The step `actors` may take, or an exception whose message is the reply.

    For HOLD, `now` and `starts_at` are checked: a conference is not held before its start."""
    allowed = TRANSITIONS.get((kind, state, action))
    if allowed is None:
        raise IllegalTransition(refusal_text(kind, state, action, record_id))
    new, who = allowed
    who = _who(action, who)
    if not who & actors:
        shown = [a for a in ACTOR_LABELS if a in who and a != Actor.DISCLOSURE_REVIEWER]
        names = "或".join(ACTOR_LABELS[a] for a in shown)
        raise NotAllowed(
            f"{record_id} {STATE_LABELS[state]}，{ACTION_LABELS[action]}只能由{names}办理。"
            f"{NEXT_STEP[state]}。"
        )
    if action == Action.HOLD and now is not None and starts_at is not None and now < starts_at:
        raise IllegalTransition(
            f"{record_id} {STATE_LABELS[state]}，还没到时间，召开后再发送“已召开”。"
        )
    return Step(state, new)


CORRECTORS = frozenset({Actor.NEWS_OFFICE, Actor.DISCLOSURE_OFFICE})


def check_correction(record_id: str, actors: frozenset[Actor], reason: str) -> None:
    """更正 (issue 9 A2): the news office (or the disclosure office, R1) corrects a record in
    any state, with a reason."""
    if not CORRECTORS & actors:
        raise NotAllowed(f"{record_id} 的更正只能由市政府新闻办或市政务公开办办理。")
    if not reason.strip():
        raise IllegalTransition(
            f"更正需要写明原因，例如：更正 {record_id} 发布人：郭学军 原因：报告时写错了姓名"
        )
