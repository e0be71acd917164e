"""Relay queries (issue 5, issue 9 B2): releases, their channels, and what the outbox made of
the messages sent for them. Relay messages are enqueued with source `relay:<record>:<channel>`
so a failed delivery can be traced back to its channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, and_, cast, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from storage.tables import ConferencePreview, OutboxMessage, Release, ReleaseChannel


def relay_source(record_id: str, channel: str) -> str:
    return f"relay:{record_id}:{channel}"


@dataclass(frozen=True)
class FailedDelivery:
    record_id: str
    channel: str
    error: str
    errcode: int | None


async def release_by_record(session: AsyncSession, record_id: str) -> Release | None:
    return (await session.exec(select(Release).where(col(Release.record_id) == record_id))).first()


async def release_channels(session: AsyncSession, release_id: int | None) -> list[ReleaseChannel]:
    rows = await session.exec(
        select(ReleaseChannel)
        .where(col(ReleaseChannel.release_id) == release_id)
        .order_by(col(ReleaseChannel.id))
    )
    return list(rows.all())


ALL_RECIPIENTS_INVALID = 81013  # WeCom's answer when no recipient of a message exists


def reached_nobody(kind: str, target: str, invalid_users: list[str]) -> bool:
    """B2: an app message "sent" although WeCom reported every one of its users invalid
    (81013 is returned, not raised, so the outbox row is `sent`)."""
    users = {u for u in target.split("|") if u}
    return kind == "app" and bool(users) and users <= set(invalid_users)


async def failed_relay_deliveries(
    session: AsyncSession, record_id: str | None = None
) -> list[FailedDelivery]:
    """Outbox rows of relay messages that reached nobody, one per (record, channel): rows that
    gave up (parked), and rows sent to recipients WeCom reported all invalid (B2)."""
    prefix = f"relay:{record_id}:%" if record_id else "relay:%"
    rows = await session.exec(
        select(OutboxMessage)
        .where(
            col(OutboxMessage.source).like(prefix),
            or_(
                col(OutboxMessage.status).in_(("failed", "parked")),
                and_(
                    col(OutboxMessage.status) == "sent",
                    col(OutboxMessage.kind) == "app",
                    cast(col(OutboxMessage.invalid_users), Text) != "[]",
                ),
            ),
        )
        .order_by(col(OutboxMessage.id))
    )
    found: dict[tuple[str, str], FailedDelivery] = {}
    for row in rows.all():
        error, errcode = row.last_error, row.last_errcode
        if row.status == "sent":
            if not reached_nobody(row.kind, row.target, list(row.invalid_users or [])):
                continue
            error, errcode = "every recipient invalid", ALL_RECIPIENTS_INVALID
        _, rid, channel = row.source.split(":", 2)
        found.setdefault((rid, channel), FailedDelivery(rid, channel, error or "", errcode))
    return list(found.values())


async def undelivered_channels(
    session: AsyncSession, failures: list[FailedDelivery]
) -> list[tuple[Release, ReleaseChannel, FailedDelivery]]:
    """The channels still shown as sent/notified although a message of theirs failed."""
    if not failures:
        return []
    by_key = {(f.record_id, f.channel): f for f in failures}
    rows = await session.exec(
        select(Release, ReleaseChannel)
        .join(ReleaseChannel, col(ReleaseChannel.release_id) == col(Release.id))
        .where(
            col(Release.record_id).in_({f.record_id for f in failures}),
            col(ReleaseChannel.state).in_(("sent", "notified", "pending")),
        )
    )
    return [
        (release, channel, by_key[(release.record_id, channel.channel)])
        for release, channel in rows.all()
        if (release.record_id, channel.channel) in by_key
    ]


async def last_preview(session: AsyncSession, record_id: str) -> ConferencePreview | None:
    """The latest thing the websites were told about a conference (B1), or None."""
    return (
        await session.exec(
            select(ConferencePreview)
            .where(col(ConferencePreview.record_id) == record_id)
            .order_by(col(ConferencePreview.id).desc())
        )
    ).first()


def record_preview(
    session: AsyncSession,
    record_id: str,
    action: str,
    starts_at: datetime | None,
    venue: str,
    now: datetime,
) -> None:
    session.add(
        ConferencePreview(
            record_id=record_id,
            action=action,
            starts_at=utc(starts_at) if starts_at else None,
            venue=venue,
            at=utc(now),
        )
    )
