"""Which reminders are due at `now` (issue 4): pure, given the facts, the calendar and config.

Every reminder instance has an idempotency key `rule|subject|period|step`; the caller records
keys once (a unique constraint), so re-running a sweep, restarting, or two instances sweeping
at once never sends one twice. A step is due from its `due_at` until it `expires_at` (when a
later step supersedes it or it no longer matters); a step whose window passed while the bot
was down is reported as `missed`, to be logged and skipped.

Routine reminders go out on working days only and never in quiet hours (deferred to the
morning of the next working day); R17 steps run on wall-clock hours and ignore both.

Where each rule lives:
- config.py      ReminderConfig (config/reminders.toml)
- facts.py       the inputs: World and the facts of units, incidents, policies, …
- reminder.py    the outputs: Reminder (and its idempotency key), Plan
- timing.py      working days, quiet hours, step ladders
- planner.py     plan() and next_precise(): candidates of every family, filtered
- quotas.py      R8, R9, R10 (4·2·1) with the missed lists and accountability
- incidents.py   R17, the 24-hour ladder
- policies.py    R18, policy interpretation
- roster.py      R5 (roster filing), R7 (training)
- conferences.py the eve reminder and the report request of a conference (R15, R16)
- relay.py       R23, unconfirmed channels and the daily digest
"""

from liuan_bot.domain.reminders.config import ReminderConfig
from liuan_bot.domain.reminders.facts import (
    ConferenceFacts,
    IncidentFacts,
    PersonFacts,
    PolicyFacts,
    RelayFacts,
    Sent,
    UnitFacts,
    World,
)
from liuan_bot.domain.reminders.planner import next_precise, plan
from liuan_bot.domain.reminders.reminder import Plan, Reminder
from liuan_bot.domain.reminders.roster import FILING_UNIT_TYPES
from liuan_bot.domain.reminders.timing import FAR, deliverable

__all__ = [
    "FAR",
    "FILING_UNIT_TYPES",
    "ConferenceFacts",
    "IncidentFacts",
    "PersonFacts",
    "Plan",
    "PolicyFacts",
    "RelayFacts",
    "Reminder",
    "ReminderConfig",
    "Sent",
    "UnitFacts",
    "World",
    "deliverable",
    "next_precise",
    "plan",
]
