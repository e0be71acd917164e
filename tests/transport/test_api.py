"""The outbound WeCom client against the fake WeCom server (real HTTP, fixed clock)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import test_utils, web

from liuan_bot.clock import FixedClock
from liuan_bot.wecom.api import (
    ErrorClass,
    SendResult,
    WeComApi,
    WeComApiClient,
    WeComApiError,
    WeComError,
    WeComRateLimited,
    WeComTransportError,
)
from liuan_bot.wecom.fake_server import FakeWeCom

CORP_ID = "ww-test-corp"
SECRET = "s3cr3t-agent-secret-value"
AGENT_ID = 1000002
SEND = "/cgi-bin/message/send"
GETTOKEN = "/cgi-bin/gettoken"

MakeClient = Callable[..., WeComApiClient]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2024, 5, 6, 9, 0, tzinfo=UTC))


@pytest.fixture
def fake(clock: FixedClock) -> FakeWeCom:
    return FakeWeCom(corp_id=CORP_ID, secret=SECRET, clock=clock)


@pytest.fixture
async def server(fake: FakeWeCom) -> AsyncIterator[test_utils.TestServer]:
    root = web.Application()
    root.add_subapp("/sandbox/api", fake.app())
    root.add_subapp("/sandbox", fake.sandbox_routes())
    srv = test_utils.TestServer(root)
    await srv.start_server()
    yield srv
    await srv.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def make_client(
    server: test_utils.TestServer, session: aiohttp.ClientSession, clock: FixedClock
) -> MakeClient:
    def make(**overrides: Any) -> WeComApiClient:
        options: dict[str, Any] = {
            "session": session,
            "corp_id": CORP_ID,
            "secret": SECRET,
            "agent_id": AGENT_ID,
            "clock": clock,
            "api_base": str(server.make_url("/sandbox/api")),
        }
        options.update(overrides)
        return WeComApiClient(**options)

    return make


@pytest.fixture
def client(make_client: MakeClient) -> WeComApiClient:
    return make_client()


def text(touser: str, content: str = "你好") -> dict[str, Any]:
    return {"touser": touser, "msgtype": "text", "text": {"content": content}}


async def raised(call: Awaitable[object]) -> WeComError:
    with pytest.raises(WeComError) as info:
        await call
    return info.value


# -- access token ----------------------------------------------------------------------------


async def test_token_is_fetched_once_for_concurrent_sends(
    client: WeComApiClient, fake: FakeWeCom
) -> None:
    await asyncio.gather(*(client.send_message(text(f"u{i}")) for i in range(20)))

    assert len(fake.requests_to(GETTOKEN)) == 1
    assert len(fake.delivered) == 20


async def test_token_is_renewed_early_before_it_expires(
    client: WeComApiClient, fake: FakeWeCom, clock: FixedClock
) -> None:
    await client.send_message(text("alice"))
    clock.advance(7200 - 301)
    await client.send_message(text("alice", "第二条"))
    assert len(fake.requests_to(GETTOKEN)) == 1

    clock.advance(2)
    await client.send_message(text("alice", "第三条"))

    assert len(fake.requests_to(GETTOKEN)) == 2
    assert fake.texts_to("alice") == ["你好", "第二条", "第三条"]


async def test_expired_token_is_refreshed_once_and_the_send_retried(
    client: WeComApiClient, fake: FakeWeCom
) -> None:
    await client.get_token()
    fake.expire_tokens()

    result = await client.send_message(text("alice"))

    assert result.ok
    assert len(fake.requests_to(GETTOKEN)) == 2
    assert len(fake.requests_to(SEND)) == 2
    assert fake.texts_to("alice") == ["你好"]
    assert client.error_counts[42001] == 1


async def test_invalid_token_40014_is_refreshed_once_and_the_send_retried(
    client: WeComApiClient, fake: FakeWeCom
) -> None:
    await client.get_token()
    fake.fail_next(40014, path=SEND)

    result = await client.send_message(text("alice"))

    assert result.ok
    assert len(fake.requests_to(GETTOKEN)) == 2
    assert fake.texts_to("alice") == ["你好"]


@pytest.mark.parametrize("errcode", [41001, 40001])
async def test_missing_or_invalid_credential_token_from_send_is_refreshed_and_retried(
    client: WeComApiClient, fake: FakeWeCom, errcode: int
) -> None:
    """41001 and 40001 answered by message/send are token errors (docs/outbox-errors.md)."""
    await client.get_token()
    fake.fail_next(errcode, path=SEND)

    result = await client.send_message(text("alice"))

    assert result.ok
    assert len(fake.requests_to(GETTOKEN)) == 2
    assert len(fake.requests_to(SEND)) == 2
    assert fake.texts_to("alice") == ["你好"]


async def test_token_errors_are_classed_token_and_a_wrong_secret_config(
    client: WeComApiClient, make_client: MakeClient, fake: FakeWeCom
) -> None:
    fake.fail_next(42001, path=SEND, times=2)
    persisting = await raised(client.send_message(text("alice")))
    assert isinstance(persisting, WeComApiError)
    assert (persisting.error_class, persisting.retryable) == (ErrorClass.TOKEN, True)

    wrong = await raised(make_client(secret="wrong-secret-value").send_message(text("a")))
    assert isinstance(wrong, WeComApiError)
    assert (wrong.errcode, wrong.path) == (40001, "cgi-bin/gettoken")
    assert (wrong.error_class, wrong.retryable) == (ErrorClass.CONFIG, False)


async def test_twenty_concurrent_sends_with_an_expired_token_refresh_it_once(
    client: WeComApiClient, fake: FakeWeCom
) -> None:
    await client.get_token()
    fake.expire_tokens()

    await asyncio.gather(*(client.send_message(text(f"u{i}")) for i in range(20)))

    assert len(fake.requests_to(GETTOKEN)) == 2
    assert len(fake.delivered) == 20


async def test_persistent_token_error_raises_after_one_retry(
    client: WeComApiClient, fake: FakeWeCom
) -> None:
    fake.fail_next(42001, path=SEND, times=10)

    error = await raised(client.send_message(text("alice")))

    assert isinstance(error, WeComApiError)
    assert error.errcode == 42001
    assert len(fake.requests_to(SEND)) == 2
    assert len(fake.requests_to(GETTOKEN)) == 2
    assert fake.delivered == []


async def test_wrong_secret_raises_api_error_from_gettoken(
    make_client: MakeClient, fake: FakeWeCom
) -> None:
    client = make_client(secret="wrong-secret-value")

    error = await raised(client.send_message(text("alice")))

    assert isinstance(error, WeComApiError)
    assert error.errcode == 40001
    assert len(fake.requests_to(GETTOKEN)) == 1
    assert "wrong-secret-value" not in str(error)


# -- busy, rate limits, transport ------------------------------------------------------------


async def test_busy_twice_then_success_delivers_once(
    client: WeComApiClient, fake: FakeWeCom, clock: FixedClock
) -> None:
    start = clock.now()
    fake.fail_next(-1, times=2)

    result = await client.send_message(text("alice"))

    assert result.ok
    assert fake.texts_to("alice") == ["你好"]
    assert (clock.now() - start).total_seconds() == pytest.approx(0.5 + 1.0)
    assert client.error_counts[-1] == 2


async def test_busy_forever_raises_after_the_configured_retries(
    client: WeComApiClient, fake: FakeWeCom
) -> None:
    fake.fail_next(-1, times=100)

    error = await raised(client.send_message(text("alice")))

    assert isinstance(error, WeComApiError)
    assert error.errcode == -1
    assert error.retryable
    assert len(fake.requests_to(SEND)) == 1 + 3
    assert fake.delivered == []


async def test_rate_limit_raises_at_once_with_a_retry_hint(
    client: WeComApiClient, fake: FakeWeCom
) -> None:
    fake.fail_next(45009)

    error = await raised(client.send_message(text("alice")))

    assert isinstance(error, WeComRateLimited)
    assert error.retry_after_s == 60
    assert error.retryable
    assert len(fake.requests_to(SEND)) == 1


async def test_concurrency_limit_45033_is_rate_limited_with_a_short_retry(
    client: WeComApiClient, fake: FakeWeCom
) -> None:
    fake.fail_next(45033)

    error = await raised(client.send_appchat({"chatid": "c1", "msgtype": "text", "text": {}}))

    assert isinstance(error, WeComRateLimited)
    assert error.retry_after_s == 5


async def test_other_errcodes_raise_without_retry(client: WeComApiClient, fake: FakeWeCom) -> None:
    fake.fail_next(60020, errmsg="not allow to access from your ip")

    error = await raised(client.send_message(text("alice")))

    assert isinstance(error, WeComApiError)
    assert not isinstance(error, WeComRateLimited)
    assert not error.retryable
    assert error.error_class is ErrorClass.CONFIG
    assert len(fake.requests_to(SEND)) == 1


async def test_http_502_is_a_transport_error(client: WeComApiClient, fake: FakeWeCom) -> None:
    fake.fail_http(502)

    error = await raised(client.send_message(text("alice")))

    assert isinstance(error, WeComTransportError)
    assert error.status == 502
    assert error.retryable


async def test_a_slow_answer_times_out_as_a_transport_error_after_delivery(
    make_client: MakeClient, fake: FakeWeCom
) -> None:
    client = make_client(timeout_s=0.2)
    await client.get_token()
    fake.delay_next(1.0, path=SEND)

    error = await raised(client.send_message(text("alice")))

    assert isinstance(error, WeComTransportError)
    assert fake.texts_to("alice") == ["你好"]


async def test_an_unreachable_server_is_a_transport_error(
    session: aiohttp.ClientSession, clock: FixedClock
) -> None:
    closed = test_utils.TestServer(web.Application())
    await closed.start_server()
    url = str(closed.make_url("/"))
    await closed.close()
    client = WeComApiClient(
        session=session, corp_id=CORP_ID, secret=SECRET, agent_id=1, clock=clock, api_base=url
    )

    error = await raised(client.send_message(text("alice")))

    assert isinstance(error, WeComTransportError)
    assert SECRET not in str(error)


# -- message/send ----------------------------------------------------------------------------


async def test_more_than_1000_users_is_rejected_before_calling(
    client: WeComApiClient, fake: FakeWeCom
) -> None:
    users = "|".join(f"u{i}" for i in range(1001))

    with pytest.raises(ValueError, match="1000"):
        await client.send_message(text(users))

    assert fake.requests == []


async def test_1000_users_go_out_in_one_call(client: WeComApiClient, fake: FakeWeCom) -> None:
    users = "|".join(f"u{i}" for i in range(1000))

    result = await client.send_message(text(users))

    assert result.ok
    assert len(fake.requests_to(SEND)) == 1
    assert len(fake.delivered) == 1000


async def test_send_adds_agentid_and_duplicate_check(
    client: WeComApiClient, fake: FakeWeCom
) -> None:
    await client.send_message(text("alice"))

    body = fake.requests_to(SEND)[0].body
    assert body is not None
    assert body["agentid"] == AGENT_ID
    assert body["enable_duplicate_check"] == 1
    assert body["duplicate_check_interval"] == 1800
    assert fake.requests_to(SEND)[0].query == {"access_token": "***"}


async def test_invalid_users_are_parsed_and_valid_ones_delivered(
    make_client: MakeClient, fake: FakeWeCom
) -> None:
    fake.known_users = {"alice", "bob"}

    result = await make_client().send_message(text("alice|ghost|bob|nobody"))

    assert result.errcode == 0
    assert result.invalid_users == ("ghost", "nobody")
    assert result.invalid_parties == ()
    assert result.msgid is not None
    assert [m.to for m in fake.delivered] == ["alice", "bob"]


async def test_all_recipients_invalid_is_returned_not_raised(
    make_client: MakeClient, fake: FakeWeCom
) -> None:
    fake.known_users = {"alice"}
    client = make_client()

    result = await client.send_message(text("ghost|nobody"))

    assert isinstance(result, SendResult)
    assert result.errcode == 81013
    assert result.invalid_users == ("ghost", "nobody")
    assert fake.delivered == []
    assert client.error_counts[81013] == 1


async def test_interactive_card_returns_a_response_code(
    client: WeComApiClient, fake: FakeWeCom
) -> None:
    card = {
        "card_type": "button_interaction",
        "main_title": {"title": "发布会申请", "desc": "待审核"},
        "sub_title_text": "市教育局 5月8日",
        "task_id": "app-1",
        "button_list": [{"text": "批准", "key": "approve:1"}],
    }

    result = await client.send_message(
        {"touser": "alice", "msgtype": "template_card", "template_card": card}
    )
    await client.update_template_card(
        {
            "userids": ["alice"],
            "response_code": result.response_code,
            "button": {"replace_name": "已批准"},
        }
    )

    assert result.response_code is not None
    assert fake.texts_to("alice") == ["发布会申请\n市教育局 5月8日", "已批准"]
    assert fake.delivered[1].kind == "card_update"
    update_body = fake.requests_to("/cgi-bin/message/update_template_card")[0].body
    assert update_body is not None
    assert update_body["agentid"] == AGENT_ID


# -- duplicate check -------------------------------------------------------------------------


async def test_the_same_text_twice_within_the_interval_is_delivered_once(
    client: WeComApiClient, fake: FakeWeCom, clock: FixedClock
) -> None:
    first = await client.send_message(text("alice", "明天开会"))
    clock.advance(600)
    second = await client.send_message(text("alice", "明天开会"))

    assert first.ok
    assert second.ok
    assert fake.texts_to("alice") == ["明天开会"]


async def test_different_content_is_delivered_twice(
    client: WeComApiClient, fake: FakeWeCom
) -> None:
    await client.send_message(text("alice", "明天开会"))
    await client.send_message(text("alice", "后天开会"))

    assert fake.texts_to("alice") == ["明天开会", "后天开会"]


async def test_the_same_text_after_the_interval_is_delivered_again(
    client: WeComApiClient, fake: FakeWeCom, clock: FixedClock
) -> None:
    await client.send_message(text("alice", "明天开会"))
    clock.advance(1801)
    await client.send_message(text("alice", "明天开会"))

    assert fake.texts_to("alice") == ["明天开会", "明天开会"]


# -- appchat, webhook, sandbox ---------------------------------------------------------------


async def test_appchat_send_is_delivered_to_the_chat(
    client: WeComApiClient, fake: FakeWeCom
) -> None:
    await client.send_appchat(
        {"chatid": "press01", "msgtype": "markdown", "markdown": {"content": "**通知**"}}
    )

    assert [(m.kind, m.to, m.text) for m in fake.delivered] == [("appchat", "press01", "**通知**")]


async def test_webhook_send_records_the_robot_key(client: WeComApiClient, fake: FakeWeCom) -> None:
    await client.send_webhook("robot-key-1", {"msgtype": "text", "text": {"content": "群通知"}})

    assert [(m.kind, m.to, m.text) for m in fake.delivered] == [
        ("webhook", "robot-key-1", "群通知")
    ]
    assert fake.requests_to(GETTOKEN) == []


async def test_webhook_rate_limit_raises(client: WeComApiClient, fake: FakeWeCom) -> None:
    fake.fail_next(45009, path="/cgi-bin/webhook/send")

    error = await raised(client.send_webhook("robot-key-1", {"msgtype": "text", "text": {}}))

    assert isinstance(error, WeComRateLimited)
    assert "robot-key-1" not in str(error)


async def test_messages_json_filters_by_recipient_and_sequence(
    client: WeComApiClient, server: test_utils.TestServer, session: aiohttp.ClientSession
) -> None:
    await client.send_message(text("alice|bob", "第一条"))
    await client.send_message(text("alice", "第二条"))
    await client.send_webhook("robot-key-1", {"msgtype": "text", "text": {"content": "群通知"}})

    async with session.get(server.make_url("/sandbox/messages.json?to=alice")) as response:
        to_alice = (await response.json())["messages"]
    since = to_alice[0]["seq"]
    async with session.get(server.make_url(f"/sandbox/messages.json?since={since}")) as response:
        after_first = (await response.json())["messages"]

    assert [m["text"] for m in to_alice] == ["第一条", "第二条"]
    assert {m["to"] for m in to_alice} == {"alice"}
    assert [(m["to"], m["text"]) for m in after_first] == [
        ("bob", "第一条"),
        ("alice", "第二条"),
        ("robot-key-1", "群通知"),
    ]
    assert after_first[0]["at"].startswith("2024-05-06T")


async def test_sandbox_page_lists_escaped_messages_newest_first(
    client: WeComApiClient, server: test_utils.TestServer, session: aiohttp.ClientSession
) -> None:
    await client.send_message(text("alice", "旧消息"))
    await client.send_message(text("alice", "<script>新消息</script>"))

    async with session.get(server.make_url("/sandbox/")) as response:
        page = await response.text()

    assert "沙箱消息" in page
    assert "<script>" not in page
    assert page.index("&lt;script&gt;新消息") < page.index("旧消息")


# -- secrets ---------------------------------------------------------------------------------


async def test_errors_and_logs_never_contain_the_secret_or_token(
    client: WeComApiClient, fake: FakeWeCom, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = await client.get_token()
    fake.fail_next(48002, errmsg=f"api forbidden access_token={token} secret {SECRET}")
    fake.fail_next(42001, times=2)
    fake.fail_http(500)

    errors = [await raised(client.send_message(text("alice"))) for _ in range(3)]

    new_token = await client.get_token()
    for error in errors:
        for secret in (SECRET, token, new_token):
            assert secret not in str(error)
            assert secret not in repr(error)
    # The fake server's own access log (aiohttp.access) shows full URLs; that is the
    # server side, not the client's responsibility.
    client_logs = "\n".join(
        record.getMessage() for record in caplog.records if record.name != "aiohttp.access"
    )
    assert "errcode 48002" in client_logs
    for secret in (SECRET, token, new_token):
        assert secret not in client_logs
    assert SECRET not in repr(client)


async def test_the_client_satisfies_the_wecom_api_protocol(client: WeComApiClient) -> None:
    api: WeComApi = client
    assert api is client
