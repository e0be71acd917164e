"""R17: the 24-hour ladder of an open 特别重大/重大 incident — the first-release reminder, the
hourly steps (escalated early when the previous step was not acknowledged), and the overdue
notice recorded for accountability (R14)."""

from __future__ import annotations

from datetime import datetime, timedelta

from liuan_bot.domain.incidents import clock_running, r17_deadline
from liuan_bot.domain.reminders.config import ReminderConfig
from liuan_bot.domain.reminders.facts import IncidentFacts, UnitFacts, World
from liuan_bot.domain.reminders.reminder import Reminder
from liuan_bot.domain.reminders.timing import FAR
from liuan_bot.domain.roles import Role


def incident_reminders(
    incident: IncidentFacts, unit: UnitFacts, world: World, cfg: ReminderConfig
) -> list[Reminder]:
    """Every R17 step of one incident (wall-clock hours: no working days, no quiet hours)."""
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
