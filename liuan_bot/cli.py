"""The command line's shape and its command-independent helpers (issue 11 §5).

`bot.py` stays the composition root: it parses with `build_parser` and implements each
subcommand by wiring handlers/ (`handlers/cli_commands.py`). Nothing here imports handlers/ or
storage/ (tests/test_architecture.py)."""

from __future__ import annotations

import argparse
import errno
import shlex
import socket
import sys
from datetime import datetime, tzinfo
from pathlib import Path

from liuan_bot.config import Config, ConfigError, load_config

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"  # what `bot.py console` reaches without --url


def build_parser() -> argparse.ArgumentParser:
    """`python bot.py …`: every subcommand and option, with Chinese help."""
    parser = argparse.ArgumentParser(prog="bot.py", description="六安市政务新闻发布助手")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="启动机器人")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--clock-start",
        help="演练用：让机器人以为现在是这个时刻（ISO 8601），时间照常流逝；勿用于正式环境",
    )
    db = sub.add_parser("db", help="数据库")
    db.add_argument("action", choices=["upgrade"])
    roster = sub.add_parser("roster", help="名册")
    roster.add_argument("action", choices=["import"])
    roster.add_argument("file", type=Path)
    roster.add_argument("--if-empty", action="store_true", help="仅当名册为空时导入")
    sub.add_parser("commands", help="以 Markdown 表格列出全部命令（README 用）")
    parse = sub.add_parser("parse", help="显示机器人如何理解一条消息（JSON）")
    parse.add_argument("text")
    parse.add_argument("--user", help="发送人的企业微信账号（不影响解析）")
    parse.add_argument("--now", help="当前时间，ISO 8601，如 2026-11-26T10:00+08:00")
    reminders = sub.add_parser("reminders", help="提醒")
    reminders.add_argument("action", choices=["preview"])
    reminders.add_argument("--at", required=True, help="时刻，ISO 8601，如 2026-12-24T09:00+08:00")
    reminders.add_argument("--unit", help="只看某个单位")
    report = sub.add_parser("report", help="导出评估报表和问责清单（R14）")
    report.add_argument("--period", required=True, help="考核期：2026Q4、2026H2 或 2026")
    report.add_argument("--unit", help="只看某个单位（单位全称）")
    report.add_argument("--format", choices=["md", "csv", "xlsx"], default="md")
    report.add_argument("--out", type=Path, required=True, help="输出文件")
    report.add_argument("--at", help="统计截至的时刻，ISO 8601，默认现在")
    console = sub.add_parser("console", help="在终端里与运行中的机器人对话")
    console.add_argument("--user", required=True, help="以哪个企业微信账号的身份发消息")
    console.add_argument("--url", help="机器人地址，默认 http://HOST:PORT")
    console.add_argument(
        "--linger", type=float, default=2.0, help="输入结束后再等待推送消息的秒数（沙箱模式）"
    )
    outbox = sub.add_parser("outbox", help="发件箱：查看和重发未能送达的消息")
    outbox.add_argument("action", choices=["list", "retry"])
    outbox.add_argument("ids", nargs="*", help="要重发的消息编号")
    outbox.add_argument("--failed", action="store_true", help="列出未能送达（已搁置）的消息")
    outbox.add_argument("--all", action="store_true", help="重发全部未能送达的消息")
    return parser


def iso_moment(option: str, text: str, tz: tzinfo) -> datetime | None:
    """An option's ISO 8601 moment, in `tz` when it names no zone; None after one Chinese
    line on stderr when it is not a time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        print(f"{option} 不是有效的 ISO 8601 时间：{text}", file=sys.stderr)
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def config_or_report(directory: Path) -> Config | None:
    """The config, or None after printing every problem in Chinese (one a line, file and key)."""
    try:
        return load_config(directory)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None


def python_command() -> str:
    """How to run this interpreter from here, as a person would type it (F1)."""
    exe = Path(sys.executable)
    try:
        shown = str(exe.relative_to(Path.cwd()))
    except ValueError:
        shown = str(exe)
    return shlex.quote(shown)


def bind(host: str, port: int) -> socket.socket | None:
    """The listening socket, bound before anything else runs (F1: no sweep, no outbox on a
    port that turns out to be taken); None (with one Chinese line) when the port is in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            print(
                f"端口 {port} 已被占用：请关闭占用它的程序，"
                f"或换一个端口，例如 LIUAN_HTTP_PORT={port + 1} make run。",
                file=sys.stderr,
            )
        else:
            print(
                f"无法在 {host}:{port} 上监听：{exc.strerror}（见 LIUAN_HTTP_PORT）",
                file=sys.stderr,
            )
        return None
    sock.listen(128)
    sock.setblocking(False)
    return sock
