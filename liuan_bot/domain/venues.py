"""Venues and their bookings (R15; issue 9 A5).

Venues come from configuration (config/venues.toml) with aliases, so `新闻发布厅` and
`市政府新闻发布厅（三楼）` are the same room as `市政府新闻发布厅`. A conference occupies its venue
for a time interval: from its start to its end (`14:30-16:00` in 时间), or for the configured
default duration. Two bookings clash when the intervals of the same venue overlap.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

DEFAULT_DURATION = timedelta(hours=2)

# Brackets hold a floor or a room detail: 市政府新闻发布厅（三楼）
_BRACKETS = re.compile(r"[（(【\[].*?[）)】\]]")


def normalise_venue(text: str) -> str:
    """A comparison key: width-folded, without spaces, lower case."""
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


@dataclass(frozen=True)
class Venue:
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class VenueBook:
    """The configured venues; anything else is a venue of its own (compared by its text)."""

    venues: tuple[Venue, ...] = ()
    default_duration: timedelta = DEFAULT_DURATION
    _keys: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(
        cls, venues: Iterable[Venue], default_duration: timedelta = DEFAULT_DURATION
    ) -> VenueBook:
        items = tuple(venues)
        keys: dict[str, str] = {}
        for venue in items:
            for text in (venue.name, *venue.aliases):
                keys[normalise_venue(text)] = venue.name
        return cls(items, default_duration, keys)

    def canonical(self, text: str) -> str:
        """The configured name of the venue `text` names, or `text` itself (trimmed)."""
        key = normalise_venue(text)
        if key in self._keys:
            return self._keys[key]
        bare = normalise_venue(_BRACKETS.sub("", unicodedata.normalize("NFKC", text)))
        if bare in self._keys:
            return self._keys[bare]
        return text.strip()

    def same(self, a: str, b: str) -> bool:
        if not a or not b:
            return False
        return normalise_venue(self.canonical(a)) == normalise_venue(self.canonical(b))

    def interval(self, starts_at: datetime, ends_at: datetime | None) -> tuple[datetime, datetime]:
        """The time a booking occupies its venue."""
        end = ends_at if ends_at is not None and ends_at > starts_at else None
        return starts_at, end or starts_at + self.default_duration


def overlaps(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    """Half-open intervals [start, end) overlap; back-to-back bookings do not clash."""
    return a[0] < b[1] and b[0] < a[1]


@dataclass(frozen=True)
class Booking:
    record_id: str
    venue: str
    starts_at: datetime
    ends_at: datetime | None


def clash(
    book: VenueBook,
    venue: str,
    starts_at: datetime,
    ends_at: datetime | None,
    others: Iterable[Booking],
) -> Booking | None:
    """The first other booking of the same venue whose interval overlaps, or None."""
    if not venue:
        return None
    mine = book.interval(starts_at, ends_at)
    for other in others:
        if book.same(venue, other.venue) and overlaps(
            mine, book.interval(other.starts_at, other.ends_at)
        ):
            return other
    return None


_RANGE_END = re.compile(
    r"(?:[-~—–－～至到]|\s*-\s*)\s*(?P<ampm>下午|晚上|上午|中午)?\s*"
    r"(?P<h>\d{1,2})(?:[:：点时](?P<m>\d{1,2}|半)?分?)?\s*$"
)


def range_end(text: str, starts_at: datetime) -> datetime | None:
    """The end of a `时间` written as a range (`14:30-16:00`, `下午2点半到4点`), or None."""
    match = _RANGE_END.search(unicodedata.normalize("NFKC", text).replace("：", ":"))
    if match is None:
        return None
    hour = int(match["h"])
    minute = 30 if match["m"] == "半" else int(match["m"] or 0)
    if match["ampm"] in ("下午", "晚上") and hour < 12:
        hour += 12
    if hour > 23 or minute > 59:
        return None
    end = starts_at.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if end <= starts_at and hour < 12:  # 下午2点到4点: the end shares the start's half of the day
        end += timedelta(hours=12)
    return end if end > starts_at else None
