"""Topic keywords for the R14 evaluation: jieba.analyse TF-IDF over conference topics and
contents, with the relay's tokenizer, domain dictionary and stop words (liuan_bot/relay/engine.py).

jieba is loaded once, in a worker thread (`await ranker.ready()`), never on the event loop and
never at import time; results are cached per text, so a page asked again costs nothing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from liuan_bot.relay.engine import Engine, load_engine

CONFIG = Path(__file__).resolve().parent.parent / "config"
TOP = 5


class KeywordRanker:
    """The best few keywords of a text; thread-safe once loaded."""

    def __init__(self, dict_path: Path, stopwords_path: Path, top: int = TOP) -> None:
        self._paths = (dict_path, stopwords_path)
        self._top = top
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._cached = lru_cache(maxsize=4096)(self._rank)

    def load(self) -> None:
        """Load jieba (slow: ~2 s; blocking — call from a thread or at start-up)."""
        with self._lock:
            if self._engine is None:
                self._engine = load_engine(*self._paths)

    async def ready(self) -> KeywordRanker:
        if self._engine is None:
            await asyncio.to_thread(self.load)
        return self

    def _rank(self, text: str) -> tuple[str, ...]:
        if self._engine is None:
            raise RuntimeError("KeywordRanker.load() first")
        return tuple(word for word, _weight in self._engine.ranked(text)[: self._top])

    def __call__(self, text: str) -> Sequence[str]:
        return self._cached(text)


_DEFAULT: KeywordRanker | None = None


def default_ranker() -> KeywordRanker:
    """The process-wide ranker over config/jieba-dict.txt and config/stopwords.txt."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = KeywordRanker(CONFIG / "jieba-dict.txt", CONFIG / "stopwords.txt")
    return _DEFAULT
