"""Build real encrypted callbacks, as WeCom would send them (console, tests, benchmarks)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from xml.sax.saxutils import escape

import xmltodict
from wechatpy.enterprise.crypto import WeChatCrypto


@dataclass(frozen=True)
class SignedCallback:
    """Query parameters and body of one encrypted POST callback."""

    query: dict[str, str]
    body: bytes


def text_message_xml(
    *, corp_id: str, from_user: str, content: str, msg_id: str, create_time: int, agent_id: int
) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
        f"<FromUserName><![CDATA[{from_user}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{escape(content)}</Content><MsgId>{msg_id}</MsgId>"
        f"<AgentID>{agent_id}</AgentID></xml>"
    )


def event_xml(
    *,
    corp_id: str,
    from_user: str,
    event: str,
    create_time: int,
    agent_id: int,
    event_key: str = "",
    task_id: str = "",
    card_type: str = "",
    response_code: str = "",
) -> str:
    extra = ""
    if task_id:
        extra += f"<TaskId><![CDATA[{task_id}]]></TaskId>"
    if card_type:
        extra += f"<CardType><![CDATA[{card_type}]]></CardType>"
    if response_code:
        extra += f"<ResponseCode><![CDATA[{response_code}]]></ResponseCode>"
    return (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
        f"<FromUserName><![CDATA[{from_user}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{escape(event_key)}]]></EventKey>"
        f"{extra}<AgentID>{agent_id}</AgentID></xml>"
    )


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


class CallbackSigner:
    """Encrypts and signs plaintext the way WeCom does, and opens passive replies."""

    def __init__(self, token: str, aes_key: str, corp_id: str) -> None:
        self._crypto = WeChatCrypto(token, aes_key, corp_id)
        self.token, self.corp_id = token, corp_id

    def sign(self, plaintext: str, *, timestamp: int) -> SignedCallback:
        nonce = str(secrets.randbelow(10**9))
        envelope = xmltodict.parse(self._crypto.encrypt_message(plaintext, nonce, timestamp))
        encrypted = envelope["xml"]["Encrypt"]
        body = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[1]]></AgentID></xml>"
        )
        query = {
            "msg_signature": signature(self.token, str(timestamp), nonce, encrypted),
            "timestamp": str(timestamp),
            "nonce": nonce,
        }
        return SignedCallback(query, body.encode())

    def sign_echo(self, echo: str, *, timestamp: int) -> dict[str, str]:
        """Query parameters of a GET URL verification whose echostr decrypts to `echo`."""
        nonce = str(secrets.randbelow(10**9))
        envelope = xmltodict.parse(self._crypto.encrypt_message(echo, nonce, timestamp))
        encrypted = envelope["xml"]["Encrypt"]
        return {
            "msg_signature": signature(self.token, str(timestamp), nonce, encrypted),
            "timestamp": str(timestamp),
            "nonce": nonce,
            "echostr": encrypted,
        }

    def open_reply(self, envelope: bytes | str) -> dict[str, str]:
        """Decrypt a passive reply envelope into its plaintext fields."""
        doc = xmltodict.parse(envelope)["xml"]
        plaintext = self._crypto.decrypt_message(
            envelope, doc["MsgSignature"], doc["TimeStamp"], doc["Nonce"]
        )
        fields = xmltodict.parse(plaintext)["xml"]
        flat: dict[str, str] = {}
        for key, value in fields.items():
            if isinstance(value, dict):  # <Button><ReplaceName>…</ReplaceName></Button>
                flat.update({k: str(v) for k, v in value.items()})
            else:
                flat[key] = str(value)
        return flat
