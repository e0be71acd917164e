"""The relay after a conference is held (issue 5; R19–R23), and release previews (R21).

When a conference is reported held, a release is opened with one row per configured channel;
each channel's editors (and group robots) receive their piece, written by the composer, and
the channel moves pending → sent. Editors confirm with `已发布 ID 渠道：… 链接：…` (published)
or report a failure (failed). Unconfirmed channels are reminded by the reminder engine, which
also sends the news office a daily digest; `发布情况 ID` shows one release.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.common import record_audit, record_id_of, require_fields, text_value, when
from handlers.context import Context
from liuan_bot.commands.fields import CommandGrammar, FieldSpec
from liuan_bot.commands.registry import CommandSpec
from liuan_bot.domain.roles import Role
from liuan_bot.errors import Conflict, NotFound, PermissionDenied, UsageError
from liuan_bot.messages import TEXT_MAX_BYTES, Outgoing, Reply, split_text, text_to_users
from liuan_bot.relay import ChannelSpec, ReleaseFacts
from storage.relay_store import (
    ALL_RECIPIENTS_INVALID,
    FailedDelivery,
    failed_relay_deliveries,
    last_preview,
    record_preview,
    relay_source,
    release_by_record,
    release_channels,
    undelivered_channels,
)
from storage.roster_store import unit_members, unit_name, userids_with_role
from storage.tables import Conference, Release, ReleaseChannel

WEBSITE_TEMPLATES = ("portal", "news_site")
STATE_LABELS = {
    "pending": "未发送",
    "sent": "已发送，待确认",
    "published": "已发布",
    "failed": "发布失败",
    "notified": "已通知转载",
    "undelivered": "未送达",
}
_NO_RELEASE = "{record_id} 还没有发布记录（发布会召开并报告“已召开”后才开始转发）。"
NO_RECIPIENT = "未送达：没有可用的接收人（未配置编辑，群机器人也未接入）"


def _robots(ctx: Context, channel: ChannelSpec) -> list[str]:
    """The channel's robots that can be reached: their webhook key is configured (B2)."""
    ready = ctx.deps.relay.robots_ready
    return [r for r in channel.robots if ready is None or r in ready]


def _robot_messages(ctx: Context, channel: ChannelSpec, text: str) -> list[Outgoing]:
    return [
        Outgoing("webhook", robot, {"msgtype": "text", "text": {"content": part}})
        for robot in _robots(ctx, channel)
        for part in split_text(text, TEXT_MAX_BYTES)
    ]


def delivery_failure_text(failure: FailedDelivery) -> str:
    """A failed delivery, in words a news office reads (no internal error text)."""
    if failure.errcode == ALL_RECIPIENTS_INVALID:
        return f"未送达：接收人都不在企业微信通讯录中（错误码 {failure.errcode}）"
    if failure.errcode:
        return f"未送达：企业微信拒收（错误码 {failure.errcode}）"
    return "未送达：消息未能发出"


async def _facts(ctx: Context, conf: Conference, unit: str) -> ReleaseFacts:
    titles = {m.name: m.title for m in await unit_members(ctx.session, conf.unit_id)}
    speakers = tuple(f"{titles[n]} {n}".strip() if n in titles else n for n in conf.held_speakers)
    return ReleaseFacts(
        record_id=conf.record_id,
        topic=conf.topic,
        unit=unit,
        held_at=(conf.held_at or ctx.now).astimezone(ctx.now.tzinfo),
        venue=conf.venue,
        speakers=speakers,
        key_points=conf.key_points,
        transcript_url=conf.transcript_url,
        video_url=conf.video_url,
        live=conf.live,
        directory_url=ctx.deps.relay.directory_url,
    )


async def start_release(ctx: Context, conf: Conference, unit: str) -> str:
    """Open the release of a held conference and send every channel its piece."""
    relay = ctx.deps.relay
    if not relay.channels or relay.composer is None:
        return ""
    if not relay.composer.loaded:  # jieba loads once, off the event loop
        await asyncio.to_thread(relay.composer.load)
    facts = await _facts(ctx, conf, unit)
    release = Release(
        record_id=conf.record_id, unit_id=conf.unit_id, topic=conf.topic, created_at=ctx.now
    )
    ctx.session.add(release)
    await ctx.session.flush()
    pieces = relay.composer.compose_all(facts, relay.channels)
    undelivered: list[str] = []
    for channel, piece in zip(relay.channels, pieces, strict=True):
        row = ReleaseChannel(
            release_id=release.id or 0, channel=channel.key, title=piece.title, text=piece.text
        )
        if channel.county:
            text = (
                f"【转载通知】请县区政府网站“新闻发布”栏目转载市政府新闻发布"
                f"《{conf.topic}》：\n\n{piece.text}"
            )
        else:
            text = (
                f"【发布素材 · {channel.name}】{conf.record_id}\n\n{piece.text}\n\n"
                f"发布后请回复：已发布 {conf.record_id} 渠道：{channel.name} 链接：…"
            )
        messages = text_to_users(channel.editors, text) + _robot_messages(ctx, channel, text)
        if messages:
            source = relay_source(conf.record_id, channel.key)
            await ctx.push(messages, source=source, dedupe_key=source)
            row.state = "notified" if channel.county else "sent"
            row.sent_at = ctx.now
        else:
            row.state, row.note = "undelivered", NO_RECIPIENT
            undelivered.append(channel.name)
        ctx.session.add(row)
    await record_audit(
        ctx,
        "release",
        conf.record_id,
        old=None,
        new="relaying",
        detail={"channels": [c.key for c in relay.channels]},
    )
    sent = [c.name for c in relay.channels if not c.county and c.name not in undelivered]
    reply = f"已将发布素材发给{len(sent)}个渠道的编辑，各渠道发布后回复“已发布”。"
    if undelivered:
        note = (
            f"{conf.record_id}《{conf.topic}》未能发出：{'、'.join(undelivered)}（{NO_RECIPIENT}）"
        )
        await _notify_news_office(ctx, note)
        reply += (
            f"\n注意：{'、'.join(undelivered)}没有可用的接收人，未能发出，已告知市政府新闻办。"
        )
    return reply


def preview_text(ctx: Context, conf: Conference, unit: str) -> str:
    speakers = "、".join(conf.speakers) or "待定"
    live = "，网络直播" if conf.live else ""
    return (
        f"【发布预告】{unit}将于{when(ctx, conf.starts_at)}在{conf.venue or '待定地点'}召开"
        f"新闻发布会，发布《{conf.topic}》，发布人：{speakers}{live}。"
    )


def _website_messages(ctx: Context, text: str, note: str) -> list[Outgoing]:
    """`text` to the editors and robots of the website channels (R21); `note` tells the
    editors what to do with it on their channel."""
    out: list[Outgoing] = []
    per_editor: dict[str, list[str]] = {}  # one message per editor, naming all their channels
    for channel in ctx.deps.relay.channels:
        if channel.template in WEBSITE_TEMPLATES and not channel.county:
            for editor in channel.editors:
                per_editor.setdefault(editor, []).append(channel.name)
            out += _robot_messages(ctx, channel, text)
    by_names: dict[tuple[str, ...], list[str]] = {}
    for editor, channel_names in per_editor.items():
        by_names.setdefault(tuple(channel_names), []).append(editor)
    for names, editors in by_names.items():
        where = "”、“".join(names)
        out = text_to_users(editors, f"{text}\n（{note.format(name=where)}）") + out
    return out


async def _to_preview_audience(ctx: Context, text: str, note: str) -> None:
    await ctx.push(_website_messages(ctx, text, note))
    if ctx.deps.relay.preview_to_spokespersons:
        await ctx.push(
            text_to_users(await userids_with_role(ctx.session, Role.SPOKESPERSON), text)
        )


async def send_preview(ctx: Context, conf: Conference, unit: str) -> None:
    """R21: a scheduled conference is announced on the website channels (and, if configured,
    to every spokesperson). Scheduled again after a preview went out, the channels get a
    【改期】 correction instead of a second preview (issue 9 B1)."""
    last = await last_preview(ctx.session, conf.record_id)
    if last is not None and last.action != "retracted":
        await correct_preview(ctx, conf, unit)
        return
    await _to_preview_audience(ctx, preview_text(ctx, conf, unit), "请在“{name}”发布预告")
    record_preview(ctx.session, conf.record_id, "sent", conf.starts_at, conf.venue, ctx.now)


async def correct_preview(ctx: Context, conf: Conference, unit: str) -> str:
    """B1: the time or venue of a conference whose preview went to the websites changed (排期
    again, or 修改): the channels get a 【改期】 (new time) or 【变更】 (new venue) correction.
    Returns the word sent, or "" when there was no preview or nothing it said has changed."""
    last = await last_preview(ctx.session, conf.record_id)
    if last is None or last.action == "retracted":
        return ""
    if (last.starts_at, last.venue) == (conf.starts_at, conf.venue):
        return ""  # nothing the public was told has changed
    if last.starts_at != conf.starts_at:
        word, text = "改期", _rescheduled_text(ctx, conf, unit, last.starts_at, last.venue)
    else:
        word, text = "变更", _venue_changed_text(ctx, conf, unit, last.venue)
    await _to_preview_audience(ctx, text, "请更新“{name}”上的发布预告")
    record_preview(ctx.session, conf.record_id, "corrected", conf.starts_at, conf.venue, ctx.now)
    return word


def _venue_changed_text(ctx: Context, conf: Conference, unit: str, old_venue: str) -> str:
    return (
        f"【变更】{unit}将于{when(ctx, conf.starts_at)}召开的新闻发布会《{conf.topic}》，"
        f"地点由{old_venue or '待定地点'}变更为{conf.venue or '待定地点'}。"
    )


def _rescheduled_text(
    ctx: Context, conf: Conference, unit: str, old_start: datetime | None, old_venue: str
) -> str:
    before = when(ctx, old_start) if old_start else "待定时间"
    return (
        f"【改期】{unit}新闻发布会《{conf.topic}》原定于{before}在{old_venue or '待定地点'}召开，"
        f"现改为{when(ctx, conf.starts_at)}在{conf.venue or '待定地点'}召开。"
    )


async def retract_preview(ctx: Context, conf: Conference, unit: str) -> bool:
    """B1: a conference whose preview went out is withdrawn: the website channels (and the
    spokespersons, when they had the preview) get a 【取消】 notice. Called by 撤回; True when
    a notice was sent."""
    last = await last_preview(ctx.session, conf.record_id)
    if last is None or last.action == "retracted":
        return False
    at = when(ctx, last.starts_at) if last.starts_at else "待定时间"
    venue = last.venue or "待定地点"
    text = f"【取消】原定于{at}在{venue}召开的{unit}新闻发布会《{conf.topic}》已取消。"
    await _to_preview_audience(ctx, text, "请撤下“{name}”上的发布预告")
    record_preview(ctx.session, conf.record_id, "retracted", last.starts_at, last.venue, ctx.now)
    return True


# ------------------------------------------------------------------ 已发布 and 发布情况

PUBLISHED = CommandGrammar(
    record="required",
    record_prefixes=("SQ", "BA"),
    fields=(
        FieldSpec(
            "渠道", required=True, aliases=("平台", "栏目"), example="微博", lexicon="channel"
        ),
        FieldSpec(
            "链接", "link", aliases=("网址", "地址"), example="https://weibo.com/luanfabu/123"
        ),
        FieldSpec(
            "结果",
            "choice",
            choices=("成功", "失败"),
            choice_aliases={"已发布": "成功", "未发布": "失败", "不能发布": "失败"},
        ),
        FieldSpec("原因", aliases=("说明", "备注"), prose=True),
    ),
)
STATUS = CommandGrammar(record="required", record_prefixes=("SQ", "BA"))


def _channel(ctx: Context, text: str) -> ChannelSpec:
    channels = [c for c in ctx.deps.relay.channels if not c.county]
    exact = [c for c in channels if text in (c.key, c.name)]
    near = exact or [c for c in channels if text in c.name or c.name in text]
    if len(near) == 1:
        return near[0]
    names = "、".join(c.name for c in channels)
    raise UsageError(f"没有认出渠道“{text}”。可以写：{names}")


async def _release(ctx: Context) -> tuple[Release, list[ReleaseChannel]]:
    record_id = record_id_of(ctx)
    release = await release_by_record(ctx.session, record_id)
    if release is None:
        raise NotFound(_NO_RELEASE.format(record_id=record_id))
    return release, await release_channels(ctx.session, release.id)


async def mark_failed_deliveries(
    session: AsyncSession, now: datetime, names: Mapping[str, str], record_id: str = ""
) -> list[Outgoing]:
    """B2: a relay channel whose message failed in the outbox is shown as undelivered, and the
    news office is told once (the state change is the "once"). Returns the notices to send."""
    failures = await failed_relay_deliveries(session, record_id or None)
    lines = []
    for release, row, failure in await undelivered_channels(session, failures):
        row.state, row.note = "undelivered", delivery_failure_text(failure)
        session.add(row)
        name = names.get(row.channel, "一个渠道")
        lines.append(f"{release.record_id}《{release.topic}》发往“{name}”的消息{row.note}")
    if not lines:
        return []
    text = "【转发消息未送达】\n" + "\n".join(lines) + "\n请核对接收人配置后重新发送。"
    return text_to_users(await userids_with_role(session, Role.NEWS_OFFICE), text)


async def published(ctx: Context) -> Reply:
    """已发布 ID 渠道：… 链接：… — an editor confirms publication (or reports a failure)."""
    require_fields(ctx, PUBLISHED)
    channel = _channel(ctx, text_value(ctx, "渠道"))
    if Role.NEWS_OFFICE not in ctx.sender.roles and ctx.sender.userid not in channel.editors:
        raise PermissionDenied(f"您不是“{channel.name}”的编辑，不能确认这个渠道。")
    release, rows = await _release(ctx)
    row = next((r for r in rows if r.channel == channel.key), None)
    if row is None:
        raise NotFound(f"{release.record_id} 没有发往“{channel.name}”。")
    failed = text_value(ctx, "结果", "成功") == "失败"
    link = text_value(ctx, "链接")
    if not failed and (not link or link == "待定"):
        raise UsageError(
            f"请附上发布链接，例如：已发布 {release.record_id} 渠道：{channel.name} "
            "链接：https://…"
        )
    if row.state == "published":
        raise Conflict(f"“{channel.name}”已于{when(ctx, row.published_at)}确认发布：{row.link}")
    old = row.state
    row.state = "failed" if failed else "published"
    row.link, row.note = ("" if failed else link), text_value(ctx, "原因")
    row.published_at, row.confirmed_by = (None if failed else ctx.now), ctx.sender.userid
    ctx.session.add(row)
    await record_audit(
        ctx,
        "relay_published" if not failed else "relay_failed",
        release.record_id,
        old=old,
        new=row.state,
        detail={"channel": channel.key, "link": row.link, "note": row.note},
    )
    done = sum(1 for r in rows if r.state == "published")
    expected = sum(1 for r in rows if r.state not in ("notified", "undelivered"))
    if failed:
        await _notify_news_office(
            ctx,
            f"{release.record_id}《{release.topic}》在“{channel.name}”"
            f"发布失败：{row.note or '未说明原因'}",
        )
        return Reply.ok(f"已记录：{channel.name} 发布失败。已告知市政府新闻办。")
    return Reply.ok(
        f"已确认：{channel.name} 已发布 {release.record_id}《{release.topic}》。"
        f"\n{done}/{expected} 个渠道已发布。"
    )


async def _notify_news_office(ctx: Context, text: str) -> None:
    await ctx.push(text_to_users(await userids_with_role(ctx.session, Role.NEWS_OFFICE), text))


async def release_status(ctx: Context) -> Reply:
    """发布情况 ID: one release across all channels."""
    require_fields(ctx, STATUS)
    release, rows = await _release(ctx)
    editor = Role.CHANNEL_EDITOR in ctx.sender.roles or any(
        ctx.sender.userid in c.editors for c in ctx.deps.relay.channels
    )
    if not editor and not ctx.sender.may_act_for(await unit_name(ctx.session, release.unit_id)):
        # E7: another unit's record reveals nothing, not even that it exists
        raise NotFound(_NO_RELEASE.format(record_id=release.record_id))
    await ctx.push(
        await mark_failed_deliveries(
            ctx.session,
            ctx.now,
            {c.key: c.name for c in ctx.deps.relay.channels},
            release.record_id,
        )
    )
    names = {c.key: c.name for c in ctx.deps.relay.channels}
    lines = [f"{release.record_id}《{release.topic}》转发情况："]
    for row in rows:
        label = STATE_LABELS.get(row.state, row.state)
        extra = ""
        if row.state == "published":
            extra = f"（{when(ctx, row.published_at)}）{row.link}"
        elif row.state == "sent":
            extra = f"（发送于{when(ctx, row.sent_at)}）"
        elif row.note:
            extra = f"：{row.note}"
        lines.append(f"· {names.get(row.channel, row.channel)}：{label}{extra}")
    return Reply.ok("\n".join(lines))


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        key="published",
        name="已发布",
        aliases=("发布确认",),
        summary="渠道编辑确认已发布（附链接），或报告发布失败",
        usage="已发布 编号 渠道：… 链接：… [结果：失败 原因：…]",
        example="已发布 SQ-2026-0012 渠道：微博 链接：https://weibo.com/luanfabu/123",
        handler=published,
        roles=frozenset({Role.CHANNEL_EDITOR, Role.NEWS_OFFICE}),
        rules=("R19", "R20", "R21", "R22", "R23"),
        grammar=PUBLISHED,
    ),
    CommandSpec(
        key="release_status",
        name="发布情况",
        aliases=("转发情况",),
        summary="查看一次发布在各渠道的转发情况",
        usage="发布情况 编号",
        example="发布情况 SQ-2026-0012",
        handler=release_status,
        roles=frozenset(
            {
                Role.NEWS_OFFICE,
                Role.DISCLOSURE_OFFICE,
                Role.CHANNEL_EDITOR,
                Role.MAIN_LEADER,
                Role.SPOKESPERSON,
                Role.LIAISON,
            }
        ),
        rules=("R23",),
        grammar=STATUS,
    ),
)
