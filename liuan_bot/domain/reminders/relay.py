"""R23: relaying a release to its channels — a channel not confirmed in time is reminded, and
on working days the news office gets a digest of today's releases."""

from __future__ import annotations

from datetime import datetime, timedelta

from liuan_bot.domain.calendar import WorkingCalendar
from liuan_bot.domain.reminders.config import ReminderConfig
from liuan_bot.domain.reminders.facts import World
from liuan_bot.domain.reminders.reminder import Reminder
from liuan_bot.domain.reminders.timing import at_time, deliverable


def relay_reminders(
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
        due = at_time(now.date(), cfg.digest_time, now.tzinfo)
        result.append(
            Reminder(
                "R23",
                "digest",
                now.date().isoformat(),
                "daily",
                kind="relay_digest",
                due_at=due,
                expires_at=at_time(now.date(), cfg.quiet_start, now.tzinfo),
                recipients=world.news_office,
                data={
                    "rows": tuple(
                        (r.record_id, r.topic, r.channel_name, r.state, r.link) for r in today
                    )
                },
            )
        )
    return result
