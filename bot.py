"""liuan-bot: the composition root and command line.

    python bot.py serve                      start the bot (sandbox mode without WeCom secrets)
    python bot.py db upgrade                 create or migrate the database schema
    python bot.py roster import FILE.csv     import the roster (all-or-nothing)
    python bot.py console --user USERID      chat with a running bot from the terminal
    python bot.py outbox list --failed       messages that gave up (parked), with the reason
    python bot.py outbox retry ID|--all      send parked messages again

Settings come from the environment and `config/settings.toml` (see README). Nothing in the
project opens a connection or reads the environment at import time: it all happens here.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import secrets
import shlex
import socket
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.console import ConsoleService, workbench_sync
from handlers.context import Deps, RelayConfig
from handlers.deliveries import after_delivery
from handlers.dispatch import InboundPipeline
from handlers.feeds import feed_routes
from handlers.registry import build_registry
from handlers.reminders import ReminderEngine, preview, sweep
from liuan_bot.app import PathOnlyAccessLogger, Routes, ServerLimits, create_app, run_guarded
from liuan_bot.calendar_loader import CalendarFile, warn_if_unknown
from liuan_bot.clock import Clock, ShiftedClock, SystemClock
from liuan_bot.commands.fields import lexicon
from liuan_bot.commands.registry import Registry
from liuan_bot.commands.suggest import Suggester
from liuan_bot.config import Config, ConfigError, load_config
from liuan_bot.domain.reminders import ReminderConfig
from liuan_bot.errors import UserError
from liuan_bot.groups import webhook_keys
from liuan_bot.inbox import Inbox
from liuan_bot.metrics import Metrics
from liuan_bot.outbox import Claimed, Delivered, OutboxWorker
from liuan_bot.pacing import InProcessPacer, Pacer
from liuan_bot.relay import ChannelSpec, Composer
from liuan_bot.scheduling import ReminderScheduler
from liuan_bot.settings import Settings, SettingsError, load_settings
from liuan_bot.web import ConsoleConfig, create_console_app
from liuan_bot.web.security import derive_key
from liuan_bot.wecom.api import WeComApiClient, WeComError
from liuan_bot.wecom.callback import CallbackView
from liuan_bot.wecom.crypto import CallbackCrypto
from liuan_bot.wecom.fake_server import FakeWeCom
from liuan_bot.wecom.simulate import CallbackSigner, event_xml
from storage.engine import (
    SessionFactory,
    is_sqlite,
    make_engine,
    make_session_factory,
)
from storage.inbox_store import SqlInboxStore, SqliteDirect, WriteGate
from storage.outbox_store import SqlOutboxStore, SqlPacer, report_parked

log = logging.getLogger("liuan_bot")
ROOT = Path(__file__).resolve().parent
DEFAULT_CONFIG = ROOT / "config" / "settings.toml"


@dataclass
class Bot:
    """Every long-lived part of a running bot, wired together."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    deps: Deps
    inbox: Inbox
    outbox_store: SqlOutboxStore
    metrics: Metrics
    api_base: str
    fake: FakeWeCom | None = None
    api: WeComApiClient | None = None
    worker: OutboxWorker | None = None
    run_worker: bool = True
    run_scheduler: bool = True
    webhook_keys: Mapping[str, str] = field(default_factory=dict)
    pipeline: InboundPipeline | None = None
    sweep_every_s: float = 2.0
    reminders: ReminderEngine | None = None
    scheduler: ReminderScheduler | None = None
    config: Config | None = None  # the data files of config/, read once (issue 11 §5)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _http: aiohttp.ClientSession | None = None

    async def health(self) -> dict[str, object]:
        database = True
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            log.exception("health check: database unavailable")
            database = False
        problems = list(self.worker.problems.values()) if self.worker else []
        health: dict[str, object] = {
            "status": "ok" if database and not problems else "degraded",
            "database": database,
            "mode": "sandbox" if self.settings.sandbox else "live",
        }
        if problems:  # a WeCom configuration error holds the outbox (docs/outbox-errors.md)
            health["reason"] = "；".join(p.reason for p in problems)
            health["reason_en"] = "; ".join(p.reason_en for p in problems)
            health["outbox_problems"] = [
                {"scope": p.scope, "errcode": p.errcode, "since": p.since.isoformat()}
                for p in problems
            ]
        return health

    async def render_metrics(self) -> str:
        depth = await self.outbox_store.depth()
        errors = dict(self.api.error_counts) if self.api else {}
        problems = self.worker.problems.values() if self.worker else ()
        return self.metrics.render(
            depth, errors, config_errors={(p.scope, p.errcode): 1 for p in problems}
        )

    def app(self) -> web.Application:
        crypto = CallbackCrypto(
            self.settings.token.reveal(), self.settings.aes_key.reveal(), self.settings.corp_id
        )
        view = CallbackView(
            crypto,
            self.inbox.accept,
            self.clock,
            max_body_bytes=self.settings.max_body_bytes,
            max_age_s=self.settings.callback_max_age_s,
            future_skew_s=self.settings.callback_future_skew_s,
            body_timeout_s=self.settings.http_body_timeout_s,
            on_outcome=self.metrics.callback,
            # WeCom stamps callbacks with real time, also during a --clock-start rehearsal
            replay_clock=SystemClock(self.clock.tz)
            if isinstance(self.clock, ShiftedClock)
            else None,
        )
        routes = Routes(
            callback=view,
            health=self.health,
            metrics=self.render_metrics,
            sandbox_viewer=self.fake.sandbox_routes() if self.fake else None,
            sandbox_api=self.fake.app() if self.fake else None,
            feeds=feed_routes(self.deps),
            console=self.console_app(),
        )
        app = create_app(routes)
        app.cleanup_ctx.append(self._lifecycle)
        return app

    def console_app(self) -> web.Application:
        """The web console (issue 10 §1) over the same deps, in the same process."""
        config = ConsoleConfig(
            sandbox=self.settings.sandbox,
            corp_id=self.settings.corp_id,
            agent_id=self.settings.agent_id,
            link_base=self.settings.link_base,
            signing_key=derive_key(
                self.settings.corp_id,
                self.settings.secret.reveal(),
                self.settings.aes_key.reveal(),
            ),
        )

        async def exchange_code(code: str) -> str | None:
            if self.api is None:
                raise UserError("机器人正在启动，请稍后再试。")
            try:
                return await self.api.get_user_info(code)
            except WeComError:
                log.exception("console sign-in: getuserinfo failed")
                raise UserError("暂时无法向企业微信确认您的身份，请稍后再试。") from None

        return create_console_app(
            ConsoleService(lambda: self.deps), config, self.clock, exchange_code
        )

    async def _lifecycle(self, _app: web.Application) -> AsyncIterator[None]:
        await self.start()
        yield
        await self.stop()

    async def start(self) -> None:
        self._http = aiohttp.ClientSession()
        self.api = WeComApiClient(
            session=self._http,
            corp_id=self.settings.corp_id,
            secret=self.settings.secret.reveal(),
            agent_id=self.settings.agent_id,
            clock=self.clock,
            api_base=self.api_base,
        )
        budget = self.settings.daily_recipient_budget
        pacer: Pacer = (
            SqlPacer(self.deps.sessions, daily_budget=budget)
            if self.outbox_store.postgres  # several instances share the windows
            else InProcessPacer(daily_budget=budget)
        )
        sessions = self.deps.sessions

        async def housekeeping(now: datetime) -> None:
            await report_parked(sessions, now)
            if isinstance(pacer, SqlPacer):
                await pacer.prune(now)

        self.worker = OutboxWorker(
            self.outbox_store,
            self.api,
            self.clock,
            worker_id=f"{socket.gethostname()}-{os.getpid()}",
            webhook_keys=self.webhook_keys,
            pacer=pacer,
            on_sent=self.metrics.delivery_latency.observe,
            on_result=self._after_delivery,
            housekeeping=housekeeping,
        )
        self.deps = replace(self.deps, wake_outbox=self.worker.wake)
        if self.pipeline is not None:
            self.pipeline.deps = self.deps
        if self.run_worker:
            self._tasks.append(asyncio.create_task(self.worker.run_forever()))
        self.reminders = replace(
            load_reminder_engine(
                self.deps.sessions,
                self.clock,
                self.deps.records.reminders,
                holidays=self.config.holidays if self.config else None,
            ),
            wake_outbox=self.worker.wake,
            # every channel's name (the county one too: E1, no channel id in the digest);
            # only channels with editors and state "sent" are ever reminded
            relay_channels={c.key: (c.name, c.editors) for c in self.deps.relay.channels},
        )
        engine = self.reminders

        async def run_sweep(now: datetime, precise: bool) -> datetime | None:
            return (await sweep(engine, now, precise=precise)).next_precise

        self.scheduler = ReminderScheduler(run_sweep, self.clock)
        if self.run_scheduler:
            self.scheduler.start()
        if self.run_worker:  # stored messages nobody is handling: now, then every few seconds
            self._tasks.append(asyncio.create_task(self.inbox.run_sweeps(self.sweep_every_s)))
        if self.settings.workbench and self.run_scheduler:
            self._tasks.append(asyncio.create_task(self._workbench_loop()))
        mode = "沙箱模式" if self.settings.sandbox else "正式模式"
        log.info("liuan-bot started (%s), callback at /wecom/callback", mode)

    async def sandbox_click(self, user: str, key: str, task_id: str, card_type: str) -> str | None:
        """Sandbox mode (issue 9 C2): a button pressed in the viewer reaches the bot as the real
        encrypted card-event callback WeCom would send; returns the label of its reply."""
        signer = CallbackSigner(
            self.settings.token.reveal(), self.settings.aes_key.reveal(), self.settings.corp_id
        )
        now = int(self.clock.now().timestamp())
        plaintext = event_xml(
            corp_id=self.settings.corp_id,
            from_user=user,
            event="template_card_event",
            create_time=now,
            agent_id=self.settings.agent_id,
            event_key=key,
            task_id=task_id,
            card_type=card_type,
        )
        signed = signer.sign(plaintext, timestamp=now)
        assert self._http is not None
        url = f"{self.settings.public_url}/wecom/callback"
        async with self._http.post(url, params=signed.query, data=signed.body) as resp:
            body = await resp.read()
        if resp.status != 200 or not body:
            return None
        return signer.open_reply(body).get("ReplaceName") or None

    async def _after_delivery(self, row: Claimed, result: Delivered) -> None:
        """Follow-ups of a delivery: handlers/deliveries.py (issue 11 §4)."""
        await after_delivery(self.deps.sessions, self.clock, row, result, self._wake_outbox)

    def _wake_outbox(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    async def _workbench_loop(self) -> None:
        """LIUAN_WORKBENCH: refresh the workbench tiles once a minute (issue 10 §3)."""
        while True:
            try:
                queued = await workbench_sync(self.deps)
                if queued:
                    log.info("workbench: %s tile updates queued", queued)
            except Exception:
                log.exception("workbench refresh failed; trying again in a minute")
            await asyncio.sleep(60)

    async def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown()
        await self.inbox.drain()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks.clear()
        if self._http is not None:
            await self._http.close()
        if self.pipeline is not None and self.pipeline.direct is not None:
            await self.pipeline.direct.close()
        await self.engine.dispose()


def build_bot(
    settings: Settings,
    *,
    clock: Clock | None = None,
    api_base: str | None = None,
    sandbox_fake: FakeWeCom | None = None,
    run_worker: bool = True,
    run_scheduler: bool = True,
    registry: Registry | None = None,
    environ: Mapping[str, str] | None = None,
    config: Config | None = None,
) -> Bot:
    """Wire a bot. In sandbox mode a fake WeCom API is mounted at /sandbox/api. `config`: the
    data files, read once by `load_config` (read here from `settings.config_dir` if not given)."""
    config = config or load_config(config_dir_of(settings))
    clock = clock or SystemClock(settings.tz)
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    metrics = Metrics()
    fake = sandbox_fake
    if settings.sandbox and fake is None and api_base is None:
        fake = FakeWeCom(
            corp_id=settings.corp_id,
            secret=settings.secret.reveal(),
            clock=clock,
            journal=settings.data_dir / "sandbox-messages.jsonl",  # survives a restart (C2)
        )
    base = api_base or (
        f"{settings.public_url}/sandbox/api" if settings.sandbox else settings.api_base
    )
    relay = RelayConfig(
        channels=config.channels,
        composer=Composer(config.jieba_dict, config.stopwords),
        directory_url=f"{settings.link_base}/directory",
        preview_to_spokespersons=settings.preview_to_spokespersons,
        robots_ready=frozenset(webhook_keys(config.robots, environ or {})),
    )
    registry = registry or build_registry(configured_lexicons(relay.channels))
    suggester = Suggester(config.jieba_dict, config.stopwords, registry)
    deps = Deps(
        sessions,
        clock,
        registry,
        settings,
        suggester=suggester,
        groups=dict(config.groups),
        relay=relay,
        records=config.records,
    )
    postgres = not is_sqlite(settings.database_url)
    gate = WriteGate(serialize=not postgres)
    direct = SqliteDirect.for_url(settings.database_url)
    pipeline = InboundPipeline(deps, gate=gate, direct=direct)
    inbox = Inbox(
        SqlInboxStore(sessions, postgres=postgres, gate=gate, direct=direct),
        pipeline,
        clock,
        reply_budget_s=settings.reply_budget_s,
        owner=f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"[:64],
        on_outcome=metrics.callback,
    )
    bot = Bot(
        settings=settings,
        clock=clock,
        engine=engine,
        deps=deps,
        inbox=inbox,
        outbox_store=SqlOutboxStore(sessions, postgres=postgres),
        metrics=metrics,
        api_base=base,
        fake=fake,
        pipeline=pipeline,
        run_worker=run_worker,
        run_scheduler=run_scheduler,
        webhook_keys=webhook_keys(config.robots, environ or {}),
        config=config,
    )
    if fake is not None and sandbox_fake is None:
        fake.on_click = bot.sandbox_click
    return bot


def load_reminder_engine(
    sessions: SessionFactory,
    clock: Clock,
    config: ReminderConfig | None = None,
    *,
    holidays: CalendarFile | None = None,
) -> ReminderEngine:
    """The working calendar and reminder schedules from config/ (issue 4); `config` is the one
    the handlers read too (issue 11 §3) and `holidays` the file `load_config` read, when given
    (else both come from the repo's config/)."""
    if config is None or holidays is None:
        loaded = load_config(ROOT / "config")
        config, holidays = config or loaded.reminders, holidays or loaded.holidays
    this_year = clock.now().year
    warn_if_unknown(holidays.calendar, range(this_year, this_year + 2))
    return ReminderEngine(sessions, holidays.calendar, config, current_calendar=holidays.current)


def config_dir_of(settings: Settings | None) -> Path:
    """LIUAN_CONFIG_DIR, else the repo's config/."""
    return (settings.config_dir if settings is not None else None) or ROOT / "config"


def _config_or_report(directory: Path) -> Config | None:
    """The config, or None after printing every problem in Chinese (one a line, file and key)."""
    try:
        return load_config(directory)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    return load_settings(env, config_path=DEFAULT_CONFIG)


# ---------------------------------------------------------------- commands


async def _db_upgrade(settings: Settings) -> None:
    from storage.migrate import upgrade

    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    print("数据库已是最新结构。")


async def _roster_import(settings: Settings, data: bytes, if_empty: bool) -> int:
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


async def _reminders_preview(
    settings: Settings, at_text: str, unit: str | None, config: Config | None = None
) -> int:
    """What a sweep at `--at` would send, to whom and why; nothing is sent or recorded."""
    try:
        at = datetime.fromisoformat(at_text)
    except ValueError:
        print(f"--at 不是有效的 ISO 8601 时间：{at_text}", file=sys.stderr)
        return 2
    at = (at if at.tzinfo else at.replace(tzinfo=settings.tz)).astimezone(settings.tz)
    engine = make_engine(settings.database_url)
    try:
        reminder_engine = load_reminder_engine(
            make_session_factory(engine),
            SystemClock(settings.tz),
            config.reminders if config else None,
            holidays=config.holidays if config else None,
        )
        lines = await preview(reminder_engine, at, unit)
    finally:
        await engine.dispose()
    scope = f"（{unit}）" if unit else ""
    print(f"{at.isoformat()} 将发送的提醒{scope}：{len(lines)} 条")
    for line in lines:
        print(line)
    return 0


KIND_NAMES = {
    "app": "应用消息",
    "appchat": "群聊消息",
    "webhook": "群机器人",
    "card_update": "卡片更新",
    "calendar": "日程",
}


async def _outbox(
    settings: Settings, action: str, failed: bool, ids: list[str], all_: bool
) -> int:
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


async def _report(
    settings: Settings, period: str, unit: str | None, fmt: str, out: Path, at_text: str | None
) -> int:
    """python bot.py report: the R14 evaluation and accountability list as md / csv / xlsx."""
    from handlers.evaluation import report_data
    from liuan_bot.errors import UserError
    from liuan_bot.reports import render
    from storage.engine import read_only

    now = SystemClock(settings.tz).now()
    if at_text:
        try:
            now = datetime.fromisoformat(at_text)
        except ValueError:
            print(f"--at 不是有效的 ISO 8601 时间：{at_text}", file=sys.stderr)
            return 2
        now = (now if now.tzinfo else now.replace(tzinfo=settings.tz)).astimezone(settings.tz)
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


async def _schema_ready(settings: Settings) -> bool:
    from storage.migrate import current_tables

    engine = make_engine(settings.database_url)
    try:
        return "alembic_version" in await current_tables(engine)
    except Exception:
        log.exception("cannot reach the database")
        return False
    finally:
        await engine.dispose()


DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"  # what `bot.py console` reaches without --url


def _python_command() -> str:
    """How to run this interpreter from here, as a person would type it (F1)."""
    exe = Path(sys.executable)
    try:
        shown = str(exe.relative_to(Path.cwd()))
    except ValueError:
        shown = str(exe)
    return shlex.quote(shown)


def _bind(host: str, port: int) -> socket.socket | None:
    """The listening socket, bound before anything else runs (F1: no sweep, no outbox on a
    port that turns out to be taken); None (with one Chinese line) when the port is in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            print(
                f"端口 {port} 已被占用：请关闭占用它的程序，"
                f"或换一个端口，例如 LIUAN_HTTP_PORT={port + 1} make run。",
                file=sys.stderr,
            )
        else:
            print(
                f"无法在 {host}:{port} 上监听：{exc.strerror}（见 LIUAN_HTTP_PORT）",
                file=sys.stderr,
            )
        return None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _serve(
    settings: Settings,
    host: str | None,
    port: int | None,
    clock: Clock | None = None,
    config: Config | None = None,
) -> int:
    settings = replace(
        settings, http_host=host or settings.http_host, http_port=port or settings.http_port
    )
    sock = _bind(settings.http_host, settings.http_port)
    if sock is None:
        return 2
    bot = build_bot(settings, clock=clock, environ=os.environ, config=config)
    if settings.sandbox:
        url = "" if settings.public_url == DEFAULT_PUBLIC_URL else f" --url {settings.public_url}"
        print(
            f"沙箱模式：未设置 LIUAN_WECOM_SECRET，消息不会发往企业微信。\n"
            f"  查看机器人发出的消息：{settings.public_url}/sandbox/\n"
            f"  网页控制台（选择身份登录）：{settings.link_base}/console/\n"
            f"  在另一个终端里和机器人对话：{_python_command()} bot.py console --user demo{url}",
            flush=True,
        )
    limits = ServerLimits(settings.http_header_timeout_s, settings.http_max_connections)
    run_guarded(
        bot.app(),
        settings.http_host,
        settings.http_port,
        limits,
        sock=sock,
        access_log_class=PathOnlyAccessLogger,
    )
    return 0


def configured_lexicons(channels: Iterable[ChannelSpec]) -> dict[str, dict[str, str]]:
    """What the grammars resolve from configuration: channel aliases (issue 9 E4)."""
    named = [(c.name, (c.key, *c.aliases)) for c in channels if not c.county]
    return {"channel": lexicon(named)}


def _parse(text: str, now_text: str | None) -> int:
    import json
    from datetime import datetime

    from liuan_bot.clock import SHANGHAI
    from liuan_bot.commands.registry import understand

    if now_text:
        try:
            now = datetime.fromisoformat(now_text)
        except ValueError:
            print(f"--now 不是有效的 ISO 8601 时间：{now_text}", file=sys.stderr)
            return 2
        if now.tzinfo is None:
            now = now.replace(tzinfo=SHANGHAI)
    else:
        now = SystemClock(SHANGHAI).now()
    env_dir = os.environ.get("LIUAN_CONFIG_DIR")
    config = _config_or_report(Path(env_dir) if env_dir else ROOT / "config")
    if config is None:
        return 2
    registry = build_registry(configured_lexicons(config.channels))
    result = understand(registry, text, now.astimezone(SHANGHAI))
    print(json.dumps(result, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bot.py", description="六安市政务新闻发布助手")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="启动机器人")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--clock-start",
        help="演练用：让机器人以为现在是这个时刻（ISO 8601），时间照常流逝；勿用于正式环境",
    )
    db = sub.add_parser("db", help="数据库")
    db.add_argument("action", choices=["upgrade"])
    roster = sub.add_parser("roster", help="名册")
    roster.add_argument("action", choices=["import"])
    roster.add_argument("file", type=Path)
    roster.add_argument("--if-empty", action="store_true", help="仅当名册为空时导入")
    sub.add_parser("commands", help="以 Markdown 表格列出全部命令（README 用）")
    parse = sub.add_parser("parse", help="显示机器人如何理解一条消息（JSON）")
    parse.add_argument("text")
    parse.add_argument("--user", help="发送人的企业微信账号（不影响解析）")
    parse.add_argument("--now", help="当前时间，ISO 8601，如 2026-11-26T10:00+08:00")
    reminders = sub.add_parser("reminders", help="提醒")
    reminders.add_argument("action", choices=["preview"])
    reminders.add_argument("--at", required=True, help="时刻，ISO 8601，如 2026-12-24T09:00+08:00")
    reminders.add_argument("--unit", help="只看某个单位")
    report = sub.add_parser("report", help="导出评估报表和问责清单（R14）")
    report.add_argument("--period", required=True, help="考核期：2026Q4、2026H2 或 2026")
    report.add_argument("--unit", help="只看某个单位（单位全称）")
    report.add_argument("--format", choices=["md", "csv", "xlsx"], default="md")
    report.add_argument("--out", type=Path, required=True, help="输出文件")
    report.add_argument("--at", help="统计截至的时刻，ISO 8601，默认现在")
    console = sub.add_parser("console", help="在终端里与运行中的机器人对话")
    console.add_argument("--user", required=True, help="以哪个企业微信账号的身份发消息")
    console.add_argument("--url", help="机器人地址，默认 http://HOST:PORT")
    console.add_argument(
        "--linger", type=float, default=2.0, help="输入结束后再等待推送消息的秒数（沙箱模式）"
    )
    outbox = sub.add_parser("outbox", help="发件箱：查看和重发未能送达的消息")
    outbox.add_argument("action", choices=["list", "retry"])
    outbox.add_argument("ids", nargs="*", help="要重发的消息编号")
    outbox.add_argument("--failed", action="store_true", help="列出未能送达（已搁置）的消息")
    outbox.add_argument("--all", action="store_true", help="重发全部未能送达的消息")
    args = parser.parse_args(argv)

    if args.command == "parse":
        return _parse(args.text, args.now)
    if args.command == "commands":
        from handlers.help import commands_markdown

        print(commands_markdown(build_registry()))
        return 0
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        settings = settings_from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    config: Config | None = None
    if args.command in ("serve", "reminders"):  # every problem of config/, before anything runs
        config = _config_or_report(config_dir_of(settings))
        if config is None:
            return 2
    if args.command == "serve":
        clock: Clock | None = None
        if args.clock_start:
            try:
                start = datetime.fromisoformat(args.clock_start)
            except ValueError:
                print(
                    f"--clock-start 不是有效的 ISO 8601 时间：{args.clock_start}", file=sys.stderr
                )
                return 2
            start = start if start.tzinfo else start.replace(tzinfo=settings.tz)
            clock = ShiftedClock(start, settings.tz)
            log.warning("rehearsal clock: the bot believes it is %s", start.isoformat())
        if not asyncio.run(_schema_ready(settings)):
            print(
                f"数据库尚未初始化或无法连接：请先运行 {_python_command()} bot.py db upgrade"
                "（make run 会自动完成），并检查 LIUAN_DATABASE_URL。",
                file=sys.stderr,
            )
            return 2
        return _serve(settings, args.host, args.port, clock, config)
    if args.command == "db":
        asyncio.run(_db_upgrade(settings))
        return 0
    if args.command == "roster":
        try:
            data = args.file.read_bytes()
        except OSError as exc:
            print(f"无法读取名册文件 {args.file}：{exc.strerror}", file=sys.stderr)
            return 1
        if not asyncio.run(_schema_ready(settings)):
            print(
                f"数据库尚未初始化：请先运行 {_python_command()} bot.py db upgrade，再导入名册"
                "（make demo 会依次完成），并检查 LIUAN_DATABASE_URL。",
                file=sys.stderr,
            )
            return 2
        return asyncio.run(_roster_import(settings, data, args.if_empty))
    if args.command == "reminders":
        return asyncio.run(_reminders_preview(settings, args.at, args.unit, config))
    if args.command == "outbox":
        if not asyncio.run(_schema_ready(settings)):
            print(
                "数据库尚未初始化或无法连接：请先运行 python bot.py db upgrade，"
                "并检查 LIUAN_DATABASE_URL。",
                file=sys.stderr,
            )
            return 2
        return asyncio.run(_outbox(settings, args.action, args.failed, args.ids, args.all))

    if args.command == "report":
        return asyncio.run(
            _report(settings, args.period, args.unit, args.format, args.out, args.at)
        )
    if args.command == "console":
        from liuan_bot.console import run_console

        url = args.url or settings.public_url
        return asyncio.run(run_console(settings, args.user, url, linger_s=args.linger))
    return 2


if __name__ == "__main__":
    sys.exit(main())
