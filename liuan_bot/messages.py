"""The message boundary, neutral of the transport: `Incoming`, `Reply`, `Outgoing`, limits.

An `Incoming` is one message or event from a member (the callback parses XML into it); a
`Reply` is what goes back to its sender; an `Outgoing` is what the outbox stores: a kind,
what pacing is keyed on, and the API body. Handlers and storage import these types from here,
never from the wire-format modules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

DEDUPE_KEY_MAX = 200  # inbound_messages.dedupe_key is varchar(200)


class NotACallback(ValueError):
    """Plaintext that is not a WeCom message or event."""


@dataclass(frozen=True)
class Incoming:
    """One message or event from a member, neutral of the wire format."""

    msg_type: str
    from_user: str
    corp_id: str
    create_time: int
    agent_id: str | None = None
    msg_id: str | None = None
    content: str = ""
    event: str | None = None
    event_key: str | None = None
    task_id: str | None = None
    card_type: str | None = None
    response_code: str | None = None
    selected: tuple[tuple[str, tuple[str, ...]], ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_card_click(self) -> bool:
        return self.event in ("template_card_event", "template_card_menu_event")

    @property
    def dedupe_key(self) -> str:
        """MsgId for messages; sender + time + event + key/task for events (wecom-facts §1.6)."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        parts = [
            self.from_user,
            str(self.create_time),
            self.event or self.msg_type,
            self.event_key or "",
            self.task_id or "",
        ]
        key = "evt:" + ":".join(parts)
        if len(key) <= DEDUPE_KEY_MAX:
            return key
        # A legitimate long key (64-byte userid, 1024-byte card key): keep a readable prefix
        # and make it unique with a sha256 of the whole, so it always fits its column.
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return key[: DEDUPE_KEY_MAX - len(digest) - 1] + "#" + digest


# What a reply says happened (issue 11 §4): `ok` done, or an answer; `refused` nothing was
# changed (a UserError, a domain refusal, a card or request that does not apply); `ask` a
# question that waits for 确认 (or a bare 是), nothing recorded until it is answered.
ReplyKind = Literal["ok", "refused", "ask"]


@dataclass(frozen=True)
class Reply:
    """What goes back to the sender: text, or the label a clicked card's buttons turn into,
    and its `kind`. Built with `Reply.ok`, `Reply.refused` or `Reply.ask`."""

    text: str | None = None
    button_label: str | None = None
    kind: ReplyKind = field(kw_only=True)

    @classmethod
    def ok(cls, text: str | None = None, *, button_label: str | None = None) -> Reply:
        """Done (or an answer to a question)."""
        return cls(text, button_label, kind="ok")

    @classmethod
    def refused(cls, text: str, *, button_label: str | None = None) -> Reply:
        """Not done: nothing was changed; `text` says why."""
        return cls(text, button_label, kind="refused")

    @classmethod
    def ask(cls, text: str) -> Reply:
        """A question awaiting 确认 (or 是): nothing is recorded until it is answered."""
        return cls(text, kind="ask")


def _text(node: Any) -> str:
    if node is None:
        return ""
    if isinstance(node, dict):
        return str(node.get("#text", ""))
    return str(node)


def _selected(data: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    items = data.get("SelectedItems") or {}
    result = []
    for item in items.get("SelectedItem", []) if isinstance(items, dict) else []:
        options = item.get("OptionIds") or {}
        ids = options.get("OptionId", []) if isinstance(options, dict) else []
        result.append((_text(item.get("QuestionKey")), tuple(_text(i) for i in ids)))
    return tuple(result)


def incoming_from_fields(data: dict[str, Any]) -> Incoming:
    """An `Incoming` from the fields of a callback (as parsed, or as stored in `raw`)."""
    msg_type = _text(data.get("MsgType")).strip()
    from_user = _text(data.get("FromUserName")).strip()
    if not msg_type or not from_user:
        raise NotACallback("MsgType and FromUserName are required")
    try:
        create_time = int(_text(data.get("CreateTime")) or 0)
    except ValueError as exc:
        raise NotACallback("CreateTime is not a number") from exc
    raw = {k: v for k, v in data.items()}
    return Incoming(
        msg_type=msg_type,
        from_user=from_user,
        corp_id=_text(data.get("ToUserName")),
        create_time=create_time,
        agent_id=_text(data.get("AgentID")) or None,
        msg_id=_text(data.get("MsgId")) or None,
        content=_text(data.get("Content")),
        event=_text(data.get("Event")) or None,
        event_key=_text(data.get("EventKey")) or None,
        task_id=_text(data.get("TaskId")) or None,
        card_type=_text(data.get("CardType")) or None,
        response_code=_text(data.get("ResponseCode")) or None,
        selected=_selected(data),
        raw=raw,
    )


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
