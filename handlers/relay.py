"""The relay after a conference is held (issue 5; R19–R23), and release previews (R21).

When a conference is reported held, a release is opened with one row per configured channel;
each channel's editors (and group robots) receive their piece, written by the composer, and
the channel moves pending → sent. Editors confirm with `已发布 ID 渠道：… 链接：…` (published)
or report a failure (failed). Unconfirmed channels are reminded by the reminder engine, which
also sends the news office a daily digest; `发布情况 ID` shows one release.
"""

from __future__ import annotations

import asyncio

from sqlmodel import col, select

from handlers.common import record_audit, record_id_of, require_fields, text_value, when
from handlers.context import Context
from liuan_bot.commands.fields import CommandGrammar, FieldSpec
from liuan_bot.commands.registry import CommandSpec
from liuan_bot.domain.roles import Role
from liuan_bot.errors import Conflict, NotFound, PermissionDenied, UsageError
from liuan_bot.messages import TEXT_MAX_BYTES, Outgoing, split_text, text_to_users
from liuan_bot.relay import ChannelSpec, ReleaseFacts
from storage.roster_store import unit_members, userids_with_role
from storage.tables import Conference, Release, ReleaseChannel

WEBSITE_TEMPLATES = ("portal", "news_site")
STATE_LABELS = {
    "pending": "未发送",
    "sent": "已发送，待确认",
    "published": "已发布",
    "failed": "发布失败",
    "notified": "已通知转载",
}


def _robot_messages(channel: ChannelSpec, text: str) -> list[Outgoing]:
    return [
        Outgoing("webhook", robot, {"msgtype": "text", "text": {"content": part}})
        for robot in channel.robots
        for part in split_text(text, TEXT_MAX_BYTES)
    ]


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
    for channel, piece in zip(relay.channels, pieces, strict=True):
        row = ReleaseChannel(
            release_id=release.id or 0, channel=channel.key, title=piece.title, text=piece.text
        )
        if channel.county:
            text = (
                f"【转载通知 · R21】请县区政府网站“新闻发布”栏目转载市政府新闻发布"
                f"《{conf.topic}》：\n\n{piece.text}"
            )
        else:
            text = (
                f"【发布素材 · {channel.name}】{conf.record_id}\n\n{piece.text}\n\n"
                f"发布后请回复：已发布 {conf.record_id} 渠道：{channel.name} 链接：…"
            )
        messages = text_to_users(channel.editors, text) + _robot_messages(channel, text)
        if messages:
            ctx.push(messages)
            row.state = "notified" if channel.county else "sent"
            row.sent_at = ctx.now
        else:
            row.note = "未配置编辑或群机器人"
        ctx.session.add(row)
    await record_audit(
        ctx,
        "release",
        conf.record_id,
        old=None,
        new="relaying",
        detail={"channels": [c.key for c in relay.channels]},
    )
    sent = [c.name for c in relay.channels if not c.county]
    return f"已将发布素材发给{len(sent)}个渠道的编辑（R19–R23），各渠道发布后回复“已发布”。"


def preview_text(ctx: Context, conf: Conference, unit: str) -> str:
    speakers = "、".join(conf.speakers) or "待定"
    live = "，网络直播" if conf.live else ""
    return (
        f"【发布预告】{unit}将于{when(ctx, conf.starts_at)}在{conf.venue or '待定地点'}召开"
        f"新闻发布会，发布《{conf.topic}》，发布人：{speakers}{live}。"
    )


async def send_preview(ctx: Context, conf: Conference, unit: str) -> None:
    """R21: a scheduled conference is announced on the website channels (and, if configured,
    to every spokesperson)."""
    text = preview_text(ctx, conf, unit)
    for channel in ctx.deps.relay.channels:
        if channel.template in WEBSITE_TEMPLATES and not channel.county:
            ctx.push(text_to_users(channel.editors, f"{text}\n（请在“{channel.name}”发布预告）"))
            ctx.push(_robot_messages(channel, text))
    if ctx.deps.relay.preview_to_spokespersons:
        ctx.push(text_to_users(await userids_with_role(ctx.session, Role.SPOKESPERSON), text))


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
    release = (
        await ctx.session.exec(select(Release).where(col(Release.record_id) == record_id))
    ).first()
    if release is None:
        raise NotFound(f"{record_id} 还没有发布记录（发布会召开并报告“已召开”后才开始转发）。")
    rows = (
        await ctx.session.exec(
            select(ReleaseChannel)
            .where(col(ReleaseChannel.release_id) == release.id)
            .order_by(col(ReleaseChannel.id))
        )
    ).all()
    return release, list(rows)


async def published(ctx: Context) -> str:
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
    expected = sum(1 for r in rows if r.state != "notified")
    if failed:
        await _notify_news_office(
            ctx,
            f"{release.record_id}《{release.topic}》在“{channel.name}”"
            f"发布失败：{row.note or '未说明原因'}",
        )
        return f"已记录：{channel.name} 发布失败。已告知市政府新闻办。"
    return (
        f"已确认：{channel.name} 已发布 {release.record_id}《{release.topic}》。"
        f"\n{done}/{expected} 个渠道已发布。"
    )


async def _notify_news_office(ctx: Context, text: str) -> None:
    ctx.push(text_to_users(await userids_with_role(ctx.session, Role.NEWS_OFFICE), text))


async def release_status(ctx: Context) -> str:
    """发布情况 ID: one release across all channels."""
    require_fields(ctx, STATUS)
    release, rows = await _release(ctx)
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
    return "\n".join(lines)


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
