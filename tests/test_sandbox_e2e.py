"""`make run`'s path in real processes: migrate, import the demo roster, serve in sandbox mode,
chat through `bot.py console` over encrypted HTTP callbacks (issue 2)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "bot.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def sandbox_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIUAN_")}
    env.update(
        LIUAN_DATABASE_URL=f"sqlite:///{tmp_path}/bot.db",
        LIUAN_DATA_DIR=str(tmp_path / "data"),
        LIUAN_HTTP_PORT=str(free_port()),
        LIUAN_REPLY_BUDGET_S="0",  # every reply through the outbox: exercises the sandbox API
    )
    assert run(env, "db", "upgrade").returncode == 0
    imported = run(env, "roster", "import", "config/demo-roster.csv", "--if-empty")
    assert imported.returncode == 0, imported.stderr
    assert "新增人员" in imported.stdout
    log = (tmp_path / "serve.log").open("w", encoding="utf-8")
    server = subprocess.Popen(
        [sys.executable, "bot.py", "serve"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{env['LIUAN_HTTP_PORT']}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def test_console_chats_with_a_sandboxed_bot_and_sees_pushes(sandbox_env: dict[str, str]) -> None:
    chat = run(sandbox_env, "console", "--user", "demo", "--linger", "3", stdin="帮助\n我的信息\n")
    assert chat.returncode == 0, chat.stderr
    assert "[推送]" in chat.stdout
    assert "您可以发送以下命令" in chat.stdout
    assert "市财政局" in chat.stdout
    url = f"http://127.0.0.1:{sandbox_env['LIUAN_HTTP_PORT']}"
    with urllib.request.urlopen(f"{url}/sandbox/", timeout=5) as resp:
        page = resp.read().decode()
    assert "沙箱" in page
    assert "张演示" in page
    with urllib.request.urlopen(f"{url}/healthz", timeout=5) as resp:
        assert b'"sandbox"' in resp.read()


def test_the_server_log_has_one_line_per_message_and_no_secret(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    chat = run(sandbox_env, "console", "--user", "demo", "--linger", "2", stdin="帮助\n")
    assert chat.returncode == 0, chat.stderr
    log = (tmp_path / "serve.log").read_text(encoding="utf-8")
    # one line per inbound message, with its MsgId: the callback's access line
    assert any(
        "POST /wecom/callback 200" in line and "inbound=msg:" in line for line in log.splitlines()
    )
    assert "outbox id=" in log  # and per delivery attempt
    credentials = (tmp_path / "data" / "sandbox-credentials.toml").read_text(encoding="utf-8")
    secrets = [line.split('"')[1] for line in credentials.splitlines() if '"' in line]
    assert len(secrets) == 2
    for secret in (*secrets, "msg_signature", "echostr", "access_token=", "corpsecret"):
        assert secret not in log, secret


def test_a_second_roster_import_is_skipped_when_not_empty(sandbox_env: dict[str, str]) -> None:
    again = run(sandbox_env, "roster", "import", "config/demo-roster.csv", "--if-empty")
    assert again.returncode == 0
    assert "跳过" in again.stdout


def test_live_mode_with_missing_settings_reports_all_problems_at_once(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIUAN_")}
    env.update(LIUAN_WECOM_SECRET="s3cr3t-value", LIUAN_DATA_DIR=str(tmp_path))
    result = run(env, "serve")
    assert result.returncode == 2
    for key in ("LIUAN_WECOM_CORP_ID", "LIUAN_WECOM_AGENT_ID", "LIUAN_WECOM_TOKEN"):
        assert key in result.stderr
    assert "s3cr3t-value" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_an_invalid_roster_is_refused_whole_with_line_numbers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIUAN_")}
    env.update(LIUAN_DATABASE_URL=f"sqlite:///{tmp_path}/r.db", LIUAN_DATA_DIR=str(tmp_path))
    assert run(env, "db", "upgrade").returncode == 0
    csv = tmp_path / "roster.csv"
    csv.write_text(
        "单位,单位类型,重点单位,姓名,企业微信账号,角色,职务,手机,公开\n"
        "市财政局,市直部门,是,王伟,wangwei,新闻发言人,副局长,13900000001,是\n"
        "市财政局,市直部门,是,李强,,联络员,科长,123,否\n",
        encoding="utf-8-sig",
    )
    result = run(env, "roster", "import", str(csv))
    assert result.returncode == 1
    assert "第3行" in result.stderr
    again = run(env, "roster", "import", "config/demo-roster.csv", "--if-empty")
    assert "新增人员" in again.stdout  # nothing of the refused file was written


def test_reminders_preview_lists_what_would_be_sent_without_sending(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIUAN_")}
    env.update(LIUAN_DATABASE_URL=f"sqlite:///{tmp_path}/p.db", LIUAN_DATA_DIR=str(tmp_path))
    assert run(env, "db", "upgrade").returncode == 0
    assert run(env, "roster", "import", "config/demo-roster.csv").returncode == 0
    shown = run(
        env, "reminders", "preview", "--at", "2026-12-02T09:00+08:00", "--unit", "市财政局"
    )
    assert shown.returncode == 0, shown.stderr
    assert "季度发布会 · 市财政局\n  发送给：" in shown.stdout  # issue 9 E1: named, not keyed
    assert "|" not in shown.stdout  # no key rule|subject|period|step anywhere
    assert "【季度发布会】市财政局2026年第四季度尚未召开新闻发布会" in shown.stdout
    assert "发送给：张演示" in shown.stdout
    again = run(
        env, "reminders", "preview", "--at", "2026-12-02T09:00+08:00", "--unit", "市财政局"
    )
    assert again.stdout.splitlines()[0] == shown.stdout.splitlines()[0]  # nothing was recorded


def test_serving_an_uninitialised_database_says_what_to_do(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIUAN_")}
    env.update(LIUAN_DATABASE_URL=f"sqlite:///{tmp_path}/empty.db", LIUAN_DATA_DIR=str(tmp_path))
    result = run(env, "serve")
    assert result.returncode == 2
    assert "db upgrade" in result.stderr
    assert "Traceback" not in result.stderr
