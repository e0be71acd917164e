"""One jieba resource (issue 11 §5): the suggester, the relay composer and the R14 keyword ranker
share one tokenizer with the domain dictionary, built once per process (off the event loop:
the callers load it with `asyncio.to_thread`)."""

from __future__ import annotations

from pathlib import Path

import pytest

import liuan_bot.jieba_loader as jieba_loader
import liuan_bot.relay.engine as relay_engine
from handlers.registry import build_registry
from liuan_bot.commands.suggest import Suggester
from liuan_bot.config import load_config
from liuan_bot.keywords import KeywordRanker
from liuan_bot.relay import Composer

SHIPPED = Path(__file__).resolve().parent.parent / "config"


def test_suggester_composer_and_keywords_share_one_tokenizer_built_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[Path] = []
    real = jieba_loader._build

    def counting(dict_path: Path) -> object:
        built.append(dict_path)
        return real(dict_path)

    monkeypatch.setattr(jieba_loader, "_TOKENIZERS", {})  # this process's caches, restored after
    monkeypatch.setattr(relay_engine, "_LOADED", {})
    monkeypatch.setattr(jieba_loader, "_build", counting)
    config = load_config(SHIPPED)
    suggester = Suggester(config.jieba_dict, config.stopwords, build_registry())
    composer = Composer(config.jieba_dict, config.stopwords)
    ranker = KeywordRanker(config.jieba_dict, config.stopwords)
    suggester.load()
    composer.load()
    ranker.load()
    assert built == [config.jieba_dict]
    engine = composer._ready()
    assert suggester._tokenizer is engine.tokenizer
    assert ranker._engine is engine
