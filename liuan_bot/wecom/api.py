"""Async WeCom (企业微信) API client on aiohttp.

wechatpy's client is blocking and retries token errors without bound, so the bot calls the
HTTP API itself (wecom-facts §10.3). Error handling follows wecom-facts §4:

- 40014/42001/41001 (and 40001 from anything but gettoken) → refresh the access token once and
  retry once (an expired token has been seen answering 40014);
- -1 (system busy) → retry up to `busy_retries` times with exponential backoff;
- 45009/45033 → `WeComRateLimited` at once; the outbox paces and backs off;
- anything else non-zero → `WeComApiError`, whose `error_class` (see `classify`) tells the
  outbox what to do with the row (docs/outbox-errors.md).

Error tree::

    WeComError
    ├── WeComApiError          non-zero errcode from WeCom
    │   └── WeComRateLimited   45009 / 45033
    └── WeComTransportError    HTTP status, connection, timeout, non-JSON body

Secrets (corp secret, access token, webhook key) never appear in exception messages or logs.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import aiohttp

from liuan_bot.clock import Clock

log = logging.getLogger(__name__)

TOKEN_ERRCODES = frozenset({40001, 40014, 41001, 42001})
BUSY_ERRCODE = -1
RATE_LIMIT_RETRY_AFTER_S = {45009: 60.0, 45033: 5.0}
ALL_RECIPIENTS_INVALID = 81013


class ErrorClass(StrEnum):
    """What the outbox does with a row whose send failed (docs/outbox-errors.md)."""

    TOKEN = "token"  # retry with a fresh access token, no attempt limit
    BACKOFF = "backoff"  # retry with capped exponential backoff, no attempt limit
    RECIPIENT = "recipient"  # permanent for this recipient/message: park, tell the sender
    CONFIG = "config"  # the app's configuration is wrong: tell operators, keep rows, probe
    UNKNOWN = "unknown"  # not in WeCom's table as we know it: retry a few times, then park


# WeCom global error codes (developer.work.weixin.qq.com/document/path/90313), by class.
TOKEN_CLASS = frozenset({40014, 41001, 42001})  # + 40001 outside gettoken
BACKOFF_CLASS = frozenset({BUSY_ERRCODE, 45009, 45033})
RECIPIENT_CLASS = frozenset(
    {
        81013,  # user & party & tag all invalid
        40003,  # invalid userid
        40031,  # invalid userid list
        60111,  # userid not found
        81011,  # no privilege to send to this user (outside the app's visible range)
        86003,  # appchat: chat not found
        40008,  # invalid message type
        44004,  # text content empty
        45002,  # content too long
        40058,  # invalid parameter (e.g. schedule end before start)
        400058,  # schedule not found
    }
)
CONFIG_CLASS = frozenset(
    {
        40013,  # invalid corpid
        40056,  # invalid agentid
        40091,  # invalid secret
        41002,  # corpid missing
        41004,  # secret missing
        48001,  # API unauthorised for this app
        48002,  # API forbidden
        60011,  # no privilege (app visible range / API permission)
        60020,  # server IP not in the trusted IP list
        93000,  # invalid webhook url (robot key)
        301002,  # no permission for this app
    }
)  # + 40001 from gettoken (the secret is wrong)


def classify(errcode: int | None, path: str) -> ErrorClass:
    """The class of an errcode returned by `path`; None means no WeCom answer (HTTP 5xx,
    timeout, connection error): back off and retry."""
    if errcode is None or errcode in BACKOFF_CLASS:
        return ErrorClass.BACKOFF
    if errcode == 40001:
        return ErrorClass.CONFIG if path == GETTOKEN_PATH else ErrorClass.TOKEN
    if errcode in TOKEN_CLASS:
        return ErrorClass.TOKEN
    if errcode in RECIPIENT_CLASS:
        return ErrorClass.RECIPIENT
    if errcode in CONFIG_CLASS:
        return ErrorClass.CONFIG
    return ErrorClass.UNKNOWN


MAX_TOUSER = 1000
MAX_TOPARTY = 100
MAX_TOTAG = 100

SEND_PATH = "cgi-bin/message/send"
UPDATE_CARD_PATH = "cgi-bin/message/update_template_card"
APPCHAT_PATH = "cgi-bin/appchat/send"
WEBHOOK_PATH = "cgi-bin/webhook/send"
GETTOKEN_PATH = "cgi-bin/gettoken"
GETUSERINFO_PATH = "cgi-bin/auth/getuserinfo"
WORKBENCH_TEMPLATE_PATH = "cgi-bin/agent/set_workbench_template"
WORKBENCH_DATA_PATH = "cgi-bin/agent/set_workbench_data"
INVALID_CODE = 40029

_SECRET_QUERY = re.compile(r"(access_token|corpsecret|key)=[^&\s\"'#]*", re.IGNORECASE)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Mask secret query values (`access_token=`, `corpsecret=`, `key=`) and literal secrets."""
    text = _SECRET_QUERY.sub(r"\1=***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class WeComError(Exception):
    """Base of every error raised by the WeCom client."""

    retryable: bool = False
    error_class: ErrorClass = ErrorClass.UNKNOWN


class WeComApiError(WeComError):
    """WeCom answered with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str, path: str) -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path
        self.error_class = classify(errcode, path)
        self.retryable = self.error_class in (ErrorClass.BACKOFF, ErrorClass.TOKEN)
        super().__init__(f"WeCom {path} failed: errcode={errcode} errmsg={errmsg}")


class WeComRateLimited(WeComApiError):
    """45009 (API call over limit) or 45033 (concurrency over limit): back off, then retry."""

    def __init__(self, errcode: int, errmsg: str, path: str) -> None:
        super().__init__(errcode, errmsg, path)
        self.retry_after_s = RATE_LIMIT_RETRY_AFTER_S.get(errcode, 60.0)


class WeComTransportError(WeComError):
    """The call did not produce a WeCom JSON answer (HTTP error, network, timeout, bad body)."""

    retryable = True
    error_class = ErrorClass.BACKOFF

    def __init__(self, message: str, *, path: str, status: int | None = None) -> None:
        self.path = path
        self.status = status
        super().__init__(message)


def _split(value: object) -> tuple[str, ...]:
    if not isinstance(value, str) or not value:
        return ()
    return tuple(part for part in value.split("|") if part)


@dataclass(frozen=True)
class SendResult:
    """The answer to `message/send`; errcode 0 may still list invalid recipients."""

    errcode: int
    msgid: str | None
    invalid_users: tuple[str, ...]
    invalid_parties: tuple[str, ...]
    invalid_tags: tuple[str, ...]
    unlicensed_users: tuple[str, ...]
    response_code: str | None
    raw: dict[str, Any]

    @classmethod
    def from_response(cls, data: dict[str, Any]) -> SendResult:
        msgid = data.get("msgid")
        response_code = data.get("response_code")
        return cls(
            errcode=int(data.get("errcode", 0)),
            msgid=str(msgid) if msgid else None,
            invalid_users=_split(data.get("invaliduser")),
            invalid_parties=_split(data.get("invalidparty")),
            invalid_tags=_split(data.get("invalidtag")),
            unlicensed_users=_split(data.get("unlicenseduser")),
            response_code=str(response_code) if response_code else None,
            raw=data,
        )

    @property
    def ok(self) -> bool:
        return self.errcode == 0


class WeComApi(Protocol):
    """The sending surface the outbox depends on (the real client or a test double)."""

    async def send_message(self, body: dict[str, Any]) -> SendResult: ...

    async def update_template_card(self, body: dict[str, Any]) -> dict[str, Any]: ...

    async def send_appchat(self, body: dict[str, Any]) -> dict[str, Any]: ...

    async def send_webhook(self, key: str, body: dict[str, Any]) -> dict[str, Any]: ...

    async def calendar(self, action: str, body: dict[str, Any]) -> dict[str, Any]: ...

    async def workbench(self, action: str, body: dict[str, Any]) -> dict[str, Any]: ...


class WeComApiClient:
    """WeCom self-built-app client: cached access token, bounded retries, explicit timeouts."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        corp_id: str,
        secret: str,
        agent_id: int,
        clock: Clock,
        api_base: str = "https://qyapi.weixin.qq.com",
        timeout_s: float = 10.0,
        token_early_renewal_s: float = 300.0,
        busy_retries: int = 3,
        busy_backoff_s: float = 0.5,
    ) -> None:
        self._session = session
        self._corp_id = corp_id
        self._secret = secret
        self._agent_id = agent_id
        self._clock = clock
        self._api_base = api_base.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._early_renewal_s = token_early_renewal_s
        self._busy_retries = busy_retries
        self._busy_backoff_s = busy_backoff_s
        self._token: str | None = None
        self._token_renew_at: datetime | None = None
        self._token_lock = asyncio.Lock()
        self.error_counts: collections.Counter[int] = collections.Counter()

    def __repr__(self) -> str:
        return f"WeComApiClient(corp_id={self._corp_id!r}, agent_id={self._agent_id})"

    # -- sending -------------------------------------------------------------------------

    async def send_message(self, body: dict[str, Any]) -> SendResult:
        """Send an app message (`message/send`).

        Args:
            body: touser/toparty/totag, msgtype and the msgtype's object; `agentid` is added,
                and duplicate checking (1800 s) unless the body sets it.

        Returns:
            The parsed answer; errcode 81013 (every recipient invalid) is returned, not raised.

        Raises:
            ValueError: more than 1000 users (or 100 parties/tags) in one call.
        """
        users = _split(body.get("touser"))
        _check_count("touser", len(users), MAX_TOUSER)
        _check_count("toparty", len(_split(body.get("toparty"))), MAX_TOPARTY)
        _check_count("totag", len(_split(body.get("totag"))), MAX_TOTAG)
        payload = {**body, "agentid": self._agent_id}
        payload.setdefault("enable_duplicate_check", 1)
        payload.setdefault("duplicate_check_interval", 1800)
        data = await self._call(SEND_PATH, payload, accept=(ALL_RECIPIENTS_INVALID,))
        result = SendResult.from_response(data)
        if result.errcode == ALL_RECIPIENTS_INVALID:
            result = replace(result, invalid_users=users)
        return result

    async def update_template_card(self, body: dict[str, Any]) -> dict[str, Any]:
        """Update a sent template card (`message/update_template_card`); adds `agentid`."""
        return await self._call(UPDATE_CARD_PATH, {**body, "agentid": self._agent_id})

    async def send_appchat(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send to an API-created group chat (`appchat/send`): chatid, msgtype, content."""
        return await self._call(APPCHAT_PATH, body)

    async def send_webhook(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """Send through a group robot (`webhook/send?key=…`); the key is the credential."""
        return await self._call(WEBHOOK_PATH, body, webhook_key=key)

    async def calendar(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """A calendar event (`oa/schedule/add|update|del`, wecom-facts §3.8)."""
        if action not in ("add", "update", "del"):
            raise ValueError(f"unknown schedule action {action!r}")
        payload = body if action == "del" else {**body, "agentid": self._agent_id}
        return await self._call(f"cgi-bin/oa/schedule/{action}", payload)

    async def workbench(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """The workbench tile (工作台自定义展示): `template` (agent/set_workbench_template, the
        app's type and defaults) or `data` (agent/set_workbench_data, one user's figures)."""
        paths = {"template": WORKBENCH_TEMPLATE_PATH, "data": WORKBENCH_DATA_PATH}
        if action not in paths:
            raise ValueError(f"unknown workbench action {action!r}")
        return await self._call(paths[action], {**body, "agentid": self._agent_id})

    async def get_user_info(self, code: str) -> str | None:
        """The WeCom userid behind a web sign-in `code` (OAuth2 snsapi_base,
        `auth/getuserinfo`); None when WeCom refuses the code (40029: used, expired, forged)
        or it belongs to someone outside the enterprise (no userid)."""
        try:
            data = await self._call(GETUSERINFO_PATH, None, params={"code": code}, method="GET")
        except WeComApiError as exc:
            if exc.errcode == INVALID_CODE:
                return None
            raise
        userid = data.get("userid") or data.get("UserId")
        return str(userid) if userid else None

    # -- access token --------------------------------------------------------------------

    async def get_token(self, force: bool = False) -> str:
        """The cached access token, fetched (once for all concurrent callers) when due."""
        if force:
            return await self._refresh_token(failed=self._token)
        token = self._fresh_token()
        if token is not None:
            return token
        async with self._token_lock:
            token = self._fresh_token()
            if token is not None:
                return token
            return await self._fetch_token()

    def _fresh_token(self) -> str | None:
        if self._token is None or self._token_renew_at is None:
            return None
        return self._token if self._clock.now() < self._token_renew_at else None

    async def _refresh_token(self, *, failed: str | None) -> str:
        """Replace `failed` unless another caller already did while we waited for the lock."""
        async with self._token_lock:
            if self._token is not None and self._token != failed:
                return self._token
            return await self._fetch_token()

    async def _fetch_token(self) -> str:
        params = {"corpid": self._corp_id, "corpsecret": self._secret}
        data = await self._call(GETTOKEN_PATH, None, params=params, method="GET")
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeComTransportError("gettoken answer has no access_token", path=GETTOKEN_PATH)
        expires_in = data.get("expires_in")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
            expires_in = 7200
        # Never renew earlier than half the lifetime, or a short-lived token would be
        # fetched on every call (gettoken storms get throttled, wecom-facts §4).
        margin = min(self._early_renewal_s, expires_in / 2)
        self._token = token
        self._token_renew_at = self._clock.now() + timedelta(seconds=expires_in - margin)
        log.info("WeCom access token renewed, valid for %.0f s", expires_in)
        return token

    # -- the call loop -------------------------------------------------------------------

    async def _call(
        self,
        path: str,
        body: dict[str, Any] | None,
        *,
        params: dict[str, str] | None = None,
        method: str = "POST",
        webhook_key: str | None = None,
        accept: Collection[int] = (),
    ) -> dict[str, Any]:
        """One API call with token refresh (once) and busy retries (bounded)."""
        uses_token = path != GETTOKEN_PATH and webhook_key is None
        token_retried = False
        busy_attempts = 0
        while True:
            query = dict(params or {})
            token: str | None = None
            if uses_token:
                token = await self.get_token()
                query["access_token"] = token
            if webhook_key is not None:
                query["key"] = webhook_key
            secrets = (self._secret, token, webhook_key)
            data = await self._request(method, path, query, body, secrets)
            errcode = _errcode(data, path)
            if errcode == 0:
                return data
            self.error_counts[errcode] += 1
            errmsg = redact(str(data.get("errmsg", "")), secrets)
            log.warning("WeCom %s returned errcode %d: %s", path, errcode, errmsg)
            if uses_token and classify(errcode, path) is ErrorClass.TOKEN and not token_retried:
                token_retried = True
                await self._refresh_token(failed=token)
                continue
            if errcode == BUSY_ERRCODE and busy_attempts < self._busy_retries:
                await self._clock.sleep(self._busy_backoff_s * 2**busy_attempts)
                busy_attempts += 1
                continue
            if errcode in accept:
                return data
            if errcode in RATE_LIMIT_RETRY_AFTER_S:
                raise WeComRateLimited(errcode, errmsg, path)
            raise WeComApiError(errcode, errmsg, path)

    async def _request(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: dict[str, Any] | None,
        secrets: Iterable[str | None],
    ) -> dict[str, Any]:
        """One HTTP round trip; everything that isn't a JSON object becomes a transport error."""
        url = f"{self._api_base}/{path}"
        try:
            async with self._session.request(
                method, url, params=query, json=body, timeout=self._timeout
            ) as response:
                if response.status != 200:
                    raise WeComTransportError(
                        f"WeCom {path} answered HTTP {response.status}",
                        path=path,
                        status=response.status,
                    )
                raw = await response.read()
        except TimeoutError:
            raise WeComTransportError(f"WeCom {path} timed out", path=path) from None
        except aiohttp.ClientError as exc:
            detail = redact(f"{type(exc).__name__}: {exc}", secrets)
            # `from None`: the original exception may carry the URL with the token.
            raise WeComTransportError(f"WeCom {path} failed: {detail}", path=path) from None
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise WeComTransportError(f"WeCom {path} answered with a non-JSON body", path=path)
        return data


def _errcode(data: dict[str, Any], path: str) -> int:
    value = data.get("errcode", 0)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise WeComTransportError(f"WeCom {path} answered with a malformed errcode", path=path)
    try:
        return int(value)
    except ValueError:
        raise WeComTransportError(
            f"WeCom {path} answered with a malformed errcode", path=path
        ) from None


def _check_count(field: str, count: int, limit: int) -> None:
    if count > limit:
        raise ValueError(f"{field} has {count} entries; WeCom accepts at most {limit} per call")
