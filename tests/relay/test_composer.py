"""The Composer: jieba loaded once, lazily, quietly; keywords that make good tags."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from liuan_bot.commands.suggest import DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH
from liuan_bot.relay import Composer, compose
from tests.relay.facts import GOLDEN, KEY_POINTS, ROOT


def test_keywords_of_the_golden_record(composer: Composer, stopwords: frozenset[str]) -> None:
    words = composer.keywords(KEY_POINTS, 5)
    assert words[:2] == ["秋粮收购", "最低收购价"]
    assert len(words) == 5
    assert not set(words) & stopwords
    assert composer.keywords(KEY_POINTS, 0) == []
    assert composer.keywords("", 5) == []
    assert composer.keywords("的了吗。2026年10月1日。", 5) == []


def test_loading_happens_once_even_from_many_threads(
    monkeypatch: pytest.MonkeyPatch, composer: Composer
) -> None:
    calls: list[Path] = []

    def slow_load(dict_path: Path, stopwords_path: Path) -> compose.Engine:
        calls.append(dict_path)
        time.sleep(0.05)
        return composer._ready()  # already loaded: the test need not pay for it again

    monkeypatch.setattr(compose, "load_engine", slow_load)
    fresh = Composer(DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH)
    assert not fresh.loaded
    threads = [threading.Thread(target=fresh.load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fresh.load()
    assert calls == [DEFAULT_DICT_PATH]
    assert fresh.loaded


def test_the_composer_uses_a_private_tokenizer(composer: Composer) -> None:
    import jieba

    engine = composer._ready()
    assert engine.tokenizer is not jieba.dt
    assert getattr(engine.extractor, "tokenizer", None) is engine.tokenizer
    jieba.analyse.default_tfidf.stop_words.add("秋粮收购")  # someone else's change…
    try:
        assert composer.keywords(KEY_POINTS, 1) == ["秋粮收购"]  # …is not ours
    finally:
        jieba.analyse.default_tfidf.stop_words.discard("秋粮收购")


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_importing_and_constructing_does_not_import_jieba() -> None:
    result = _python(
        "import sys\n"
        "from liuan_bot.commands.suggest import DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH\n"
        "from liuan_bot.relay import Composer, load_channels\n"
        "from pathlib import Path\n"
        "Composer(DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH)\n"
        "load_channels(Path('config/channels.toml'))\n"
        "print('jieba' in sys.modules)\n"
    )
    assert (result.stdout, result.stderr) == ("False\n", "")


def test_composing_is_silent_and_warning_free_under_strict_warnings() -> None:
    # -X dev turns ResourceWarning on (idf.txt is opened and left to the GC by jieba.analyse);
    # -W error makes any warning fatal; stderr must stay empty.
    result = _python(
        "import gc\n"
        "from pathlib import Path\n"
        "from liuan_bot.commands.suggest import DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH\n"
        "from liuan_bot.relay import Composer, load_channels\n"
        "from tests.relay.facts import GOLDEN\n"
        "c = Composer(DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH)\n"
        "pieces = c.compose_all(GOLDEN, load_channels(Path('config/channels.toml')))\n"
        "print(len(pieces), c.loaded)\n"
        "gc.collect()\n"
    )
    assert (result.stdout, result.stderr) == ("8 True\n", "")


def test_compose_loads_on_first_use(monkeypatch: pytest.MonkeyPatch, composer: Composer) -> None:
    monkeypatch.setattr(compose, "load_engine", lambda *paths: composer._ready())
    fresh = Composer(DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH)
    assert not fresh.loaded
    assert fresh.compose_all(GOLDEN, []) == []
    assert fresh.loaded
