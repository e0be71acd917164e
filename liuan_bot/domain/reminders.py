"""Which reminders are due at `now` (issue 4): pure, given the facts, the calendar and config.

Every reminder instance has an idempotency key `rule|subject|period|step`; the caller records
keys once (a unique constraint), so re-running a sweep, restarting, or two instances sweeping
at once never sends one twice. A step is due from its `due_at` until it `expires_at` (when a
later step supersedes it or it no longer matters); a step whose window passed while the bot
was down is reported as `missed`, to be logged and skipped.

Routine reminders go out on working days only and never in quiet hours (deferred to the
morning of the next working day); R17 steps run on wall-clock hours and ignore both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo

from liuan_bot.domain.calendar import WorkingCalendar
from liuan_bot.domain.incidents import clock_running, r17_deadline
from liuan_bot.domain.periods import Period, half_year, quarter, year
from liuan_bot.domain.roles import Role

FAR = timedelta(days=3650)


@dataclass(frozen=True)
class ReminderConfig:
    """Offsets, times and recipients of every rule (config/reminders.toml)."""

    quiet_start: time = time(22, 0)
    quiet_end: time = time(7, 30)
    deferred_to: time = time(9, 0)
    ack_escalation: timedelta = timedelta(minutes=30)
    r8_time: time = time(9, 0)
    r8_days_left: tuple[int, ...] = (30, 15)
    r8_working_days_left: tuple[int, ...] = (5, 1)
    r8_to: tuple[Role, ...] = (Role.LIAISON, Role.SPOKESPERSON)
    r9_time: time = time(9, 0)
    r9_days_left: tuple[int, ...] = (45, 20, 7)
    r9_to: tuple[Role, ...] = (Role.LIAISON, Role.SPOKESPERSON)
    r10_time: time = time(9, 0)
    r10_dates: tuple[tuple[int, int], ...] = ((11, 1), (12, 1), (12, 15))
    r10_to: tuple[Role, ...] = (Role.MAIN_LEADER, Role.LIAISON)
    r17_first_release_h: int = 1
    r17_reminder_h: tuple[int, ...] = (12, 18, 22)
    r17_main_leader_from_h: int = 20
    r17_deadline_h: int = 24
    r17_to: tuple[Role, ...] = (Role.SPOKESPERSON, Role.LIAISON)
    r18_working_days_before: int = 3
    r18_time: time = time(9, 0)
    r18_overdue: timedelta = timedelta(hours=24)
    r5_time: time = time(9, 0)
    r5_every: int = 5
    r5_until_month: int = 3  # the annual filing is a start-of-year duty: nag until March
    r7_time: time = time(9, 0)
    r7_window_years: int = 3
    r7_due_within_months: int = 3
    eve_time: time = time(16, 0)
    report_after: timedelta = timedelta(hours=2)
    relay_confirm_after: timedelta = timedelta(hours=24)
    digest_time: time = time(17, 30)


# ------------------------------------------------------------------ facts (inputs)


@dataclass(frozen=True)
class UnitFacts:
    id: int
    name: str
    key_unit: bool
    unit_type: str
    people: Mapping[Role, tuple[str, ...]]  # userids by role
    held: tuple[tuple[datetime, tuple[str, ...]], ...] = ()  # (held_at, counts_for)
    upcoming: tuple[datetime, ...] = ()  # starts of scheduled or filed conferences
    roster_filed_years: frozenset[int] = frozenset()

    def to(self, roles: Iterable[Role]) -> tuple[str, ...]:
        found: list[str] = []
        for role in roles:
            found += [u for u in self.people.get(role, ()) if u not in found]
        return tuple(found)


@dataclass(frozen=True)
class IncidentFacts:
    record_id: str
    unit_id: int
    title: str
    level: str
    occurred_at: datetime
    first_release_at: datetime | None
    answered: bool
    state: str = "open"  # open | answered | closed | withdrawn (domain/incidents.py)


@dataclass(frozen=True)
class PolicyFacts:
    record_id: str
    unit_id: int
    title: str
    publish_at: datetime
    interpretation_ready: bool
    briefing: bool


@dataclass(frozen=True)
class ConferenceFacts:
    record_id: str
    unit_id: int
    topic: str
    starts_at: datetime
    venue: str
    filer: str
    speaker_ids: tuple[str, ...]
    held: bool


@dataclass(frozen=True)
class PersonFacts:
    userid: str
    name: str
    unit_id: int
    last_trained: date | None


@dataclass(frozen=True)
class RelayFacts:
    """One channel of one release (R19–R23)."""

    record_id: str
    topic: str
    channel: str
    channel_name: str
    editors: tuple[str, ...]
    state: str  # pending | sent | published | failed | notified
    sent_at: datetime | None
    released_at: datetime
    link: str = ""


@dataclass(frozen=True)
class Sent:
    """A reminder instance already recorded: when it went out and whether it was acked."""

    at: datetime
    acked: bool


@dataclass(frozen=True)
class World:
    """Everything the rules look at, loaded in a fixed number of queries."""

    units: Sequence[UnitFacts]
    news_office: tuple[str, ...]
    incidents: Sequence[IncidentFacts] = ()
    policies: Sequence[PolicyFacts] = ()
    conferences: Sequence[ConferenceFacts] = ()
    trainees: Sequence[PersonFacts] = ()
    relays: Sequence[RelayFacts] = ()
    sent: Mapping[str, Sent] = field(default_factory=dict)


# ------------------------------------------------------------------ decisions (outputs)


@dataclass(frozen=True)
class Reminder:
    """One reminder instance; `kind` and `data` are rendered into Chinese by the handlers."""

    rule: str
    subject: str
    period: str
    step: str
    kind: str
    due_at: datetime
    expires_at: datetime
    recipients: tuple[str, ...]
    routine: bool = True
    unit_id: int | None = None
    data: Mapping[str, object] = field(default_factory=dict)
    accountability: tuple[tuple[int, str], ...] = ()  # (unit id, failure kind) to record

    @property
    def key(self) -> str:
        return f"{self.rule}|{self.subject}|{self.period}|{self.step}"


@dataclass(frozen=True)
class Plan:
    due: list[Reminder]
    missed: list[Reminder]


# ------------------------------------------------------------------ timing helpers


def _at(day: date, at: time, tz: tzinfo | None) -> datetime:
    return datetime.combine(day, at, tzinfo=tz)


def deliverable(moment: datetime, cal: WorkingCalendar, cfg: ReminderConfig) -> datetime:
    """When a routine reminder planned for `moment` may go out: working day, not quiet."""
    tz = moment.tzinfo
    day, clock = moment.date(), moment.timetz().replace(tzinfo=None)
    if cal.is_working_day(day) and cfg.quiet_end <= clock < cfg.quiet_start:
        return moment
    if cal.is_working_day(day) and clock < cfg.quiet_end:
        return _at(day, cfg.deferred_to, tz)
    return _at(cal.next_working_day(day), cfg.deferred_to, tz)


def _ladder(proto: Reminder, steps: list[tuple[str, datetime]], end: datetime) -> list[Reminder]:
    """Steps in time order; each expires when the next becomes due (or at `end`)."""
    ordered: list[tuple[str, datetime]] = []
    for name, due in sorted(steps, key=lambda s: s[1]):
        if ordered and ordered[-1][1] == due:
            continue  # two schedules landing on one moment: one reminder
        ordered.append((name, due))
    return [
        replace(
            proto,
            step=name,
            due_at=due,
            expires_at=ordered[i + 1][1] if i + 1 < len(ordered) else end,
        )
        for i, (name, due) in enumerate(ordered)
    ]


def _period_code(period: Period, kind: str) -> str:
    start = period.start
    if kind == "quarter":
        return f"{start.year}Q{(start.month - 1) // 3 + 1}"
    if kind == "half":
        return f"{start.year}H{1 if start.month == 1 else 2}"
    return f"{start.year}"


def _held_in(unit: UnitFacts, period: Period, rule: str) -> bool:
    return any(rule in counts and period.contains(at) for at, counts in unit.held)


# ------------------------------------------------------------------ quota rules R8–R10


def _days_left_day(period: Period, days_left: int) -> date:
    last = (period.end - timedelta(days=1)).date()
    return last - timedelta(days=days_left - 1)


def _quota_steps(
    rule: str,
    period: Period,
    code: str,
    unit: UnitFacts,
    cal: WorkingCalendar,
    cfg: ReminderConfig,
    now: datetime,
) -> list[Reminder]:
    tz = now.tzinfo
    first, last = period.start.date(), (period.end - timedelta(days=1)).date()
    steps: list[tuple[str, datetime]] = []
    if rule == "R8":
        roles, at = cfg.r8_to, cfg.r8_time
        steps += [(f"d{d}", _at(_days_left_day(period, d), at, tz)) for d in cfg.r8_days_left]
        for n in cfg.r8_working_days_left:
            day = cal.nth_last_working_day(first, last + timedelta(days=1), n)
            steps.append((f"wd{n}", _at(day, at, tz)))
    elif rule == "R9":
        roles, at = cfg.r9_to, cfg.r9_time
        steps += [(f"d{d}", _at(_days_left_day(period, d), at, tz)) for d in cfg.r9_days_left]
    else:
        roles, at = cfg.r10_to, cfg.r10_time
        steps += [
            (f"{m:02d}{d:02d}", _at(date(period.start.year, m, d), at, tz))
            for m, d in cfg.r10_dates
        ]
    steps = [(name, deliverable(due, cal, cfg)) for name, due in steps]
    upcoming = [s for s in unit.upcoming if period.contains(s) and s >= now]
    data: dict[str, object] = {
        "unit": unit.name,
        "period": period.label,
        "deadline": period.end - timedelta(seconds=1),
    }
    if upcoming:
        data["scheduled"] = min(upcoming)
    proto = Reminder(
        rule,
        f"unit:{unit.id}",
        code,
        "",
        kind=f"{rule.lower()}_due",
        due_at=now,
        expires_at=now,
        recipients=unit.to(roles),
        unit_id=unit.id,
        data=data,
    )
    return _ladder(proto, steps, period.end)


def _missed_list(
    rule: str,
    previous: Period,
    code: str,
    units: Sequence[UnitFacts],
    world: World,
    cal: WorkingCalendar,
    cfg: ReminderConfig,
    now: datetime,
) -> list[Reminder]:
    """On the first working day after a period: the news office gets the units that missed."""
    missed = [u for u in units if u.key_unit and not _held_in(u, previous, rule)]
    day = cal.first_working_day(previous.end.date(), previous.end.date() + timedelta(days=40))
    due = _at(day, cfg.r8_time, now.tzinfo)
    data = {"period": previous.label, "units": tuple(u.name for u in missed)}
    return [
        Reminder(
            rule,
            "list",
            code,
            "missed",
            kind=f"{rule.lower()}_missed",
            due_at=due,
            expires_at=due + timedelta(days=30),
            recipients=world.news_office,
            data=data,
            accountability=tuple((u.id, rule) for u in missed),
        )
    ]


def _quota_rules(
    world: World, cal: WorkingCalendar, cfg: ReminderConfig, now: datetime
) -> list[Reminder]:
    result: list[Reminder] = []
    keys = [u for u in world.units if u.key_unit]
    for rule, period_of, kind in (
        ("R8", quarter, "quarter"),
        ("R9", half_year, "half"),
        ("R10", year, "year"),
    ):
        period = period_of(now)
        code = _period_code(period, kind)
        for unit in keys:
            if not _held_in(unit, period, rule):
                result += _quota_steps(rule, period, code, unit, cal, cfg, now)
        previous = period_of(period.start - timedelta(days=1))
        result += _missed_list(
            rule, previous, _period_code(previous, kind), keys, world, cal, cfg, now
        )
    return result


# ------------------------------------------------------------------ R17 incidents


def _incident_steps(
    incident: IncidentFacts, unit: UnitFacts, world: World, cfg: ReminderConfig
) -> list[Reminder]:
    # R17 (issue 9 A4): the ladder runs only for open 特别重大/重大 incidents; 较大 and 一般 ones
    # are tracked without it, and answered, closed or withdrawn ones have stopped the clock.
    if incident.answered or not clock_running(incident.state, incident.level):
        return []
    t0 = incident.occurred_at
    deadline = r17_deadline(t0, cfg.r17_deadline_h)
    subject = f"incident:{incident.record_id}"
    data = {
        "record_id": incident.record_id,
        "title": incident.title,
        "unit": unit.name,
        "level": incident.level,
        "deadline": deadline,
        "occurred_at": t0,
    }
    result: list[Reminder] = []
    first_due = t0 + timedelta(hours=cfg.r17_first_release_h)
    if incident.first_release_at is None:
        result.append(
            Reminder(
                "R17",
                subject,
                "clock",
                "first_release",
                kind="r17_first_release",
                due_at=first_due,
                expires_at=deadline,
                recipients=unit.to(cfg.r17_to),
                routine=False,
                unit_id=unit.id,
                data=data,
            )
        )
    hours = sorted({*cfg.r17_reminder_h, cfg.r17_main_leader_from_h})
    ladder: list[tuple[str, datetime, tuple[str, ...]]] = []
    for h in hours:
        roles = cfg.r17_to + ((Role.MAIN_LEADER,) if h >= cfg.r17_main_leader_from_h else ())
        ladder.append((f"h{h}", t0 + timedelta(hours=h), unit.to(roles)))
    previous: Reminder | None = None
    for index, (name, planned, recipients) in enumerate(ladder):
        due = planned
        if previous is not None:
            sent = world.sent.get(previous.key)
            if sent is not None and not sent.acked:
                due = min(planned, sent.at + cfg.ack_escalation)  # unacknowledged: one step early
        expires = ladder[index + 1][1] if index + 1 < len(ladder) else deadline
        step = Reminder(
            "R17",
            subject,
            "clock",
            name,
            kind="r17_due",
            due_at=due,
            expires_at=max(expires, due + timedelta(minutes=1)),
            recipients=recipients,
            routine=False,
            unit_id=unit.id,
            data={**data, "hours_left": cfg.r17_deadline_h - int(name[1:])},
        )
        result.append(step)
        previous = step
    overdue_to = unit.to((Role.MAIN_LEADER,)) + tuple(
        u for u in world.news_office if u not in unit.to((Role.MAIN_LEADER,))
    )
    result.append(
        Reminder(
            "R17",
            subject,
            "clock",
            "overdue",
            kind="r17_overdue",
            due_at=deadline,
            expires_at=deadline + FAR,
            recipients=overdue_to,
            routine=False,
            unit_id=unit.id,
            data=data,
            accountability=((unit.id, "R17"),),
        )
    )
    return result


# ------------------------------------------------------------------ R18 policies


def _policy_steps(
    policy: PolicyFacts,
    unit: UnitFacts,
    world: World,
    cal: WorkingCalendar,
    cfg: ReminderConfig,
    now: datetime,
) -> list[Reminder]:
    if policy.interpretation_ready:
        return []
    subject = f"policy:{policy.record_id}"
    data = {
        "record_id": policy.record_id,
        "title": policy.title,
        "unit": unit.name,
        "publish_at": policy.publish_at,
        "briefing": policy.briefing,
    }
    prep_day = cal.add_working_days(policy.publish_at.date(), -cfg.r18_working_days_before)
    prep = deliverable(_at(prep_day, cfg.r18_time, now.tzinfo), cal, cfg)
    unit_to = unit.to((Role.SPOKESPERSON, Role.LIAISON))
    at_publication = unit_to + tuple(u for u in world.news_office if u not in unit_to)
    overdue_at = policy.publish_at + cfg.r18_overdue
    steps = [
        Reminder(
            "R18",
            subject,
            "publication",
            "prepare",
            kind="r18_prepare",
            due_at=prep,
            expires_at=policy.publish_at,
            recipients=unit_to,
            unit_id=unit.id,
            data=data,
        ),
        Reminder(
            "R18",
            subject,
            "publication",
            "published",
            kind="r18_published",
            due_at=policy.publish_at,
            expires_at=overdue_at,
            recipients=at_publication,
            routine=False,
            unit_id=unit.id,
            data=data,
        ),
        Reminder(
            "R18",
            subject,
            "publication",
            "overdue",
            kind="r18_overdue",
            due_at=overdue_at,
            expires_at=overdue_at + FAR,
            recipients=unit.to((Role.MAIN_LEADER,)) + world.news_office,
            routine=False,
            unit_id=unit.id,
            data=data,
            accountability=((unit.id, "R18"),),
        ),
    ]
    return [s for s in steps if s.due_at < s.expires_at]


# ------------------------------------------------------------------ R5 roster, R7 training


FILING_UNIT_TYPES = ("市直部门", "县区", "开发区")


def _roster_steps(
    world: World, cal: WorkingCalendar, cfg: ReminderConfig, now: datetime
) -> list[Reminder]:
    tz, y = now.tzinfo, now.year
    first = cal.first_working_day(date(y, 1, 1), date(y, 2, 1))
    missing = [
        u
        for u in world.units
        if u.unit_type in FILING_UNIT_TYPES and y not in u.roster_filed_years
    ]
    result: list[Reminder] = []
    if first <= now.date() and now.month <= cfg.r5_until_month:
        elapsed = cal.working_days_between(first, now.date() + timedelta(days=1)) - 1
        latest = elapsed - elapsed % cfg.r5_every  # the latest step on or before today
        # The step before it too: still due before today's step time, else missed if unsent.
        for n in (latest - cfg.r5_every, latest):
            if n < 0:
                continue
            day = cal.add_working_days(first, n)
            due = _at(day, cfg.r5_time, tz)
            expires = _at(cal.add_working_days(first, n + cfg.r5_every), cfg.r5_time, tz)
            for unit in missing:
                result.append(
                    Reminder(
                        "R5",
                        f"unit:{unit.id}",
                        str(y),
                        f"wd{n}",
                        kind="r5_due",
                        due_at=due,
                        expires_at=expires,
                        recipients=unit.to((Role.LIAISON, Role.MAIN_LEADER)),
                        unit_id=unit.id,
                        data={"unit": unit.name, "year": y},
                    )
                )
    end_of_january = cal.last_working_day(date(y, 1, 1), date(y, 2, 1))
    due = _at(end_of_january, cfg.r5_time, tz)
    result.append(
        Reminder(
            "R5",
            "list",
            str(y),
            "january",
            kind="r5_missing",
            due_at=due,
            expires_at=due + timedelta(days=30),
            recipients=world.news_office,
            data={"year": y, "units": tuple(u.name for u in missing)},
        )
    )
    return result


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _training_steps(
    world: World, cal: WorkingCalendar, cfg: ReminderConfig, now: datetime
) -> list[Reminder]:
    today = now.date()
    month_start = today.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    day = cal.first_working_day(month_start, next_month)
    due = _at(day, cfg.r7_time, now.tzinfo)
    horizon = today + timedelta(days=31 * cfg.r7_due_within_months)
    never, lapsed, soon = [], [], []
    for person in world.trainees:
        if person.last_trained is None:
            never.append(person.name)
            continue
        due_on = _add_years(person.last_trained, cfg.r7_window_years)
        if due_on <= today:
            lapsed.append(person.name)
        elif due_on <= horizon:
            soon.append(f"{person.name}（{due_on.month}月{due_on.day}日到期）")
    data = {
        "never": tuple(never),
        "lapsed": tuple(lapsed),
        "soon": tuple(soon),
        "window": cfg.r7_window_years,
    }
    code = f"{today.year}-{today.month:02d}"
    return [
        Reminder(
            "R7",
            "list",
            code,
            "monthly",
            kind="r7_training",
            due_at=due,
            expires_at=_at(next_month, time(0, 0), now.tzinfo),
            recipients=world.news_office,
            data=data,
        )
    ]


# ------------------------------------------------------------------ conferences


def _conference_steps(
    conf: ConferenceFacts,
    unit: UnitFacts,
    cal: WorkingCalendar,
    cfg: ReminderConfig,
    now: datetime,
) -> list[Reminder]:
    if conf.held:
        return []
    subject = f"conference:{conf.record_id}"
    data = {
        "record_id": conf.record_id,
        "topic": conf.topic,
        "starts_at": conf.starts_at,
        "venue": conf.venue,
        "unit": unit.name,
    }
    eve_day = cal.previous_working_day(conf.starts_at.date())
    eve = _at(eve_day, cfg.eve_time, now.tzinfo)
    to = tuple(dict.fromkeys((*conf.speaker_ids, *unit.to((Role.LIAISON,)))))
    steps = []
    if eve < conf.starts_at:
        steps.append(
            Reminder(
                "CONF",
                subject,
                "meeting",
                "eve",
                kind="conference_eve",
                due_at=eve,
                expires_at=conf.starts_at,
                recipients=to,
                unit_id=unit.id,
                data=data,
            )
        )
    report = deliverable(conf.starts_at + cfg.report_after, cal, cfg)
    steps.append(
        Reminder(
            "CONF",
            subject,
            "meeting",
            "report",
            kind="conference_report",
            due_at=report,
            expires_at=report + timedelta(days=30),
            recipients=(conf.filer,),
            unit_id=unit.id,
            data=data,
        )
    )
    return steps


# ------------------------------------------------------------------ relay (R23)


def _relay_steps(
    world: World, cal: WorkingCalendar, cfg: ReminderConfig, now: datetime
) -> list[Reminder]:
    """A channel not confirmed in time is reminded; on working days the news office gets a
    digest of today's releases and of older ones still missing a channel."""
    result: list[Reminder] = []
    for r in world.relays:
        if r.state == "sent" and r.sent_at is not None and r.editors:
            due = deliverable(r.sent_at + cfg.relay_confirm_after, cal, cfg)
            result.append(
                Reminder(
                    "R23",
                    f"release:{r.record_id}:{r.channel}",
                    "relay",
                    "unconfirmed",
                    kind="relay_unconfirmed",
                    due_at=due,
                    expires_at=due + timedelta(days=7),
                    recipients=r.editors,
                    data={
                        "record_id": r.record_id,
                        "topic": r.topic,
                        "channel": r.channel_name,
                        "sent_at": r.sent_at,
                    },
                )
            )
    released_today = {
        r.record_id
        for r in world.relays
        if r.released_at.astimezone(now.tzinfo).date() == now.date()
    }
    waiting = {r.record_id for r in world.relays if r.state in ("pending", "sent")}
    shown = released_today | waiting  # today's releases, and older ones still missing a channel
    today = [r for r in world.relays if r.record_id in shown]
    if today and cal.is_working_day(now.date()):
        due = _at(now.date(), cfg.digest_time, now.tzinfo)
        result.append(
            Reminder(
                "R23",
                "digest",
                now.date().isoformat(),
                "daily",
                kind="relay_digest",
                due_at=due,
                expires_at=_at(now.date(), cfg.quiet_start, now.tzinfo),
                recipients=world.news_office,
                data={
                    "rows": tuple(
                        (r.record_id, r.topic, r.channel_name, r.state, r.link) for r in today
                    )
                },
            )
        )
    return result


# ------------------------------------------------------------------ the planner


def plan(
    world: World,
    now: datetime,
    cal: WorkingCalendar,
    cfg: ReminderConfig | None = None,
    *,
    only_r17: bool = False,
) -> Plan:
    """Reminders due at `now` (due, not yet recorded) and those whose window passed unsent.

    `only_r17` plans the incident clocks alone (the precise timer's cheap sweep)."""
    if now.tzinfo is None:
        raise ValueError("plan needs an aware `now`")
    cfg = cfg or ReminderConfig()
    units = {u.id: u for u in world.units}
    candidates: list[Reminder] = []
    for incident in world.incidents:
        if incident.unit_id in units:
            candidates += _incident_steps(incident, units[incident.unit_id], world, cfg)
    if not only_r17:  # the precise timer looks at R17 alone; the minute sweep at everything
        candidates += _quota_rules(world, cal, cfg, now)
        for policy in world.policies:
            if policy.unit_id in units:
                candidates += _policy_steps(policy, units[policy.unit_id], world, cal, cfg, now)
        for conf in world.conferences:
            if conf.unit_id in units:
                candidates += _conference_steps(conf, units[conf.unit_id], cal, cfg, now)
        candidates += _roster_steps(world, cal, cfg, now)
        candidates += _training_steps(world, cal, cfg, now)
        candidates += _relay_steps(world, cal, cfg, now)
    # Routine reminders never go out in quiet hours or on a day off, even when caught up late
    # (after a restart, or for facts filed then): they wait for the next working morning.
    routine_open = deliverable(now, cal, cfg) == now
    morning = _at(now.date(), cfg.quiet_end, now.tzinfo)
    early = now.timetz().replace(tzinfo=None) < cfg.deferred_to
    due: list[Reminder] = []
    missed: list[Reminder] = []
    for reminder in candidates:
        if reminder.key in world.sent or reminder.due_at > now or not reminder.recipients:
            continue
        if now >= reminder.expires_at:
            missed.append(reminder)
        elif not reminder.routine or (routine_open and not (early and reminder.due_at < morning)):
            due.append(reminder)  # one held overnight or over a day off waits for 09:00
    return Plan(due, missed)


def next_precise(
    world: World, now: datetime, cfg: ReminderConfig | None = None
) -> datetime | None:
    """The next moment an R17 step falls due (for a precise timer), or None."""
    cfg = cfg or ReminderConfig()
    units = {u.id: u for u in world.units}
    times = [
        r.due_at
        for incident in world.incidents
        if incident.unit_id in units
        for r in _incident_steps(incident, units[incident.unit_id], world, cfg)
        if r.due_at > now and r.key not in world.sent
    ]
    return min(times, default=None)
