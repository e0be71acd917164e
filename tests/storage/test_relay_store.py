"""B2 (issue 9; R23): which relay messages reached nobody, on SQLite and PostgreSQL."""

from __future__ import annotations

from storage.engine import SessionFactory, transaction
from storage.relay_store import ALL_RECIPIENTS_INVALID, failed_relay_deliveries, relay_source
from storage.tables import OutboxMessage
from tests.conftest import NOW


def _row(
    channel: str, status: str, target: str, invalid: list[str], kind: str = "app"
) -> OutboxMessage:
    return OutboxMessage(
        kind=kind,
        target=target,
        body={},
        source=relay_source("SQ-2026-0001", channel),
        status=status,
        created_at=NOW,
        next_attempt_at=NOW,
        invalid_users=invalid,
        last_errcode=40003 if status == "parked" else None,
        last_error="invalid userid" if status == "parked" else None,
    )


async def test_b2_r23_sent_to_users_all_invalid_counts_as_failed(sessions: SessionFactory) -> None:
    async with transaction(sessions) as session:
        session.add_all(
            [
                _row("newspaper", "sent", "zhushoucheng", ["zhushoucheng"]),  # nobody
                _row("weibo", "sent", "daijing", []),  # delivered
                _row("portal", "sent", "yufang|xujing", ["xujing"]),  # one of two got it
                _row("radio_tv", "parked", "wanglin2", []),  # gave up
                _row("new_media", "sent", "new_media", [], kind="webhook"),
            ]
        )
    async with sessions() as session:
        failed = {f.channel: f for f in await failed_relay_deliveries(session)}
        assert set(failed) == {"newspaper", "radio_tv"}
        assert failed["newspaper"].errcode == ALL_RECIPIENTS_INVALID
        assert failed["radio_tv"].errcode == 40003
        only = await failed_relay_deliveries(session, "SQ-2026-0002")
        assert only == []
