"""The hardened callback (issue 8 item 6): every input 2xx/4xx, never 5xx unless storage is
down; field limits before storage on every database; replay window on by default; slow
connections closed; no signature, nonce, timestamp or echostr in any log line."""

from __future__ import annotations

import asyncio
import base64
import gzip
import logging
import secrets
import socket
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import func
from sqlmodel import select

from bot import Bot, build_bot
from liuan_bot.app import (
    GuardedRunner,
    PathOnlyAccessLogger,
    ServerLimits,
    install_log_redaction,
    redact,
    start_guarded,
)
from liuan_bot.clock import FixedClock
from liuan_bot.messages import DEDUPE_KEY_MAX, Incoming
from liuan_bot.wecom.fake_server import FakeWeCom
from liuan_bot.wecom.simulate import CallbackSigner, event_xml, signature, text_message_xml
from storage.tables import InboundMessage
from tests.conftest import load_demo_roster
from tests.support import AES_KEY, AGENT_ID, CORP_ID, TOKEN, Harness, make_settings, running_bot

KEY = base64.b64decode(AES_KEY + "=")


def raw_encrypt(plain: bytes, *, pad: int | None = None) -> str:
    """AES-CBC the way WeCom does, over arbitrary bytes (so broken plaintexts can be signed)."""
    n = pad if pad is not None else 32 - len(plain) % 32
    data = plain + bytes([n % 256]) * n
    data += b"\0" * (-len(data) % 16)
    encryptor = Cipher(algorithms.AES(KEY), modes.CBC(KEY[:16])).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


def layout(message: bytes, receive_id: bytes = CORP_ID.encode(), *, length: int | None = None):
    size = len(message) if length is None else length
    return secrets.token_bytes(16) + size.to_bytes(4, "big") + message + receive_id


def signed_post(encrypted: str, timestamp: int) -> tuple[dict[str, str], bytes]:
    nonce = str(secrets.randbelow(10**9))
    query = {
        "msg_signature": signature(TOKEN, str(timestamp), nonce, encrypted),
        "timestamp": str(timestamp),
        "nonce": nonce,
    }
    return query, f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()


async def rows(h: Harness) -> int:
    async with h.bot.deps.sessions() as session:
        return int((await session.exec(select(func.count()).select_from(InboundMessage))).one())


def now_ts(h: Harness) -> int:
    return int(h.clock.now().timestamp())


def refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "liuan_bot.wecom.callback"]


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
async def test_a_corrupt_compressed_body_is_400_with_one_log_line(
    harness: Harness, caplog: pytest.LogCaptureFixture, encoding: str
) -> None:
    caplog.set_level(logging.DEBUG)
    signed = harness.signer.sign("<xml/>", timestamp=now_ts(harness))
    resp = await harness.client.post(
        "/wecom/callback",
        params=signed.query,
        data=b"\x1f\x8b\x08\x00garbage-that-is-not-compressed" * 3,
        headers={"Content-Encoding": encoding},
    )
    assert resp.status == 400
    assert "Traceback" not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)
    assert await rows(harness) == 0


async def test_a_valid_gzip_body_is_accepted(harness: Harness) -> None:
    """The guard against corrupt encodings does not refuse a correct one."""
    plaintext = text_message_xml(
        corp_id=CORP_ID,
        from_user="demo",
        content="帮助",
        msg_id="9000000001",
        create_time=now_ts(harness),
        agent_id=AGENT_ID,
    )
    signed = harness.signer.sign(plaintext, timestamp=now_ts(harness))
    for body, encoding in (
        (gzip.compress(signed.body), "gzip"),
        (zlib.compress(signed.body), "deflate"),
    ):
        resp = await harness.client.post(
            "/wecom/callback",
            params=signed.query,
            data=body,
            headers={"Content-Encoding": encoding},
        )
        assert resp.status == 200
    assert await rows(harness) == 1


async def test_signed_plaintexts_shorter_than_20_bytes_are_400(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    for size in range(0, 20):
        query, body = signed_post(raw_encrypt(secrets.token_bytes(size)), now_ts(harness))
        resp = await harness.client.post("/wecom/callback", params=query, data=body)
        assert resp.status == 400, size
    assert len(refusals(caplog)) == 20  # one line each
    assert all(r.exc_info is None for r in caplog.records)
    assert await rows(harness) == 0


async def test_garbled_signed_plaintexts_are_400_or_403_never_500(harness: Harness) -> None:
    ts = now_ts(harness)
    cases = {
        "bad pad byte 0": raw_encrypt(layout(b"<xml/>"), pad=0),
        "pad over 32": raw_encrypt(layout(b"<xml/>"), pad=40),
        "length field beyond the data": raw_encrypt(layout(b"<xml/>", length=10**6)),
        "not utf-8": raw_encrypt(layout(b"\xff\xfe<xml/>")),
        "foreign receive id": raw_encrypt(layout(b"<xml/>", b"wx0000000000000000")),
        "not a callback": raw_encrypt(layout(b"<xml><A>b</A></xml>")),
        "not xml": raw_encrypt(layout("你好".encode())),
    }
    for name, encrypted in cases.items():
        query, body = signed_post(encrypted, ts)
        resp = await harness.client.post("/wecom/callback", params=query, data=body)
        expected = 403 if name == "foreign receive id" else 400
        assert resp.status == expected, name
    assert await rows(harness) == 0


async def test_signed_gets_with_random_echostr_are_refused_not_500(harness: Harness) -> None:
    statuses = []
    for _ in range(200):
        echostr = base64.b64encode(secrets.token_bytes(secrets.choice((16, 32, 48, 64)))).decode()
        ts = str(now_ts(harness))
        nonce = str(secrets.randbelow(10**9))
        query = {
            "msg_signature": signature(TOKEN, ts, nonce, echostr),
            "timestamp": ts,
            "nonce": nonce,
            "echostr": echostr,
        }
        resp = await harness.client.get("/wecom/callback", params=query)
        statuses.append(resp.status)
    assert set(statuses) <= {400, 403}


async def test_a_correctly_signed_echostr_still_verifies(harness: Harness) -> None:
    query = harness.signer.sign_echo("1616140317555161061", timestamp=now_ts(harness))
    resp = await harness.client.get("/wecom/callback", params=query)
    assert (resp.status, await resp.read()) == (200, b"1616140317555161061")


# --- replay window (on by default) -------------------------------------------------------


async def test_replay_window_is_on_by_default_old_and_future_timestamps_are_403(
    harness: Harness,
) -> None:
    assert harness.bot.settings.callback_max_age_s == 300
    ts = now_ts(harness)
    for offset, expected in ((-301, 403), (61, 403), (-299, 200), (59, 200)):
        plaintext = text_message_xml(
            corp_id=CORP_ID,
            from_user="demo",
            content="帮助",
            msg_id=str(9_100_000_000 + offset + 1000),
            create_time=ts,
            agent_id=AGENT_ID,
        )
        signed = harness.signer.sign(plaintext, timestamp=ts + offset)
        resp = await harness.client.post("/wecom/callback", params=signed.query, data=signed.body)
        assert resp.status == expected, offset
    assert await rows(harness) == 2
    old = harness.signer.sign_echo("123", timestamp=ts - 301)
    assert (await harness.client.get("/wecom/callback", params=old)).status == 403


# --- field limits, on every database -----------------------------------------------------


def _event(user: str, ts: int, **fields: str) -> str:
    return event_xml(
        corp_id=CORP_ID, from_user=user, event="template_card_event", create_time=ts,
        agent_id=AGENT_ID, **fields,
    )  # fmt: skip


async def test_long_legitimate_keys_are_stored_once_and_over_long_fields_are_400(
    database_url: str,
    tmp_path: Path,
    clock: FixedClock,
    fake_wecom: FakeWeCom,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 64-byte userid with a 1024-byte card key and a 128-byte task id (WeCom's limits)
    overflowed `dedupe_key varchar(200)` on PostgreSQL: 503 on every retry, message lost."""
    await load_demo_roster(database_url)
    settings = make_settings(database_url, tmp_path, LIUAN_WECOM_SECRET="test-secret")
    async with running_bot(settings, clock, fake_wecom) as h:
        ts = now_ts(h)
        user = "u" * 64
        longest = {
            "event_key": "k" * 1024,
            "task_id": "t" * 128,
            "card_type": "button_interaction",
        }
        for _ in range(3):  # WeCom's retries
            status, _ = await h.post_plaintext(_event(user, ts, **longest))
            assert status == 200
        menu = _event(user, ts, event_key="菜" * 42)  # 126 bytes, a menu key
        assert (await h.post_plaintext(menu))[0] == 200
        assert await rows(h) == 2
        caplog.clear()
        too_long = [
            _event("u" * 65, ts, event_key="a"),
            _event(user, ts, event_key="k" * 1025),
            _event(user, ts, event_key="a", task_id="t" * 129),
            text_message_xml(
                corp_id=CORP_ID, from_user="demo", content="x", msg_id="1" * 21,
                create_time=ts, agent_id=AGENT_ID,
            ),
        ]  # fmt: skip
        for plaintext in too_long:
            assert (await h.post_plaintext(plaintext))[0] == 400
        assert len(refusals(caplog)) == 4
        assert await rows(h) == 2
        async with h.bot.deps.sessions() as session:
            keys = (await session.exec(select(InboundMessage.dedupe_key))).all()
        assert all(len(k) <= DEDUPE_KEY_MAX for k in keys)


def test_dedupe_keys_fit_their_column_and_stay_distinct() -> None:
    def card(key: str) -> Incoming:
        return Incoming("event", "u" * 64, CORP_ID, 1, event="template_card_event",
                        event_key=key, task_id="t" * 128)  # fmt: skip

    a, b = card("k" * 1023 + "a"), card("k" * 1023 + "b")
    assert max(len(a.dedupe_key), len(b.dedupe_key)) <= DEDUPE_KEY_MAX
    assert a.dedupe_key != b.dedupe_key
    short = Incoming("event", "demo", CORP_ID, 1, event="click", event_key="k")
    assert short.dedupe_key == "evt:demo:1:click:k:"  # short keys unchanged across upgrade


# --- the served process: timeouts, cap, log redaction -------------------------------------


@dataclass
class Served:
    bot: Bot
    runner: GuardedRunner
    port: int
    signer: CallbackSigner
    clock: FixedClock

    def signed_text(self, content: str) -> tuple[dict[str, str], bytes]:
        ts = int(self.clock.now().timestamp())
        plaintext = text_message_xml(
            corp_id=CORP_ID, from_user="demo", content=content,
            msg_id=str(secrets.randbelow(10**15)), create_time=ts, agent_id=AGENT_ID,
        )  # fmt: skip
        signed = self.signer.sign(plaintext, timestamp=ts)
        return signed.query, signed.body

    async def post_valid(self) -> int:
        query, body = self.signed_text("帮助")
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{self.port}/wecom/callback"
            async with http.post(url, params=query, data=body) as resp:
                await resp.read()
                return resp.status


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest_asyncio.fixture
async def served(
    sqlite_url: str, tmp_path: Path, clock: FixedClock, fake_wecom: FakeWeCom
) -> AsyncIterator[Served]:
    await load_demo_roster(sqlite_url)
    settings = make_settings(
        sqlite_url, tmp_path, LIUAN_WECOM_SECRET="test-secret", LIUAN_HTTP_BODY_TIMEOUT_S="0.5"
    )
    api = TestServer(fake_wecom.app())
    await api.start_server()
    bot = build_bot(
        settings, clock=clock, api_base=str(api.make_url("")).rstrip("/"),
        run_worker=False, run_scheduler=False,
    )  # fmt: skip
    port = _free_port()
    runner = await start_guarded(
        bot.app(), "127.0.0.1", port, ServerLimits(header_timeout_s=0.5, max_connections=24)
    )
    try:
        yield Served(bot, runner, port, CallbackSigner(TOKEN, AES_KEY, CORP_ID), clock)
    finally:
        await runner.cleanup()
        await api.close()


async def _closed_by_server(reader: asyncio.StreamReader, bound_s: float = 60.0) -> bytes:
    """Everything the server sent until it closed the connection (generous bound)."""
    return await asyncio.wait_for(reader.read(), timeout=bound_s)


async def test_slow_connections_are_closed_and_a_valid_callback_still_answers(
    served: Served,
) -> None:
    query, _body = served.signed_text("帮助")
    head = "POST /wecom/callback?" + "&".join(f"{k}={v}" for k, v in query.items())
    slow = []
    for _ in range(10):  # request head dribbled, never finished
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(f"{head} HTTP/1.1\r\nHost: x\r\n".encode())
        await writer.drain()
        slow.append((reader, writer))
    for _ in range(5):  # complete head, body never finished
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(f"{head} HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n<xml>".encode())
        await writer.drain()
        slow.append((reader, writer))
    assert await served.post_valid() == 200  # served while the slow ones hang
    answers = [await _closed_by_server(reader) for reader, _ in slow]
    assert all(a == b"" for a in answers[:10])  # closed without a response
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers[10:]), answers[10:]  # body timeout
    for _, writer in slow:
        writer.close()
    assert await served.post_valid() == 200


async def test_over_the_connection_cap_idle_connections_make_room_for_callbacks(
    served: Served,
) -> None:
    idle = [await asyncio.open_connection("127.0.0.1", served.port) for _ in range(60)]
    await asyncio.sleep(0)  # let the server accept them
    for _ in range(3):
        assert await served.post_valid() == 200
    assert served.runner.capped is not None
    assert len(served.runner.capped.connections) <= 24  # type: ignore[attr-defined]
    assert served.runner.capped.evicted > 0
    for _, writer in idle:
        writer.close()


async def test_aiohttp_errors_log_no_signature_nonce_or_echostr(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets_in_line = (
        "msg_signature=SIGSECRET1&timestamp=1700000000&nonce=NONCESECRET2&echostr=ECHOSECRET3"
    )
    requests = [
        # LineTooLong
        f"GET /wecom/callback?{secrets_in_line}&pad={'x' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n",
        f"G\x01T /wecom/callback?{secrets_in_line} HTTP/1.1\r\nHost: x\r\n\r\n",  # BadStatusLine
        f"GET /wecom/callback?{secrets_in_line} HTTP/1.1\r\nX-A: {'y' * 9000}\r\n\r\n",  # header
        f"GET /x HTTP/1.1\r\nHost: x\r\n\r\nGET /wecom/callback?{secrets_in_line} HTTP/9\r\n\r\n",
    ]  # fmt: skip
    for raw in requests:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(raw.encode("latin-1"))
        await writer.drain()
        answer = await _closed_by_server(reader)
        assert answer.split(b" ", 2)[1][:1] in (b"2", b"4"), answer[:40]
        writer.close()
    text = caplog.text
    for secret in ("SIGSECRET1", "NONCESECRET2", "ECHOSECRET3", "1700000000"):
        assert secret not in text
    assert "Traceback" not in text
    assert any(r.name.startswith("aiohttp") for r in caplog.records)  # the filter was exercised


def test_redact_removes_query_values() -> None:
    line = "b'GET /wecom/callback?msg_signature=abc&timestamp=1&nonce=2&echostr=x%2B'"
    assert redact(line) == ("b'GET /wecom/callback?msg_signature=…&timestamp=…&nonce=…&echostr=…'")


def test_redact_also_catches_percent_encoded_equals_and_leaves_plain_lines_alone() -> None:
    assert redact("GET /x?nonce%3D42&Key%3dabc") == "GET /x?nonce%3D…&Key%3d…"
    assert redact("GET /x?ECHOSTR=abc") == "GET /x?ECHOSTR=…"
    plain = "POST /wecom/callback 200 1.2ms"
    assert redact(plain) is plain  # nothing to redact: the line itself, no regex pass


def _access_line(
    caplog: pytest.LogCaptureFixture,
    path: str,
    status: int = 200,
    on_request: dict[Any, str] | None = None,
) -> logging.LogRecord:
    """The one record `PathOnlyAccessLogger` writes for a request to `path`, through the
    redaction filter (`on_request`: what the callback view leaves on the request)."""
    from aiohttp.test_utils import make_mocked_request
    from aiohttp.web import Response

    install_log_redaction()
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    request = make_mocked_request("POST", path)
    for key, value in (on_request or {}).items():
        request[key] = value
    logger = PathOnlyAccessLogger(logging.getLogger("aiohttp.access"), "")
    logger.log(request, Response(status=status), 0.00123)
    (record,) = [r for r in caplog.records if r.name == "aiohttp.access"]
    return record


def test_the_access_line_is_one_record_with_the_path_only_through_the_filter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aiohttp.test_utils import make_mocked_request
    from aiohttp.web import Response

    record = _access_line(caplog, "/wecom/callback?msg_signature=SIG9&nonce=NONCE9")
    assert record.getMessage() == "POST /wecom/callback 200 1.2ms"
    assert record.levelno == logging.INFO
    assert record.filename == "app.py"
    assert "SIG9" not in caplog.text
    assert "NONCE9" not in caplog.text
    access = logging.getLogger("aiohttp.access")
    access.setLevel(logging.WARNING)
    request = make_mocked_request("POST", "/wecom/callback")
    PathOnlyAccessLogger(access, "").log(request, Response(status=200), 0.001)
    assert len([r for r in caplog.records if r.name == "aiohttp.access"]) == 1
    access.setLevel(logging.NOTSET)


def test_a_callbacks_access_line_names_its_message(caplog: pytest.LogCaptureFixture) -> None:
    """One line per message in the server log (a read-only message has no other at INFO):
    the callback view leaves the message's key on the request, the access line shows it,
    and the redaction filter, which blanks any "key=" value, leaves it readable."""
    from liuan_bot.wecom.callback import INBOUND_KEY

    on_request = {INBOUND_KEY: "msg:1234567890"}
    record = _access_line(caplog, "/wecom/callback?msg_signature=SIG9", on_request=on_request)
    assert record.getMessage() == "POST /wecom/callback 200 1.2ms inbound=msg:1234567890"


def test_a_path_that_looks_like_a_query_is_redacted_in_the_access_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The access line is redacted where it is built (the path is the one part a client
    chooses), so the filter passes it without a second regex pass over the whole line."""
    record = _access_line(caplog, "/wecom/callback/echostr=LEAK7%3Bnonce%3DLEAK8", 404)
    assert "LEAK7" not in record.getMessage()
    assert "LEAK8" not in caplog.text
    assert record.getMessage().startswith("POST /wecom/callback/echostr=…")


async def test_a_non_ascii_digit_timestamp_is_refused_not_500(harness: Harness) -> None:
    """Found by the chaos fuzz: "²".isdigit() is True but int("²") raises (500)."""
    for timestamp in ("²", "١٢٣", "1²"):
        query = {"msg_signature": "0" * 40, "timestamp": timestamp, "nonce": "1"}
        resp = await harness.client.post("/wecom/callback", params=query, data=b"<xml/>")
        assert resp.status == 403
        get = await harness.client.get("/wecom/callback", params={**query, "echostr": "x"})
        assert get.status == 403
