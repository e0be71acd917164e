"""Outgoing messages, neutral of the transport, and WeCom's size limits.

An `Outgoing` is what the outbox stores: a kind, what pacing is keyed on, and the API body.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

OutKind = Literal["app", "appchat", "webhook", "card_update", "calendar", "workbench"]

MAX_USERS_PER_SEND = 1000  # message/send touser (wecom-facts §3.1)
TEXT_MAX_BYTES = 2048  # text and app markdown; longer text is silently truncated by WeCom
ROBOT_MARKDOWN_MAX_BYTES = 4096


@dataclass(frozen=True)
class Outgoing:
    """One API call's worth of message."""

    kind: OutKind
    target: str
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def users(self) -> tuple[str, ...]:
        if self.kind != "app":
            return ()
        return tuple(u for u in self.target.split("|") if u)


def _batches(users: Iterable[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(u for u in users if u))
    return [unique[i : i + MAX_USERS_PER_SEND] for i in range(0, len(unique), MAX_USERS_PER_SEND)]


def text_to_users(users: Iterable[str], content: str) -> list[Outgoing]:
    """Text to members, in batches of ≤1000 users and parts of ≤2048 bytes."""
    result = []
    for batch in _batches(users):
        touser = "|".join(batch)
        for part in split_text(content, TEXT_MAX_BYTES):
            body = {"touser": touser, "msgtype": "text", "text": {"content": part}}
            result.append(Outgoing("app", touser, body))
    return result


def card_to_users(users: Sequence[str], card: dict[str, Any]) -> list[Outgoing]:
    result = []
    for batch in _batches(users):
        touser = "|".join(batch)
        body = {"touser": touser, "msgtype": "template_card", "template_card": card}
        result.append(Outgoing("app", touser, body))
    return result


def split_text(text: str, max_bytes: int) -> list[str]:
    """Split at paragraph, then line, then character boundaries; never mid-character."""
    if len(text.encode()) <= max_bytes:
        return [text]
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, max_bytes):
        candidate = piece if not current else current + piece
        if len(candidate.encode()) <= max_bytes:
            current = candidate
        else:
            if current.strip():
                parts.append(current.strip("\n"))
            current = piece
    if current.strip():
        parts.append(current.strip("\n"))
    return parts


def _pieces(text: str, max_bytes: int) -> list[str]:
    """Units no larger than `max_bytes`: paragraphs, else lines, else characters."""
    pieces: list[str] = []
    for paragraph in text.split("\n\n"):
        for chunk in _fit(paragraph + "\n\n", "\n", max_bytes):
            pieces.append(chunk)
    return pieces


def _fit(block: str, separator: str, max_bytes: int) -> list[str]:
    if len(block.encode()) <= max_bytes:
        return [block]
    if separator:
        out: list[str] = []
        lines = block.split(separator)
        for i, line in enumerate(lines):
            suffix = separator if i < len(lines) - 1 else ""
            out.extend(_fit(line + suffix, "", max_bytes))
        return out
    chars: list[str] = []
    current = ""
    for ch in block:
        if len((current + ch).encode()) > max_bytes:
            chars.append(current)
            current = ch
        else:
            current += ch
    if current:
        chars.append(current)
    return chars
