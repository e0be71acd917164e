"""R18: a major policy is interpreted when it is published — a reminder to prepare working
days before, one at publication, and the overdue notice recorded for accountability (R14)."""

from __future__ import annotations

from datetime import datetime

from liuan_bot.domain.calendar import WorkingCalendar
from liuan_bot.domain.reminders.config import ReminderConfig
from liuan_bot.domain.reminders.facts import PolicyFacts, UnitFacts, World
from liuan_bot.domain.reminders.reminder import Reminder
from liuan_bot.domain.reminders.timing import FAR, at_time, deliverable
from liuan_bot.domain.roles import Role


def policy_reminders(
    policy: PolicyFacts,
    unit: UnitFacts,
    world: World,
    cal: WorkingCalendar,
    cfg: ReminderConfig,
    now: datetime,
) -> list[Reminder]:
    """The R18 steps of one policy whose interpretation is not ready."""
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
    prep = deliverable(at_time(prep_day, cfg.r18_time, now.tzinfo), cal, cfg)
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
