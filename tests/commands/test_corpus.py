"""The message corpus: what the bot understands of messages as people really type them.

`tests/corpus/messages.jsonl` holds one JSON object per line:

    {"id": "review-short-id", "text": "审核 sq12 通过", "now": "2026-11-26T10:00+08:00",
     "expect": {"command": "review", "record_id": "SQ-2026-0012",
                "fields": {"结论": "通过"}, "errors": []},
     "note": "lower case, no year, no leading zeros"}

`command`, `record_id` and `fields` must equal what `understand` (= `python bot.py parse`)
gives; every string in `errors` must be found inside one of the errors, in any order, and
`errors: []` means no error at all. An entry with `"xfail": "reason"` records a known parser
bug: its `expect` is the CORRECT parse, and the test is a strict xfail until the bug is fixed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from handlers.registry import build_registry
from liuan_bot.commands.registry import Registry, understand

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "messages.jsonl"

MIN_ENTRIES = 150
# Registry commands the corpus does not need to cover. None today: every command is covered.
NOT_COVERED: frozenset[str] = frozenset()
# Filing commands get at least this many messages each.
FILING_COMMANDS = ("policy", "risk", "roster", "training")
MIN_PER_FILING_COMMAND = 6
# Entries also run through the real command line (`python bot.py parse`).
CLI_SAMPLE = (
    "apply-example",
    "apply-crlf-trailing-stops",
    "apply-ambiguous-hour",
    "apply-new-year-rollover",
    "schedule-semicolons",
    "held-multiline-tbd",
    "incident-roman-level-now",
    "roster-phone-aliases",
    "training-neither-name",
    "unknown-greeting",
)


def load_corpus() -> list[dict[str, Any]]:
    entries = []
    for number, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            entry = json.loads(line)
            entry["line"] = number
            entries.append(entry)
    return entries


ENTRIES = load_corpus()
BY_ID = {entry["id"]: entry for entry in ENTRIES}


def _param(entry: dict[str, Any]) -> Any:
    marks = []
    if entry.get("xfail"):
        marks.append(pytest.mark.xfail(reason=entry["xfail"], strict=True))
    return pytest.param(entry, id=entry["id"], marks=marks)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return build_registry()


def _now(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["now"])


def _unmatched(expected: list[str], errors: list[str]) -> list[str]:
    """Expected substrings that appear in none of the errors."""
    return [piece for piece in expected if not any(piece in error for error in errors)]


@pytest.mark.parametrize("entry", [_param(entry) for entry in ENTRIES])
def test_message_is_understood(entry: dict[str, Any], registry: Registry) -> None:
    got = understand(registry, entry["text"], _now(entry))
    expect = entry["expect"]
    where = f"line {entry['line']}: {entry['note']}\n{entry['text']!r}\ngot {got}"
    assert got["command"] == expect["command"], where
    assert got["record_id"] == expect["record_id"], where
    assert got["fields"] == expect["fields"], where
    if expect["errors"]:
        assert _unmatched(expect["errors"], got["errors"]) == [], where
    else:
        assert got["errors"] == [], where


def _run_cli(entry: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "bot.py", "parse", entry["text"], "--now", entry["now"]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_cli_parse_prints_what_understand_gives(registry: Registry) -> None:
    entries = [BY_ID[name] for name in CLI_SAMPLE]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_run_cli, entries))
    printed, expected = {}, {}
    for entry, result in zip(entries, results, strict=True):
        assert result.returncode == 0, (entry["id"], result.stderr)
        printed[entry["id"]] = json.loads(result.stdout)
        expected[entry["id"]] = understand(registry, entry["text"], _now(entry))
    assert printed == expected


def test_corpus_is_large_and_covers_every_command(registry: Registry) -> None:
    assert len(ENTRIES) >= MIN_ENTRIES
    ids = Counter(entry["id"] for entry in ENTRIES)
    assert [name for name, count in ids.items() if count > 1] == []
    assert set(CLI_SAMPLE) <= set(ids)
    for entry in ENTRIES:
        assert set(entry) <= {"id", "text", "now", "expect", "note", "xfail", "line"}, entry
        assert set(entry["expect"]) == {"command", "record_id", "fields", "errors"}, entry
        assert entry["note"], entry
        assert _now(entry).tzinfo is not None, entry
    per_command = Counter(entry["expect"]["command"] for entry in ENTRIES)
    keys = {spec.key for spec in registry.specs}
    assert set(per_command) - {None} <= keys, "the corpus names a command the registry lacks"
    assert sorted(keys - NOT_COVERED - set(per_command)) == []
    assert per_command[None] >= 3, "unknown commands"
    for key in FILING_COMMANDS:
        assert per_command[key] >= MIN_PER_FILING_COMMAND, key
