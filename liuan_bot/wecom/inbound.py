"""Decrypted callback XML → `Incoming`, and passive-reply XML.

wechatpy 1.8.18 does not know `template_card_event` (it becomes an `UnknownMessage`), so the
plaintext is read with xmltodict (wechatpy's own parser, entities disabled) and normalised here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import xmltodict

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


def parse_incoming(plaintext: str) -> Incoming:
    """Parse decrypted XML; raise `NotACallback` for anything that is not a message/event."""
    try:
        doc = xmltodict.parse(plaintext, force_list=("SelectedItem", "OptionId"))
    except Exception as exc:  # xmltodict raises ExpatError or ValueError (entities)
        raise NotACallback(str(exc)) from exc
    data = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        raise NotACallback("no <xml> root")
    return incoming_from_fields(data)


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


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply_xml(incoming: Incoming, content: str, *, now: int) -> str:
    """Plaintext of a passive text reply to `incoming`."""
    return (
        "<xml>"
        f"<ToUserName>{_cdata(incoming.from_user)}</ToUserName>"
        f"<FromUserName>{_cdata(incoming.corp_id)}</FromUserName>"
        f"<CreateTime>{now}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{_cdata(content)}</Content>"
        "</xml>"
    )


def update_button_xml(incoming: Incoming, replace_name: str, *, now: int) -> str:
    """Plaintext of a passive `update_button` reply: the clicked card's buttons become a label."""
    return (
        "<xml>"
        f"<ToUserName>{_cdata(incoming.from_user)}</ToUserName>"
        f"<FromUserName>{_cdata(incoming.corp_id)}</FromUserName>"
        f"<CreateTime>{now}</CreateTime>"
        "<MsgType><![CDATA[update_button]]></MsgType>"
        f"<Button><ReplaceName>{_cdata(replace_name)}</ReplaceName></Button>"
        "</xml>"
    )
