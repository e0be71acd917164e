"""The chaos suite, short version (CI): small loads, no timing assertions.

Rows whose target depends on work in flight elsewhere (crash recovery, the outbox's error
classes: issue 8 items 1–2) are marked xfail(strict=False) on the target: they report, and
start passing when that work lands. The callback's own guarantees (0 5xx, no state change
without a valid signature, slow clients closed) are asserted outright.
Full loads: `make chaos` (bench/chaos.py), figures in docs/reliability.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import scenarios

pytestmark = pytest.mark.chaos
SCALE = 0.02


async def test_chaos_retries_are_answered_exactly_once_without_5xx(
    database_url: str, tmp_path: Path
) -> None:
    row = await scenarios.retries(database_url, tmp_path, scale=SCALE)
    assert row.messages >= 20
    assert (row.http_5xx, row.lost, row.duplicated) == (0, 0, 0), row


def test_chaos_fuzz_no_5xx_and_no_state_change_without_a_valid_signature(
    sqlite_url: str, tmp_path: Path
) -> None:
    row = scenarios.fuzz(sqlite_url, tmp_path, examples=150)
    assert row.http_5xx == 0, row.notes
    assert row.duplicated == 0, row.notes


async def test_chaos_xml_attacks_are_refused_without_5xx(sqlite_url: str, tmp_path: Path) -> None:
    row = await scenarios.xml_attacks(sqlite_url, tmp_path)
    assert row.http_5xx == 0, row.notes
    assert row.duplicated == 0, row.notes  # nothing stored


async def test_chaos_slow_connections_are_closed_and_callbacks_answered(
    sqlite_url: str, tmp_path: Path
) -> None:
    row = await scenarios.slow_connections(sqlite_url, tmp_path, scale=SCALE)
    assert row.extra["closed"] == row.extra["slow"]
    assert (row.http_5xx, row.lost, row.duplicated) == (0, 0, 0), row


def _known_gap(row: scenarios.Row, issue: str) -> None:
    """Losses a row still shows today because other work is in flight: reported as xfail
    (with the figures) instead of failing; the row passes once that work lands."""
    if row.lost or row.duplicated:
        pytest.xfail(f"{issue}: {row.scenario}: lost {row.lost}, dup {row.duplicated}")


async def test_chaos_wecom_faults_lose_nothing(sqlite_url: str, tmp_path: Path) -> None:
    rows = await scenarios.wecom_faults(sqlite_url, tmp_path, scale=0.5)
    assert all(r.http_5xx == 0 and r.http_503 == 0 for r in rows)
    for row in rows:
        _known_gap(row, "outbox error classes and parking (issue 8 item 2)")


@pytest.mark.slow
async def test_chaos_kill9_mid_burst_loses_nothing(tmp_path: Path) -> None:
    row = await scenarios.kill9(tmp_path, scale=0.2, settle_s=10)
    assert row.http_5xx == 0
    _known_gap(row, "continuous recovery sweep (issue 8 item 1)")


async def test_chaos_postgres_connections_terminated_lose_nothing(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL")
    row = await scenarios.pg_terminated(database_url, tmp_path, scale=0.1)
    assert row.http_5xx == 0, row  # storage trouble is at most 503 (WeCom retries)
    _known_gap(row, "replies under slow storage (issue 8 item 3)")
