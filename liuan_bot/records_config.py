"""Configuration of the records (issue 9 A5, A7, A8; issue 11 §3), read once at start-up.

config/reminders.toml gives the R17 deadline and the R7 window (the same `ReminderConfig` the
reminder planner uses, so 我的/详情 and the reminders never disagree); config/venues.toml the
venues and the default duration; config/approvers.toml the approval routing and whether the
disclosure office reviews.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from liuan_bot.domain.reminders import ReminderConfig
from liuan_bot.domain.venues import DEFAULT_DURATION, Venue, VenueBook
from liuan_bot.reminder_config import load_reminder_config


class RecordsConfigError(ValueError):
    pass


@dataclass(frozen=True)
class RecordsConfig:
    reminders: ReminderConfig = field(default_factory=ReminderConfig)
    venues: VenueBook = field(default_factory=VenueBook)
    approvers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # unit → userids
    disclosure_reviews: bool = False

    @property
    def r17_deadline_hours(self) -> int:
        return self.reminders.r17_deadline_h

    @property
    def r7_window_years(self) -> int:
        return self.reminders.r7_window_years


def _toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RecordsConfigError(f"{path.name}: {exc}") from exc


def load_venues(path: Path) -> VenueBook:
    raw = _toml(path)
    minutes = raw.get("default_duration_minutes")
    duration = DEFAULT_DURATION if minutes is None else timedelta(minutes=int(minutes))
    venues = []
    for item in raw.get("venue", []):
        name = str(item.get("name", "")).strip()
        if not name:
            raise RecordsConfigError(f"{path.name}: a [[venue]] without a name")
        venues.append(Venue(name, tuple(str(a) for a in item.get("aliases", []))))
    return VenueBook.of(venues, duration)


def load_approvers(path: Path) -> tuple[dict[str, tuple[str, ...]], bool]:
    raw = _toml(path)
    units: dict[str, tuple[str, ...]] = {}
    for unit, users in raw.get("units", {}).items():
        listed = [users] if isinstance(users, str) else list(users)
        units[str(unit)] = tuple(str(u) for u in listed if str(u))
    reviews = bool(raw.get("workflow", {}).get("disclosure_office_reviews", False))
    return units, reviews


def load_records_config(config_dir: Path) -> RecordsConfig:
    approvers, reviews = load_approvers(config_dir / "approvers.toml")
    return RecordsConfig(
        reminders=load_reminder_config(config_dir / "reminders.toml"),
        venues=load_venues(config_dir / "venues.toml"),
        approvers=approvers,
        disclosure_reviews=reviews,
    )
