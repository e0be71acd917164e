"""Callback crypto: a thin wrapper over wechatpy's `WeChatCrypto` that maps its many failure
types to two of ours (wecom-facts §5: the two signature exceptions are unrelated classes, and
malformed input surfaces as binascii/ValueError/KeyError/ExpatError).
"""

from __future__ import annotations

import binascii
import secrets
from xml.parsers.expat import ExpatError

from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException


class CallbackRejected(Exception):
    """Signature or corp id wrong: answer 403, change nothing."""


class CallbackMalformed(Exception):
    """The request is not a well-formed WeCom callback: answer 400, change nothing."""


_MALFORMED = (
    binascii.Error,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    ExpatError,
    UnicodeDecodeError,
    AssertionError,
)


class CallbackCrypto:
    """Verify, decrypt and encrypt WeCom callback payloads for one app."""

    def __init__(self, token: str, aes_key: str, corp_id: str) -> None:
        try:
            self._crypto = WeChatCrypto(token, aes_key, corp_id)
        except _MALFORMED as exc:  # a key that does not decode to 32 bytes
            raise ValueError("EncodingAESKey 无效") from exc
        self.corp_id = corp_id

    def verify_url(self, signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """GET URL verification: the decrypted echostr."""
        try:
            return str(self._crypto.check_signature(signature, timestamp, nonce, echostr))
        except (InvalidSignatureException, InvalidCorpIdException) as exc:
            raise CallbackRejected(type(exc).__name__) from exc
        except _MALFORMED as exc:
            raise CallbackMalformed(type(exc).__name__) from exc

    def decrypt(self, body: bytes, signature: str, timestamp: str, nonce: str) -> str:
        """POST body (encrypted envelope) → plaintext XML."""
        try:
            return str(self._crypto.decrypt_message(body, signature, timestamp, nonce))
        except (InvalidSignatureException, InvalidCorpIdException) as exc:
            raise CallbackRejected(type(exc).__name__) from exc
        except _MALFORMED as exc:
            raise CallbackMalformed(type(exc).__name__) from exc

    def encrypt(self, plaintext_xml: str, *, timestamp: int, nonce: str | None = None) -> str:
        """A passive reply: the encrypted, signed envelope."""
        nonce = nonce or str(secrets.randbelow(10**10))
        return str(self._crypto.encrypt_message(plaintext_xml, nonce, timestamp))
