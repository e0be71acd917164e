"""The operator's first minutes (issue 9 F1): a banner whose command works as printed, a port
in use named in one Chinese line before anything runs, roster import before db upgrade."""

from __future__ import annotations

import os
import shlex
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.test_sandbox_e2e import ROOT, free_port, run

pytestmark = pytest.mark.slow
REHEARSAL = "2026-12-02T09:00+08:00"  # R8 reminders are due: a sweep would record some


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIUAN_")}
    env.update(
        LIUAN_DATABASE_URL=f"sqlite:///{tmp_path}/bot.db",
        LIUAN_DATA_DIR=str(tmp_path / "data"),
        LIUAN_HTTP_PORT=str(port),
    )
    return env


def _ready(env: dict[str, str]) -> None:
    assert run(env, "db", "upgrade").returncode == 0
    assert run(env, "roster", "import", "config/demo-roster.csv").returncode == 0


def test_f1_a_port_in_use_is_one_chinese_line_and_nothing_runs(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = int(taken.getsockname()[1])
        env = _env(tmp_path, port)
        _ready(env)
        result = subprocess.run(
            [sys.executable, "bot.py", "serve", "--clock-start", REHEARSAL],
            cwd=ROOT,
            env=env,
            text=True,
            capture_output=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "liuan_bot" not in line]
    assert errors == [errors[0]]
    assert f"端口 {port} 已被占用" in errors[0]
    assert "LIUAN_HTTP_PORT" in errors[0]
    assert "Traceback" not in result.stderr
    with sqlite3.connect(tmp_path / "bot.db") as db:
        assert db.execute("SELECT count(*) FROM reminder_instances").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM outbox").fetchone() == (0,)


def test_f1_roster_import_before_db_upgrade_says_what_to_run(tmp_path: Path) -> None:
    env = _env(tmp_path, free_port())
    result = run(env, "roster", "import", "config/demo-roster.csv")
    assert result.returncode == 2
    assert "db upgrade" in result.stderr
    assert "Traceback" not in result.stderr
    assert run(env, "db", "upgrade").returncode == 0
    assert run(env, "roster", "import", "config/demo-roster.csv").returncode == 0


def test_f1_the_banners_console_command_works_as_printed(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path, port)
    _ready(env)
    out = (tmp_path / "serve.log").open("w", encoding="utf-8")
    server = subprocess.Popen(
        [sys.executable, "bot.py", "serve"], cwd=ROOT, env=env, stdout=out, stderr=out
    )
    try:
        for _ in range(300):  # up, bounded at ~60 s
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
        banner = (tmp_path / "serve.log").read_text(encoding="utf-8")
        [line] = [ln for ln in banner.splitlines() if "bot.py console" in ln]
        command = line.split("：", 1)[1]
        assert f"--url http://127.0.0.1:{port}" in command  # not the default port
        other_terminal = {k: v for k, v in env.items() if k != "LIUAN_HTTP_PORT"}
        chat = subprocess.run(
            [*shlex.split(command), "--linger", "1"],
            cwd=ROOT,
            env=other_terminal,
            input="我的信息\n",
            text=True,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert chat.returncode == 0, chat.stderr
        assert "市财政局" in chat.stdout
    finally:
        server.terminate()
        server.wait(timeout=20)
        out.close()
