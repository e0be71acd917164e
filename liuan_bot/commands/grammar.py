"""Normalise what people type on phones and find the command word.

Full-width digits, letters, colons and spaces equal their half-width forms (NFKC); a command
word may be followed directly by its arguments (`帮助申请`), and the longest name wins
(申请发布会 over 申请).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_MENTION = re.compile(r"^@\S+\s+")
_SPACES = re.compile(r"[ \t\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalise(text: str) -> str:
    """NFKC, unified line breaks, collapsed spaces, stripped @-mention prefix."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines))  # keep paragraph breaks, once
    return _MENTION.sub("", text).strip()


@dataclass(frozen=True)
class Split:
    """A command word found at the start of a message, and the rest."""

    word: str
    rest: str


def split_command(text: str, words: list[str]) -> Split | None:
    """Match the longest of `words` at the start of normalised `text`.

    `words` must be sorted longest first. The word must end the text or be followed by a
    space, a line break, punctuation or (for Chinese) any character: 帮助申请 is 帮助 + 申请.
    """
    for word in words:
        if text.startswith(word) or (word.isascii() and text[: len(word)].lower() == word):
            rest = text[len(word) :]
            if rest and word.isascii() and rest[0].isascii() and rest[0].isalnum():
                continue  # "helpme" is not "help me"
            return Split(word, rest.lstrip(" \n:：,，;；"))
    return None


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (small strings: command words)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
