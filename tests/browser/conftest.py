"""Browser tests: Playwright for Python driving Debian's Chromium (issue 10 §4).

Browser downloads are impossible here, so Playwright launches /usr/bin/chromium
(`apt-get install -y chromium`; `make test` does it). Without it the tests skip — except on
CI (CI=true), where a missing browser fails them. Screenshots go to tests/browser/artifacts/.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from bot import build_bot
from liuan_bot.clock import FixedClock
from liuan_bot.wecom.fake_server import FakeWeCom
from liuan_bot.wecom.simulate import CallbackSigner
from tests.conftest import load_demo_roster
from tests.support import AES_KEY, CORP_ID, TOKEN, Harness, make_settings

CHROMIUM = Path(os.environ.get("LIUAN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing on CI: run `make test` (it installs chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium, or make test)")
    return CHROMIUM


@dataclass
class Served:
    harness: Harness
    url: str
    fake_url: str


@pytest_asyncio.fixture
async def served(
    sqlite_url: str, tmp_path: Path, clock: FixedClock, request: pytest.FixtureRequest
) -> AsyncIterator[Served]:
    """The bot on a known port (so LIUAN_PUBLIC_URL can point at it) against a fake WeCom;
    `sandbox` mode when the test is parametrised so."""
    sandbox = getattr(request, "param", "live") == "sandbox"
    await load_demo_roster(sqlite_url)
    fake = FakeWeCom(corp_id=CORP_ID, secret="test-secret", clock=clock)
    fake_server = TestServer(fake.app())
    await fake_server.start_server()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    extra = {} if sandbox else {"LIUAN_WECOM_SECRET": "test-secret"}
    settings = make_settings(sqlite_url, tmp_path, LIUAN_PUBLIC_URL=url, **extra)
    bot = build_bot(
        settings,
        clock=clock,
        api_base=str(fake_server.make_url("")).rstrip("/"),
        run_worker=False,
        run_scheduler=False,
    )
    server = TestServer(bot.app(), host="127.0.0.1", port=port)
    from aiohttp.test_utils import TestClient

    client: TestClient[Any, Any] = TestClient(server)
    await client.start_server()
    try:
        harness = Harness(bot, client, fake, clock, CallbackSigner(TOKEN, AES_KEY, CORP_ID))
        yield Served(harness, url, str(fake_server.make_url("")))
    finally:
        await client.close()
        await fake_server.close()


@pytest_asyncio.fixture
async def browser(chromium: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            await launched.close()
