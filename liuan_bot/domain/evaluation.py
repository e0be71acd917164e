"""R14 evaluation and accountability, the 4·2·1 board, R12 plans and R13 links (pure).

Everything here is computed from plain facts (loaded in bulk by storage/evaluation_store.py)
and an injected `now`; nothing does I/O. The console, the chat commands and the reports all
render these dataclasses, with the Chinese labels defined here, so they say the same words.

Definitions (product decisions where the notice is vague):
- R8: a conference counts for the quarter it was held in (city-government or self-held).
  R9/R10 count city-government conferences at which the unit's spokesperson or main leader
  (R9) / main leader (R10) spoke (`counts_for`, decided when the conference was reported held).
- A quota cell is met with one qualifying conference; missed when its period ended without
  one; at risk while the period runs without one; not started before it. Units that are not
  key units are shown but not assessed (不考核).
- Forecast: conferences approved, scheduled or filed (self-held) but not yet held, planned in
  the cell's period from `now` on; R9/R10 forecasts need a planned speaker with that role.
- R17 on time: a conference for the incident reported held within 24 hours of its occurrence.
- R18 on time: interpretation material registered no later than publication + grace (24 h,
  the reminder engine's overdue step).
- R7: a main leader or spokesperson is trained when trained within the window (3 years)
  before the end of the period (or `now`, if earlier).
- R12: a planned topic counts as held when a conference of that quarter has it inside its
  topic or the topic inside it.
- R13: a major policy (every R18 filing) published in the period without a linked risk letter
  is listed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from statistics import mean
from typing import TypeVar
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
_T = TypeVar("_T")
CITY = "application"
R17_WINDOW = timedelta(hours=24)
R18_GRACE = timedelta(hours=24)
R7_WINDOW_YEARS = 3
FORECAST_STATES = frozenset({"approved", "scheduled", "filed"})
TRAINEE_ROLES = frozenset({"主要负责人", "新闻发言人"})
SPEAKER_ROLES = ("主要负责人", "新闻发言人", "专家")
OTHER_SPEAKER = "其他"

# ------------------------------------------------------------------ periods


@dataclass(frozen=True)
class EvalPeriod:
    """An evaluation period: a quarter (2026Q4), a half-year (2026H2) or a year (2026)."""

    code: str
    kind: str  # quarter | half | year
    start: datetime
    end: datetime  # exclusive

    @property
    def label(self) -> str:
        year = self.start.year
        if self.kind == "quarter":
            return f"{year}年第{'一二三四'[(self.start.month - 1) // 3]}季度"
        if self.kind == "half":
            return f"{year}年{'上' if self.start.month == 1 else '下'}半年"
        return f"{year}年"

    def contains(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end

    def ended(self, now: datetime) -> bool:
        return now >= self.end

    def started(self, now: datetime) -> bool:
        return now >= self.start

    def quarters(self) -> tuple[EvalPeriod, ...]:
        return tuple(_sub(self, "quarter"))

    def halves(self) -> tuple[EvalPeriod, ...]:
        return tuple(_sub(self, "half"))


_PERIOD = re.compile(r"^\s*(\d{4})\s*(?:([QqHh])\s*([1-4]))?\s*$")
_CN_PERIOD = re.compile(r"^\s*(\d{4})\s*年?\s*(?:第?([一二三四1-4])季度|([上下])半年)?\s*$")


def parse_period(text: str) -> EvalPeriod:
    """2026Q4 / 2026H2 / 2026 (also 2026年第四季度, 2026年下半年, 2026年). ValueError if not."""
    m = _PERIOD.match(text)
    if m:
        year, kind, n = int(m.group(1)), (m.group(2) or "").upper(), m.group(3)
        if kind == "Q":
            return quarter_period(year, int(n))
        if kind == "H":
            if int(n) > 2:
                raise ValueError(text)
            return half_period(year, int(n))
        return year_period(year)
    m = _CN_PERIOD.match(text)
    if m:
        year = int(m.group(1))
        if m.group(2):
            return quarter_period(year, "一二三四1234".index(m.group(2)) % 4 + 1)
        if m.group(3):
            return half_period(year, 1 if m.group(3) == "上" else 2)
        return year_period(year)
    raise ValueError(text)


def _month(year: int, month: int) -> datetime:
    if month > 12:
        year, month = year + 1, month - 12
    return datetime(year, month, 1, tzinfo=SHANGHAI)


def quarter_period(year: int, n: int) -> EvalPeriod:
    return EvalPeriod(f"{year}Q{n}", "quarter", _month(year, 3 * n - 2), _month(year, 3 * n + 1))


def half_period(year: int, n: int) -> EvalPeriod:
    return EvalPeriod(f"{year}H{n}", "half", _month(year, 6 * n - 5), _month(year, 6 * n + 1))


def year_period(year: int) -> EvalPeriod:
    return EvalPeriod(f"{year}", "year", _month(year, 1), _month(year + 1, 1))


def _sub(period: EvalPeriod, kind: str) -> list[EvalPeriod]:
    year = period.start.year
    if kind == "quarter":
        items = [quarter_period(year, n) for n in range(1, 5)]
    else:
        items = [half_period(year, n) for n in (1, 2)]
    return [p for p in items if p.start < period.end and p.end > period.start]


def periods_at(now: datetime) -> tuple[EvalPeriod, EvalPeriod, EvalPeriod]:
    """The quarter, half-year and year containing `now` (local time)."""
    local = now.astimezone(SHANGHAI)
    q = (local.month - 1) // 3 + 1
    return (
        quarter_period(local.year, q),
        half_period(local.year, 1 if q <= 2 else 2),
        year_period(local.year),
    )


# ------------------------------------------------------------------ facts (inputs)


@dataclass(frozen=True)
class UnitFact:
    id: int
    name: str
    unit_type: str
    key_unit: bool


@dataclass(frozen=True)
class ConferenceFact:
    """A conference. `speaker_roles`: per held speaker, their roles in the unit (empty if the
    name matched nobody); `planned_roles`: roles of the planned speakers (for the forecast)."""

    record_id: str
    unit_id: int
    kind: str  # application (city-government) | filing (self-held)
    state: str
    topic: str
    content: str = ""
    starts_at: datetime | None = None
    held_at: datetime | None = None
    counts_for: tuple[str, ...] = ()
    speaker_roles: tuple[frozenset[str], ...] = ()
    planned_roles: frozenset[str] = frozenset()
    incident_record_id: str | None = None


@dataclass(frozen=True)
class ChannelFact:
    channel: str
    state: str  # pending | sent | published | failed | notified
    sent_at: datetime | None = None
    published_at: datetime | None = None


@dataclass(frozen=True)
class ReleaseFact:
    record_id: str  # the conference's id
    unit_id: int
    channels: tuple[ChannelFact, ...]


@dataclass(frozen=True)
class IncidentFact:
    record_id: str
    unit_id: int
    title: str
    level: str
    occurred_at: datetime
    first_release_at: datetime | None = None
    answered_at: datetime | None = None


@dataclass(frozen=True)
class PolicyFact:
    record_id: str
    unit_id: int
    title: str
    publish_at: datetime
    interpreted_at: datetime | None = None  # when the interpretation was registered


@dataclass(frozen=True)
class RiskFact:
    record_id: str
    unit_id: int
    subject: str
    level: str
    filed_at: datetime
    linked_to: tuple[str, ...] = ()  # ZC-…/SQ-…/BA-… ids


@dataclass(frozen=True)
class PersonFact:
    userid: str
    name: str
    unit_id: int
    roles: frozenset[str]
    trained_on: tuple[datetime, ...] = ()


@dataclass(frozen=True)
class PlanFact:
    unit_id: int
    quarter: str  # 2027Q1
    topics: tuple[str, ...]
    filed_at: datetime


@dataclass(frozen=True)
class DeliveryEvidence:
    userid: str
    name: str
    delivered_at: datetime | None
    acked_at: datetime | None


@dataclass(frozen=True)
class ReminderEvidence:
    """A reminder sent about a failure: when, to whom, delivered and acknowledged when."""

    key: str
    rule: str
    kind: str
    due_at: datetime
    recorded_at: datetime
    text: str
    deliveries: tuple[DeliveryEvidence, ...] = ()

    @property
    def subject(self) -> str:
        return self.key.split("|")[1]

    @property
    def period(self) -> str:
        return self.key.split("|")[2]


@dataclass(frozen=True)
class StoredEntry:
    """A row of accountability_entries written by the reminder engine."""

    unit_id: int
    rule: str
    subject: str
    period: str
    created_at: datetime


@dataclass(frozen=True)
class Facts:
    units: Sequence[UnitFact]
    conferences: Sequence[ConferenceFact] = ()
    releases: Sequence[ReleaseFact] = ()
    incidents: Sequence[IncidentFact] = ()
    policies: Sequence[PolicyFact] = ()
    risks: Sequence[RiskFact] = ()
    people: Sequence[PersonFact] = ()
    roster_filings: Mapping[tuple[int, int], datetime] = field(default_factory=dict)
    plans: Sequence[PlanFact] = ()
    reminders: Sequence[ReminderEvidence] = ()
    stored_entries: Sequence[StoredEntry] = ()


# ------------------------------------------------------------------ the 4·2·1 board


class QuotaState(StrEnum):
    MET = "met"
    AT_RISK = "at_risk"
    MISSED = "missed"
    NOT_STARTED = "not_started"
    NOT_ASSESSED = "not_assessed"

    @property
    def label(self) -> str:
        return QUOTA_STATE_LABELS[self]


QUOTA_STATE_LABELS: Mapping[QuotaState, str] = {
    QuotaState.MET: "已完成",
    QuotaState.AT_RISK: "有风险",
    QuotaState.MISSED: "未完成",
    QuotaState.NOT_STARTED: "未开始",
    QuotaState.NOT_ASSESSED: "不考核",
}
RULE_LABELS: Mapping[str, str] = {
    "R8": "季度发布会",
    "R9": "半年出席市政府发布会",
    "R10": "主要负责人年度出席",
}


@dataclass(frozen=True)
class QuotaCell:
    rule: str
    period: EvalPeriod
    count: int
    status: QuotaState
    record_ids: tuple[str, ...]  # the held conferences that count
    forecast_ids: tuple[str, ...] = ()  # approved/scheduled/filed, not yet held

    @property
    def forecast(self) -> int:
        return len(self.forecast_ids)

    @property
    def will_meet_if_held(self) -> bool:
        return self.count == 0 and self.forecast > 0

    @property
    def status_label(self) -> str:
        return self.status.label

    @property
    def forecast_label(self) -> str:
        if self.count > 0:
            return ""
        return f"已安排 {self.forecast} 场，召开即可完成" if self.forecast else ""


@dataclass(frozen=True)
class QuotaRow:
    unit_id: int
    unit: str
    key_unit: bool
    quarter: QuotaCell
    half: QuotaCell
    year: QuotaCell

    @property
    def cells(self) -> tuple[QuotaCell, QuotaCell, QuotaCell]:
        return (self.quarter, self.half, self.year)


@dataclass(frozen=True)
class QuotaBoard:
    now: datetime
    quarter: EvalPeriod
    half: EvalPeriod
    year: EvalPeriod
    rows: tuple[QuotaRow, ...]


def _status(count: int, period: EvalPeriod, now: datetime, key_unit: bool) -> QuotaState:
    if count > 0:
        return QuotaState.MET
    if not key_unit:
        return QuotaState.NOT_ASSESSED
    if period.ended(now):
        return QuotaState.MISSED
    if not period.started(now):
        return QuotaState.NOT_STARTED
    return QuotaState.AT_RISK


def _held_for(confs: Iterable[ConferenceFact], rule: str, period: EvalPeriod) -> tuple[str, ...]:
    return tuple(
        c.record_id
        for c in sorted(confs, key=lambda c: (c.held_at or period.start, c.record_id))
        if c.state == "held" and rule in c.counts_for and period.contains(c.held_at)
    )


def _forecast_for(
    confs: Iterable[ConferenceFact], rule: str, period: EvalPeriod, now: datetime
) -> tuple[str, ...]:
    ids = []
    for c in confs:
        if c.state not in FORECAST_STATES or c.starts_at is None:
            continue
        if not period.contains(c.starts_at) or c.starts_at < now:
            continue
        if rule == "R9" and not (c.kind == CITY and c.planned_roles & TRAINEE_ROLES):
            continue
        if rule == "R10" and not (c.kind == CITY and "主要负责人" in c.planned_roles):
            continue
        ids.append(c.record_id)
    return tuple(sorted(ids))


def quota_cell(
    confs: Sequence[ConferenceFact], rule: str, period: EvalPeriod, now: datetime, key: bool
) -> QuotaCell:
    held = _held_for(confs, rule, period)
    return QuotaCell(
        rule,
        period,
        len(held),
        _status(len(held), period, now, key),
        held,
        () if held else _forecast_for(confs, rule, period, now),
    )


def _by_unit(items: Iterable[_T], unit_of: Callable[[_T], int]) -> dict[int, list[_T]]:
    grouped: dict[int, list[_T]] = {}
    for item in items:
        grouped.setdefault(unit_of(item), []).append(item)
    return grouped


def quota_board(facts: Facts, now: datetime) -> QuotaBoard:
    """Units × (quarter R8, half-year R9, year R10) at `now`."""
    q, h, y = periods_at(now)
    confs = _by_unit(facts.conferences, lambda c: c.unit_id)
    rows = []
    for u in _units_in_order(facts.units):
        mine = confs.get(u.id, [])
        rows.append(
            QuotaRow(
                u.id,
                u.name,
                u.key_unit,
                quota_cell(mine, "R8", q, now, u.key_unit),
                quota_cell(mine, "R9", h, now, u.key_unit),
                quota_cell(mine, "R10", y, now, u.key_unit),
            )
        )
    return QuotaBoard(now, q, h, y, tuple(rows))


def _units_in_order(units: Iterable[UnitFact]) -> list[UnitFact]:
    """Key units first, then by name (a stable order for pages and reports)."""
    return sorted(units, key=lambda u: (not u.key_unit, u.name))


# ------------------------------------------------------------------ evaluation


@dataclass(frozen=True)
class RuleResult:
    """One quota rule over an evaluation period: its native periods (quarters for R8,
    half-years for R9, the year for R10) that overlap it, and the count inside the period."""

    rule: str
    count: int
    cells: tuple[QuotaCell, ...]
    status: QuotaState

    @property
    def status_label(self) -> str:
        return self.status.label

    @property
    def met_periods(self) -> int:
        return sum(1 for c in self.cells if c.status == QuotaState.MET)


@dataclass(frozen=True)
class UnitEvaluation:
    unit_id: int
    unit: str
    key_unit: bool
    held: tuple[str, ...]  # conferences held in the period
    city_held: int
    self_held: int
    r8: RuleResult
    r9: RuleResult
    r10: RuleResult
    speakers_by_role: Mapping[str, int]  # role → conferences with such a speaker
    keywords: tuple[str, ...]
    channels_expected: int
    channels_published: int
    confirmation_delay_h: float | None  # mean hours from sent to confirmed
    incidents: int
    first_release_delay_h: float | None  # mean hours from occurrence to first release
    incidents_on_time: int  # conference within 24 h
    incidents_late: tuple[str, ...]
    incidents_open: int  # still inside the 24 h window
    policies: int
    policies_on_time: int
    policies_late: tuple[str, ...]  # interpreted after the grace period
    policies_missing: tuple[str, ...]  # no interpretation, grace period over
    roster_filed_at: datetime | None
    trainees: int
    trained: int
    untrained: tuple[str, ...]  # names
    planned: tuple[str, ...]
    planned_held: tuple[str, ...]
    risk_letters: int
    risk_linked: int
    policies_without_risk: tuple[str, ...]

    @property
    def channel_coverage(self) -> float | None:
        if not self.channels_expected:
            return None
        return self.channels_published / self.channels_expected

    @property
    def training_coverage(self) -> float | None:
        return self.trained / self.trainees if self.trainees else None

    @property
    def planned_missing(self) -> tuple[str, ...]:
        return tuple(t for t in self.planned if t not in self.planned_held)

    @property
    def roster_filed(self) -> bool:
        return self.roster_filed_at is not None


@dataclass(frozen=True)
class Evaluation:
    period: EvalPeriod
    now: datetime
    units: tuple[UnitEvaluation, ...]

    @property
    def label(self) -> str:
        return self.period.label


def _rule_result(
    confs: Sequence[ConferenceFact],
    rule: str,
    period: EvalPeriod,
    now: datetime,
    key: bool,
) -> RuleResult:
    if rule == "R8":
        natives = period.quarters()
    elif rule == "R9":
        natives = period.halves()
    else:
        natives = (year_period(period.start.year),)
    cells = tuple(quota_cell(confs, rule, p, now, key) for p in natives)
    states = {c.status for c in cells}
    if not key:
        status = QuotaState.NOT_ASSESSED
    elif QuotaState.MISSED in states:
        status = QuotaState.MISSED
    elif QuotaState.AT_RISK in states:
        status = QuotaState.AT_RISK
    elif states == {QuotaState.NOT_STARTED}:
        status = QuotaState.NOT_STARTED
    else:
        status = QuotaState.MET
    return RuleResult(rule, len(_held_for(confs, rule, period)), cells, status)


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def _mean_hours(deltas: Sequence[timedelta]) -> float | None:
    return round(mean(_hours(d) for d in deltas), 1) if deltas else None


def _speakers(held: Sequence[ConferenceFact]) -> dict[str, int]:
    counts = dict.fromkeys((*SPEAKER_ROLES, OTHER_SPEAKER), 0)
    for c in held:
        seen: set[str] = set()
        for roles in c.speaker_roles:
            matched = [r for r in SPEAKER_ROLES if r in roles]
            seen.update(matched or [OTHER_SPEAKER])
        for role in seen:
            counts[role] += 1
    return counts


def _plan_matches(planned: str, topics: Sequence[str]) -> bool:
    key = planned.strip()
    return bool(key) and any(key in t or (t and t in key) for t in topics)


def evaluate(
    facts: Facts,
    period: EvalPeriod,
    now: datetime,
    *,
    keywords: Callable[[str], Sequence[str]] | None = None,
    r18_grace: timedelta = R18_GRACE,
    r7_window_years: int = R7_WINDOW_YEARS,
) -> Evaluation:
    """R14: one row per unit for `period`, as of `now`. `keywords(text)` ranks the words of
    the held conferences' topics and contents (jieba.analyse; computed by the caller off the
    event loop) — without it the column stays empty."""
    confs = _by_unit(facts.conferences, lambda c: c.unit_id)
    releases = {r.record_id: r for r in facts.releases}
    incidents = _by_unit(facts.incidents, lambda i: i.unit_id)
    policies = _by_unit(facts.policies, lambda p: p.unit_id)
    risks = _by_unit(facts.risks, lambda r: r.unit_id)
    people = _by_unit(facts.people, lambda p: p.unit_id)
    plans = _by_unit(facts.plans, lambda p: p.unit_id)
    linked = {target for r in facts.risks for target in r.linked_to}
    horizon = min(now, period.end)
    rows = []
    for u in _units_in_order(facts.units):
        mine = confs.get(u.id, [])
        held = sorted(
            (c for c in mine if c.state == "held" and period.contains(c.held_at)),
            key=lambda c: (c.held_at or period.start, c.record_id),
        )
        # channels (R19–R23)
        expected = published = 0
        delays: list[timedelta] = []
        for c in held:
            release = releases.get(c.record_id)
            for ch in release.channels if release else ():
                if ch.state == "notified":
                    continue
                expected += 1
                if ch.state == "published":
                    published += 1
                    if ch.sent_at and ch.published_at:
                        delays.append(ch.published_at - ch.sent_at)
        # incidents (R17)
        inc = sorted(
            (i for i in incidents.get(u.id, []) if period.contains(i.occurred_at)),
            key=lambda i: i.record_id,
        )
        first = [i.first_release_at - i.occurred_at for i in inc if i.first_release_at]
        on_time = [i for i in inc if i.answered_at and i.answered_at <= i.occurred_at + R17_WINDOW]
        late = tuple(
            i.record_id
            for i in inc
            if i not in on_time
            and (i.answered_at is not None or now >= i.occurred_at + R17_WINDOW)
        )
        # policies (R18) and risk letters (R13)
        pol = sorted(
            (p for p in policies.get(u.id, []) if period.contains(p.publish_at)),
            key=lambda p: p.record_id,
        )
        pol_on_time = [
            p for p in pol if p.interpreted_at and p.interpreted_at <= p.publish_at + r18_grace
        ]
        pol_late = tuple(
            p.record_id
            for p in pol
            if p.interpreted_at and p.interpreted_at > p.publish_at + r18_grace
        )
        pol_missing = tuple(
            p.record_id
            for p in pol
            if p.interpreted_at is None and now >= p.publish_at + r18_grace
        )
        letters = [r for r in risks.get(u.id, []) if period.contains(r.filed_at)]
        # training (R7)
        trainees = sorted(
            (p for p in people.get(u.id, []) if p.roles & TRAINEE_ROLES), key=lambda p: p.userid
        )
        since = horizon.replace(year=horizon.year - r7_window_years)
        trained = [p for p in trainees if any(since <= t <= horizon for t in p.trained_on)]
        # plans (R12)
        planned: list[str] = []
        planned_held: list[str] = []
        for q in period.quarters():
            topics = [c.topic for c in mine if c.state == "held" and q.contains(c.held_at)]
            for plan in plans.get(u.id, []):
                if plan.quarter != q.code:
                    continue
                for t in plan.topics:
                    planned.append(t)
                    if _plan_matches(t, topics):
                        planned_held.append(t)
        text = "\n".join(f"{c.topic}\n{c.content}" for c in held)
        rows.append(
            UnitEvaluation(
                unit_id=u.id,
                unit=u.name,
                key_unit=u.key_unit,
                held=tuple(c.record_id for c in held),
                city_held=sum(1 for c in held if c.kind == CITY),
                self_held=sum(1 for c in held if c.kind != CITY),
                r8=_rule_result(mine, "R8", period, now, u.key_unit),
                r9=_rule_result(mine, "R9", period, now, u.key_unit),
                r10=_rule_result(mine, "R10", period, now, u.key_unit),
                speakers_by_role=_speakers(held),
                keywords=tuple(keywords(text)) if keywords and text.strip() else (),
                channels_expected=expected,
                channels_published=published,
                confirmation_delay_h=_mean_hours(delays),
                incidents=len(inc),
                first_release_delay_h=_mean_hours(first),
                incidents_on_time=len(on_time),
                incidents_late=late,
                incidents_open=len(inc) - len(on_time) - len(late),
                policies=len(pol),
                policies_on_time=len(pol_on_time),
                policies_late=pol_late,
                policies_missing=pol_missing,
                roster_filed_at=facts.roster_filings.get((u.id, period.start.year)),
                trainees=len(trainees),
                trained=len(trained),
                untrained=tuple(p.name for p in trainees if p not in trained),
                planned=tuple(planned),
                planned_held=tuple(planned_held),
                risk_letters=len(letters),
                risk_linked=sum(1 for r in letters if r.linked_to),
                policies_without_risk=tuple(p.record_id for p in pol if p.record_id not in linked),
            )
        )
    return Evaluation(period, now, tuple(rows))


# ------------------------------------------------------------------ accountability (R14)


class FailureKind(StrEnum):
    """R14's three failure kinds."""

    NOT_RELEASED = "not_released"
    NOT_INTERPRETED = "not_interpreted"
    LATE_RESPONSE = "late_response"

    @property
    def label(self) -> str:
        return FAILURE_LABELS[self]


FAILURE_LABELS: Mapping[FailureKind, str] = {
    FailureKind.NOT_RELEASED: "重要信息不发布",
    FailureKind.NOT_INTERPRETED: "重大政策不解读",
    FailureKind.LATE_RESPONSE: "热点回应不及时",
}
RULE_KINDS: Mapping[str, FailureKind] = {
    "R8": FailureKind.NOT_RELEASED,
    "R9": FailureKind.NOT_RELEASED,
    "R10": FailureKind.NOT_RELEASED,
    "R17": FailureKind.LATE_RESPONSE,
    "R18": FailureKind.NOT_INTERPRETED,
}


@dataclass(frozen=True)
class AccountabilityEntry:
    """One failure of one unit, with its evidence: the records and every reminder about it."""

    unit_id: int
    unit: str
    kind: FailureKind
    rule: str
    subject: str  # unit:3 | incident:TF-… | policy:ZC-…
    period: str  # 2026Q1 | 2026H1 | 2026 | clock | publication
    summary: str  # Chinese, one line
    due_at: datetime  # when it became a failure
    records: tuple[str, ...]
    reminders: tuple[ReminderEvidence, ...]
    recorded_at: datetime | None  # when the reminder engine put it on the list, if it did

    @property
    def kind_label(self) -> str:
        return self.kind.label

    def within(self, span: EvalPeriod) -> bool:
        """Whether the failure belongs to `span`: its quota period lies inside it (R8–R10),
        or it fell due inside it (R17, R18)."""
        if self.rule in ("R17", "R18"):
            return span.contains(self.due_at)
        try:
            own = parse_period(self.period)
        except ValueError:
            return span.contains(self.due_at)
        return span.start <= own.start and own.end <= span.end

    @property
    def period_label(self) -> str:
        """2026年第一季度 / 2026年上半年 / 2026年; for R17/R18 the day it fell due."""
        if self.rule in ("R17", "R18"):
            local = self.due_at.astimezone(SHANGHAI)
            return f"{local.year}年{local.month}月{local.day}日"
        return _period_label(self.period)


def _local_day(moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    return f"{local.month}月{local.day}日{local.hour:02d}:{local.minute:02d}"


def _quota_failures(
    u: UnitFact, confs: Sequence[ConferenceFact], year: int, now: datetime
) -> list[tuple[str, str, str, datetime, str]]:
    found = []
    for rule, natives in (
        ("R8", year_period(year).quarters()),
        ("R9", year_period(year).halves()),
        ("R10", (year_period(year),)),
    ):
        for p in natives:
            if p.ended(now) and not _held_for(confs, rule, p):
                what = {
                    "R8": "未召开新闻发布会",
                    "R9": "新闻发言人或负责同志未出席市政府新闻发布会",
                    "R10": "主要负责人未出席市政府新闻发布会",
                }[rule]
                found.append((rule, f"unit:{u.id}", p.code, p.end, f"{p.label}{what}（{rule}）"))
    return found


def accountability(
    facts: Facts, year: int, now: datetime, *, r18_grace: timedelta = R18_GRACE
) -> list[AccountabilityEntry]:
    """The accountability list of `year` as of `now`: failures computed from the records,
    plus any entry the reminder engine recorded that the records no longer show."""
    span = year_period(year)
    names = {u.id: u.name for u in facts.units}
    confs = _by_unit(facts.conferences, lambda c: c.unit_id)
    by_subject: dict[tuple[str, str], list[ReminderEvidence]] = {}
    for r in facts.reminders:
        by_subject.setdefault((r.rule, r.subject), []).append(r)
    stored = {(e.unit_id, e.rule, e.subject, e.period): e for e in facts.stored_entries}
    raw: list[tuple[int, str, str, str, datetime, str, tuple[str, ...]]] = []
    for u in facts.units:
        if not u.key_unit:
            continue
        mine = confs.get(u.id, [])
        for rule, subject, period, due, summary in _quota_failures(u, mine, year, now):
            raw.append((u.id, rule, subject, period, due, summary, ()))
    for i in facts.incidents:
        deadline = i.occurred_at + R17_WINDOW
        if not span.contains(i.occurred_at) or now < deadline:
            continue
        if i.answered_at is not None and i.answered_at <= deadline:
            continue
        tail = f"{_local_day(i.answered_at)}才召开发布会" if i.answered_at else "至今未召开发布会"
        summary = (
            f"{i.record_id}《{i.title}》发生于{_local_day(i.occurred_at)}，"
            f"24小时内未召开发布会，{tail}（R17）"
        )
        raw.append(
            (
                i.unit_id,
                "R17",
                f"incident:{i.record_id}",
                "clock",
                deadline,
                summary,
                (i.record_id,),
            )
        )
    for p in facts.policies:
        due = p.publish_at + r18_grace
        if not span.contains(p.publish_at) or now < due:
            continue
        if p.interpreted_at is not None and p.interpreted_at <= due:
            continue
        tail = (
            f"{_local_day(p.interpreted_at)}才登记解读材料"
            if p.interpreted_at
            else "至今没有解读材料"
        )
        summary = f"{p.record_id}《{p.title}》于{_local_day(p.publish_at)}公布，{tail}（R18）"
        raw.append(
            (
                p.unit_id,
                "R18",
                f"policy:{p.record_id}",
                "publication",
                due,
                summary,
                (p.record_id,),
            )
        )
    seen = {(unit, rule, subject, period) for unit, rule, subject, period, *_ in raw}
    for key, e in stored.items():
        if key in seen or e.rule not in RULE_KINDS or not _stored_in_year(e, year):
            continue
        record = e.subject.split(":", 1)[1] if not e.subject.startswith("unit:") else ""
        summary = f"{record or _period_label(e.period)}：{STORED_SUMMARY[e.rule]}（{e.rule}）"
        raw.append(
            (
                e.unit_id,
                e.rule,
                e.subject,
                e.period,
                e.created_at,
                summary,
                (record,) if record else (),
            )
        )
    entries = []
    for unit_pk, rule, subject, period, due, summary, records in raw:
        evidence = [
            r
            for r in by_subject.get((rule, subject), [])
            if not subject.startswith("unit:") or r.period == period
        ]
        if subject.startswith("unit:"):
            evidence += [r for r in by_subject.get((rule, "list"), []) if r.period == period]
        hit = stored.get((unit_pk, rule, subject, period))
        entries.append(
            AccountabilityEntry(
                unit_id=unit_pk,
                unit=names.get(unit_pk, ""),
                kind=RULE_KINDS[rule],
                rule=rule,
                subject=subject,
                period=period,
                summary=summary,
                due_at=due,
                records=records,
                reminders=tuple(sorted(evidence, key=lambda r: (r.recorded_at, r.key))),
                recorded_at=hit.created_at if hit else None,
            )
        )
    order = list(FailureKind)
    entries.sort(key=lambda e: (order.index(e.kind), e.unit, e.due_at, e.subject))
    return entries


STORED_SUMMARY: Mapping[str, str] = {
    "R8": "季度未召开新闻发布会",
    "R9": "半年未出席市政府新闻发布会",
    "R10": "主要负责人年度未出席市政府新闻发布会",
    "R17": "热点回应不及时",
    "R18": "重大政策不解读",
}


def _period_label(code: str) -> str:
    try:
        return parse_period(code).label
    except ValueError:
        return code


def _stored_in_year(entry: StoredEntry, year: int) -> bool:
    if entry.period[:4].isdigit():
        return int(entry.period[:4]) == year
    return entry.created_at.astimezone(SHANGHAI).year in (year, year + 1) and (
        entry.subject.split("-")[1:2] == [str(year)]
    )


REMINDER_KIND_LABELS: Mapping[str, str] = {
    "r8_due": "季度发布会提醒",
    "r8_missed": "季度未完成名单",
    "r9_due": "半年出席提醒",
    "r9_missed": "半年未完成名单",
    "r10_due": "主要负责人年度出席提醒",
    "r10_missed": "年度未完成名单",
    "r17_first_release": "首发提醒",
    "r17_due": "发布会时限提醒",
    "r17_overdue": "超时通报",
    "r18_prepare": "解读准备提醒",
    "r18_published": "公布当日提醒",
    "r18_overdue": "逾期未解读通报",
}


def reminder_label(kind: str) -> str:
    return REMINDER_KIND_LABELS.get(kind, "提醒")
