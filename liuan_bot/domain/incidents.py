"""The incident state machine (R11, R17; issue 9 A4), modelled on `workflow.py`.

An incident is open until a conference for it is reported held (answered), it is closed
(结案), or withdrawn because it was filed by mistake (撤销). Its level can be re-graded
(调整级别). The 24-hour clock of R17 runs only for open incidents of the levels the notice
names (特别重大, 重大); 较大 and 一般 incidents are tracked (first release, updates) without it
and never go on the accountability list for it. Close, withdraw and re-grade need a reason and
are taken by the incident's unit or the news office (R1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from liuan_bot.domain.members import Member
from liuan_bot.domain.workflow import IllegalTransition, NotAllowed


class IncidentState(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class IncidentAction(StrEnum):
    ANSWER = "answer"  # a linked conference was reported held
    CLOSE = "close"  # 结案
    WITHDRAW = "withdraw"  # 撤销: filed by mistake
    REGRADE = "regrade"  # 调整级别


class IncidentActor(StrEnum):
    NEWS_OFFICE = "news_office"
    UNIT = "unit"


LEVELS: tuple[str, ...] = ("特别重大", "重大", "较大", "一般")
# R17: "特别重大、重大突发事件 … 24小时内举行新闻发布会"
CLOCK_LEVELS: frozenset[str] = frozenset({"特别重大", "重大"})

STATE_LABELS: dict[IncidentState, str] = {
    IncidentState.OPEN: "处置中",
    IncidentState.ANSWERED: "已召开发布会回应",
    IncidentState.CLOSED: "已结案",
    IncidentState.WITHDRAWN: "已撤回（误报）",
}

ACTION_LABELS: dict[IncidentAction, str] = {
    IncidentAction.ANSWER: "召开发布会回应",
    IncidentAction.CLOSE: "结案",
    IncidentAction.WITHDRAW: "撤销",
    IncidentAction.REGRADE: "调整级别",
}

ACTOR_LABELS: dict[IncidentActor, str] = {
    IncidentActor.NEWS_OFFICE: "市政府新闻办",
    IncidentActor.UNIT: "责任单位",
}

_BOTH = frozenset({IncidentActor.UNIT, IncidentActor.NEWS_OFFICE})

TRANSITIONS: dict[tuple[IncidentState, IncidentAction], IncidentState] = {
    (IncidentState.OPEN, IncidentAction.ANSWER): IncidentState.ANSWERED,
    (IncidentState.OPEN, IncidentAction.CLOSE): IncidentState.CLOSED,
    (IncidentState.ANSWERED, IncidentAction.CLOSE): IncidentState.CLOSED,
    (IncidentState.OPEN, IncidentAction.WITHDRAW): IncidentState.WITHDRAWN,
    (IncidentState.ANSWERED, IncidentAction.WITHDRAW): IncidentState.WITHDRAWN,
    (IncidentState.OPEN, IncidentAction.REGRADE): IncidentState.OPEN,
    (IncidentState.ANSWERED, IncidentAction.REGRADE): IncidentState.ANSWERED,
}

NEEDS_REASON = frozenset({IncidentAction.CLOSE, IncidentAction.WITHDRAW, IncidentAction.REGRADE})


def clock_applies(level: str) -> bool:
    """R17: whether an incident of `level` has the 24-hour clock."""
    return level in CLOCK_LEVELS


def clock_running(state: str, level: str) -> bool:
    """R17: the clock runs for an open incident of a clock level, and only then."""
    return state == IncidentState.OPEN and clock_applies(level)


def r17_deadline(occurred_at: datetime, deadline_hours: int) -> datetime:
    """R17: the conference deadline, `deadline_hours` wall-clock hours after the occurrence.

    The one place the deadline is computed; `deadline_hours` comes from config/reminders.toml."""
    return occurred_at + timedelta(hours=deadline_hours)


def actors_of(member: Member, *, record_unit: str) -> frozenset[IncidentActor]:
    """The incident actors `member` counts as (R1: the city-wide offices act for every unit)."""
    actors: set[IncidentActor] = set()
    if member.city_wide:
        actors.add(IncidentActor.NEWS_OFFICE)
    if member.may_act_for(record_unit):
        actors.add(IncidentActor.UNIT)
    return frozenset(actors)


@dataclass(frozen=True)
class IncidentStep:
    old: IncidentState
    new: IncidentState
    clock_before: bool
    clock_after: bool

    @property
    def clock_change(self) -> str:
        """ "stopped", "started" or "" — what the step does to the R17 clock."""
        if self.clock_before and not self.clock_after:
            return "stopped"
        if self.clock_after and not self.clock_before:
            return "started"
        return ""


# E2: what comes next for an incident a step is refused on
_INCIDENT_NEXT: dict[IncidentState, str] = {
    IncidentState.OPEN: "事件处置中，召开发布会回应后发送“已召开”，处置完毕可“结案”",
    IncidentState.ANSWERED: "处置完毕后可“结案”",
    IncidentState.CLOSED: "事件已结案，无需再办理",
    IncidentState.WITHDRAWN: "事件已作为误报撤回；如确有其事，请重新报告“突发”",
}


def refusal_text(state: IncidentState, action: IncidentAction, record_id: str) -> str:
    """E2: the real state and what comes next; "不能再…" only for a step already taken."""
    done = (state, action) in (
        (IncidentState.CLOSED, IncidentAction.CLOSE),
        (IncidentState.WITHDRAWN, IncidentAction.WITHDRAW),
        (IncidentState.ANSWERED, IncidentAction.ANSWER),
    )
    verb = ("不能再" if done else "不能") + ACTION_LABELS[action]
    return f"{record_id} {STATE_LABELS[state]}，{verb}。{_INCIDENT_NEXT[state]}。"


def transition(
    state: str,
    level: str,
    action: IncidentAction,
    record_id: str,
    actors: frozenset[IncidentActor],
    *,
    reason: str = "",
    new_level: str | None = None,
) -> IncidentStep:
    """The step `actors` may take on an incident, or an exception whose message is the reply."""
    current = IncidentState(state)
    new = TRANSITIONS.get((current, action))
    if new is None:
        raise IllegalTransition(refusal_text(current, action, record_id))
    if action != IncidentAction.ANSWER and not _BOTH & actors:
        names = "或".join(ACTOR_LABELS[a] for a in sorted(_BOTH))
        raise NotAllowed(f"{record_id} 的{ACTION_LABELS[action]}只能由{names}办理。")
    if action in NEEDS_REASON and not reason.strip():
        raise IllegalTransition(
            f"{ACTION_LABELS[action]}需要写明原因，例如：{ACTION_LABELS[action]} {record_id} "
            + ("级别：一般 " if action == IncidentAction.REGRADE else "")
            + "原因：……"
        )
    after_level = level
    if action == IncidentAction.REGRADE:
        if new_level not in LEVELS:
            raise IllegalTransition(f"请写明新的级别：{'、'.join(LEVELS)}之一。")
        if new_level == level:
            raise IllegalTransition(f"{record_id} 的级别已是“{level}”，无需调整。")
        after_level = new_level
    return IncidentStep(
        current,
        new,
        clock_running(current, level),
        clock_running(new, after_level),
    )
