"""Conferences (R15, R16): the eve reminder to the speakers and the liaison, and the request
to report the conference held (so it counts for 4·2·1, R8–R10)."""

from __future__ import annotations

from datetime import datetime, timedelta

from liuan_bot.domain.calendar import WorkingCalendar
from liuan_bot.domain.reminders.config import ReminderConfig
from liuan_bot.domain.reminders.facts import ConferenceFacts, UnitFacts
from liuan_bot.domain.reminders.reminder import Reminder
from liuan_bot.domain.reminders.timing import at_time, deliverable
from liuan_bot.domain.roles import Role


def conference_reminders(
    conf: ConferenceFacts,
    unit: UnitFacts,
    cal: WorkingCalendar,
    cfg: ReminderConfig,
    now: datetime,
) -> list[Reminder]:
    """The eve and report-request reminders of one conference not yet held."""
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
    eve = at_time(eve_day, cfg.eve_time, now.tzinfo)
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
