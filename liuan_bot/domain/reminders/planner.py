"""Which reminders are due at `now`: the rule families' candidates, filtered by what was
recorded, by their windows and by quiet hours.

A step is due from its `due_at` until it `expires_at`; one whose window passed while the bot
was down is reported as `missed`, to be logged and skipped.
"""

from __future__ import annotations

from datetime import datetime

from liuan_bot.domain.calendar import WorkingCalendar
from liuan_bot.domain.reminders.conferences import conference_reminders
from liuan_bot.domain.reminders.config import ReminderConfig
from liuan_bot.domain.reminders.facts import World
from liuan_bot.domain.reminders.incidents import incident_reminders
from liuan_bot.domain.reminders.policies import policy_reminders
from liuan_bot.domain.reminders.quotas import quota_reminders
from liuan_bot.domain.reminders.relay import relay_reminders
from liuan_bot.domain.reminders.reminder import Plan, Reminder
from liuan_bot.domain.reminders.roster import roster_reminders, training_reminders
from liuan_bot.domain.reminders.timing import at_time, deliverable


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
            candidates += incident_reminders(incident, units[incident.unit_id], world, cfg)
    if not only_r17:  # the precise timer looks at R17 alone; the minute sweep at everything
        candidates += quota_reminders(world, cal, cfg, now)
        for policy in world.policies:
            if policy.unit_id in units:
                candidates += policy_reminders(policy, units[policy.unit_id], world, cal, cfg, now)
        for conf in world.conferences:
            if conf.unit_id in units:
                candidates += conference_reminders(conf, units[conf.unit_id], cal, cfg, now)
        candidates += roster_reminders(world, cal, cfg, now)
        candidates += training_reminders(world, cal, cfg, now)
        candidates += relay_reminders(world, cal, cfg, now)
    # Routine reminders never go out in quiet hours or on a day off, even when caught up late
    # (after a restart, or for facts filed then): they wait for the next working morning.
    routine_open = deliverable(now, cal, cfg) == now
    morning = at_time(now.date(), cfg.quiet_end, now.tzinfo)
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
        for r in incident_reminders(incident, units[incident.unit_id], world, cfg)
        if r.due_at > now and r.key not in world.sent
    ]
    return min(times, default=None)
