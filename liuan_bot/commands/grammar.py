"""Normalise what people type on phones and find the command word.

Full-width digits, letters, colons and spaces equal their half-width forms (NFKC); a command
word may be followed directly by its arguments (`帮助申请`), and the longest name wins
(申请发布会 over 申请). The command word may sit inside a polite sentence, as people say it
to a voice keyboard: `能不能帮我们备案一下，主题是…`, `麻烦申请发布会`, `您好，请帮忙审核 SQ12`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

_MENTION = re.compile(r"^@\S+\s+")
_SPACES = re.compile(r"[ \t\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")
# What may come before a command word in a polite request, and after it (一下).
_POLITE_LEAD = re.compile(
    r"^(?:(?:你好|您好|老师好|领导好|在吗|在不在)[\s,.。!~]*)?(?:请问\s*)?"
    r"(?:(?:麻烦|劳驾|烦请)(?:你|您|你们|您们)?\s*)?(?:请\s*)?"
    r"(?:能不能|能否|可不可以|可以|可否|是否能|我们想|我们要|我想|我要|需要|想|要)?\s*"
    r"(?:帮(?:忙)?(?:我们|俺们|咱们|我|下)?|给(?:我们|我))?\s*(?:把|来)?\s*"
)
_SEPARATED = re.compile(r"[\s:：,，;；。.!！]|(?:SQ|BA|TF|ZC|FX|YQ|GG)", re.IGNORECASE)
_POLITE_AFTER = re.compile(r"^(?:一下|下)(?![\u4e00-\u9fff]{0,1}[:：])")


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


class CommandWords:
    """Command words, longest first, grouped by their first character (lower-cased): a
    message is compared only with the words it can start with (~90 words, ~5 µs a message
    when compared with each)."""

    __slots__ = ("_by_first",)

    def __init__(self, words: Iterable[str]) -> None:
        self._by_first: dict[str, list[str]] = {}
        for word in sorted(dict.fromkeys(words), key=len, reverse=True):
            self._by_first.setdefault(word[:1].lower(), []).append(word)

    def starting(self, text: str) -> list[str]:
        """The words `text` may start with, longest first."""
        return self._by_first.get(text[:1].lower(), [])


def split_command(text: str, words: CommandWords) -> Split | None:
    """Match the longest of `words` at the start of normalised `text`.

    The word must end the text or be followed by a space, a line break, punctuation or (for
    Chinese) any character: 帮助申请 is 帮助 + 申请.
    """
    found = _split(text, words)
    if found is not None:
        return found
    lead = _POLITE_LEAD.match(text)
    if lead is None or not lead.group(0):
        return None
    found = _split(text[lead.end() :], words)
    if found is None or found.word.isascii():
        return None
    after = text[lead.end() + len(found.word) :]
    after = _POLITE_AFTER.sub("", after)
    if after and not _SEPARATED.match(after):
        return None  # 我们想申请发布会讲讲秋粮收购: a wish in free text, for the suggester
    return Split(found.word, after.lstrip(" \n:：,，;；。"))


def _split(text: str, words: CommandWords) -> Split | None:
    for word in words.starting(text):
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
