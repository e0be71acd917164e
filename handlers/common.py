"""Helpers shared by the record commands: field checks, notifications, audit, formatting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from handlers.context import Context
from liuan_bot.commands.fields import CommandGrammar, FieldValue, retry_message
from liuan_bot.commands.timeparse import TimeParseError, format_time, parse_time
from liuan_bot.domain.roles import Role
from liuan_bot.domain.workflow import NotAllowed, Refusal
from liuan_bot.errors import Conflict, NotFound, PermissionDenied, UsageError
from liuan_bot.messages import text_to_users
from storage.audit import audit
from storage.roster_store import unit_id, userids_with_role


def require_fields(ctx: Context, grammar: CommandGrammar, *, exact_times: bool = False) -> None:
    """Raise one `UsageError` listing every problem and every missing field, with the sender's
    own message corrected, ready to copy (issue 9 E2)."""
    fields = ctx.fields
    problems = list(fields.errors)
    exact_times = exact_times and not grammar.exact_times  # else the grammar said it already
    if exact_times:
        for name in fields.inexact:
            problems.append(f"{name}：请写明几点几分，例如“12月3日上午10点”")
    if not problems and not fields.missing:
        return
    lines = []
    if fields.missing:
        lines.append(f"还缺少：{'、'.join(fields.missing)}。")
    lines += problems
    if exact_times:
        fields.invalid += [name for name in fields.inexact if name not in fields.invalid]
    retry = retry_message(ctx.word, grammar, fields, ctx.now)
    lines.append(f"请改正后重新发送：\n{retry}")
    raise UsageError("\n".join(lines))


@contextmanager
def refusals() -> Iterator[None]:
    """The one place a domain refusal becomes the reply (issue 11 §3): a step the member may
    not take is PermissionDenied (R1), any other refusal a Conflict."""
    try:
        yield
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except Refusal as exc:
        raise Conflict(exc.message) from exc


def read_as_past(ctx: Context, name: str, *, within: timedelta = timedelta(days=92)) -> bool:
    """Issue 9 A3: whether the time field `name` names a moment that has already passed, and
    if so, put that moment in the parsed values (filing after the fact: 补报).

    Two readings count as past: a time the future-preferring parse refused as gone
    (`昨天下午3点`), and a date without a year that the parse moved to next year although it
    was a few weeks ago (`11月20日` typed on 11-26). Only moments within `within` qualify."""
    raw = ctx.fields.raw.get(name)
    if raw is None:
        return False
    future = ctx.fields.values.get(name)
    if isinstance(future, datetime) and future - ctx.now < timedelta(days=180):
        return False
    try:
        parsed = parse_time(raw, ctx.now, prefer="past")
    except TimeParseError:
        return False
    if parsed.at > ctx.now or ctx.now - parsed.at > within:
        return False
    ctx.fields.errors = [e for e in ctx.fields.errors if not e.startswith(f"{name}：")]
    ctx.fields.values[name] = parsed.at
    if not parsed.exact and name not in ctx.fields.inexact:
        ctx.fields.inexact.append(name)
    return True


def record_id_of(ctx: Context) -> str:
    if ctx.fields.record_id is None:
        raise UsageError(f"请在“{ctx.word}”后写上编号，例如：{ctx.word} SQ-{ctx.now.year}-0001")
    return ctx.fields.record_id


def text_value(ctx: Context, name: str, default: str = "") -> str:
    value = ctx.fields.values.get(name, default)
    return value if isinstance(value, str) else default


def time_value(ctx: Context, name: str) -> datetime | None:
    value = ctx.fields.values.get(name)
    return value if isinstance(value, datetime) else None


def names_value(ctx: Context, name: str) -> list[str]:
    value = ctx.fields.values.get(name)
    return list(value) if isinstance(value, list) else []


def bool_value(ctx: Context, name: str, default: bool = False) -> bool:
    value: FieldValue | None = ctx.fields.values.get(name)
    return value if isinstance(value, bool) else default


def when(ctx: Context, moment: datetime | None) -> str:
    if moment is None:
        return "待定"
    return format_time(moment.astimezone(ctx.now.tzinfo), now=ctx.now)


async def own_unit_id(ctx: Context) -> int:
    found = await unit_id(ctx.session, ctx.sender.unit)
    if found is None:
        raise NotFound(f"名册里找不到您的单位“{ctx.sender.unit}”，请联系市政府新闻办。")
    return found


async def notify_role(ctx: Context, role: Role, text: str, *, unit: str | None = None) -> None:
    users = [u for u in await userids_with_role(ctx.session, role, unit=unit)]
    await ctx.push(text_to_users(users, text))


async def notify_users(ctx: Context, users: list[str], text: str) -> None:
    await ctx.push(text_to_users([u for u in users if u], text))


async def record_audit(
    ctx: Context,
    action: str,
    record_id: str,
    *,
    old: str | None,
    new: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    await audit(
        ctx.session,
        ctx.now,
        actor=ctx.sender.userid,
        action=action,
        record_id=record_id,
        old_state=old,
        new_state=new,
        source=ctx.source,
        detail=detail,
    )
