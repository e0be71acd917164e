"""What the console's web layer needs from the use cases (implemented in handlers/console.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from liuan_bot.domain.members import Member


@dataclass(frozen=True)
class ActionResult:
    """The reply to a console action: the chat reply text, and whether it was refused."""

    ok: bool
    text: str
    denied: bool = False


class ConsoleBackend(Protocol):
    async def member(self, userid: str) -> Member | None: ...

    async def sign_in_choices(self) -> list[dict[str, str]]: ...

    async def page(
        self, name: str, member: Member, query: Mapping[str, str]
    ) -> dict[str, Any]: ...

    async def download(
        self, member: Member, query: Mapping[str, str]
    ) -> tuple[str, str, bytes]: ...

    async def act(
        self, member: Member, action: str, record_id: str, form: Mapping[str, str]
    ) -> ActionResult: ...


# The code → userid exchange of the WeCom sign-in (cgi-bin/auth/getuserinfo): None when
# WeCom refuses the code (errcode 40029, used or expired).
CodeExchange = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True)
class ConsoleConfig:
    sandbox: bool
    corp_id: str
    agent_id: int
    link_base: str  # LIUAN_PUBLIC_URL (sandbox: the local address)
    signing_key: bytes

    @property
    def secure_cookies(self) -> bool:
        return self.link_base.startswith("https://")
