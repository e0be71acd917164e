"""Signed session cookies, CSRF tokens, single-use OAuth states and a sign-in rate limit.

The session is a stateless cookie `base64(json).hmac` (HttpOnly, SameSite=Lax, 8 hours,
`Secure` over https), signed with a key derived from the app's secrets, so every bot process
behind one address accepts it. A POST carries a CSRF token bound to the session's nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from liuan_bot.clock import Clock

SESSION_COOKIE = "liuan_console"
PRE_COOKIE = "liuan_console_pre"
SESSION_LIFETIME = timedelta(hours=8)
STATE_LIFETIME = timedelta(minutes=10)
MAX_STATES = 10_000


def derive_key(*material: str) -> bytes:
    """A signing key for the console from the app's own secrets (never shown anywhere)."""
    digest = hashlib.sha256()
    digest.update(b"liuan-bot console session v1")
    for part in material:
        digest.update(b"\0" + part.encode("utf-8"))
    return digest.digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    userid: str
    nonce: str
    expires_at: datetime


class Signer:
    """HMAC-SHA256 signing of sessions and CSRF tokens."""

    def __init__(self, key: bytes, clock: Clock) -> None:
        self._key = key
        self._clock = clock

    def _mac(self, message: str) -> str:
        return _b64(hmac.new(self._key, message.encode("utf-8"), hashlib.sha256).digest())

    def issue(self, userid: str) -> tuple[str, Session]:
        expires = self._clock.now() + SESSION_LIFETIME
        session = Session(userid, secrets.token_urlsafe(16), expires)
        payload = _b64(
            json.dumps(
                {"u": userid, "n": session.nonce, "e": int(expires.timestamp())},
                separators=(",", ":"),
            ).encode("utf-8")
        )
        return f"{payload}.{self._mac('s:' + payload)}", session

    def read(self, cookie: str | None) -> Session | None:
        """The session of a cookie, or None when missing, forged or expired."""
        if not cookie or "." not in cookie:
            return None
        payload, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac("s:" + payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            userid, nonce, expires = str(data["u"]), str(data["n"]), int(data["e"])
        except (ValueError, KeyError, TypeError):
            return None
        expires_at = datetime.fromtimestamp(expires, tz=self._clock.now().tzinfo)
        if self._clock.now() >= expires_at:
            return None
        return Session(userid, nonce, expires_at)

    def csrf(self, nonce: str) -> str:
        return self._mac("c:" + nonce)

    def csrf_ok(self, nonce: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf(nonce), token or "")


class OAuthStates:
    """Random, single-use `state` values of the WeCom sign-in, valid for 10 minutes."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._states: dict[str, tuple[datetime, str]] = {}

    def new(self, next_path: str) -> str:
        now = self._clock.now()
        if len(self._states) >= MAX_STATES:
            self._states = {k: v for k, v in self._states.items() if v[0] > now}
            while len(self._states) >= MAX_STATES:
                self._states.pop(next(iter(self._states)))
        state = secrets.token_hex(16)  # a-z0-9, 32 bytes (WeCom allows a-zA-Z0-9, ≤128)
        self._states[state] = (now + STATE_LIFETIME, next_path)
        return state

    def take(self, state: str | None) -> str | None:
        """The page to return to if `state` is live; it can never be used again."""
        if not state:
            return None
        found = self._states.pop(state, None)
        if found is None or self._clock.now() >= found[0]:
            return None
        return found[1]


class RateLimiter:
    """At most `limit` sign-in attempts per `window` from one address."""

    def __init__(self, clock: Clock, *, limit: int = 10, window: timedelta = timedelta(minutes=1)):
        self._clock = clock
        self._limit = limit
        self._window = window
        self._seen: dict[str, deque[datetime]] = {}

    def allow(self, key: str) -> bool:
        now = self._clock.now()
        if len(self._seen) > MAX_STATES:
            self._seen.clear()
        times = self._seen.setdefault(key, deque())
        while times and now - times[0] >= self._window:
            times.popleft()
        if len(times) >= self._limit:
            return False
        times.append(now)
        return True
