"""Calendar periods of the 4·2·1 quotas (R8 quarter, R9 half-year, R10 year), in local time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Period:
    """[start, end) in the zone of the `now` it was made from, with a Chinese label."""

    start: datetime
    end: datetime
    label: str

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment.astimezone(self.start.tzinfo) < self.end

    def days_left(self, now: datetime) -> int:
        """Calendar days from `now`'s date to the last day of the period, inclusive of today."""
        last_day = (self.end - timedelta(days=1)).date()
        return (last_day - now.astimezone(self.start.tzinfo).date()).days + 1


def _at(now: datetime, year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=now.tzinfo)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("periods need an aware datetime")


def quarter(now: datetime) -> Period:
    _require_aware(now)
    q = (now.month - 1) // 3
    start = _at(now, now.year, 3 * q + 1)
    end = _at(now, now.year + 1, 1) if q == 3 else _at(now, now.year, 3 * q + 4)
    return Period(start, end, f"{now.year}年第{'一二三四'[q]}季度")


def half_year(now: datetime) -> Period:
    _require_aware(now)
    if now.month <= 6:
        return Period(_at(now, now.year, 1), _at(now, now.year, 7), f"{now.year}年上半年")
    return Period(_at(now, now.year, 7), _at(now, now.year + 1, 1), f"{now.year}年下半年")


def year(now: datetime) -> Period:
    _require_aware(now)
    return Period(_at(now, now.year, 1), _at(now, now.year + 1, 1), f"{now.year}年")
