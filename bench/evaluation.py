"""Benchmark of the R14 use cases (handlers/evaluation.py) on 60 units × 5 years of records.

    .venv/bin/python bench/evaluation.py [--units 60] [--years 5] [--runs 40] [--pg URL]

Generates the data into a temporary SQLite database (or the given PostgreSQL one, which it
empties first), then times, in-process, each use case the console and the reports call:
quota_board, evaluate (quarter and year, all units and one), accountability_list, and the
md / csv / xlsx renderers. jieba is loaded and warmed before the clock starts (it loads once
per process). Prints p50 / p95 / p99 in ms; exit 1 if any p99 ≥ 200 ms (`--no-fail` reports).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from handlers.evaluation import accountability_list, evaluate, quota_board, report_data  # noqa: E402
from liuan_bot.clock import SHANGHAI, utc  # noqa: E402
from liuan_bot.keywords import default_ranker  # noqa: E402
from liuan_bot.reports import render  # noqa: E402
from storage.engine import make_engine, make_session_factory, read_only  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.tables import (  # noqa: E402
    AuditEntry,
    Conference,
    Incident,
    OutboxMessage,
    Person,
    Policy,
    Release,
    ReleaseChannel,
    ReleasePlan,
    ReminderDelivery,
    ReminderInstance,
    RiskAssessment,
    RiskLink,
    RosterFiling,
    Training,
    Unit,
)

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
TOPICS = (
    "秋粮收购",
    "冬季供暖",
    "春运保障",
    "医保报销",
    "营商环境",
    "防汛抗旱",
    "义务教育",
    "就业创业",
)
CHANNELS = ("newspaper", "radio_tv", "portal", "news_site", "weibo", "wechat")


def _at(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return utc(datetime(year, month, day, hour, tzinfo=SHANGHAI))


def generate(units: int, years: int) -> dict[Any, list[dict[str, Any]]]:
    """Rows per table: every unit holds 1–3 conferences a quarter, relays each to 6 channels,
    has incidents, policies, risk letters, plans, a roster filing, training and reminders."""
    rows: dict[Any, list[dict[str, Any]]] = {
        t: []
        for t in (
            Unit,
            Person,
            Conference,
            Release,
            ReleaseChannel,
            Incident,
            Policy,
            RiskAssessment,
            RiskLink,
            RosterFiling,
            Training,
            ReleasePlan,
            ReminderInstance,
            OutboxMessage,
            ReminderDelivery,
            AuditEntry,
        )
    }
    stamp = _at(2022, 1, 1)
    counters: dict[str, int] = {}

    def rid(prefix: str, year: int) -> str:
        counters[f"{prefix}{year}"] = counters.get(f"{prefix}{year}", 0) + 1
        return f"{prefix}-{year}-{counters[f'{prefix}{year}']:04d}"

    person = release = instance = outbox = 0
    for u in range(1, units + 1):
        rows[Unit].append(
            dict(
                id=u,
                name=f"单位{u:02d}",
                unit_type="department",
                key_unit=u % 5 != 0,
                created_at=stamp,
                updated_at=stamp,
            )
        )
        people = []
        for role in ("主要负责人", "新闻发言人", "新闻发言人", "联络员"):
            person += 1
            people.append((person, f"u{person}", f"人员{person}", role))
            rows[Person].append(
                dict(
                    id=person,
                    userid=f"u{person}",
                    name=f"人员{person}",
                    unit_id=u,
                    roles=[role],
                    title="",
                    mobile="",
                    public=False,
                    active=True,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
            rows[Training].append(
                dict(
                    person_id=person,
                    trained_on=_at(2021 + person % 5, 3, 1),
                    course="",
                    recorded_by="x",
                    created_at=stamp,
                )
            )
        for year in range(2027 - years, 2027):
            rows[RosterFiling].append(
                dict(
                    unit_id=u,
                    year=year,
                    name="发言人",
                    title="副局长",
                    mobile="1",
                    userid="",
                    filer="x",
                    created_at=_at(year, 1, 10),
                )
            )
            for q in range(4):
                month = 3 * q + 1
                if datetime(year, month, 1, tzinfo=SHANGHAI) > NOW:
                    continue
                rows[ReleasePlan].append(
                    dict(
                        unit_id=u,
                        quarter=f"{year}Q{q + 1}",
                        topics=[TOPICS[(u + q) % 8], TOPICS[(u + q + 3) % 8]],
                        filer="x",
                        created_at=stamp,
                        updated_at=stamp,
                    )
                )
                for n in range((u + q + year) % 3 + (0 if u % 7 == 0 else 1)):
                    held = _at(year, month + n, 10 + n)
                    if held > utc(NOW):
                        continue
                    city = n == 0
                    speaker = people[0] if (u + q) % 2 else people[1]
                    record = rid("SQ" if city else "BA", year)
                    rows[Conference].append(
                        dict(
                            record_id=record,
                            kind="application" if city else "filing",
                            unit_id=u,
                            filer="x",
                            state="held",
                            topic=f"{TOPICS[(u + q + n) % 8]}新闻发布会",
                            starts_at=held,
                            venue="",
                            speakers=[speaker[2]],
                            conf_type="发布会",
                            content=f"介绍{TOPICS[(u + n) % 8]}工作进展和下一步安排。",
                            live=False,
                            review_reason="",
                            approval_opinion="",
                            draft_format="",
                            held_at=held,
                            held_speakers=[speaker[2]],
                            held_speaker_ids=[speaker[1]],
                            counts_for=["R8", "R9", "R10"] if city else ["R8"],
                            key_points="",
                            transcript_url="",
                            video_url="",
                            created_at=held,
                            updated_at=held,
                        )
                    )
                    release += 1
                    rows[Release].append(
                        dict(id=release, record_id=record, unit_id=u, topic="", created_at=held)
                    )
                    for c, channel in enumerate(CHANNELS):
                        done = (u + c) % 4 != 0
                        rows[ReleaseChannel].append(
                            dict(
                                release_id=release,
                                channel=channel,
                                state="published" if done else "sent",
                                title="",
                                text="",
                                link="",
                                note="",
                                sent_at=held + timedelta(hours=1),
                                published_at=held + timedelta(hours=2 + c) if done else None,
                            )
                        )
                occurred = _at(year, month + 1, 5)
                if occurred < utc(NOW):
                    rows[Incident].append(
                        dict(
                            record_id=rid("TF", year),
                            unit_id=u,
                            filer="x",
                            state="answered",
                            title="突发事件",
                            level="较大",
                            occurred_at=occurred,
                            first_release_at=occurred + timedelta(hours=1),
                            answered_at=occurred + timedelta(hours=12 + 8 * (u % 3)),
                            created_at=occurred,
                            updated_at=occurred,
                        )
                    )
                    policy = rid("ZC", year)
                    rows[Policy].append(
                        dict(
                            record_id=policy,
                            unit_id=u,
                            filer="x",
                            state="filed",
                            title="政策文件",
                            publish_at=occurred,
                            interpretation_url="https://x/jd" if u % 4 else "",
                            briefing=False,
                            created_at=occurred,
                            updated_at=occurred,
                        )
                    )
                    risk = rid("FX", year)
                    rows[RiskAssessment].append(
                        dict(
                            record_id=risk,
                            unit_id=u,
                            filer="x",
                            state="filed",
                            subject="事项",
                            kind="重大政策",
                            level="中",
                            measures="",
                            created_at=occurred - timedelta(days=5),
                            updated_at=occurred - timedelta(days=5),
                        )
                    )
                    if u % 2:
                        rows[RiskLink].append(
                            dict(
                                risk_record_id=risk,
                                target_record_id=policy,
                                linked_by="x",
                                linked_at=occurred,
                            )
                        )
                for step in range(4):
                    instance += 1
                    at = _at(year, month + 2, 10 + step)
                    if at > utc(NOW):
                        continue
                    rows[ReminderInstance].append(
                        dict(
                            id=instance,
                            key=f"R8|unit:{u}|{year}Q{q + 1}|d{step}",
                            rule="R8",
                            kind="r8_due",
                            unit_id=u,
                            status="sent",
                            due_at=at,
                            recorded_at=at,
                            recipients=[people[1][1]],
                            text="提醒",
                        )
                    )
                    for p in people[1:3]:
                        outbox += 1
                        rows[OutboxMessage].append(
                            dict(
                                id=outbox,
                                kind="app",
                                target=p[1],
                                body={},
                                source="",
                                status="sent",
                                attempts=1,
                                created_at=at,
                                next_attempt_at=at,
                                sent_at=at,
                                invalid_users=[],
                            )
                        )
                        rows[ReminderDelivery].append(
                            dict(
                                instance_id=instance,
                                userid=p[1],
                                batch=f"b{instance}",
                                outbox_id=outbox,
                                acked_at=at if step % 2 else None,
                            )
                        )
    return rows


async def load(url: str, rows: dict[Any, list[dict[str, Any]]]) -> None:
    engine = make_engine(url)
    await upgrade(engine)
    async with engine.begin() as conn:
        for table, items in rows.items():
            for start in range(0, len(items), 500):
                await conn.execute(insert(table), items[start : start + 500])
        if engine.dialect.name == "postgresql":
            for table in rows:
                name = table.__tablename__
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {name}), 1))"
                    )
                )
    await engine.dispose()


async def measure(url: str, runs: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    ranker = await default_ranker().ready()
    cases: dict[str, Callable[[Any], Awaitable[Any]]] = {
        "quota_board (all units)": lambda s: quota_board(s, NOW),
        "quota_board (one unit)": lambda s: quota_board(s, NOW, unit="单位07"),
        "evaluate 2026Q4 (all units)": lambda s: evaluate(s, "2026Q4", NOW, keywords=ranker),
        "evaluate 2026 (all units)": lambda s: evaluate(s, "2026", NOW, keywords=ranker),
        "evaluate 2026 (one unit)": lambda s: evaluate(s, "2026", NOW, unit="单位07"),
        "accountability_list 2026": lambda s: accountability_list(s, 2026, NOW),
        "report 2026 md": lambda s: _report(s, "md"),
        "report 2026 csv": lambda s: _report(s, "csv"),
        "report 2026 xlsx": lambda s: _report(s, "xlsx"),
    }
    timings: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for case in cases.values():  # warm-up: jieba's cache, SQLite's page cache
        async with sessions() as session:
            await read_only(session)
            await case(session)
    for _ in range(runs):
        for name, case in cases.items():
            async with sessions() as session:
                await read_only(session)
                started, cpu_started = time.perf_counter(), time.process_time()
                await case(session)
                timings[name].append((time.perf_counter() - started) * 1000)
                cpu[name].append((time.process_time() - cpu_started) * 1000)
    await engine.dispose()
    return timings, cpu


async def _report(session: Any, fmt: str) -> bytes:
    ev, entries = await report_data(session, "2026", NOW)
    return await asyncio.to_thread(render, fmt, ev, entries)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=60)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--pg", help="a PostgreSQL URL whose public schema may be emptied")
    parser.add_argument("--no-fail", action="store_true")
    args = parser.parse_args()
    rows = generate(args.units, args.years)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.pg or f"sqlite+aiosqlite:///{tmp}/bench.db"
        if args.pg:
            asyncio.run(_reset(args.pg))
        started = time.perf_counter()
        asyncio.run(load(url, rows))
        loaded = time.perf_counter() - started
        counts = ", ".join(f"{t.__tablename__} {len(r)}" for t, r in rows.items() if r)
        print(
            f"data: {args.units} units × {args.years} years ({counts}); loaded in {loaded:.1f} s"
        )
        print(f"database: {url.split('@')[-1] if args.pg else 'SQLite (temporary file)'}")
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        timings, cpu = asyncio.run(measure(url, args.runs))
    print(
        f"\n{'use case':30} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
        f" {'CPU p50':>8} {'CPU p99':>8}"
        f"   (n={args.runs}; CPU = process CPU time, all threads)"
    )
    worst = 0.0
    for name, values in timings.items():
        p99 = _p(values, 0.99)
        worst = max(worst, p99)
        print(
            f"{name:30} {statistics.median(values):7.1f} {_p(values, 0.95):7.1f} {p99:7.1f}"
            f" {statistics.median(cpu[name]):8.1f} {_p(cpu[name], 0.99):8.1f}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if worst >= 200 and not args.no_fail:
        print("p99 target (< 200 ms) missed")
        return 1
    return 0


async def _reset(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
