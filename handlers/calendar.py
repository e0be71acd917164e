"""WeCom calendar events for scheduled conferences (issue 5; off by default).

With `LIUAN_CALENDAR_EVENTS=true`, scheduling a conference (排期) creates an event in the
calendars of its speakers, the filer and the news office (`oa/schedule/add`); re-scheduling
updates it, and withdrawing or amending (back to review) cancels it. The calls go through the
outbox like every other one; the event id WeCom returns is stored on the conference.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from handlers.context import Context
from liuan_bot.domain.roles import Role
from liuan_bot.messages import Outgoing
from storage.roster_store import unit_members, userids_with_role
from storage.tables import Conference

DURATION = timedelta(hours=2)
SOURCE = "calendar:"


async def _event(ctx: Context, conf: Conference, unit: str) -> dict[str, Any]:
    assert conf.starts_at is not None
    names = {m.name: m.userid for m in await unit_members(ctx.session, conf.unit_id)}
    people = [names[n] for n in conf.speakers if n in names] + [conf.filer]
    people += await userids_with_role(ctx.session, Role.NEWS_OFFICE)
    start = int(conf.starts_at.timestamp())
    return {
        "start_time": start,
        "end_time": start + int(DURATION.total_seconds()),
        "attendees": [{"userid": u} for u in dict.fromkeys(people)][:1000],
        "summary": f"新闻发布会：{conf.topic}"[:128],
        "description": (
            f"{conf.record_id} · {unit}\n发布人：{'、'.join(conf.speakers)}\n"
            f"稿件格式：{conf.draft_format or '待定'}"
        )[:1000],
        "location": conf.venue,
        "reminders": {"is_remind": 1, "remind_before_event_secs": 3600, "timezone": 8},
    }


async def event_scheduled(ctx: Context, conf: Conference, unit: str) -> None:
    """排期: create the event, or move it when the conference is re-scheduled."""
    if not ctx.deps.settings.calendar_events or conf.starts_at is None:
        return
    schedule = await _event(ctx, conf, unit)
    if conf.schedule_id:
        body = {
            "action": "update",
            "body": {"schedule": {**schedule, "schedule_id": conf.schedule_id}},
        }
    else:
        body = {"action": "add", "body": {"schedule": schedule}}
    await ctx.push([Outgoing("calendar", conf.record_id, body)])


async def event_cancelled(ctx: Context, conf: Conference) -> None:
    """撤回 or a 修改 that returns it to review: the event is cancelled."""
    if ctx.deps.settings.calendar_events and conf.schedule_id:
        body = {"action": "del", "body": {"schedule_id": conf.schedule_id}}
        await ctx.push([Outgoing("calendar", conf.record_id, body)])
        conf.schedule_id = None
