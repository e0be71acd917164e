"""Public feeds (R6, R21): the conference calendar (iCalendar, RFC 5545), the release feed
(Atom 1.0, RFC 4287) and the public spokesperson directory (HTML and JSON).

Pure rendering, standard library only: callers pass plain records in, get text back. Every
datetime must be aware; calendars and feeds carry UTC. Nothing here reads the clock: stamps
come from the records (their `updated_at`), so an unchanged database renders byte-identical
output and HTTP validators (ETag) keep working.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

CALENDAR_NAME = "六安市政府新闻发布会"
CALENDAR_PRODID = "-//liuan-bot//Lu'an press conferences//ZH"
UID_DOMAIN = "liuan-bot"
EVENT_LENGTH = timedelta(hours=2)
FOLD_OCTETS = 75

FEED_TITLE = "六安市政务新闻发布"
FEED_ID = "urn:liuan-bot:releases"
ENTRY_ID_PREFIX = "urn:liuan-bot:release:"
FEED_AUTHOR = "六安市人民政府新闻办公室"
FEED_MAX_ENTRIES = 50
SUMMARY_CHARS = 200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DISPLAY_TZ: tzinfo = ZoneInfo("Asia/Shanghai")  # times people read in a text
ATOM_NS = "http://www.w3.org/2005/Atom"

DIRECTORY_TITLE = "六安市新闻发言人名录"
# R6: city departments first, then counties and districts, then development zones.
UNIT_TYPE_ORDER: tuple[str, ...] = ("市直部门", "县区", "开发区")

_SENTENCE_END = "。！？；!?;\n"
_CLAUSE_BREAK = "，、,：: "
# Characters XML 1.0 does not allow at all (C0 controls except tab, CR, LF; surrogates; …).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Controls iCalendar TEXT must not carry (RFC 5545 §3.3.11); newlines are escaped first.
_ICS_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class ConferenceItem:
    """One conference as the public sees it: scheduled (or filed) and upcoming, or held."""

    record_id: str
    topic: str
    unit: str
    starts_at: datetime | None
    venue: str
    speakers: tuple[str, ...]
    updated_at: datetime
    held_at: datetime | None = None
    held_speakers: tuple[str, ...] = ()
    key_points: str = ""
    transcript_url: str = ""
    video_url: str = ""
    live: bool = False
    cancelled: bool = False  # withdrawn after it was public (B1): STATUS:CANCELLED
    sequence: int = 0  # RFC 5545 SEQUENCE: bumped by every public change

    @property
    def held(self) -> bool:
        return self.held_at is not None

    @property
    def when(self) -> datetime | None:
        """When it takes (or took) place: the scheduled start, else when it was reported held."""
        return self.starts_at or self.held_at

    @property
    def speaker_names(self) -> tuple[str, ...]:
        return self.held_speakers or self.speakers


@dataclass(frozen=True)
class Spokesperson:
    name: str
    title: str


@dataclass(frozen=True)
class DirectoryUnit:
    """One unit of the public directory: only fields that are public by design (R6)."""

    unit: str
    unit_type: str
    office_phone: str | None
    spokespersons: tuple[Spokesperson, ...]


# ---------------------------------------------------------------- shared helpers


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: feeds need aware datetimes")
    return moment.astimezone(UTC)


def _public_url(url: str) -> str:
    """Only plain web links are published; anything else (javascript:, file:, …) is dropped."""
    url = url.strip()
    return url if re.match(r"https?://[^\s<>\"']+$", url, re.IGNORECASE) else ""


def summary_of(text: str, limit: int = SUMMARY_CHARS) -> str:
    """At most `limit` characters of `text`: cut after the last sentence end when there is
    one in a reasonable place, else at the last clause break (marked with an ellipsis),
    else hard (also marked)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = text[:limit]
    end = max(head.rfind(mark) for mark in _SENTENCE_END)
    if end + 1 >= limit // 4:
        return head[: end + 1].rstrip()
    pause = max(head.rfind(mark) for mark in _CLAUSE_BREAK)
    if pause >= limit // 2:
        return head[:pause].rstrip() + "…"
    return head[: limit - 1].rstrip() + "…"


def _description(item: ConferenceItem) -> list[str]:
    """The human-readable details of a conference, one fact a line."""
    lines = [f"发布单位：{item.unit}"]
    lines.append(f"发布人：{'、'.join(item.speaker_names) or '待定'}")
    if item.live:
        lines.append("网络直播：是")
    if item.held:
        lines.append("状态：已召开")
        if item.key_points.strip():
            lines.append(f"要点：{item.key_points.strip()}")
        transcript, video = _public_url(item.transcript_url), _public_url(item.video_url)
        if transcript:
            lines.append(f"文字实录：{transcript}")
        if video:
            lines.append(f"视频：{video}")
    return lines


# ---------------------------------------------------------------- iCalendar (RFC 5545)


def ics_escape(text: str) -> str:
    """A TEXT value (RFC 5545 §3.3.11): backslash, semicolon and comma escaped, every
    newline as `\\n`, other control characters dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    text = "\\n".join(_ICS_CONTROL.sub("", part) for part in text.split("\n"))
    return text


def ics_fold(line: str, limit: int = FOLD_OCTETS) -> list[str]:
    """One content line folded (RFC 5545 §3.1): no physical line longer than `limit` octets
    of UTF-8, continuation lines start with one space, never split inside a character."""
    parts: list[str] = []
    current: list[str] = []
    size = 0
    room = limit
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > room:
            parts.append("".join(current))
            current, size, room = [" "], 1, limit
        current.append(char)
        size += width
    parts.append("".join(current))
    return parts


def _ics_time(moment: datetime) -> str:
    return _utc(moment).strftime("%Y%m%dT%H%M%SZ")


def _summary(item: ConferenceItem) -> str:
    mark = "【已取消】" if item.cancelled else ""
    return f"{mark}《{item.topic}》（{item.unit}）"


def _vevent(item: ConferenceItem, start: datetime) -> list[str]:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{ics_escape(item.record_id)}@{UID_DOMAIN}",
        f"SEQUENCE:{item.sequence}",
        f"DTSTAMP:{_ics_time(item.updated_at)}",
        f"DTSTART:{_ics_time(start)}",
        f"DTEND:{_ics_time(start + EVENT_LENGTH)}",
        f"SUMMARY:{ics_escape(_summary(item))}",
    ]
    if item.venue.strip():
        lines.append(f"LOCATION:{ics_escape(item.venue.strip())}")
    lines.append(f"DESCRIPTION:{ics_escape(chr(10).join(_description(item)))}")
    link = _public_url(item.transcript_url) or _public_url(item.video_url)
    if item.held and link:
        lines.append(f"URL:{link}")
    status = "CANCELLED" if item.cancelled else "CONFIRMED"
    lines += [f"STATUS:{status}", "TRANSP:OPAQUE", "END:VEVENT"]
    return lines


def render_calendar(items: Iterable[ConferenceItem]) -> str:
    """A VCALENDAR with one VEVENT per conference that has a time, in start order; CRLF
    line endings and folded lines, ready to serve as `text/calendar; charset=utf-8`."""
    timed = [(item.when, item) for item in items]
    events = sorted(
        ((_utc(when), item) for when, item in timed if when is not None),
        key=lambda pair: (pair[0], pair[1].record_id),
    )
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{CALENDAR_PRODID}",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{ics_escape(CALENDAR_NAME)}",
        "X-WR-TIMEZONE:Asia/Shanghai",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
    ]
    for start, item in events:
        lines += _vevent(item, start)
    lines.append("END:VCALENDAR")
    return "".join(part + "\r\n" for line in lines for part in ics_fold(line))


# ---------------------------------------------------------------- Atom 1.0 (RFC 4287)


def rfc3339(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _xml_text(text: str) -> str:
    return xml_escape(_XML_INVALID.sub("", text))


def _xml_attr(text: str) -> str:
    return xml_escape(_XML_INVALID.sub("", text), {'"': "&quot;"})


def _display(moment: datetime, tz: tzinfo) -> str:
    local = _utc(moment).astimezone(tz)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def _entry(item: ConferenceItem, tz: tzinfo) -> list[str]:
    stamp = rfc3339(item.held_at or EPOCH)
    lines = [
        "  <entry>",
        f"    <id>{_xml_text(ENTRY_ID_PREFIX + item.record_id)}</id>",
        f"    <title>{_xml_text(f'《{item.topic}》')}</title>",
        f"    <updated>{stamp}</updated>",
        f"    <published>{stamp}</published>",
        f"    <author><name>{_xml_text(item.unit)}</name></author>",
    ]
    summary = summary_of(item.key_points)
    if summary:
        lines.append(f'    <summary type="text">{_xml_text(summary)}</summary>')
    for url, label in ((item.transcript_url, "文字实录"), (item.video_url, "视频")):
        if _public_url(url):
            lines.append(
                f'    <link rel="related" href="{_xml_attr(_public_url(url))}"'
                f' title="{_xml_attr(label)}"/>'
            )
    details = [f"《{item.topic}》"]
    if item.when is not None:
        details.append(f"时间：{_display(item.when, tz)}")
    if item.venue.strip():
        details.append(f"地点：{item.venue.strip()}")
    details += _description(item)
    lines.append(f'    <content type="text">{_xml_text(chr(10).join(details))}</content>')
    lines.append("  </entry>")
    return lines


def render_atom(
    releases: Sequence[ConferenceItem],
    *,
    self_url: str | None = None,
    tz: tzinfo = DISPLAY_TZ,
) -> str:
    """Held conferences as an Atom feed, newest first, at most FEED_MAX_ENTRIES entries;
    the feed's `updated` is the newest entry's, or the epoch when there is none. Stamps are
    UTC; times inside the entry text are shown in `tz`."""
    held = sorted(
        (item for item in releases if item.held_at is not None),
        key=lambda item: (_utc(item.held_at or EPOCH), item.record_id),
        reverse=True,
    )[:FEED_MAX_ENTRIES]
    updated = rfc3339(held[0].held_at or EPOCH) if held else rfc3339(EPOCH)
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="{ATOM_NS}" xml:lang="zh-CN">',
        f"  <id>{FEED_ID}</id>",
        f"  <title>{_xml_text(FEED_TITLE)}</title>",
        "  <subtitle>六安市人民政府及各部门新闻发布会发布记录</subtitle>",
        f"  <updated>{updated}</updated>",
        f"  <author><name>{_xml_text(FEED_AUTHOR)}</name></author>",
        "  <generator>liuan-bot</generator>",
    ]
    if self_url and _public_url(self_url):
        lines.append(
            f'  <link rel="self" type="application/atom+xml" href="{_xml_attr(self_url)}"/>'
        )
    for item in held:
        lines += _entry(item, tz)
    lines.append("</feed>")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- directory (R6)


def unit_type_rank(unit_type: str) -> int:
    try:
        return UNIT_TYPE_ORDER.index(unit_type)
    except ValueError:
        return len(UNIT_TYPE_ORDER)


def directory_order(units: Iterable[DirectoryUnit]) -> list[DirectoryUnit]:
    """Units with at least one public spokesperson: 市直部门, 县区, 开发区, then the rest;
    within each group in the order given, which is the roster's official order (E7)."""
    return sorted(
        (unit for unit in units if unit.spokespersons),
        key=lambda unit: (unit_type_rank(unit.unit_type), unit.unit_type),
    )


def render_directory_json(units: Iterable[DirectoryUnit], updated: datetime) -> str:
    if updated.tzinfo is None:
        raise ValueError("naive datetime: feeds need aware datetimes")
    document = {
        "updated": updated.isoformat(),
        "units": [
            {
                "unit": unit.unit,
                "unit_type": unit.unit_type,
                "office_phone": unit.office_phone or None,
                "spokespersons": [{"name": p.name, "title": p.title} for p in unit.spokespersons],
            }
            for unit in directory_order(units)
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


_STYLE = (
    "body{font-family:system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;"
    "max-width:52rem;margin:0 auto;padding:1rem;line-height:1.6;color:#1a1a1a;background:#fff}"
    "h1{font-size:1.6rem}h2{font-size:1.3rem;border-bottom:2px solid #1a4f8b;margin-top:2rem}"
    "h3{font-size:1.1rem;margin:1.25rem 0 .25rem}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #bbb}"
    "a{color:#0b4a8b}.note{color:#444}"
)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _tel(phone: str) -> str:
    return re.sub(r"[^0-9+]", "", phone)


def _unit_section(unit: DirectoryUnit, number: int) -> list[str]:
    heading = f"unit-{number}"
    lines = [f'<section aria-labelledby="{heading}">', f'<h3 id="{heading}">{_e(unit.unit)}</h3>']
    phone = (unit.office_phone or "").strip()
    if phone:
        tel = _tel(phone)
        shown = f'<a href="tel:{_e(tel)}">{_e(phone)}</a>' if tel else _e(phone)
        lines.append(f"<p>办公电话：{shown}</p>")
    lines += [
        "<table>",
        f"<caption>{_e(unit.unit)}新闻发言人</caption>",
        '<thead><tr><th scope="col">姓名</th><th scope="col">职务</th></tr></thead>',
        "<tbody>",
    ]
    for person in unit.spokespersons:
        lines.append(f"<tr><td>{_e(person.name)}</td><td>{_e(person.title)}</td></tr>")
    lines += ["</tbody>", "</table>", "</section>"]
    return lines


def render_directory_html(units: Iterable[DirectoryUnit], updated: datetime) -> str:
    """The directory as one self-contained, accessible Chinese HTML page (no external assets)."""
    if updated.tzinfo is None:
        raise ValueError("naive datetime: feeds need aware datetimes")
    ordered = directory_order(units)
    date = f"{updated.year}年{updated.month}月{updated.day}日"
    lines = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{DIRECTORY_TITLE}</title>",
        '<link rel="alternate" type="application/json" href="directory.json">',
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{DIRECTORY_TITLE}</h1>",
        '<p class="note">依据《关于进一步加强政务新闻发布工作的通知》（六宣发〔2019〕26号）公布。'
        f'更新日期：<time datetime="{_e(updated.isoformat())}">{date}</time></p>',
        "</header>",
        "<main>",
    ]
    if not ordered:
        lines.append("<p>暂无公开的新闻发言人信息。</p>")
    groups: list[tuple[str, list[DirectoryUnit]]] = []
    for unit in ordered:
        if not groups or groups[-1][0] != unit.unit_type:
            groups.append((unit.unit_type, []))
        groups[-1][1].append(unit)
    number = 0
    for index, (unit_type, members) in enumerate(groups, start=1):
        lines += [
            f'<section aria-labelledby="group-{index}">',
            f'<h2 id="group-{index}">{_e(unit_type)}</h2>',
        ]
        for unit in members:
            number += 1
            lines += _unit_section(unit, number)
        lines.append("</section>")
    lines += [
        "</main>",
        "<footer>",
        '<p class="note">如需联系新闻发言人，请拨打所在单位办公电话，'
        "或联系六安市人民政府新闻办公室。</p>",
        "</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(lines) + "\n"
