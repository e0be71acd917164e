"""`python bot.py console --user USERID`: chat with a running bot from a terminal.

Each line typed is sent as a real encrypted callback over HTTP; the passive reply is
decrypted and printed, and (in sandbox mode) messages the bot pushes to that user through
the outbox are printed as they arrive.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from typing import Any

import aiohttp

from liuan_bot.clock import SystemClock
from liuan_bot.settings import Settings
from liuan_bot.wecom.simulate import CallbackSigner, text_message_xml

PROMPT = "> "


async def _send(
    http: aiohttp.ClientSession,
    url: str,
    signer: CallbackSigner,
    settings: Settings,
    user: str,
    content: str,
    now: int,
) -> str | None:
    plaintext = text_message_xml(
        corp_id=settings.corp_id,
        from_user=user,
        content=content,
        msg_id=str(secrets.randbits(63)),
        create_time=now,
        agent_id=settings.agent_id,
    )
    signed = signer.sign(plaintext, timestamp=now)
    async with http.post(f"{url}/wecom/callback", params=signed.query, data=signed.body) as resp:
        body = await resp.read()
        if resp.status != 200:
            return f"（机器人返回 HTTP {resp.status}）"
    if not body:
        return None
    fields = signer.open_reply(body)
    return fields.get("Content") or fields.get("ReplaceName")


async def _poll_pushes(http: aiohttp.ClientSession, url: str, user: str, since: list[int]) -> None:
    while True:
        try:
            params = {"to": user, "since": str(since[0])}
            async with http.get(f"{url}/sandbox/messages.json", params=params) as resp:
                if resp.status == 200:
                    data: dict[str, Any] = await resp.json()
                    for message in data.get("messages", []):
                        since[0] = max(since[0], int(message["seq"]))
                        print(f"\n[推送] {message['text']}\n{PROMPT}", end="", flush=True)
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(1.0)


async def _current_seq(http: aiohttp.ClientSession, url: str) -> int:
    try:
        async with http.get(f"{url}/sandbox/messages.json") as resp:
            if resp.status != 200:
                return 0
            data: dict[str, Any] = await resp.json()
    except aiohttp.ClientError:
        return 0
    return max((int(m["seq"]) for m in data.get("messages", [])), default=0)


async def run_console(settings: Settings, user: str, url: str, *, linger_s: float = 2.0) -> int:
    """Read lines from stdin until EOF or 退出; print replies and pushes."""
    signer = CallbackSigner(settings.token.reveal(), settings.aes_key.reveal(), settings.corp_id)
    loop = asyncio.get_running_loop()
    clock = SystemClock(settings.tz)
    async with aiohttp.ClientSession() as http:
        try:
            async with http.get(f"{url}/healthz") as resp:
                await resp.read()
        except aiohttp.ClientError:
            print(f"连不上机器人（{url}）。请先在另一个终端运行 make run。", file=sys.stderr)
            return 1
        since = [await _current_seq(http, url)]
        poller = (
            asyncio.create_task(_poll_pushes(http, url, user, since)) if settings.sandbox else None
        )
        print(
            f"以 {user} 的身份和机器人对话。输入“帮助”开始；"
            "行末加 \\ 可换行续写；输入“退出”或按 Ctrl-D 结束。"
        )
        try:
            while True:
                print(PROMPT, end="", flush=True)
                line = await loop.run_in_executor(None, sys.stdin.readline)
                if not line or line.strip() in ("退出", "exit", "quit"):
                    break
                if not line.strip():
                    continue
                text = line.rstrip("\n")
                while text.endswith("\\"):  # a trailing backslash continues the message
                    more = await loop.run_in_executor(None, sys.stdin.readline)
                    text = text[:-1] + "\n" + more.rstrip("\n")
                now = int(clock.now().timestamp())
                reply = await _send(http, url, signer, settings, user, text, now)
                if reply:
                    print(reply)
            if poller is not None and linger_s > 0:
                await asyncio.sleep(linger_s)  # pushes still on their way through the outbox
        finally:
            if poller is not None:
                poller.cancel()
    return 0
