"""The chaos suite at full load (issue 8): prints one table row per scenario.

    .venv/bin/python bench/chaos.py [--scale S] [--only NAME ...] [--json FILE]

Scenarios (tests/chaos/scenarios.py): 10,000 callbacks with overlapping WeCom retries on
SQLite (and PostgreSQL when LIUAN_TEST_DATABASE_URL is set: a database of its own is
created and dropped); every WeCom fault mode for 60 s; a 4-hour outage on an injected clock;
kill -9 mid-burst and mid-drain of real `bot.py serve` processes; SQLite's writer lock
held 25 s; PostgreSQL backends terminated mid-burst, PostgreSQL refused and blackholed for
30 s (a TCP proxy), two and three `bot.py serve` instances on one PostgreSQL; a hypothesis
fuzz of the callback;
XML attacks; 1,100 slow connections.
Write variants (`-write`: 舆情 and, every third message, 突发 from registered users instead
of 帮助) of the retries rows, of kill -9 mid-burst, of the terminated PostgreSQL backends and
of the two and three instances: each message must also leave exactly one record in its own
table (`hot_issues`, `incidents`).
Measured only through the public surface: HTTP statuses and passive replies, the fake
WeCom's delivered list, database rows. Target in every row: 0 lost, 0 duplicated, 0 5xx.
Exit status 1 if a row misses it (the table is the result either way).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chaos import scenarios  # noqa: E402
from tests.chaos.scenarios import Row  # noqa: E402


async def _pg_database() -> tuple[str, str] | None:
    given = os.environ.get("LIUAN_TEST_DATABASE_URL", "")
    if not given:
        return None
    from sqlalchemy import text

    from storage.engine import make_engine

    name = f"liuan_chaos_{secrets.token_hex(4)}"
    engine = make_engine(given)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return given, given.rsplit("/", 1)[0] + "/" + name


async def _drop_pg(given: str, url: str) -> None:
    from sqlalchemy import text

    from storage.engine import make_engine

    engine = make_engine(given)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    await engine.dispose()


async def run(scale: float, only: set[str], work: Path) -> list[tuple[Row, float]]:
    results: list[tuple[Row, float]] = []

    async def timed(name: str, make):  # type: ignore[no-untyped-def]
        if only and name not in only:
            return
        start = time.monotonic()
        out = await make()
        elapsed = time.monotonic() - start
        rows = out if isinstance(out, list) else [out]
        for row in rows:
            results.append((row, elapsed / len(rows)))
            print(_line(row, elapsed / len(rows)), flush=True)

    def sub(name: str) -> Path:
        path = work / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    sqlite = lambda name: f"sqlite+aiosqlite:///{sub(name)}/db.sqlite"  # noqa: E731
    print(HEADER, flush=True)
    await timed("retries", lambda: scenarios.retries(sqlite("retries"), sub("retries"), scale))
    await timed(
        "retries-write",
        lambda: scenarios.retries(
            sqlite("retries-write"), sub("retries-write"), scale, command="write"
        ),
    )
    pg_rows = {
        "retries-pg",
        "retries-pg-write",
        "postgres",
        "postgres-write",
        "pg-refused",
        "pg-blackholed",
        "instances",
        "instances-write",
    }
    pg = await _pg_database() if not only or only & pg_rows else None
    if pg is not None:
        url = pg[1]
        try:
            await timed(
                "retries-pg", lambda: scenarios.retries(url, sub("retries-pg"), scale * 0.3)
            )
            await timed(
                "retries-pg-write",
                lambda: scenarios.retries(url, sub("retries-pg-w"), scale * 0.3, command="write"),
            )
            await timed("postgres", lambda: scenarios.pg_terminated(url, sub("pg-kill"), scale))
            await timed(
                "postgres-write",
                lambda: scenarios.pg_terminated(url, sub("pg-kill-w"), scale, command="write"),
            )
            for mode in ("refused", "blackholed"):
                await timed(
                    f"pg-{mode}",
                    lambda m=mode: scenarios.pg_outage(url, sub(f"pg-{m}"), m, scale),  # type: ignore[misc]
                )
            for count in (2, 3):
                await timed(
                    "instances",
                    lambda c=count: scenarios.instances(url, sub(f"inst{c}"), c, scale),  # type: ignore[misc]
                )
            for count in (2, 3):
                await timed(
                    "instances-write",
                    lambda c=count: scenarios.instances(  # type: ignore[misc]
                        url, sub(f"inst{c}-w"), c, scale, command="write"
                    ),
                )
        finally:
            await _drop_pg(*pg)
    await timed("faults", lambda: scenarios.wecom_faults(sqlite("faults"), sub("faults"), scale))
    await timed("outage", lambda: scenarios.wecom_outage(sqlite("outage"), sub("outage"), scale))
    await timed("kill9", lambda: scenarios.kill9(sub("kill9"), scale))
    await timed("kill9-write", lambda: scenarios.kill9(sub("kill9-w"), scale, command="write"))
    await timed("kill9", lambda: scenarios.kill9(sub("kill9-drain"), scale, drain=True))
    await timed("lock", lambda: scenarios.sqlite_lock(sub("lock"), scale))
    await timed("xml", lambda: scenarios.xml_attacks(sqlite("xml"), sub("xml"), scale))
    await timed("slow", lambda: scenarios.slow_connections(sqlite("slow"), sub("slow"), scale))
    if not only or "fuzz" in only:
        start = time.monotonic()
        row = await asyncio.to_thread(
            scenarios.fuzz, sqlite("fuzz"), sub("fuzz"), max(50, int(2000 * scale))
        )
        results.append((row, time.monotonic() - start))
        print(_line(row, results[-1][1]), flush=True)
    return results


HEADER = (
    "| scenario | load | faults | messages | lost | duplicated | 5xx | 503 | time | notes |\n"
    "|---|---|---|---:|---:|---:|---:|---:|---:|---|"
)


def _line(row: Row, elapsed: float) -> str:
    return (
        f"| {row.scenario} | {row.load} | {row.faults} | {row.messages} | {row.lost} | "
        f"{row.duplicated} | {row.http_5xx} | {row.http_503} | {elapsed:.0f} s | {row.notes} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="load factor (1 = full)")
    parser.add_argument("--only", nargs="*", default=[], help="retries retries-write faults "
                        "outage kill9 kill9-write lock xml slow fuzz; with "
                        "LIUAN_TEST_DATABASE_URL: retries-pg retries-pg-write postgres "
                        "postgres-write pg-refused pg-blackholed instances "
                        "instances-write")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the table is the output
    with tempfile.TemporaryDirectory(prefix="liuan-chaos-") as tmp:
        results = asyncio.run(run(args.scale, set(args.only), Path(tmp)))
    if args.json:
        rows = [dict(vars(r), seconds=round(t, 1)) for r, t in results]
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0 if all(r.ok for r, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
