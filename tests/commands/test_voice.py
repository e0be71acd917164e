"""Messages as people type them on phones and by voice input (issue 9 E6, E4, E5).

`tests/corpus/voice.jsonl` has the same format as `messages.jsonl` (see test_corpus.py): keys
without colons or with a space inside, near-miss keys, polite tails and polite sentences,
reasons written as sentences, dotted dates, ids with dashes of any width, links without a
scheme, implausible times, ranges. The grammar carries them, not a list of special cases: the
test also checks that no entry's text appears in the parser's source.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from handlers.registry import build_registry
from liuan_bot.commands.registry import Registry, understand

ROOT = Path(__file__).resolve().parents[2]
VOICE = ROOT / "tests" / "corpus" / "voice.jsonl"
PARSER = [ROOT / "liuan_bot" / "commands" / name for name in ("fields.py", "grammar.py")]


def _load() -> list[dict[str, Any]]:
    lines = VOICE.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


ENTRIES = _load()


@pytest.fixture(scope="module")
def registry() -> Registry:
    return build_registry()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["id"] for e in ENTRIES])
def test_e6_voice_and_phone_message_is_understood(
    entry: dict[str, Any], registry: Registry
) -> None:
    got = understand(registry, entry["text"], datetime.fromisoformat(entry["now"]))
    expect = entry["expect"]
    where = f"{entry['note']}\n{entry['text']!r}\ngot {got}"
    assert got["command"] == expect["command"], where
    assert got["record_id"] == expect["record_id"], where
    assert got["fields"] == expect["fields"], where
    assert got["errors"] == expect["errors"], where


def test_e6_the_corpus_is_varied_and_carried_by_the_grammar() -> None:
    assert len(ENTRIES) >= 40
    assert len({e["id"] for e in ENTRIES}) == len(ENTRIES)
    source = "".join(path.read_text(encoding="utf-8") for path in PARSER)
    for entry in ENTRIES:
        # no message is a special case: its values never appear in the parser
        for value in entry["expect"]["fields"].values():
            if isinstance(value, str) and len(value) >= 6 and not value.startswith("20"):
                assert value not in source, (entry["id"], value)
