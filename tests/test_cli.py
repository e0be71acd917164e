"""Issue 11 §5: the command line's shape and helpers live in liuan_bot/cli.py; bot.py wires
the subcommands (handlers/cli_commands.py) and behaves as before."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import bot
from liuan_bot.cli import build_parser, iso_moment
from liuan_bot.clock import SHANGHAI

UTC8 = timezone(timedelta(hours=8))


def test_iso_moment_reads_a_naive_time_in_the_given_zone_issue11_s5() -> None:
    assert iso_moment("--at", "2026-12-24T09:00", SHANGHAI) == datetime(
        2026, 12, 24, 9, 0, tzinfo=SHANGHAI
    )
    aware = iso_moment("--at", "2026-12-24T01:00+00:00", SHANGHAI)
    assert aware is not None
    assert aware.utcoffset() == timedelta(0)  # a named zone is kept; callers convert


def test_iso_moment_refuses_in_one_chinese_line_issue11_s5(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert iso_moment("--clock-start", "明天", SHANGHAI) is None
    err = capsys.readouterr().err
    assert err == "--clock-start 不是有效的 ISO 8601 时间：明天\n"


def test_the_parser_knows_every_subcommand_issue11_s5() -> None:
    parser = build_parser()
    args = parser.parse_args(["report", "--period", "2026Q4", "--out", "r.md"])
    assert (args.command, args.format, args.unit) == ("report", "md", None)
    args = parser.parse_args(["outbox", "retry", "3", "4"])
    assert (args.command, args.action, args.ids, args.all) == (
        "outbox",
        "retry",
        ["3", "4"],
        False,
    )
    for argv in (["serve"], ["db", "upgrade"], ["commands"], ["parse", "帮助"]):
        assert parser.parse_args(argv).command == argv[0]
    with pytest.raises(SystemExit):
        parser.parse_args(["nonsense"])


def test_bot_main_uses_the_shared_parser_issue11_s5(capsys: pytest.CaptureFixture[str]) -> None:
    assert bot.main(["parse", "帮助", "--now", "不是时间"]) == 2
    assert capsys.readouterr().err == "--now 不是有效的 ISO 8601 时间：不是时间\n"
