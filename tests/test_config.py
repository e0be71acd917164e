"""One config loader (issue 11 §5): every data file of config/ read once, unknown keys and files
refused, every problem of every file reported at once, `serve` printing them in Chinese."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from bot import build_bot
from liuan_bot.config import ConfigError, load_config
from liuan_bot.records_config import load_records_config
from liuan_bot.relay import load_channels
from liuan_bot.reminder_config import load_reminder_config
from tests.support import make_settings

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A copy of the shipped config/ (data files and jieba resources, no settings)."""
    target = tmp_path / "config"
    target.mkdir()
    for path in SHIPPED.iterdir():
        if path.suffix in (".toml", ".txt") and path.name != "settings.toml":
            shutil.copy(path, target / path.name)
    return target


def edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text, (name, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def append(directory: Path, name: str, text: str) -> None:
    path = directory / name
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(directory)
    return [str(p) for p in caught.value.problems]


def test_the_shipped_config_loads_as_the_per_file_loaders_read_it() -> None:
    config = load_config(SHIPPED)
    assert config.channels == load_channels(SHIPPED / "channels.toml")
    assert config.reminders == load_reminder_config(SHIPPED / "reminders.toml")
    assert config.records == load_records_config(SHIPPED)
    assert "全市新闻发言人群" in config.groups
    assert config.robots["newsroom"] == "LIUAN_ROBOT_NEWSROOM"
    assert config.holidays.calendar.known_years  # the package's years at least


@pytest.mark.parametrize(
    ("name", "old", "new", "where"),
    [
        (
            "reminders.toml",
            "ack_escalation_minutes = 30",
            "ack_escalation_minute = 30",
            "reminders.toml delivery.ack_escalation_minute：未知的配置项",
        ),
        ("reminders.toml", "[r8]", "[r88]\ntime = 1\n\n[r8]", "reminders.toml r88：未知的配置项"),
        (
            "holidays.toml",
            "# [2027]",
            '[2027]\nholiday = ["2027-01-01"]\n',
            "holidays.toml 2027.holiday：未知的配置项",
        ),
        (
            "channels.toml",
            "county = true",
            "county = true\ncolour = 1",
            "channels.toml channels.county_sites.colour：未知的配置项",
        ),
        (
            "channels.toml",
            'robot = "newsroom"',
            'robot = "newsroom"\nmembers = 3',
            "channels.toml groups.全市新闻发言人群.members：未知的配置项",
        ),
        (
            "venues.toml",
            'name = "市民中心新闻发布室"',
            'name = "市民中心新闻发布室"\nroom = "302"',
            "venues.toml venue[2].room：未知的配置项",
        ),
        (
            "approvers.toml",
            "disclosure_office_reviews = false",
            "disclosure_office_reviews = false\nreviewer = 1",
            "approvers.toml workflow.reviewer：未知的配置项",
        ),
    ],
)
def test_an_unknown_key_in_each_file_is_reported_with_file_and_key(
    config_dir: Path, name: str, old: str, new: str, where: str
) -> None:
    load_config(config_dir)  # the copy itself is fine
    edit(config_dir, name, old, new)
    problems = problems_of(config_dir)
    assert len(problems) == 1, problems
    assert problems[0].startswith(where)


def test_an_unknown_toml_file_is_reported(config_dir: Path) -> None:
    (config_dir / "reminder.toml").write_text("[r8]\n", encoding="utf-8")  # a typo of a name
    assert [p.split("：")[0] for p in problems_of(config_dir)] == ["reminder.toml"]


def test_every_problem_of_every_file_is_reported_at_once(config_dir: Path) -> None:
    edit(config_dir, "reminders.toml", 'time = "09:00"', 'time = "九点"')  # [r8]
    edit(config_dir, "reminders.toml", "deadline_hours = 24", "deadline_hours = -1")
    edit(config_dir, "channels.toml", 'template = "weibo"', 'template = "tiktok"')
    edit(config_dir, "venues.toml", "default_duration_minutes = 120", "default_duration = 120")
    problems = problems_of(config_dir)
    assert [p.split("：")[0] for p in problems] == [
        "reminders.toml r8.time",
        "reminders.toml r17.deadline_hours",
        "channels.toml channels.weibo.template",
        "venues.toml default_duration",
    ]
    assert "'九点'" in problems[0]


def test_a_broken_file_does_not_hide_the_problems_of_the_others(config_dir: Path) -> None:
    (config_dir / "approvers.toml").write_text("[units\n", encoding="utf-8")
    edit(config_dir, "holidays.toml", "# [2027]", '[2027]\nholidays = ["2027-13-01"]\n')
    problems = problems_of(config_dir)
    assert [p.split("：")[0] for p in problems] == [
        "holidays.toml 2027.holidays",
        "approvers.toml",
    ]
    assert "不是有效的 TOML 格式" in problems[1]


def test_channels_toml_is_required_the_other_files_have_defaults(config_dir: Path) -> None:
    for name in ("reminders.toml", "holidays.toml", "venues.toml", "approvers.toml"):
        (config_dir / name).unlink()
    load_config(config_dir)
    (config_dir / "channels.toml").unlink()
    assert [p.split("：")[0] for p in problems_of(config_dir)] == ["channels.toml"]


def test_the_holidays_file_read_at_start_up_is_still_reloaded_when_it_changes(
    config_dir: Path,
) -> None:
    """issue 9 D kept: the one file read again later, starting from what load_config read."""
    config = load_config(config_dir)
    assert 2027 in config.holidays.current().estimated_years
    edit(
        config_dir,
        "holidays.toml",
        "# [2027]",
        '[2027]\nholidays = ["2027-01-01"]\nworkdays = ["2027-02-20"]\n',
    )
    assert config.holidays.current().is_working_day(date(2027, 2, 20))
    assert 2027 not in config.holidays.current().estimated_years


def test_build_bot_uses_the_config_it_is_given_and_reads_no_file_again(
    config_dir: Path, tmp_path: Path
) -> None:
    edit(config_dir, "reminders.toml", "window_years = 3", "window_years = 5")
    edit(config_dir, "channels.toml", 'name = "新媒体产品"', 'name = "新媒体矩阵"')
    config = load_config(config_dir)
    for path in config_dir.glob("*.toml"):
        path.unlink()  # read once: nothing below may need them
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/bot.db", tmp_path / "data")
    bot = build_bot(settings, run_worker=False, run_scheduler=False, config=config)
    assert bot.deps.records.r7_window_years == 5
    assert bot.deps.records.r17_deadline_hours == 24
    assert [c.name for c in bot.deps.relay.channels][-1] == "新媒体矩阵"
    assert set(bot.deps.groups) == {"全市新闻发言人群"}


def test_build_bot_reads_liuan_config_dir(config_dir: Path, tmp_path: Path) -> None:
    edit(config_dir, "reminders.toml", "deadline_hours = 24", "deadline_hours = 12")
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        tmp_path / "data",
        LIUAN_CONFIG_DIR=str(config_dir),
    )
    bot = build_bot(settings, run_worker=False, run_scheduler=False)
    assert bot.deps.records.r17_deadline_hours == 12


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ("serve",),
        ("reminders", "preview", "--at", "2026-12-24T09:00+08:00"),
        ("parse", "帮助"),
    ],
)
def test_serve_with_a_broken_config_prints_chinese_lines_and_exits_2(
    config_dir: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """`serve` and the other commands that read config/ (reminders preview, parse)."""
    edit(config_dir, "reminders.toml", "ack_escalation_minutes = 30", "ack_minutes = 30")
    edit(config_dir, "channels.toml", 'template = "weibo"', 'template = "tiktok"')
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIUAN_")}
    env.update(
        LIUAN_CONFIG_DIR=str(config_dir),
        LIUAN_DATA_DIR=str(tmp_path / "data"),
        LIUAN_DATABASE_URL=f"sqlite:///{tmp_path}/never-created.db",
    )
    result = subprocess.run(
        [sys.executable, "bot.py", *command],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "配置文件有误："
    assert lines[1].startswith("- reminders.toml delivery.ack_minutes：未知的配置项")
    assert lines[2].startswith("- channels.toml channels.weibo.template：未知的模板 'tiktok'")
    assert len(lines) == 3
    assert not (tmp_path / "never-created.db").exists()  # nothing ran before the check
