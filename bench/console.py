"""Benchmark of the web console: every page and report, p99 < 200 ms, 60 units × 5 years.

    .venv/bin/python bench/console.py [--requests N] [--warmup N] [--no-fail]

Generates a SQLite database (in a temporary directory) with 60 units and five years
(2022–2026) of records: conferences in every state, 8-channel releases, incidents with
releases, policies, reminders with deliveries, roster filings, trainings, announcements with
receipts and accountability entries. Serves the bot (sandbox mode, a fixed clock on
2026-11-26 10:00) in this process on 127.0.0.1, signs in as the news office (who sees every
unit: the heaviest view) through the sandbox picker, and times N sequential requests per page
after a warm-up. Reported per page: p50, p99 and max; exit status 1 when a p99 is 200 ms or
more (unless --no-fail), 2 when a page did not answer 200.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, CookieJar  # noqa: E402
from aiohttp.test_utils import TestServer  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bot import build_bot  # noqa: E402
from liuan_bot.clock import SHANGHAI, FixedClock  # noqa: E402
from liuan_bot.settings import load_settings  # noqa: E402
from storage.engine import make_engine, make_session_factory, transaction  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.tables import (  # noqa: E402
    AccountabilityEntry,
    Announcement,
    AnnouncementRecipient,
    Conference,
    Incident,
    IncidentRelease,
    Person,
    Policy,
    Release,
    ReleaseChannel,
    ReminderDelivery,
    ReminderInstance,
    RosterFiling,
    Training,
    Unit,
)

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
YEARS = (2022, 2023, 2024, 2025, 2026)
UNITS = 60
TARGET_P99_MS = 200.0
CHANNELS = ("website", "wechat", "weibo", "app", "tv", "radio", "paper", "county")
PAGES = (
    "/console/",
    "/console/board",
    "/console/units/单位07",
    "/console/applications",
    "/console/incidents",
    "/console/calendar",
    "/console/calendar?month=2026-12",
    "/console/releases",
    "/console/roster",
    "/console/reminders?unit=单位07",
    "/console/announcements",
    "/console/evaluation?period=2026Q4",
    "/console/evaluation?period=2026",
    "/console/evaluation/download?period=2026&format=md",
    "/console/evaluation/download?period=2026&format=csv",
    "/console/evaluation/download?period=2026&format=xlsx",
)


def _rows(model: Any, rows: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """Rows with the model's defaults filled in and datetimes in UTC (as storage keeps them)."""
    out = []
    for row in rows:
        full = model(**row).model_dump()
        if full.get("id") is None:
            full.pop("id", None)
        out.append(
            {k: v.astimezone(UTC) if isinstance(v, datetime) else v for k, v in full.items()}
        )
    return model, out


async def generate(url: str, seed: int = 7) -> dict[str, int]:
    """Five years of a 60-unit city, inserted in bulk; the counts of what was made."""
    rnd = random.Random(seed)
    engine = make_engine(url)
    await upgrade(engine)
    sessions = make_session_factory(engine)
    stamp = NOW - timedelta(days=1)
    units: list[dict[str, Any]] = [
        {"id": 1, "name": "市政府新闻办", "unit_type": "新闻办", "key_unit": False},
        {"id": 2, "name": "市政府办公室", "unit_type": "市直部门", "key_unit": False},
    ]
    for n in range(3, UNITS + 1):
        units.append(
            {
                "id": n,
                "name": f"单位{n:02d}",
                "unit_type": "县区" if n > 45 else "市直部门",
                "key_unit": n <= 35,
                "office_phone": f"0564-33{n:05d}",
            }
        )
    for u in units:
        u.update(created_at=stamp, updated_at=stamp)
    people: list[dict[str, Any]] = [
        {"userid": "newsoffice", "name": "李新闻", "unit_id": 1, "roles": ["新闻办"]},
        {"userid": "news2", "name": "陈新闻", "unit_id": 1, "roles": ["新闻办"]},
        {"userid": "approver", "name": "王审批", "unit_id": 2, "roles": ["副秘书长"]},
    ]
    for u in units[2:]:
        n = u["id"]
        people += [
            {"userid": f"lead{n}", "name": f"负责人{n}", "unit_id": n, "roles": ["主要负责人"]},
            {
                "userid": f"spk{n}a",
                "name": f"发言人{n}甲",
                "unit_id": n,
                "roles": ["新闻发言人"],
                "public": True,
            },
            {
                "userid": f"spk{n}b",
                "name": f"发言人{n}乙",
                "unit_id": n,
                "roles": ["新闻发言人"],
                "public": True,
            },
            {"userid": f"lia{n}", "name": f"联络员{n}", "unit_id": n, "roles": ["联络员"]},
        ]
    for pk, p in enumerate(people, start=1):
        p.update(
            id=pk,
            title="职务",
            mobile="13900000000",
            active=True,
            created_at=stamp,
            updated_at=stamp,
        )
        p.setdefault("public", False)
    confs: list[dict[str, Any]] = []
    releases: list[dict[str, Any]] = []
    channels: list[dict[str, Any]] = []
    incidents: list[dict[str, Any]] = []
    inc_releases: list[dict[str, Any]] = []
    policies: list[dict[str, Any]] = []
    instances: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    filings: list[dict[str, Any]] = []
    trainings: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    seq: dict[str, int] = {}

    def rid(prefix: str, year: int) -> str:
        seq[f"{prefix}{year}"] = seq.get(f"{prefix}{year}", 0) + 1
        return f"{prefix}-{year}-{seq[f'{prefix}{year}']:04d}"

    for year in YEARS:
        end = NOW if year == NOW.year else datetime(year, 12, 31, 18, tzinfo=SHANGHAI)
        span = (end - datetime(year, 1, 1, tzinfo=SHANGHAI)).total_seconds()
        for u in units[2:]:
            n = u["id"]
            for k in range(6):
                at = datetime(year, 1, 1, 9, tzinfo=SHANGHAI) + timedelta(
                    seconds=rnd.uniform(0, span * 0.98)
                )
                kind = "application" if k % 2 == 0 else "filing"
                record = rid("SQ" if kind == "application" else "BA", year)
                counts = ["R8"] + (["R9"] if kind == "application" else [])
                counts += ["R10"] if kind == "application" and k == 0 else []
                confs.append(
                    {
                        "record_id": record,
                        "kind": kind,
                        "unit_id": n,
                        "filer": f"lia{n}",
                        "state": "held",
                        "topic": f"{year}年{u['name']}第{k + 1}场政策发布会",
                        "starts_at": at,
                        "venue": "市政府新闻发布厅",
                        "held_at": at,
                        "speakers": [f"发言人{n}甲"],
                        "held_speakers": [f"发言人{n}甲"],
                        "held_speaker_ids": [f"spk{n}a"],
                        "counts_for": counts,
                    }
                )
                releases.append(
                    {"record_id": record, "unit_id": n, "topic": "发布", "created_at": at}
                )
            for k in range(2):
                at = datetime(year, 1, 1, 8, tzinfo=SHANGHAI) + timedelta(
                    seconds=rnd.uniform(0, span * 0.98)
                )
                incidents.append(
                    {
                        "record_id": rid("TF", year),
                        "unit_id": n,
                        "filer": f"lia{n}",
                        "state": "answered",
                        "title": f"{u['name']}突发事件{k + 1}",
                        "level": "一般",
                        "occurred_at": at,
                        "first_release_at": at + timedelta(hours=2),
                        "answered_at": at + timedelta(hours=20),
                        "answered_by": "SQ",
                    }
                )
            for k in range(3):
                at = datetime(year, 1, 1, 9, tzinfo=SHANGHAI) + timedelta(
                    seconds=rnd.uniform(0, span * 0.95)
                )
                policies.append(
                    {
                        "record_id": rid("ZC", year),
                        "unit_id": n,
                        "filer": f"lia{n}",
                        "state": "interpreted" if k else "pending",
                        "title": f"政策文件{k + 1}",
                        "publish_at": at,
                        "interpretation_url": "https://www.luan.gov.cn/zcjd/1.html" if k else "",
                    }
                )
            for k in range(12):
                due = datetime(year, 1 + k, 20, 9, tzinfo=SHANGHAI)
                if due > NOW:
                    continue
                instances.append(
                    {
                        "key": f"R8|unit:{n}|{year}Q{k // 3 + 1}|m{k}",
                        "rule": "R8",
                        "kind": "quarter_pending",
                        "unit_id": n,
                        "status": "sent",
                        "due_at": due,
                        "recorded_at": due,
                        "recipients": [f"lia{n}", f"lead{n}"],
                        "text": f"{u['name']}本季度尚未召开新闻发布会。",
                    }
                )
            filings.append(
                {
                    "unit_id": n,
                    "year": year,
                    "name": f"发言人{n}甲",
                    "title": "职务",
                    "mobile": "13900000000",
                    "userid": f"spk{n}a",
                    "filer": f"lia{n}",
                    "created_at": datetime(year, 1, 10, tzinfo=SHANGHAI),
                }
            )
            if rnd.random() < 0.3:
                entries.append(
                    {
                        "unit_id": n,
                        "rule": "R8",
                        "label": "重要信息不发布",
                        "subject": f"unit:{n}",
                        "period": f"{year}Q1",
                        "evidence": [],
                        "created_at": datetime(year, 4, 1, tzinfo=SHANGHAI),
                    }
                )
    # this year's open work: applications in every open state, open incidents
    for u in units[2:20]:
        n = u["id"]
        for state in ("submitted", "reviewed", "approved", "scheduled"):
            at = NOW + timedelta(days=rnd.randint(1, 30), hours=rnd.randint(0, 6))
            confs.append(
                {
                    "record_id": rid("SQ", 2026),
                    "kind": "application",
                    "unit_id": n,
                    "filer": f"lia{n}",
                    "state": state,
                    "topic": f"{u['name']}待办发布会<{state}>",
                    "starts_at": at,
                    "venue": "市政府新闻发布厅",
                    "speakers": [f"负责人{n}"],
                }
            )
        incidents.append(
            {
                "record_id": rid("TF", 2026),
                "unit_id": n,
                "filer": f"lia{n}",
                "state": "open",
                "title": f"{u['name']}进行中的突发事件",
                "level": "较大",
                "occurred_at": NOW - timedelta(hours=rnd.randint(1, 20)),
            }
        )
    for c in confs:
        c.setdefault("held_at", None)
        for key in ("held_speakers", "held_speaker_ids", "counts_for"):
            c.setdefault(key, [])
        c.update(created_at=c["starts_at"] - timedelta(days=7), updated_at=c["starts_at"])
    for pk, r in enumerate(releases, start=1):
        r["id"] = pk
        for ch in CHANNELS:
            state = rnd.choice(("published", "published", "published", "sent", "failed"))
            channels.append(
                {
                    "release_id": pk,
                    "channel": ch,
                    "state": state,
                    "title": "标题",
                    "text": "正文",
                    "link": "https://www.luan.gov.cn/a.html" if state == "published" else "",
                }
            )
    for pk, i in enumerate(incidents, start=1):
        i.update(id=pk, created_at=i["occurred_at"], updated_at=i["occurred_at"])
        i.setdefault("first_release_at", None)
        i.setdefault("answered_at", None)
        i.setdefault("answered_by", None)
        if i["first_release_at"]:
            inc_releases.append(
                {
                    "incident_id": pk,
                    "kind": "first",
                    "content": "首发",
                    "by": i["filer"],
                    "at": i["first_release_at"],
                }
            )
    for p in policies:
        p.update(created_at=p["publish_at"], updated_at=p["publish_at"])
    for pk, inst in enumerate(instances, start=1):
        inst["id"] = pk
        for who in inst["recipients"]:
            deliveries.append(
                {
                    "instance_id": pk,
                    "userid": who,
                    "batch": f"b{pk}",
                    "acked_at": inst["due_at"] + timedelta(hours=1)
                    if who.startswith("lia")
                    else None,
                }
            )
    for p in people:
        if "新闻发言人" in p["roles"]:
            for year in YEARS[-2:]:
                trainings.append(
                    {
                        "person_id": p["id"],
                        "trained_on": datetime(year, 5, 1, tzinfo=SHANGHAI),
                        "course": "新闻发布培训",
                        "recorded_by": "newsoffice",
                        "created_at": stamp,
                    }
                )
    announcements = []
    recipients = []
    for pk in range(1, 101):
        at = datetime(YEARS[(pk - 1) // 20], 1 + (pk % 12), 3, 9, tzinfo=SHANGHAI)
        announcements.append(
            {
                "id": pk,
                "record_id": f"GG-{at.year}-{pk:04d}",
                "sender": "newsoffice",
                "audience": "全体发言人",
                "content": f"第{pk}号通知：请按时报送发布计划。",
                "receipt": True,
                "groups": [],
                "created_at": at,
            }
        )
        for p in people[3:]:
            recipients.append(
                {
                    "announcement_id": pk,
                    "userid": p["userid"],
                    "read_at": at + timedelta(hours=3) if rnd.random() < 0.7 else None,
                    "invalid": False,
                    "resent": 0,
                }
            )
    tables = (
        _rows(Unit, units),
        _rows(Person, people),
        _rows(Conference, confs),
        _rows(Release, releases),
        _rows(ReleaseChannel, channels),
        _rows(Incident, incidents),
        _rows(IncidentRelease, inc_releases),
        _rows(Policy, policies),
        _rows(ReminderInstance, instances),
        _rows(ReminderDelivery, deliveries),
        _rows(RosterFiling, filings),
        _rows(Training, trainings),
        _rows(AccountabilityEntry, entries),
        _rows(Announcement, announcements),
        _rows(AnnouncementRecipient, recipients),
    )
    counts: dict[str, int] = {}
    async with transaction(sessions) as session:
        for model, rows in tables:
            for start in range(0, len(rows), 400):
                await session.exec(insert(model).values(rows[start : start + 400]))  # type: ignore[call-overload]
            counts[model.__tablename__] = len(rows)
    await engine.dispose()
    return counts


async def measure(
    url: str, workdir: Path, requests: int, warmup: int
) -> list[tuple[str, list[float], int, float]]:
    env = {"LIUAN_DATABASE_URL": url, "LIUAN_PUBLIC_URL": ""}
    settings = load_settings(env, data_dir=workdir)
    bot = build_bot(settings, clock=FixedClock(NOW), run_worker=False, run_scheduler=False)
    server = TestServer(bot.app(), host="127.0.0.1", port=0)
    await server.start_server()
    results = []
    try:
        jar = CookieJar(unsafe=True)  # cookies from 127.0.0.1
        async with ClientSession(base_url=str(server.make_url("")), cookie_jar=jar) as http:
            page = await (await http.get("/console/login")).text()
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            signed = await http.post(
                "/console/login",
                data={"userid": "newsoffice", "csrf": csrf},
                allow_redirects=False,
            )
            assert signed.status == 302, await signed.text()
            for path in PAGES:
                samples = []
                cold = 0.0
                status = 200
                for n in range(warmup + requests):
                    started = time.perf_counter()
                    async with http.get(path, allow_redirects=False) as resp:
                        await resp.read()
                        status = resp.status if resp.status != 200 else status
                    elapsed = (time.perf_counter() - started) * 1000
                    if n == 0:
                        cold = elapsed
                    if n >= warmup:
                        samples.append(elapsed)
                results.append((path, samples, status, cold))
    finally:
        await server.close()
    return results


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--no-fail", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = f"sqlite+aiosqlite:///{workdir}/console.db"
        started = time.perf_counter()
        counts = await generate(url)
        print(f"data: {counts} ({time.perf_counter() - started:.1f} s to generate)")
        print(f"load average before: {os.getloadavg()}")
        results = await measure(url, workdir, args.requests, args.warmup)
        print(f"load average after: {os.getloadavg()}")
    print("\n| page | first request (ms) | p50 (ms) | p99 (ms) | max (ms) | n |")
    print("|---|---:|---:|---:|---:|---:|")
    failed = bad = False
    for path, samples, status, cold in results:
        worst = p99(samples)
        failed |= worst >= TARGET_P99_MS
        bad |= status != 200
        mark = "" if status == 200 else f" (HTTP {status})"
        print(
            f"| `{path}`{mark} | {cold:.1f} | {statistics.median(samples):.1f} | {worst:.1f} | "
            f"{max(samples):.1f} | {len(samples)} |"
        )
    verdict = "missed" if failed else "met"
    print(f"\ntarget p99 < {TARGET_P99_MS:.0f} ms for every page: {verdict}")
    if bad:
        return 2
    return 1 if failed and not args.no_fail else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
