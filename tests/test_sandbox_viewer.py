"""The sandbox viewer (issue 9 C2): cards with their fields and buttons that send a real
encrypted card event to the bot; filtered by person, in pages; kept across a restart."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.test_operator import _env, _ready
from tests.test_sandbox_e2e import ROOT, free_port, run

pytestmark = pytest.mark.slow


@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[str]:
    url = f"http://127.0.0.1:{env['LIUAN_HTTP_PORT']}"
    out = log.open("a", encoding="utf-8")
    server = subprocess.Popen(
        [sys.executable, "bot.py", "serve"], cwd=ROOT, env=env, stdout=out, stderr=out
    )
    try:
        for _ in range(300):  # up, bounded at ~60 s
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                    break
            except OSError:
                assert server.poll() is None, log.read_text(encoding="utf-8")
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
        out.close()


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def test_c2_a_card_button_in_the_sandbox_page_clicks_for_real_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path, free_port())
    _ready(env)
    log = tmp_path / "serve.log"
    with serving(env, log) as url:
        sent = run(
            env,
            "console",
            "--user",
            "caozhiqiang",
            "--linger",
            "1",
            stdin="公告 对象：市财政局 内容：请于周五前报送计划。 回执：是\n",
        )
        assert sent.returncode == 0, sent.stderr
        found = re.search(r"GG-\d{4}-\d{4}", sent.stdout)
        assert found, sent.stdout
        page = ""
        for _ in range(100):  # the outbox delivers within seconds; bounded at ~20 s
            page = get(f"{url}/sandbox/?to=demo")
            if "<form" in page:
                break
            time.sleep(0.2)
        assert "发给 demo 的消息" in page
        assert "公告 · 请确认已阅" in page  # the card's title …
        assert "请于周五前报送计划" in page  # … and its text
        form = re.search(r'<form method="post" action="click">(.*?)</form>', page)
        assert form, page
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form.group(1)))
        assert fields["user"] == "demo"
        data = urllib.parse.urlencode({k: html.unescape(v) for k, v in fields.items()})
        request = urllib.request.Request(f"{url}/sandbox/click", data=data.encode())
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200  # followed the redirect back to the page
            after = resp.read().decode()
        assert "<strong>已阅</strong>" in after
        receipts = run(
            env,
            "console",
            "--user",
            "caozhiqiang",
            "--linger",
            "0",
            stdin=f"回执 {found.group(0)}\n",
        )
        assert "已阅 1 人" in receipts.stdout
        everyone = get(f"{url}/sandbox/")
        assert "全部消息" in everyone
        assert everyone.count("<tr>") > page.count("<tr>")  # filtered by person
    with serving(env, log) as url:  # a restart keeps what the page showed
        again = get(f"{url}/sandbox/?to=demo")
        assert "请于周五前报送计划" in again
        assert "<strong>已阅</strong>" in again
