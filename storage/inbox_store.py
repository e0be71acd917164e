"""Inbound messages: stored once per dedupe key; claimed and marked handled in one transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from liuan_bot.clock import utc
from liuan_bot.wecom.inbound import Incoming, incoming_from_fields
from storage.engine import SessionFactory, transaction
from storage.tables import InboundMessage


class SqlInboxStore:
    """`liuan_bot.inbox.InboxStore` on the database."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def record(self, incoming: Incoming, received_at: datetime) -> int | None:
        row = InboundMessage(
            dedupe_key=incoming.dedupe_key,
            msg_id=incoming.msg_id,
            from_user=incoming.from_user,
            msg_type=incoming.msg_type,
            event=incoming.event,
            content=incoming.content,
            raw=incoming.raw,
            received_at=utc(received_at),
        )
        try:
            async with transaction(self._sessions) as session:
                session.add(row)
                await session.flush()
                return row.id
        except IntegrityError:
            return None

    async def unhandled(self, received_before: datetime, limit: int) -> list[tuple[int, Incoming]]:
        async with self._sessions() as session:
            rows = (
                await session.exec(
                    select(InboundMessage)
                    .where(col(InboundMessage.status) == "received")
                    .where(col(InboundMessage.received_at) < utc(received_before))
                    .order_by(col(InboundMessage.id))
                    .limit(limit)
                )
            ).all()
        result = []
        for row in rows:
            if row.id is not None and isinstance(row.raw, dict) and row.raw.get("MsgType"):
                result.append((row.id, incoming_from_fields(row.raw)))
        return result


async def claim_inbound(session: AsyncSession, inbound_id: int) -> bool:
    """Take the message for handling in this transaction; False if already handled."""
    result = await session.exec(
        update(InboundMessage)
        .where(col(InboundMessage.id) == inbound_id)
        .where(col(InboundMessage.status) == "received")
        .values(status="processing")
    )
    return bool(result.rowcount)


async def finish_inbound(
    session: AsyncSession,
    inbound_id: int,
    now: datetime,
    *,
    status: str,
    reply_text: str | None,
    reply_route: str | None,
    error: str | None = None,
) -> None:
    await session.exec(
        update(InboundMessage)
        .where(col(InboundMessage.id) == inbound_id)
        .values(
            status=status,
            handled_at=utc(now),
            reply_text=reply_text,
            reply_route=reply_route,
            error=error,
        )
    )
