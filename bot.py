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

import asyncio
import logging
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers import cli_commands
from handlers.cli_commands import outbox as _outbox
from handlers.cli_commands import report as _report
from handlers.cli_commands import roster_import as _roster_import
from handlers.console import ConsoleService, workbench_sync
from handlers.context import Deps, RelayConfig
from handlers.deliveries import after_delivery
from handlers.dispatch import InboundPipeline
from handlers.feeds import feed_routes
from handlers.registry import build_registry
from handlers.reminders import ReminderEngine, preview, sweep
from liuan_bot.app import PathOnlyAccessLogger, Routes, ServerLimits, create_app, run_guarded
from liuan_bot.calendar_loader import CalendarFile, warn_if_unknown
from liuan_bot.cli import (
    DEFAULT_PUBLIC_URL,
    bind,
    build_parser,
    config_or_report,
    iso_moment,
    python_command,
)
from liuan_bot.clock import Clock, ShiftedClock, SystemClock
from liuan_bot.commands.fields import lexicon
from liuan_bot.commands.registry import Registry
from liuan_bot.commands.suggest import Suggester
from liuan_bot.config import Config, load_config
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
from storage.checkpoint import WalCheckpointer
from storage.engine import (
    SessionFactory,
    is_sqlite,
    make_engine,
    make_session_factory,
)
from storage.inbox_store import PostgresDirect, SqlInboxStore, SqliteDirect, WriteGate
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
    # SQLite: the console's own engine, statements in a worker thread (see Bot.app)
    console_engine: AsyncEngine | None = None
    console_sessions: SessionFactory | None = None
    # SQLite: the WAL's checkpoints, in a thread (storage/checkpoint.py)
    checkpointer: WalCheckpointer | None = None
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

        def console_deps() -> Deps:
            # On SQLite the pipeline's engine runs statements on the event loop; console pages
            # and reports read for tens of milliseconds, so they get an engine of their own
            # whose statements run in a worker thread and never hold up a callback.
            if self.console_sessions is None:
                return self.deps
            return replace(self.deps, sessions=self.console_sessions)

        return create_console_app(ConsoleService(console_deps), config, self.clock, exchange_code)

    def use_deps(self, deps: Deps) -> None:
        """Replace the use cases' dependencies everywhere they are held: here and in the
        inbound pipeline (the console reads them through `self.deps` on every request)."""
        self.deps = deps
        if self.pipeline is not None:
            self.pipeline.deps = deps

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
        self.use_deps(replace(self.deps, wake_outbox=self.worker.wake))
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

    def _wake_outbox(self, targets: Collection[str] | None = None) -> None:
        if self.worker is not None:
            self.worker.wake(targets)

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
        await self.inbox.close()
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
        if self.console_engine is not None:
            await self.console_engine.dispose()
        await self.engine.dispose()
        if self.checkpointer is not None:
            await self.checkpointer.close()


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
    # SQLite: the WAL's checkpoints in a thread, not inside a commit on the loop
    checkpointer = WalCheckpointer.for_url(settings.database_url)
    engine = make_engine(settings.database_url, checkpointer=checkpointer)
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
    # the pipeline's write transactions, each for up to `write_batch` messages
    # (storage/batch.py): on SQLite one at a time, and the read-only step's single
    # autocommitted statements take turns with them (one writer); on PostgreSQL a few at
    # once (`pg_write_concurrency`, never two of one command), and those statements go as
    # they come
    gate = WriteGate(None if postgres else 1)
    # the read-only step in one statement a message (on SQLite in groups, holding the gate)
    direct = (
        PostgresDirect(settings.database_url)
        if postgres
        else SqliteDirect.for_url(settings.database_url, gate, checkpointer)
    )
    pipeline = InboundPipeline(
        deps,
        gate=gate,
        direct=direct,
        max_batch=settings.write_batch,
        concurrency=settings.pg_write_concurrency if postgres else 1,
    )
    inbox = Inbox(
        SqlInboxStore(sessions, postgres=postgres),
        pipeline,
        clock,
        reply_budget_s=settings.reply_budget_s,
        store_patience_s=settings.store_patience_s,
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
        checkpointer=checkpointer,
    )
    if not postgres:
        bot.console_engine = make_engine(settings.database_url, inline=False)
        bot.console_sessions = make_session_factory(bot.console_engine)
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


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    return load_settings(env, config_path=DEFAULT_CONFIG)


# ---------------------------------------------------------------- commands


async def _reminders_preview(
    settings: Settings, at_text: str, unit: str | None, config: Config | None = None
) -> int:
    """What a sweep at `--at` would send, to whom and why; nothing is sent or recorded."""
    moment = iso_moment("--at", at_text, settings.tz)
    if moment is None:
        return 2
    at = moment.astimezone(settings.tz)
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
    sock = bind(settings.http_host, settings.http_port)
    if sock is None:
        return 2
    bot = build_bot(settings, clock=clock, environ=os.environ, config=config)
    if settings.sandbox:
        url = "" if settings.public_url == DEFAULT_PUBLIC_URL else f" --url {settings.public_url}"
        print(
            f"沙箱模式：未设置 LIUAN_WECOM_SECRET，消息不会发往企业微信。\n"
            f"  查看机器人发出的消息：{settings.public_url}/sandbox/\n"
            f"  网页控制台（选择身份登录）：{settings.link_base}/console/\n"
            f"  在另一个终端里和机器人对话：{python_command()} bot.py console --user demo{url}",
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

    from liuan_bot.clock import SHANGHAI
    from liuan_bot.commands.registry import understand

    if now_text:
        moment = iso_moment("--now", now_text, SHANGHAI)
        if moment is None:
            return 2
        now = moment
    else:
        now = SystemClock(SHANGHAI).now()
    env_dir = os.environ.get("LIUAN_CONFIG_DIR")
    config = config_or_report(Path(env_dir) if env_dir else ROOT / "config")
    if config is None:
        return 2
    registry = build_registry(configured_lexicons(config.channels))
    result = understand(registry, text, now.astimezone(SHANGHAI))
    print(json.dumps(result, ensure_ascii=False))
    return 0


def configure_logging(level: int = logging.INFO) -> None:
    """The server's log as shipped: one line per record, time, level, logger, message. The
    format names no file or line, so records skip the caller lookup (`sys._getframe` and a
    walk up the stack, per record: the logging HOWTO's "Optimization"); with an INFO line
    per message and one per request that was ~3% of a 帮助 callback (issue 11 §2). Nor does it
    show the thread or process, which records then skip looking up."""
    logging._srcfile = None
    # nor the thread's and process's names, which the format does not show either
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    if args.command == "parse":
        return _parse(args.text, args.now)
    if args.command == "commands":
        from handlers.help import commands_markdown

        print(commands_markdown(build_registry()))
        return 0
    configure_logging()
    try:
        settings = settings_from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    config: Config | None = None
    if args.command in ("serve", "reminders"):  # every problem of config/, before anything runs
        config = config_or_report(config_dir_of(settings))
        if config is None:
            return 2
    if args.command == "serve":
        clock: Clock | None = None
        if args.clock_start:
            start = iso_moment("--clock-start", args.clock_start, settings.tz)
            if start is None:
                return 2
            clock = ShiftedClock(start, settings.tz)
            log.warning("rehearsal clock: the bot believes it is %s", start.isoformat())
        if not asyncio.run(cli_commands.schema_ready(settings)):
            print(
                f"数据库尚未初始化或无法连接：请先运行 {python_command()} bot.py db upgrade"
                "（make run 会自动完成），并检查 LIUAN_DATABASE_URL。",
                file=sys.stderr,
            )
            return 2
        return _serve(settings, args.host, args.port, clock, config)
    if args.command == "db":
        asyncio.run(cli_commands.db_upgrade(settings))
        return 0
    if args.command == "roster":
        try:
            data = args.file.read_bytes()
        except OSError as exc:
            print(f"无法读取名册文件 {args.file}：{exc.strerror}", file=sys.stderr)
            return 1
        if not asyncio.run(cli_commands.schema_ready(settings)):
            print(
                f"数据库尚未初始化：请先运行 {python_command()} bot.py db upgrade，再导入名册"
                "（make demo 会依次完成），并检查 LIUAN_DATABASE_URL。",
                file=sys.stderr,
            )
            return 2
        return asyncio.run(_roster_import(settings, data, args.if_empty))
    if args.command == "reminders":
        return asyncio.run(_reminders_preview(settings, args.at, args.unit, config))
    if args.command == "outbox":
        if not asyncio.run(cli_commands.schema_ready(settings)):
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
