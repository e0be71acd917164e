"""The operator's subcommands that only need the database: `db upgrade`, `roster import`,
`outbox list|retry`, `report`, and the schema check before `serve` (issue 11 §5).

`bot.py` parses the command line (liuan_bot/cli.py) and calls these; each opens its own
engine and disposes of it. Output is Chinese, one line a fact, no traceback."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from liuan_bot.cli import iso_moment
from liuan_bot.clock import SystemClock
from liuan_bot.settings import Settings
from storage.engine import make_engine, make_session_factory

log = logging.getLogger("liuan_bot")


async def db_upgrade(settings: Settings) -> None:
    from storage.migrate import upgrade

    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    print("数据库已是最新结构。")


async def roster_import(settings: Settings, data: bytes, if_empty: bool) -> int:
    from liuan_bot.domain.roster import parse_roster_csv
    from storage.engine import transaction
    from storage.roster_store import count_people, import_roster

    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    clock = SystemClock(settings.tz)
    try:
        if if_empty:
            async with sessions() as session:
                if await count_people(session) > 0:
                    print("名册已有数据，跳过导入。")
                    return 0
        parsed = parse_roster_csv(data)
        for warning in parsed.warnings:
            print(f"提醒：{warning}")
        if parsed.errors:
            print(f"名册有 {len(parsed.errors)} 处错误，未导入任何数据：", file=sys.stderr)
            for error in parsed.errors:
                print(f"  {error}", file=sys.stderr)
            return 1
        async with transaction(sessions) as session:
            summary = await import_roster(session, parsed.rows, clock.now())
        print(
            f"名册导入完成：新增单位 {summary.units_created} 个、更新 {summary.units_updated} 个；"
            f"新增人员 {summary.people_created} 人、更新 {summary.people_updated} 人。"
        )
        return 0
    finally:
        await engine.dispose()


KIND_NAMES = {
    "app": "应用消息",
    "appchat": "群聊消息",
    "webhook": "群机器人",
    "card_update": "卡片更新",
    "calendar": "日程",
}


async def outbox(settings: Settings, action: str, failed: bool, ids: list[str], all_: bool) -> int:
    """`outbox list --failed` and `outbox retry ID…|--all` (parked rows, docs/outbox-errors.md)."""
    from storage.outbox_store import list_parked, retry_parked

    if action == "list" and not failed:
        print("目前只支持查看未能送达的消息：python bot.py outbox list --failed", file=sys.stderr)
        return 2
    if action == "retry" and bool(ids) == all_:
        print("请给出要重发的消息编号，或用 --all 重发全部未送达的消息。", file=sys.stderr)
        return 2
    try:
        row_ids = [int(i) for i in ids]
    except ValueError:
        print(f"消息编号应为数字：{' '.join(ids)}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    try:
        if action == "list":
            rows = await list_parked(sessions)
            if not rows:
                print("没有未能送达的消息。")
                return 0
            print(f"未能送达的消息：{len(rows)} 条")
            print("编号\t收件人\t类型\t原因\t时间")
            for row in rows:
                when = (
                    row.parked_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
                    if (row.parked_at)
                    else "—"
                )
                target = row.target if len(row.target) <= 40 else row.target[:37] + "…"
                kind = KIND_NAMES.get(row.kind, row.kind)
                print(f"{row.id}\t{target}\t{kind}\t{row.reason}\t{when}")
            return 0
        count = await retry_parked(
            sessions, SystemClock(settings.tz).now(), None if all_ else row_ids
        )
        if not count and all_:
            print("没有未能送达的消息。")
            return 0
        if not count:
            print("没有找到这些编号的未送达消息。", file=sys.stderr)
            return 1
        print(f"已重新排队 {count} 条消息，运行中的机器人会尽快发送。")
        return 0
    finally:
        await engine.dispose()


async def report(
    settings: Settings, period: str, unit: str | None, fmt: str, out: Path, at_text: str | None
) -> int:
    """python bot.py report: the R14 evaluation and accountability list as md / csv / xlsx."""
    from handlers.evaluation import report_data
    from liuan_bot.errors import UserError
    from liuan_bot.reports import render
    from storage.engine import read_only

    now = SystemClock(settings.tz).now()
    if at_text:
        moment = iso_moment("--at", at_text, settings.tz)
        if moment is None:
            return 2
        now = moment.astimezone(settings.tz)
    engine = make_engine(settings.database_url)
    try:
        async with make_session_factory(engine)() as session:
            await read_only(session)
            evaluation, entries = await report_data(session, period, now, unit=unit)
    except UserError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    data = await asyncio.to_thread(render, fmt, evaluation, entries)
    try:
        await asyncio.to_thread(out.write_bytes, data)
    except OSError as exc:
        print(f"无法写入 {out}：{exc.strerror}", file=sys.stderr)
        return 1
    print(
        f"已生成{evaluation.label}评估报表：{out}（{len(evaluation.units)} 个单位，"
        f"问责清单 {len(entries)} 条）"
    )
    return 0


async def schema_ready(settings: Settings) -> bool:
    from storage.migrate import current_tables

    engine = make_engine(settings.database_url)
    try:
        return "alembic_version" in await current_tables(engine)
    except Exception:
        log.exception("cannot reach the database")
        return False
    finally:
        await engine.dispose()
