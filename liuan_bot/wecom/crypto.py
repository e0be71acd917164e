"""Callback crypto: verify, decrypt and encrypt WeCom callback payloads (wecom-facts §1.3–1.5).

Verification and decryption are done here, strictly, instead of by wechatpy (which compares
signatures with `!=`, trusts the padding byte and lets short plaintexts escape as
`struct.error`, answered 500 — issue 8 item 6):

- the signature is compared in constant time, before anything is decrypted;
- the plaintext must have a valid PKCS#7 pad (1–32, all pad bytes equal), at least 20 bytes
  (16 random + 4 length), a length field that fits, UTF-8 text and the expected receive id.

Every failure is one of two exceptions: `CallbackRejected` (signature or corp id: 403) or
`CallbackMalformed` (anything else: 400). Encryption of passive replies stays with wechatpy.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.enterprise.crypto import WeChatCrypto

from liuan_bot.wecom.xml_safety import UnsafeXml, parse_xml


class CallbackRejected(Exception):
    """Signature or corp id wrong: answer 403, change nothing."""


class CallbackMalformed(Exception):
    """The request is not a well-formed WeCom callback: answer 400, change nothing."""


_BLOCK = 32  # WeCom pads to 32 bytes, not 16 (wecom-facts §1.4)
_MAX_ENCRYPT_CHARS = 1024 * 1024


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """`sha1(join(sorted([token, timestamp, nonce, encrypt])))` (wecom-facts §1.3)."""
    joined = "".join(sorted([token, timestamp, nonce, encrypted]))
    return hashlib.sha1(joined.encode("utf-8", "surrogatepass")).hexdigest()


class CallbackCrypto:
    """Verify, decrypt and encrypt WeCom callback payloads for one app."""

    def __init__(self, token: str, aes_key: str, corp_id: str) -> None:
        try:
            key = base64.b64decode(aes_key + "=", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("EncodingAESKey 无效") from exc
        if len(key) != 32:
            raise ValueError("EncodingAESKey 无效")
        self._key = key
        self._token = token
        self._wechatpy = WeChatCrypto(token, aes_key, corp_id)
        self.corp_id = corp_id

    def _check(self, sig: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = signature(self._token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), sig.lower().encode("utf-8", "replace")):
            raise CallbackRejected("signature mismatch")

    def _open(self, encrypted: str) -> str:
        """Decrypt a verified ciphertext strictly; raise `CallbackMalformed` or, for a
        foreign receive id, `CallbackRejected`."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CallbackMalformed("ciphertext is not base64") from exc
        if not data or len(data) % 16:
            raise CallbackMalformed("ciphertext length is not a multiple of the AES block")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or pad > len(plain) or plain[-pad:] != bytes([pad]) * pad:
            raise CallbackMalformed("bad padding")
        content = plain[16:-pad]
        if len(content) < 4:
            raise CallbackMalformed("plaintext shorter than 20 bytes")
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise CallbackMalformed("message length beyond the plaintext")
        try:
            message = content[4 : 4 + length].decode("utf-8")
            receive_id = content[4 + length :].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CallbackMalformed("plaintext is not UTF-8") from exc
        if not hmac.compare_digest(receive_id.encode(), self.corp_id.encode()):
            raise CallbackRejected("receive id is not our corp id")
        return message

    def verify_url(self, signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """GET URL verification: the decrypted echostr."""
        if len(echostr) > _MAX_ENCRYPT_CHARS:
            raise CallbackMalformed("echostr too long")
        self._check(signature, timestamp, nonce, echostr)
        return self._open(echostr)

    def decrypt(self, body: bytes, signature: str, timestamp: str, nonce: str) -> str:
        """POST body (encrypted envelope) → plaintext XML."""
        try:
            envelope = parse_xml(body)
        except UnsafeXml as exc:
            raise CallbackMalformed(str(exc)) from exc
        encrypted = envelope.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted.strip():
            raise CallbackMalformed("no Encrypt field")
        encrypted = encrypted.strip()
        self._check(signature, timestamp, nonce, encrypted)
        return self._open(encrypted)

    def encrypt(self, plaintext_xml: str, *, timestamp: int, nonce: str | None = None) -> str:
        """A passive reply: the encrypted, signed envelope."""
        nonce = nonce or str(secrets.randbelow(10**10))
        return str(self._wechatpy.encrypt_message(plaintext_xml, nonce, timestamp))
