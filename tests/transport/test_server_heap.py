"""The server process settles its garbage collector once started (issue 11 §2,
`liuan_bot.heap`): what exists at start-up is frozen out of the collector's full passes, which
stopped the loop for up to ~120 ms each. Run in a child process: freezing this test process
would keep what the rest of the suite discards."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from liuan_bot.heap import THRESHOLDS

ROOT = Path(__file__).resolve().parents[2]

SERVER = """
import gc, socket, sys
from aiohttp import web
from liuan_bot.app import ServerLimits, run_guarded

async def state(_request):
    return web.json_response({"frozen": gc.get_freeze_count(), "thresholds": gc.get_threshold()})

app = web.Application()
app.router.add_get("/gc", state)
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
run_guarded(app, "127.0.0.1", 0, ServerLimits(), sock=sock, access_log=None)
"""


def test_the_server_freezes_what_it_started_with_and_collects_the_young_less_often() -> None:
    assert gc_defaults_in_a_fresh_process() == (0, [700, 10, 10])  # what it starts from
    with subprocess.Popen(
        [sys.executable, "-c", SERVER], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            port = int(child.stdout.readline())
            body = _get_when_up(f"http://127.0.0.1:{port}/gc")
        finally:
            child.send_signal(signal.SIGINT)
            child.wait(30)
    assert body["frozen"] > 10_000  # aiohttp, the app, the loop: everything made at start-up
    assert tuple(body["thresholds"]) == THRESHOLDS


def gc_defaults_in_a_fresh_process() -> tuple[int, list[int]]:
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gc, json; print(json.dumps([gc.get_freeze_count(), gc.get_threshold()]))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    frozen, thresholds = json.loads(found.stdout)
    return frozen, list(thresholds)


def _get_when_up(url: str) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                found: dict[str, object] = json.loads(response.read())
                return found
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
