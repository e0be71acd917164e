"""The callback endpoint over real encrypted requests (issue 2, wecom-facts §1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import func
from sqlmodel import select

from liuan_bot.clock import FixedClock
from liuan_bot.messages import Reply
from liuan_bot.wecom.crypto import CallbackCrypto, CallbackRejected
from liuan_bot.wecom.fake_server import FakeWeCom
from liuan_bot.wecom.inbound import parse_incoming
from storage.tables import AuditEntry, InboundMessage, OutboxMessage
from tests.conftest import load_demo_roster
from tests.support import (
    AES_KEY,
    CORP_ID,
    TOKEN,
    Harness,
    make_settings,
    registry_with,
    running_bot,
)

# wecom-facts §1.7, vector A
GET_QUERY = (
    "msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589"
    "&nonce=263014780&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp"
    "%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D"
)
POST_QUERY = {
    "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
    "timestamp": "1409659813",
    "nonce": "1372623149",
}
POST_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHH"
    "hGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4a"
    "SknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP"
    "7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8"
    "V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p"
    "8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
POST_BODY = (
    f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
    f"<Encrypt><![CDATA[{POST_ENCRYPT}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
).encode()


async def count(harness: Harness, table: type) -> int:
    async with harness.bot.deps.sessions() as session:
        return int((await session.exec(select(func.count()).select_from(table))).one())


def test_vector_a_post_decrypts_to_the_official_plaintext() -> None:
    crypto = CallbackCrypto(TOKEN, AES_KEY, CORP_ID)
    incoming = parse_incoming(crypto.decrypt(POST_BODY, **_args(POST_QUERY)))
    assert (incoming.from_user, incoming.content, incoming.msg_id) == (
        "mycreate",
        "hello",
        "4561255354251345929",
    )
    assert incoming.create_time == 1409659813
    assert incoming.agent_id == "218"


def _args(query: dict[str, str]) -> dict[str, str]:
    return {
        "signature": query["msg_signature"],
        "timestamp": query["timestamp"],
        "nonce": query["nonce"],
    }


def test_vector_a_with_another_corp_id_is_rejected() -> None:
    crypto = CallbackCrypto(TOKEN, AES_KEY, "wx0000000000000000")
    try:
        crypto.decrypt(POST_BODY, **_args(POST_QUERY))
    except CallbackRejected:
        return
    raise AssertionError("a foreign corp id must be rejected")


def at_vector_time(harness: Harness, timestamp: str) -> None:
    """The official vectors are from 2014: move the clock there, or replay protection
    (issue 8 item 6: 300 s by default) refuses them."""
    harness.clock.set(datetime.fromtimestamp(int(timestamp), UTC))


async def test_vector_a_get_answers_the_decrypted_echostr_exactly(harness: Harness) -> None:
    at_vector_time(harness, "1409659589")
    resp = await harness.client.get(f"/wecom/callback?{GET_QUERY}")
    assert resp.status == 200
    assert await resp.read() == b"1616140317555161061"


async def test_vector_a_post_from_an_unregistered_user_gets_a_polite_encrypted_reply(
    harness: Harness,
) -> None:
    at_vector_time(harness, POST_QUERY["timestamp"])
    resp = await harness.client.post("/wecom/callback", params=POST_QUERY, data=POST_BODY)
    assert resp.status == 200
    reply = harness.signer.open_reply(await resp.read())
    assert reply["ToUserName"] == "mycreate"
    assert "新闻办" in reply["Content"]
    assert "登记" in reply["Content"]
    async with harness.bot.deps.sessions() as session:
        entry = (await session.exec(select(AuditEntry))).one()
    assert (entry.actor, entry.action) == ("mycreate", "unregistered")


async def test_help_posted_three_times_with_one_msg_id_is_answered_once(harness: Harness) -> None:
    answers = [await harness.send_text("demo", "帮助", msg_id="123456789") for _ in range(3)]
    assert [status for status, _ in answers] == [200, 200, 200]
    replies = [text for _, text in answers if text]
    assert len(replies) == 1
    assert "您可以发送以下命令" in replies[0]
    await harness.deliver_outbox()
    assert harness.fake.delivered == []  # nothing went out a second way
    assert await count(harness, InboundMessage) == 1


async def test_a_retry_5_s_on_gets_the_passive_answer_again_and_is_handled_once(
    harness: Harness,
) -> None:
    """WeCom re-posts a message only after 5 s without an answer, and then drops the earlier
    request: that answer never reached it (the process died before the response left), so
    the retry gets the stored answer; the message is still handled and stored once."""
    status, first = await harness.send_text("demo", "帮助", msg_id="123456790")
    assert status == 200
    assert first is not None
    harness.clock.advance(4.9)
    assert await harness.send_text("demo", "帮助", msg_id="123456790") == (200, None)
    harness.clock.advance(0.1)
    assert await harness.send_text("demo", "帮助", msg_id="123456790") == (200, first)
    await harness.deliver_outbox()
    assert harness.fake.delivered == []
    assert await count(harness, InboundMessage) == 1
    assert harness.bot.metrics.callbacks["handled"] == 1
    assert harness.bot.metrics.callbacks["replayed"] == 1


async def test_card_click_events_are_deduplicated_by_sender_time_key_and_task(
    harness: Harness,
) -> None:
    fields = {"event_key": "approve", "task_id": "T1", "card_type": "button_interaction"}
    for _ in range(2):
        status, _reply = await harness.send_event("demo", "template_card_event", **fields)
        assert status == 200
    await harness.send_event("demo", "template_card_event", **{**fields, "event_key": "reject"})
    assert await count(harness, InboundMessage) == 2


async def test_wrong_signature_is_403_and_stores_nothing(harness: Harness) -> None:
    at_vector_time(harness, POST_QUERY["timestamp"])
    query = {**POST_QUERY, "msg_signature": POST_QUERY["msg_signature"][:-1] + "0"}
    resp = await harness.client.post("/wecom/callback", params=query, data=POST_BODY)
    assert resp.status == 403
    assert "Traceback" not in await resp.text()
    assert await count(harness, InboundMessage) == 0


async def test_wrong_get_signature_is_403(harness: Harness) -> None:
    at_vector_time(harness, "1409659589")
    resp = await harness.client.get(f"/wecom/callback?{GET_QUERY.replace('5c45', '5c46')}")
    assert resp.status == 403


async def test_malformed_requests_are_400_without_state_change(harness: Harness) -> None:
    at_vector_time(harness, POST_QUERY["timestamp"])
    bad = [
        (POST_QUERY, b"<xml><Encrypt>not base64!</Encrypt></xml>"),
        (POST_QUERY, b"<xml><ToUserName>x</ToUserName>"),
        (POST_QUERY, b"not xml at all"),
        (POST_QUERY, b""),
        ({"timestamp": "1", "nonce": "2"}, POST_BODY),
        (POST_QUERY, b'<!DOCTYPE x [<!ENTITY a "b">]><xml><Encrypt>&a;</Encrypt></xml>'),
    ]
    for query, body in bad:
        resp = await harness.client.post("/wecom/callback", params=query, data=body)
        assert resp.status in (400, 403), (body, resp.status)
        assert "Traceback" not in await resp.text()
    resp = await harness.client.get("/wecom/callback", params={"timestamp": "1"})
    assert resp.status == 400
    assert await count(harness, InboundMessage) == 0


async def test_a_signed_body_that_is_not_a_message_is_400(harness: Harness) -> None:
    status, _ = await harness.post_plaintext("<xml><Foo>bar</Foo></xml>")
    assert status == 400
    assert await count(harness, InboundMessage) == 0


async def test_oversized_body_is_413(harness: Harness) -> None:
    big = b"<xml>" + b"a" * (harness.bot.settings.max_body_bytes + 10) + b"</xml>"
    resp = await harness.client.post("/wecom/callback", params=POST_QUERY, data=big)
    assert resp.status == 413
    assert await count(harness, InboundMessage) == 0


async def test_an_oversized_chunked_body_is_413_however_it_arrives(harness: Harness) -> None:
    """No Content-Length to refuse early: the body is read one byte past the limit, whether
    it arrived with the headers (read from the buffer) or in pieces (read as it comes)."""
    limit = harness.bot.settings.max_body_bytes

    async def chunked(pieces: int) -> AsyncIterator[bytes]:  # no Content-Length
        for _ in range(pieces):
            yield b"a" * (limit // pieces + 10)
            await asyncio.sleep(0.01)

    for pieces in (1, 3):
        resp = await harness.client.post(
            "/wecom/callback", params=POST_QUERY, data=chunked(pieces)
        )
        assert resp.status == 413
    # and all of it in one write with the headers: read from the buffer, no waiting
    data = b"a" * (limit + 10)
    reader, writer = await asyncio.open_connection("127.0.0.1", harness.client.port)
    writer.write(
        f"POST /wecom/callback?{urlencode(POST_QUERY)} HTTP/1.1\r\nHost: x\r\n"
        f"Transfer-Encoding: chunked\r\n\r\n{len(data):x}\r\n".encode()
        + data
        + b"\r\n0\r\n\r\n"
    )
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 413")
    writer.close()
    assert await count(harness, InboundMessage) == 0


async def test_a_slow_handler_answers_empty_and_replies_through_the_outbox(
    sqlite_url: str, tmp_path: Path, clock: FixedClock, fake_wecom: FakeWeCom
) -> None:
    """A handler that outlives the reply budget: its message is acknowledged (an empty 200)
    once its transaction has committed — never before it is stored — and the reply goes
    through the outbox."""
    entered, gate = asyncio.Event(), asyncio.Event()

    async def slow(ctx: object) -> Reply:
        entered.set()
        await gate.wait()
        return Reply.ok("慢慢处理完了")

    await load_demo_roster(sqlite_url)
    settings = make_settings(
        sqlite_url, tmp_path, LIUAN_WECOM_SECRET="test-secret", LIUAN_REPLY_BUDGET_S="0"
    )
    async with running_bot(settings, clock, fake_wecom, registry_with("slow", "慢", slow)) as h:
        pending = asyncio.create_task(h.send_text("demo", "慢"))
        await entered.wait()  # the budget is spent; the handler runs on
        done, _ = await asyncio.wait({pending}, timeout=0.5)
        assert not done  # nothing is acknowledged before it is stored
        gate.set()
        assert await pending == (200, None)
        await h.bot.inbox.drain()
        await h.deliver_outbox()
        assert h.fake.texts_to("demo") == ["慢慢处理完了"]
        async with h.bot.deps.sessions() as session:
            row = (await session.exec(select(InboundMessage))).one()
        assert (row.status, row.reply_route) == ("handled", "outbox")


async def test_reply_budget_zero_always_uses_the_outbox(
    sqlite_url: str, tmp_path: Path, clock: FixedClock, fake_wecom: FakeWeCom
) -> None:
    await load_demo_roster(sqlite_url)
    settings = make_settings(
        sqlite_url,
        tmp_path,
        LIUAN_WECOM_SECRET="test-secret",
        LIUAN_REPLY_BUDGET_S="0",
    )
    async with running_bot(settings, clock, fake_wecom) as h:
        status, reply = await h.send_text("demo", "帮助")
        assert (status, reply) == (200, None)
        await h.bot.inbox.drain()
        await h.deliver_outbox()
        assert len(h.fake.texts_to("demo")) == 1
        assert await count(h, OutboxMessage) == 1


async def test_old_callbacks_are_refused_when_a_max_age_is_set(
    sqlite_url: str, tmp_path: Path, clock: FixedClock, fake_wecom: FakeWeCom
) -> None:
    settings = make_settings(
        sqlite_url, tmp_path, LIUAN_WECOM_SECRET="s", LIUAN_CALLBACK_MAX_AGE_S="300"
    )
    from storage.engine import make_engine
    from storage.migrate import upgrade

    eng = make_engine(sqlite_url)
    await upgrade(eng)
    await eng.dispose()
    async with running_bot(settings, clock, fake_wecom) as h:
        resp = await h.client.post("/wecom/callback", params=POST_QUERY, data=POST_BODY)
        assert resp.status == 403  # the 2014 sample is far older than 300 s
        status, _ = await h.send_text("demo", "帮助")
        assert status == 200


async def test_a_crashing_handler_gets_an_apology_and_no_stack_trace(
    sqlite_url: str, tmp_path: Path, clock: FixedClock, fake_wecom: FakeWeCom
) -> None:
    async def broken(ctx: object) -> Reply:
        raise RuntimeError("boom")

    await load_demo_roster(sqlite_url)
    settings = make_settings(sqlite_url, tmp_path, LIUAN_WECOM_SECRET="test-secret")
    async with running_bot(
        settings, clock, fake_wecom, registry_with("boom", "出错", broken)
    ) as h:
        status, reply = await h.send_text("demo", "出错")
        assert status == 200
        assert reply is not None
        assert "抱歉" in reply
        assert "boom" not in reply
        assert "Traceback" not in reply
        async with h.bot.deps.sessions() as session:
            row = (await session.exec(select(InboundMessage))).one()
        assert row.status == "failed"
        assert "boom" in (row.error or "")


async def test_non_text_messages_and_enter_agent_get_short_guidance(harness: Harness) -> None:
    status, reply = await harness.send_event("demo", "enter_agent")
    assert status == 200
    assert reply is not None
    assert "帮助" in reply["Content"]
    status, reply = await harness.send_event("demo", "subscribe")
    assert (status, reply) == (200, None)


async def test_healthz_and_metrics_report_state(harness: Harness) -> None:
    await harness.send_text("demo", "帮助")
    resp = await harness.client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok", "database": True, "mode": "live"}
    metrics = await (await harness.client.get("/metrics")).text()
    assert 'liuan_callbacks_total{outcome="handled"} 1' in metrics
    assert 'liuan_outbox_messages{status="pending"} 0' in metrics
    assert "liuan_wecom_api_errors_total" in metrics
