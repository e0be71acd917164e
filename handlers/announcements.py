"""公告, 回执, 补发 (issue 5): the news office reaches everyone, by user id, with receipts.

Audiences are resolved to user ids from the roster — never `@all` — and sent through the
outbox in batches of at most 1000 users per API call. With 回执：是 each batch is followed by a
card with an 已阅 button; WeCom's `invaliduser` results are recorded and told to the sender.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.common import (
    bool_value,
    record_audit,
    record_id_of,
    require_fields,
    text_value,
    when,
)
from handlers.context import Context
from liuan_bot.clock import utc
from liuan_bot.commands.fields import CommandGrammar, FieldSpec, match_name
from liuan_bot.commands.registry import CommandSpec
from liuan_bot.domain.roles import ALL_ROLES, Role, parse_role
from liuan_bot.errors import Conflict, NotFound, UsageError
from liuan_bot.groups import Group
from liuan_bot.messages import (
    MAX_USERS_PER_SEND,
    TEXT_MAX_BYTES,
    Outgoing,
    Reply,
    split_text,
    text_to_users,
)
from storage.announcement_store import (
    PersonRow,
    active_people,
    announcement_by_record,
    last_resend_at,
    names_by_userid,
    recipients_of,
    unread_announcements,
)
from storage.records import next_record_id
from storage.tables import Announcement, AnnouncementRecipient

ANNOUNCE = CommandGrammar(
    fields=(
        FieldSpec("对象", required=True, aliases=("发送对象", "范围", "接收人"), example="全体"),
        FieldSpec(
            "内容",
            required=True,
            aliases=("正文", "通知"),
            example="请各单位于12月10日前报送2027年发布计划。",
            prose=True,
        ),
        FieldSpec("回执", "bool", aliases=("需要回执", "是否回执"), example="是"),
    )
)
BY_ID = CommandGrammar(record="required", record_prefixes=("GG",))
RESEND = CommandGrammar(record="required", record_prefixes=("GG",), decisions=("确认",))
READ = CommandGrammar(record="optional", record_prefixes=("GG",))
EVERYONE = ("全体", "全部", "所有人", "全员")
_SPLIT = re.compile(r"[、,;，；\s]+")


async def _people(session: AsyncSession) -> list[PersonRow]:
    return await active_people(session)


def _resolve(
    tokens: list[str],
    people: list[PersonRow],
    groups: Mapping[str, Group],
) -> tuple[list[str], list[Group], list[str]]:
    """User ids and groups named by 对象, and the tokens that name nothing."""
    units = {unit for _, _, unit, _ in people}
    users: dict[str, None] = {}
    chosen: list[Group] = []
    unknown: list[str] = []
    for token in tokens:
        role = parse_role(token)
        if token in EVERYONE:
            users.update(dict.fromkeys(u for u, *_ in people))
        elif role is not None:
            users.update(dict.fromkeys(u for u, _, _, roles in people if role in roles))
        elif token in groups:
            chosen.append(groups[token])
        elif (unit := match_name(token, units)) is not None:  # the shared short-name rule
            users.update(dict.fromkeys(u for u, _, name, _ in people if name == unit))
        else:
            unknown.append(token)
    return list(users), chosen, unknown


def _read_card(record_id: str, batch: int, content: str) -> dict[str, Any]:
    return {
        "card_type": "button_interaction",
        "source": {"desc": "六安市政府新闻办"},
        "main_title": {"title": "公告 · 请确认已阅", "desc": record_id},
        "sub_title_text": content[:60] + ("…" if len(content) > 60 else ""),
        "task_id": f"{record_id}-r{batch}",
        "button_list": [{"text": "已阅", "style": 1, "key": f"read|{record_id}"}],
    }


def _messages(
    record_id: str, users: list[str], text: str, receipt: bool, round_: int = 0
) -> list[Outgoing]:
    out = text_to_users(users, text)
    if receipt:
        for n, start in enumerate(range(0, len(users), MAX_USERS_PER_SEND)):
            batch = users[start : start + MAX_USERS_PER_SEND]
            card = _read_card(record_id, round_ * 100 + n, text.split("\n", 1)[-1])
            out.append(
                Outgoing(
                    "app",
                    "|".join(batch),
                    {"touser": "|".join(batch), "msgtype": "template_card", "template_card": card},
                )
            )
    return out


def _group_messages(groups: list[Group], text: str) -> list[Outgoing]:
    out: list[Outgoing] = []
    for group in groups:
        for part in split_text(text, TEXT_MAX_BYTES):
            if group.robot:
                out.append(
                    Outgoing(
                        "webhook", group.robot, {"msgtype": "text", "text": {"content": part}}
                    )
                )
            if group.chat_id:
                out.append(
                    Outgoing(
                        "appchat",
                        group.chat_id,
                        {"chatid": group.chat_id, "msgtype": "text", "text": {"content": part}},
                    )
                )
    return out


async def announce(ctx: Context) -> Reply:
    """公告 对象：… 内容：… [回执：是/否]."""
    require_fields(ctx, ANNOUNCE)
    tokens = [t for t in _SPLIT.split(text_value(ctx, "对象")) if t]
    people = await _people(ctx.session)
    users, groups, unknown = _resolve(tokens, people, ctx.deps.groups)
    if unknown:
        known = "全体、新闻发言人、联络员、主要负责人、单位全称" + (
            "、" + "、".join(ctx.deps.groups) if ctx.deps.groups else ""
        )
        raise UsageError(
            f"没有找到“{'、'.join(unknown)}”。对象可以是：{known}，可用“、”分隔多项。"
        )
    if not users and not groups:
        raise UsageError("这个对象里没有人，请检查后重新发送。")
    receipt = bool_value(ctx, "回执")
    record_id = await next_record_id(ctx.session, "GG", ctx.now.year)
    content = text_value(ctx, "内容")
    row = Announcement(
        record_id=record_id,
        sender=ctx.sender.userid,
        audience="、".join(tokens),
        content=content,
        receipt=receipt,
        groups=[g.name for g in groups],
        created_at=ctx.now,
    )
    ctx.session.add(row)
    await ctx.session.flush()
    for user in users:
        ctx.session.add(AnnouncementRecipient(announcement_id=row.id or 0, userid=user))
    text = f"【公告 {record_id}】\n{content}\n——市政府新闻办"
    messages = _messages(record_id, users, text, receipt) + _group_messages(groups, text)
    await ctx.push(
        messages,
        source=f"announcement:{record_id}",
        dedupe_key=f"announcement:{record_id}",
    )
    await record_audit(
        ctx,
        "announce",
        record_id,
        old=None,
        new="sent",
        detail={"users": len(users), "groups": [g.name for g in groups]},
    )
    calls = -(-len(users) // MAX_USERS_PER_SEND)
    lines = [
        f"已发出公告 {record_id}：{len(users)} 人（{calls} 批）"
        + (f"，群 {len(groups)} 个（{'、'.join(g.name for g in groups)}）" if groups else "")
        + "。"
    ]
    if receipt:
        lines.append(
            f"带“已阅”按钮。发送“回执 {record_id}”查看阅读情况，“补发 {record_id}”提醒未读的人。"
        )
    lines.append("如有账号无效，企业微信退回后会告诉您。")
    return Reply.ok("\n".join(lines))


async def _load(ctx: Context) -> tuple[Announcement, list[AnnouncementRecipient]]:
    record_id = record_id_of(ctx)
    row = await announcement_by_record(ctx.session, record_id)
    if row is None:
        raise NotFound(f"没有找到公告 {record_id}，请核对编号。")
    return row, await recipients_of(ctx.session, row.id)


async def receipts(ctx: Context) -> Reply:
    """回执 GG-…: who has read the announcement and who has not."""
    require_fields(ctx, BY_ID)
    row, recipients = await _load(ctx)
    if not row.receipt:
        return Reply.refused(f"{row.record_id} 发送时未要求回执，无法统计阅读情况。")
    names = {u: (n, unit) for u, n, unit, _ in await _people(ctx.session)}
    read = [r for r in recipients if r.read_at is not None]
    invalid = [r for r in recipients if r.invalid]
    unread = [r for r in recipients if r.read_at is None and not r.invalid]
    by_unit: dict[str, list[str]] = {unit: [] for _, unit in names.values()}
    order = {u: i for i, u in enumerate(names)}  # E7: the roster's official order
    for r in sorted(unread, key=lambda item: order.get(item.userid, len(order))):
        name, unit = names.get(r.userid, (r.userid, "未知单位"))
        by_unit.setdefault(unit, []).append(name)
    by_unit = {unit: people for unit, people in by_unit.items() if people}
    lines = [
        f"{row.record_id} 阅读情况：共 {len(recipients)} 人，已阅 {len(read)} 人，"
        f"未阅 {len(unread)} 人" + (f"，账号无效 {len(invalid)} 人" if invalid else "") + "。"
    ]
    for unit, people in list(by_unit.items())[:30]:
        lines.append(f"· {unit}：{'、'.join(people)}")
    if len(by_unit) > 30:
        lines.append(f"……另有 {len(by_unit) - 30} 个单位")
    if unread:
        lines.append(f"发送“补发 {row.record_id}”再提醒一次未阅的人。")
    return Reply.ok("\n".join(lines))


async def resend(ctx: Context) -> Reply:
    """补发 GG-… 确认: the announcement again, to those who have not read it. Without 确认 it
    only says what would happen (C3); within the configured interval it is refused."""
    require_fields(ctx, RESEND)
    row, recipients = await _load(ctx)
    if not row.receipt:
        return Reply.refused(f"{row.record_id} 发送时未要求回执，不知道谁没有看，无法补发。")
    unread = [r for r in recipients if r.read_at is None and not r.invalid]
    if not unread:
        return Reply.refused(f"{row.record_id} 所有人都已阅，无需补发。")
    interval = timedelta(minutes=ctx.deps.settings.resend_interval_min)
    last = await last_resend_at(ctx.session, row.record_id)
    if last is not None and ctx.now - last < interval:
        raise Conflict(
            f"{row.record_id} 已于{when(ctx, last)}补发过，"
            f"{when(ctx, last + interval)}以后才能再次补发。"
        )
    if ctx.fields.decision != "确认":
        return Reply.ask(
            f"将向 {len(unread)} 位未阅的人补发 {row.record_id}。"
            f"确认请发送：补发 {row.record_id} 确认"
        )
    round_ = max(r.resent for r in unread) + 1
    for r in unread:
        r.resent += 1
        ctx.session.add(r)
    text = f"【公告 {row.record_id} · 补发】\n{row.content}\n——市政府新闻办"
    users = [r.userid for r in unread]
    await ctx.push(
        _messages(row.record_id, users, text, True, round_),
        source=f"announcement:{row.record_id}",
        dedupe_key=f"announcement:{row.record_id}:resend{round_}",
    )
    await record_audit(
        ctx,
        "resend",
        row.record_id,
        old=None,
        new=None,
        detail={"users": len(users), "round": round_},
    )
    return Reply.ok(f"已向 {len(users)} 位未阅的人补发 {row.record_id}（第 {round_} 次补发）。")


async def _mark(ctx: Context, record_id: str) -> AnnouncementRecipient | None:
    row = await announcement_by_record(ctx.session, record_id)
    if row is None:
        return None
    found = await recipients_of(ctx.session, row.id, [ctx.sender.userid])
    if not found:
        return None
    recipient = found[0]
    if recipient.read_at is None:
        recipient.read_at = utc(ctx.now)
        ctx.session.add(recipient)
    return recipient


async def mark_read(ctx: Context) -> Reply:
    """An 已阅 click."""
    record_id = (ctx.incoming.event_key or "").split("|", 1)[-1]
    recipient = await _mark(ctx, record_id)
    if recipient is None:
        return Reply.refused("这条公告不是发给您的。", button_label="无需确认")
    return Reply.ok(button_label="已阅")


async def read_typed(ctx: Context) -> Reply:
    """已阅 GG-… typed (C2): the same as the button. Without an id, the only unread one."""
    require_fields(ctx, READ)
    record_id = ctx.fields.record_id
    if record_id is None:
        unread = await unread_announcements(ctx.session, ctx.sender.userid)
        if not unread:
            return Reply.refused("您没有待确认的公告。")
        if len(unread) > 1:
            ids = "、".join(a.record_id for a in unread)
            raise UsageError(
                f"您有 {len(unread)} 条公告未确认（{ids}），请写明编号，"
                f"例如：已阅 {unread[0].record_id}"
            )
        record_id = unread[0].record_id
    recipient = await _mark(ctx, record_id)
    if recipient is None:
        return Reply.refused(f"公告 {record_id} 不是发给您的，无需确认。")
    return Reply.ok(f"已确认阅读公告 {record_id}。")


async def record_invalid(
    session: AsyncSession, record_id: str, invalid: list[str], now: datetime
) -> list[Outgoing]:
    """WeCom returned `invaliduser` for an announcement batch: record it, tell the sender."""
    row = await announcement_by_record(session, record_id)
    if row is None or not invalid:
        return []
    recipients = await recipients_of(session, row.id, invalid)
    fresh = [r for r in recipients if not r.invalid]
    for r in fresh:
        r.invalid = True
        session.add(r)
    if not fresh:
        return []
    names = await names_by_userid(session, invalid)
    who = "、".join(f"{names.get(r.userid, r.userid)}（{r.userid}）" for r in fresh)
    return text_to_users(
        [row.sender],
        f"公告 {record_id} 有 {len(fresh)} 个账号企业微信无法送达："
        f"{who}。请核对名册中的企业微信账号。",
    )


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        key="announce",
        name="公告",
        aliases=("发公告", "通知"),
        summary="向名册中的人员或工作群发布公告，可要求回执",
        usage="公告 对象：全体/新闻发言人/联络员/主要负责人/单位名/群名 内容：… [回执：是/否]",
        example="公告\n对象：新闻发言人、联络员\n内容：请各单位于12月10日前报送2027年发布计划。\n回执：是",
        handler=announce,
        roles=frozenset({Role.NEWS_OFFICE}),
        rules=("R1",),
        grammar=ANNOUNCE,
    ),
    CommandSpec(
        key="receipts",
        name="回执",
        aliases=("阅读情况",),
        summary="查看公告的已阅、未阅情况",
        usage="回执 编号",
        example="回执 GG-2026-0001",
        handler=receipts,
        roles=frozenset({Role.NEWS_OFFICE}),
        grammar=BY_ID,
    ),
    CommandSpec(
        key="resend",
        name="补发",
        aliases=("再发一次",),
        summary="向尚未阅读公告的人补发一次（需确认，间隔内不能重复）",
        usage="补发 编号 [确认]",
        example="补发 GG-2026-0001 确认",
        handler=resend,
        roles=frozenset({Role.NEWS_OFFICE}),
        grammar=RESEND,
    ),
    CommandSpec(
        key="read_typed",
        name="已阅",
        aliases=("已读",),
        summary="确认已阅读公告（与点“已阅”按钮相同）",
        usage="已阅 [编号]",
        example="已阅 GG-2026-0001",
        handler=read_typed,
        roles=ALL_ROLES,
        grammar=READ,
    ),
)
