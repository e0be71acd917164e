"""Sentences, and cutting text to a length without cutting it in half (pure; no jieba here).

Rules for every cut: whole sentences first (they end with 。！？); when not even one sentence
fits, the sentence is cut at a semicolon (；, a sentence end too: it becomes 。), else after a
comma (，、：), else between two words (the caller gives a
word cutter, jieba in practice), never inside one; "……" marks text dropped mid-sentence and
appears only then. Lengths are `len()`: each CJK character counts 1, as on Weibo.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "ELLIPSIS",
    "URL",
    "WordCutter",
    "clip",
    "clip_sentence",
    "ends_whole",
    "normalise",
    "sentences",
]

WordCutter = Callable[[str], list[str]]

ELLIPSIS = "……"
TERMINATORS = "。！？；!?;"
_CLOSERS = "”’」』）)】》\"'"
_OPENERS = "“‘「『（(【《"
_CLAUSE_BREAKS = "，、：,:"
_SEMICOLONS = "；;"
_SENTENCE = re.compile(
    r".*?(?:[。！？]+|[!?](?=\s|$)|(?<=[A-Za-z])\.(?=\s|$|[\u3400-\u9fff])|…{1,2}|\.{3,})"
    r"[”’」』）)】》\"']*|.+$",
    re.S,
)
URL = re.compile(r"(?:https?://|www\.)[^\s，。；！？、）)”\"'<>【】《》]+", re.I)
_BULLET = re.compile(
    r"^\s*(?:[0-9]{1,2}(?:[.、．]|[)）])(?![0-9])|[（(][0-9]{1,2}[）)]|[①-⑳]|[-*•·]\s)\s*"
)
_SECTION = re.compile(
    r"^\s*(?:[一二三四五六七八九十]{1,3}、|[（(][一二三四五六七八九十]{1,3}[）)])\s*"
)
_CJK = r"\u3400-\u9fff\uf900-\ufaff"
_HALF = {",": "，", ";": "；", ":": "：", "!": "！", "?": "？"}
_HALF_NEAR_CJK = re.compile(rf"(?<=[{_CJK}])([,;:!?])|([,;:!?])(?=[{_CJK}])")
_SPACE_IN_CJK = re.compile(rf"(?<=[{_CJK}，。；：！？、])[ \t\u3000]+(?=[{_CJK}“”（])")
_WORDY = re.compile(rf"[{_CJK}].*[{_CJK}]|[A-Za-z]{{2}}", re.S)  # more than a number or a mark
_MIN_CLAUSE_SHARE = 0.3  # a comma cut keeping less than this share of the room: cut at a word
_LOOKBACK = 48  # characters cut into words before a word-boundary cut


def normalise(text: str) -> str:
    """One kind of line break and space; half-width punctuation next to Chinese made full-width."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = _HALF_NEAR_CJK.sub(lambda m: _HALF[m.group(1) or m.group(2)], text)
    text = _SPACE_IN_CJK.sub("", text)
    return "\n".join(line.strip(" \t\u3000") for line in text.split("\n")).strip("\n")


def ends_whole(text: str) -> bool:
    """Whether `text` ends at a sentence end (closing quotes aside) or with the ellipsis; an
    English sentence may end with a full stop."""
    core = text.rstrip().rstrip(_CLOSERS)
    return bool(core) and (
        core[-1] in TERMINATORS
        or core.endswith(("…", "..."))
        or (core[-1] == "." and len(core) > 1 and core[-2].isascii() and core[-2].isalpha())
    )


def sentences(text: str) -> list[tuple[str, int]]:
    """(sentence, paragraph number) for every sentence of `text`, each ending at a sentence end.

    Bullets (1. （一） ①) are dropped; a line without an end gets "。"; short heading lines
    (一、收购时间) are dropped when the text has other sentences, and so are pieces with
    less than two Chinese characters or two letters (a stray "1.")."""
    found: list[tuple[str, int]] = []
    headings: list[tuple[str, int]] = []
    paragraph = 0
    for raw in normalise(text).split("\n"):
        section = _SECTION.match(raw)
        line = (raw[section.end() :] if section else _BULLET.sub("", raw)).strip()
        if not line:
            paragraph += 1 if found else 0
            continue
        if section and len(line) <= 20 and not any(ch in TERMINATORS for ch in line):
            headings.append((_finish(line), paragraph))  # 一、收购时间: a heading
            continue
        for match in _SENTENCE.finditer(line):
            piece = match.group().strip()
            if match.start():  # a bullet after a sentence on the same line: 。2. 严格…
                piece = _BULLET.sub("", _SECTION.sub("", piece)).strip()
            if _WORDY.search(piece):
                found.append((_finish(piece), paragraph))
        paragraph += 1
    return found or headings


def _finish(piece: str) -> str:
    """A sentence that ends: 。 added when missing; a dangling comma or semicolon becomes 。."""
    if ends_whole(piece) and not piece.rstrip().endswith(tuple(_SEMICOLONS)):
        return piece
    core = piece.rstrip(_CLAUSE_BREAKS + _SEMICOLONS + "，。 ")
    tail = ""
    while core and core[-1] in _CLOSERS and _balanced(core):
        tail, core = core[-1] + tail, core[:-1]
    return core + "。" + tail if core else piece


def _balanced(text: str) -> bool:
    return sum(text.count(c) for c in _OPENERS) <= sum(text.count(c) for c in _CLOSERS)


def clip(text: str, room: int, cut_words: WordCutter) -> str:
    """`text` if it fits in `room`, else its longest run of whole leading sentences, else its
    first sentence cut (see `clip_sentence`)."""
    if len(text) <= room:
        return text
    kept = ""
    for sentence, _ in sentences(text):
        if len(kept) + len(sentence) > room:
            break
        kept += sentence
    if kept:
        return kept
    first = sentences(text)
    return clip_sentence(first[0][0] if first else text, room, cut_words)


def clip_sentence(sentence: str, room: int, cut_words: WordCutter) -> str:
    """One sentence within `room`: whole; else up to a semicolon (a sentence end: "。" then);
    else cut after a comma, else between words, + "……"."""
    if len(sentence) <= room:
        return sentence
    limit = room - len(ELLIPSIS)
    if room < 2:
        return ""
    semicolon = max((i for i, ch in enumerate(sentence[:room]) if ch in _SEMICOLONS), default=0)
    if semicolon >= max(1, int(room * _MIN_CLAUSE_SHARE)):
        head = sentence[:semicolon].rstrip(_CLAUSE_BREAKS + " ")
        if head and _balanced(head):
            return head + "。"
    if limit < 1:
        return ""
    comma = max(
        (i for i, ch in enumerate(sentence[: limit + 1]) if ch in _CLAUSE_BREAKS + _SEMICOLONS),
        default=0,
    )
    if comma >= max(1, int(limit * _MIN_CLAUSE_SHARE)):
        head = _trim_tail(sentence[:comma])
        if head:
            return head + ELLIPSIS
    head = _trim_tail(_words_within(sentence, limit, cut_words))
    if not head:  # one "word" longer than the room (a long link, an endless number)
        head = _trim_tail(sentence[:limit]) or sentence[:limit]
    return head + ELLIPSIS


def _words_within(sentence: str, limit: int, cut_words: WordCutter) -> str:
    """The longest run of whole words from the start that fits in `limit` characters.

    Only the text around the limit is cut into words (jieba's HMM is quadratic on long runs of
    unknown characters): from `_LOOKBACK` characters before it to a few after, so a word
    crossing the limit is seen whole, and refused."""
    start = max(0, limit - _LOOKBACK)
    window = sentence[start : limit + 12]
    used = start
    for word in cut_words(window):
        if used + len(word) > limit:
            break
        used += len(word)
    if used == start and start:  # one "word" fills the whole look-back: cut before it
        return ""
    return sentence[:used]


def _trim_tail(text: str) -> str:
    """No comma, space or opening bracket/quote right before the ellipsis."""
    text = text.rstrip(_CLAUSE_BREAKS + _SEMICOLONS + "。. \t" + _OPENERS)
    # an opening quote or bracket left unclosed is dropped with what follows it
    for opener, closer in (("“", "”"), ("（", "）"), ("《", "》"), ("(", ")"), ("【", "】")):
        start = text.rfind(opener)
        if start != -1 and text.find(closer, start) == -1 and start > 0:
            text = text[:start].rstrip(_CLAUSE_BREAKS + "，、 ")
    return text
