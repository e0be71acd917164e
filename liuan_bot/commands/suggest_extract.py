"""Values the suggester reads from free text: times, record ids, venues, live broadcast,
sources, risk kinds and levels, a spokesperson's name, title and mobile (split from
suggest.py, issue 11 §5). Pure functions over the cues in `suggest_cues`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from liuan_bot.commands.fields import parse_record_id
from liuan_bot.commands.suggest_cues import (  # the suggester's internals
    _ABOUT,
    _LIVE_ANY,
    _LIVE_ASK,
    _LIVE_NO,
    _LIVE_YES,
    _MOBILE,
    _NAME,
    _ONLINE,
    _PARTS_OF_DAY,
    _RECORD_START,
    _RISK_KINDS,
    _RISK_LEVEL,
    _SOURCES,
    _SPEAKER,
    _TITLE,
    _URL,
    _VENUE,
    _WEEKDAYS,
)
from liuan_bot.commands.timeparse import ParsedTime, Prefer, TimeParseError, find_time


def _find_record(norm: str, year: int) -> tuple[str, int, int] | None:
    """The first record id in the text (`SQ-2026-0012`, `tf3`) and its span."""
    for match in _RECORD_START.finditer(norm):
        found = parse_record_id(norm[match.start() :], year)
        if found is not None:
            return found[0], match.start(), match.start() + found[1]
    return None


def _unresolved_time(norm: str, now: datetime, prefer: Prefer) -> list[tuple[int, int]]:
    """Where a time that could not be taken is (past when a future one was wanted, or the
    reverse), so it stays out of the topic; nothing when it is unreadable either way."""
    other: Prefer = "past" if prefer == "future" else "future"
    try:
        found = find_time(norm, now, prefer=other)
    except TimeParseError:
        return []
    return [] if found is None else [_time_span(norm, found[1], found[2])]


def _time_span(norm: str, start: int, end: int) -> tuple[int, int]:
    """A time's span with what rounds it off: 5点左右, 8时许."""
    about = _ABOUT.match(norm, end)
    return start, about.end() if about else end


def _blank(norm: str, spans: Iterable[tuple[int, int]]) -> str:
    """`norm` without the spans (time, links…): 金安区今天上午发生火灾 → 金安区发生火灾."""
    chars = list(norm)
    for start, end in spans:
        for index in range(start, min(end, len(chars))):
            chars[index] = ""
    return "".join(chars)


def _clean(text: str) -> str:
    """A value fit for a `字段：值` line: one line, no colon, no stray punctuation."""
    text = re.sub(r"[:\n]+", " ", text)
    text = re.sub(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])", "", text)
    text = re.sub(r"\s{2,}", " ", text)
    return text.strip(" ，,。.;；、!！?？~～“”\"'《》「」『』")


def _time_label(parsed: ParsedTime, now: datetime) -> str:
    """As written back: `12月2日（周三）10:00`, `12月2日（周三）下午`, `12月2日（周三）`."""
    at = parsed.at.astimezone(now.tzinfo)
    year = "" if at.year == now.year else f"{at.year}年"
    day = f"{year}{at.month}月{at.day}日（{_WEEKDAYS[at.weekday()]}）"
    if parsed.exact:
        return f"{day}{at:%H:%M}"
    part = next((canon for word, canon in _PARTS_OF_DAY if word in parsed.text), "")
    return day + part


def _conference_extras(
    norm: str,
    values: dict[str, str],
    spans: list[tuple[int, int]],
    record: tuple[str, int, int] | None,
) -> None:
    """类型 (吹风会), 地点 (`在…会议室`), 直播, and the incident a conference answers."""
    if "吹风会" in norm:
        values["类型"] = "吹风会"
    venue = _VENUE.search(norm)
    if venue is not None:
        values["地点"] = venue.group(1)
        spans.append(venue.span())
    spans.extend(match.span() for match in _SPEAKER.finditer(norm))
    spans.extend(match.span() for match in _LIVE_ANY.finditer(norm))
    if _LIVE_ASK.search(norm):
        pass  # a question (要不要直播): theirs to answer
    elif _LIVE_NO.search(norm):
        values["直播"] = "否"
    elif _LIVE_YES.search(norm):
        values["直播"] = "是"
    if record is not None and record[0].startswith("TF-"):
        values["事件"] = record[0]


def _hot_issue_extras(norm: str, values: dict[str, str]) -> None:
    source = next((name for word, name in _SOURCES if word in norm), None)
    if source is None and any(word in norm for word in _ONLINE):
        source = "网络"
    if source is not None:
        values["来源"] = source
    link = _URL.search(norm)
    if link is not None:
        values["链接"] = link.group(0).rstrip(".,;!?)")


def _risk_extras(norm: str, values: dict[str, str]) -> None:
    """类型 and 等级 only when written out (重大举措, 高风险), never guessed."""
    kinds = {kind for kind in _RISK_KINDS if kind in norm}
    if len(kinds) == 1:
        values["类型"] = kinds.pop()
    level = _RISK_LEVEL.search(norm)
    if level is not None:
        values["等级"] = next(group for group in level.groups() if group)


def _roster_extras(norm: str, values: dict[str, str]) -> None:
    name = _NAME.search(norm)
    if name is not None:
        values["姓名"] = name.group(1)
    title = _TITLE.search(norm)
    if title is not None:
        values["职务"] = title.group(0)
    mobile = _MOBILE.search(norm)
    if mobile is not None:
        values["手机"] = mobile.group(0)
