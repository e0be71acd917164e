"""The relay's fixtures: one loaded Composer per test module (loading jieba takes 1–2 s)."""

from __future__ import annotations

import pytest

from liuan_bot.commands.suggest import DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH
from liuan_bot.relay import ChannelSpec, Composer, load_channels
from tests.relay.facts import CHANNELS_PATH


@pytest.fixture(scope="module")
def composer() -> Composer:
    loaded = Composer(DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH)
    loaded.load()
    return loaded


@pytest.fixture(scope="module")
def channels() -> tuple[ChannelSpec, ...]:
    return load_channels(CHANNELS_PATH)


@pytest.fixture(scope="module")
def stopwords() -> frozenset[str]:
    return frozenset(
        line.strip().lower()
        for line in DEFAULT_STOPWORDS_PATH.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    )
