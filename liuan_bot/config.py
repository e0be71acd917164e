"""The data files of `config/`, read once at start-up (issue 11 §5).

`load_config(config_dir)` reads every TOML file there (settings.toml is `Settings`' business,
see liuan_bot/settings.py) with the per-file parsers of the loader modules, rejects unknown keys
and unknown files, and reports EVERY problem of every file in one `ConfigError`, as
`SettingsError` does for the settings. bot.py, the composition root, calls it once and hands the
parts to whoever needs them; `bot.py serve` prints the problems in Chinese, one a line with file
and key, and exits with status 2.

The holidays file is the one part read again later: `CalendarFile` re-reads it when it changes
(issue 9 D), starting from what was read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from liuan_bot.calendar_loader import CalendarFile, file_stamp, parse_overrides
from liuan_bot.config_problems import Problem, Problems, read_toml
from liuan_bot.domain.reminders import ReminderConfig
from liuan_bot.groups import Group, parse_groups
from liuan_bot.records_config import RecordsConfig, parse_approvers, parse_venues
from liuan_bot.relay.channels import ChannelSpec, parse_channels, parse_robots
from liuan_bot.reminder_config import parse_reminder_config

__all__ = ["Config", "ConfigError", "Problem", "load_config"]

# The TOML files of config/ that are not data files read here.
NOT_DATA = frozenset({"settings.toml", "settings.example.toml"})
DATA_FILES = ("reminders.toml", "holidays.toml", "channels.toml", "venues.toml", "approvers.toml")
REQUIRED = frozenset({"channels.toml"})  # the others have defaults when absent
RESOURCES = ("jieba-dict.txt", "stopwords.txt")  # jieba's dictionary and stop words


class ConfigError(Exception):
    """Every problem of the config files found at start-up, in one message."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("配置文件有误：\n" + "\n".join(f"- {p}" for p in problems))


@dataclass(frozen=True)
class Config:
    """The parsed data files of one config directory."""

    directory: Path
    reminders: ReminderConfig
    holidays: CalendarFile
    channels: tuple[ChannelSpec, ...]
    robots: Mapping[str, str]  # robot name → env var holding its webhook key
    groups: Mapping[str, Group]
    records: RecordsConfig = field(default_factory=RecordsConfig)

    @property
    def jieba_dict(self) -> Path:
        return self.directory / "jieba-dict.txt"

    @property
    def stopwords(self) -> Path:
        return self.directory / "stopwords.txt"


def load_config(config_dir: Path) -> Config:
    """Read and check every data file of `config_dir`; `ConfigError` lists all problems."""
    found: list[Problem] = []
    raw: dict[str, dict[str, Any]] = {}
    checked: dict[str, Problems] = {}
    holidays_stamp = file_stamp(config_dir / "holidays.toml")
    if not config_dir.is_dir():
        raise ConfigError([Problem(str(config_dir), "", "配置目录不存在")])
    for path in sorted(config_dir.glob("*.toml")):
        if path.name not in NOT_DATA and path.name not in DATA_FILES:
            found.append(
                Problem(path.name, "", f"未知的配置文件（可用：{'、'.join(DATA_FILES)}）")
            )
    for name in DATA_FILES:
        problems = checked[name] = Problems(name)
        raw[name] = read_toml(config_dir / name, problems, required=name in REQUIRED) or {}
    for name in RESOURCES:
        if not (config_dir / name).is_file():
            found.append(Problem(name, "", f"找不到该文件（{config_dir / name}）"))

    reminders = parse_reminder_config(raw["reminders.toml"], checked["reminders.toml"])
    overrides = parse_overrides(raw["holidays.toml"], checked["holidays.toml"])
    channel_problems = checked["channels.toml"]
    robots = parse_robots(raw["channels.toml"], channel_problems)
    channels = (
        parse_channels(raw["channels.toml"], robots, channel_problems)
        if raw["channels.toml"] or not channel_problems
        else ()
    )
    groups = parse_groups(raw["channels.toml"], robots, channel_problems)
    venues = parse_venues(raw["venues.toml"], checked["venues.toml"])
    approvers, reviews = parse_approvers(raw["approvers.toml"], checked["approvers.toml"])

    for name in DATA_FILES:
        found += checked[name].items
    if found:
        raise ConfigError(found)
    return Config(
        directory=config_dir,
        reminders=reminders,
        holidays=_calendar_file(config_dir / "holidays.toml", overrides, holidays_stamp),
        channels=channels,
        robots=robots,
        groups=groups,
        records=RecordsConfig(
            reminders=reminders, venues=venues, approvers=approvers, disclosure_reviews=reviews
        ),
    )


def _calendar_file(
    path: Path,
    overrides: list[tuple[int, list[date], list[date]]],
    stamp: tuple[int, int] | None,
) -> CalendarFile:
    return CalendarFile(path, overrides=overrides, stamp=stamp)
