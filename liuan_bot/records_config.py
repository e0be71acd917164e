"""Configuration of the records (issue 9 A5, A7, A8; issue 11 §3), read once at start-up.

config/reminders.toml gives the R17 deadline and the R7 window (the same `ReminderConfig` the
reminder planner uses, so 我的/详情 and the reminders never disagree); config/venues.toml the
venues and the default duration; config/approvers.toml the approval routing and whether the
disclosure office reviews.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from liuan_bot.config_problems import Problems, check_keys, read_toml, table_of
from liuan_bot.domain.reminders import ReminderConfig
from liuan_bot.domain.venues import DEFAULT_DURATION, Venue, VenueBook
from liuan_bot.reminder_config import load_reminder_config

T = TypeVar("T")


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


def parse_venues(raw: Mapping[str, Any], problems: Problems) -> VenueBook:
    """venues.toml: `default_duration_minutes` and `[[venue]]` tables (name, aliases)."""
    check_keys(raw, ("default_duration_minutes", "venue"), "", problems)
    minutes = raw.get("default_duration_minutes")
    duration = DEFAULT_DURATION
    if minutes is not None:
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
            problems.add("default_duration_minutes", f"应为正整数（分钟），当前为 {minutes!r}")
        else:
            duration = timedelta(minutes=minutes)
    items = raw.get("venue", [])
    if not isinstance(items, list):
        problems.add("venue", "应写成一个或多个 [[venue]] 表")
        items = []
    venues = []
    for index, item in enumerate(items, 1):
        where = f"venue[{index}]"
        if not isinstance(item, dict):
            problems.add(where, "应为一个 [[venue]] 表")
            continue
        check_keys(item, ("name", "aliases"), where, problems)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.add(f"{where}.name", "缺少会场名称")
            continue
        aliases = item.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            problems.add(f"{where}.aliases", "应为文字列表")
            aliases = []
        venues.append(Venue(name.strip(), tuple(aliases)))
    return VenueBook.of(venues, duration)


def parse_approvers(
    raw: Mapping[str, Any], problems: Problems
) -> tuple[dict[str, tuple[str, ...]], bool]:
    """approvers.toml: `[units]` unit → userids, `[workflow] disclosure_office_reviews`."""
    check_keys(raw, ("units", "workflow"), "", problems)
    units: dict[str, tuple[str, ...]] = {}
    for unit, users in table_of(raw, "units", "", problems).items():
        listed = [users] if isinstance(users, str) else users
        if not isinstance(listed, list) or not all(isinstance(u, str) for u in listed):
            problems.add(f"units.{unit}", '应为企业微信账号列表，如 ["approver"]')
            continue
        units[str(unit)] = tuple(u for u in listed if u)
    workflow = table_of(raw, "workflow", "", problems)
    check_keys(workflow, ("disclosure_office_reviews",), "workflow", problems)
    reviews = workflow.get("disclosure_office_reviews", False)
    if not isinstance(reviews, bool):
        problems.add("workflow.disclosure_office_reviews", "应为 true 或 false")
        reviews = False
    return units, reviews


def _load(path: Path, parse: Callable[[Mapping[str, Any], Problems], T]) -> T:
    problems = Problems(path.name)
    result = parse(read_toml(path, problems) or {}, problems)
    if problems:
        raise RecordsConfigError(problems.text())
    return result


def load_venues(path: Path) -> VenueBook:
    return _load(path, parse_venues)


def load_approvers(path: Path) -> tuple[dict[str, tuple[str, ...]], bool]:
    return _load(path, parse_approvers)


def load_records_config(config_dir: Path) -> RecordsConfig:
    """The three files alone; `liuan_bot.config.load_config` is what the bot uses."""
    approvers, reviews = load_approvers(config_dir / "approvers.toml")
    return RecordsConfig(
        reminders=load_reminder_config(config_dir / "reminders.toml"),
        venues=load_venues(config_dir / "venues.toml"),
        approvers=approvers,
        disclosure_reviews=reviews,
    )
