"""Decrypted callback XML → `Incoming` (defined in liuan_bot.messages), and passive-reply XML.

wechatpy 1.8.18 does not know `template_card_event` (it becomes an `UnknownMessage`), so the
plaintext is read here (`xml_safety.parse_xml`: xmltodict's tree shape, no DTD or entities)
and normalised.
"""

from __future__ import annotations

from liuan_bot.messages import Incoming, NotACallback, incoming_from_fields
from liuan_bot.wecom.xml_safety import UnsafeXml, parse_xml

__all__ = ["Incoming", "NotACallback", "incoming_from_fields", "parse_incoming"]


_FORCE_LIST = frozenset({"SelectedItem", "OptionId"})


def parse_incoming(plaintext: str) -> Incoming:
    """Parse decrypted XML; raise `NotACallback` for anything that is not a message/event."""
    try:
        data = parse_xml(plaintext, force_list=_FORCE_LIST)
    except UnsafeXml as exc:
        raise NotACallback(str(exc)) from exc
    return incoming_from_fields(data)


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
