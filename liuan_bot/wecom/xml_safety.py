"""Parse untrusted callback XML: no DTD, no entities, one `<xml>` root (billion laughs,
external entities and friends are refused before expat sees them)."""

from __future__ import annotations

import re
from typing import Any

import xmltodict

_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)


class UnsafeXml(ValueError):
    """Not a plain `<xml>…</xml>` document."""


def parse_xml(data: bytes | str) -> dict[str, Any]:
    """The children of the `<xml>` root; raise `UnsafeXml` for anything else."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if _DTD.search(raw):
        raise UnsafeXml("document type declarations are refused")
    try:
        doc = xmltodict.parse(raw, disable_entities=True)
    except Exception as exc:  # ExpatError, ValueError, UnicodeError: all malformed
        raise UnsafeXml(f"not XML: {type(exc).__name__}") from exc
    root = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise UnsafeXml("no <xml> root")
    return root
