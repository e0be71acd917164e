"""Settings: secrets from the environment only, the rest from environment or a TOML file.

`load_settings(environ, ...)` reads everything once, reports every problem in one
`SettingsError`, and never lets a secret into a `repr` or a log line.
"""

from __future__ import annotations

import secrets
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/liuan_bot.db"
DEFAULT_API_BASE = "https://qyapi.weixin.qq.com"
MAX_WRITE_BATCH = 64  # LIUAN_WRITE_BATCH: see where it is read
SECRET_KEYS = (
    "LIUAN_WECOM_CORP_ID",
    "LIUAN_WECOM_AGENT_ID",
    "LIUAN_WECOM_SECRET",
    "LIUAN_WECOM_TOKEN",
    "LIUAN_WECOM_AES_KEY",
)
SANDBOX_CORP_ID = "wwsandbox0000000"
SANDBOX_AGENT_ID = 1000002
SANDBOX_SECRET = "sandbox-secret"
_AES_ALPHABET = string.ascii_letters + string.digits


class SettingsError(Exception):
    """Every configuration problem found at start-up, in one message."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("配置有误：\n" + "\n".join(f"- {p}" for p in problems))


class Secret:
    """A string that never shows itself in `repr` or `str`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class Settings:
    """Typed, validated configuration. Build it with `load_settings`."""

    corp_id: str
    agent_id: int
    secret: Secret
    token: Secret
    aes_key: Secret
    sandbox: bool
    database_url: str
    reply_budget_s: float = 2.0
    # how long a message that could not be stored (storage down) is kept and tried again,
    # beyond WeCom's own retries (liuan_bot/inbox.py)
    store_patience_s: float = 300.0
    callback_max_age_s: float = 300.0
    callback_future_skew_s: float = 60.0
    http_header_timeout_s: float = 10.0
    http_body_timeout_s: float = 10.0
    http_max_connections: int = 512
    # write messages handled in one transaction at most, in order of arrival, while others
    # wait for it (group commit, storage/batch.py); 1: a transaction per message
    write_batch: int = 16
    # PostgreSQL: write transactions at once, never two with messages of one command
    # (storage/batch.py); SQLite has one writer
    pg_write_concurrency: int = 4
    api_base: str = DEFAULT_API_BASE
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    timezone: str = "Asia/Shanghai"
    data_dir: Path = Path("data")
    config_path: Path | None = None
    config_dir: Path | None = None  # LIUAN_CONFIG_DIR: the data files; None: the repo's config/
    max_body_bytes: int = 64 * 1024
    calendar_events: bool = False
    preview_to_spokespersons: bool = False
    # WeCom's daily budget of app-message recipient sends: licensed seats × 200 (§3.4)
    daily_recipient_budget: int = 500 * 200
    resend_interval_min: float = 60.0  # 补发: minutes before an announcement may be resent again
    # LIUAN_PUBLIC_URL: where people and the public reach the bot (issue 10 §5); "" = local.
    external_url: str = ""
    workbench: bool = False  # LIUAN_WORKBENCH: the app's workbench tile (issue 10 §3)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def public_url(self) -> str:
        """Where this process can reach its own HTTP server."""
        host = "127.0.0.1" if self.http_host in ("0.0.0.0", "::", "") else self.http_host
        return f"http://{host}:{self.http_port}"

    @property
    def link_base(self) -> str:
        """The base of every link the bot sends or publishes (directory, feeds, console,
        reports): LIUAN_PUBLIC_URL, or in sandbox mode the local address (issue 10 §5)."""
        return (self.external_url or self.public_url).rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        """Session cookies are `Secure` when people reach the bot over https."""
        return self.link_base.startswith("https://")


def normalise_database_url(url: str) -> str:
    """Plain `sqlite:///` and `postgresql://` mean their async drivers."""
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def generate_aes_key() -> str:
    """A fresh 43-character EncodingAESKey."""
    return "".join(secrets.choice(_AES_ALPHABET) for _ in range(43))


def sandbox_credentials(data_dir: Path) -> tuple[str, str]:
    """The sandbox's callback token and AES key, generated once and kept under `data_dir`."""
    path = data_dir / "sandbox-credentials.toml"
    if path.exists():
        stored = tomllib.loads(path.read_text(encoding="utf-8"))
        return str(stored["token"]), str(stored["aes_key"])
    data_dir.mkdir(parents=True, exist_ok=True)
    token, aes_key = (
        secrets.token_urlsafe(24).replace("-", "x").replace("_", "y"),
        generate_aes_key(),
    )
    path.write_text(f'token = "{token}"\naes_key = "{aes_key}"\n', encoding="utf-8")
    path.chmod(0o600)
    return token, aes_key


def _read_file(path: Path | None, problems: list[str]) -> dict[str, Any]:
    if path is None or not path.exists():
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"无法读取配置文件 {path}：{exc}")
        return {}
    section = raw.get("liuan", raw)
    return {str(k).upper(): v for k, v in section.items()}


def load_settings(
    environ: Mapping[str, str],
    *,
    config_path: Path | None = None,
    data_dir: Path | None = None,
    ensure_sandbox_credentials: bool = True,
) -> Settings:
    """Read settings from `environ` and the settings file; raise `SettingsError` listing all.

    Keys in the file are the environment names without the `LIUAN_` prefix, lower or upper
    case, at top level or under `[liuan]`. Secrets in the file are refused.
    """
    problems: list[str] = []
    path = Path(environ["LIUAN_CONFIG"]) if environ.get("LIUAN_CONFIG") else config_path
    if environ.get("LIUAN_CONFIG") and path is not None and not path.exists():
        problems.append(f"LIUAN_CONFIG 指向的文件不存在：{path}")
    file_values = _read_file(path, problems)
    for key in SECRET_KEYS:
        if key.removeprefix("LIUAN_") in file_values:
            problems.append(f"{key} 是密钥，只能通过环境变量设置，不能写进配置文件")

    def get(name: str, default: str) -> str:
        if f"LIUAN_{name}" in environ:
            return environ[f"LIUAN_{name}"].strip()
        return str(file_values.get(name, default)).strip()

    def number(
        name: str, default: float, *, minimum: float = 0.0, maximum: float | None = None
    ) -> float:
        text = get(name, str(default))
        try:
            value = float(text)
        except ValueError:
            problems.append(f"LIUAN_{name} 应为数字，当前为 {text!r}")
            return default
        if value < minimum:
            problems.append(f"LIUAN_{name} 不能小于 {minimum:g}")
            return default
        if maximum is not None and value > maximum:
            problems.append(f"LIUAN_{name} 不能大于 {maximum:g}")
            return default
        return value

    def flag(name: str, default: bool) -> bool:
        text = get(name, "true" if default else "false").lower()
        if text in ("1", "true", "yes", "on", "是"):
            return True
        if text in ("0", "false", "no", "off", "否", ""):
            return False
        problems.append(f"LIUAN_{name} 应为 true 或 false，当前为 {text!r}")
        return default

    the_data_dir = data_dir or Path(get("DATA_DIR", "data"))
    secret = environ.get("LIUAN_WECOM_SECRET", "").strip()
    sandbox = not secret
    corp_id = environ.get("LIUAN_WECOM_CORP_ID", "").strip()
    agent_text = environ.get("LIUAN_WECOM_AGENT_ID", "").strip()
    token = environ.get("LIUAN_WECOM_TOKEN", "").strip()
    aes_key = environ.get("LIUAN_WECOM_AES_KEY", "").strip()
    agent_id = SANDBOX_AGENT_ID
    if sandbox:
        corp_id = corp_id or SANDBOX_CORP_ID
        if not (token and aes_key) and ensure_sandbox_credentials:
            token, aes_key = sandbox_credentials(the_data_dir)
        secret = SANDBOX_SECRET
    else:
        for key, value in (
            ("LIUAN_WECOM_CORP_ID", corp_id),
            ("LIUAN_WECOM_AGENT_ID", agent_text),
            ("LIUAN_WECOM_TOKEN", token),
            ("LIUAN_WECOM_AES_KEY", aes_key),
        ):
            if not value:
                problems.append(f"已设置 LIUAN_WECOM_SECRET（正式模式），但缺少 {key}")
    if agent_text:
        try:
            agent_id = int(agent_text)
        except ValueError:
            problems.append(
                f"LIUAN_WECOM_AGENT_ID 应为整数（应用的 AgentId），当前为 {agent_text!r}"
            )
    if aes_key and (len(aes_key) != 43 or any(c not in _AES_ALPHABET for c in aes_key)):
        problems.append(
            "LIUAN_WECOM_AES_KEY 应为 43 位字母或数字（企业微信后台的 EncodingAESKey）"
        )

    database_url = normalise_database_url(get("DATABASE_URL", DEFAULT_DATABASE_URL))
    if not database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        problems.append("LIUAN_DATABASE_URL 只支持 sqlite:/// 或 postgresql:// 开头的地址")
    port_value = number("HTTP_PORT", 8080, minimum=1)
    if port_value != int(port_value) or port_value > 65535:
        problems.append("LIUAN_HTTP_PORT 应为 1–65535 的整数")
    timezone = get("TIMEZONE", "Asia/Shanghai")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"LIUAN_TIMEZONE 不是有效的时区名：{timezone!r}")
        timezone = "Asia/Shanghai"
    api_base = get("WECOM_API_BASE", DEFAULT_API_BASE).rstrip("/")
    if not api_base.startswith(("http://", "https://")):
        problems.append("LIUAN_WECOM_API_BASE 应以 http:// 或 https:// 开头")

    external_url = get("PUBLIC_URL", "").rstrip("/")
    if external_url and not external_url.startswith(("http://", "https://")):
        problems.append(
            "LIUAN_PUBLIC_URL 应以 http:// 或 https:// 开头，例如 https://xwb.example.gov.cn"
        )
    elif not external_url and not sandbox:
        problems.append(
            "正式模式需要设置 LIUAN_PUBLIC_URL：人们和公众访问机器人的地址"
            "（例如 https://xwb.example.gov.cn），控制台登录、名录和订阅链接都用它"
        )

    settings = Settings(
        corp_id=corp_id,
        agent_id=agent_id,
        secret=Secret(secret),
        token=Secret(token),
        aes_key=Secret(aes_key),
        sandbox=sandbox,
        database_url=database_url,
        reply_budget_s=number("REPLY_BUDGET_S", 2.0),
        store_patience_s=number("STORE_PATIENCE_S", 300.0),
        callback_max_age_s=number("CALLBACK_MAX_AGE_S", 300.0),
        callback_future_skew_s=number("CALLBACK_FUTURE_SKEW_S", 60.0),
        http_header_timeout_s=number("HTTP_HEADER_TIMEOUT_S", 10.0, minimum=0.1),
        http_body_timeout_s=number("HTTP_BODY_TIMEOUT_S", 10.0, minimum=0.1),
        http_max_connections=int(number("HTTP_MAX_CONNECTIONS", 512, minimum=8)),
        # at most 64: on PostgreSQL a batch keeps its units' savepoints open (storage.batch),
        # and a backend with more than 64 open subtransactions makes every snapshot of the
        # database look them up in pg_subtrans ("suboverflowed"), slowing every reader
        write_batch=int(number("WRITE_BATCH", 16, minimum=1, maximum=MAX_WRITE_BATCH)),
        pg_write_concurrency=int(number("PG_WRITE_CONCURRENCY", 4, minimum=1)),
        api_base=api_base,
        http_host=get("HTTP_HOST", "127.0.0.1"),
        http_port=int(port_value) if port_value == int(port_value) else 8080,
        timezone=timezone,
        data_dir=the_data_dir,
        config_path=path,
        config_dir=Path(get("CONFIG_DIR", "")) if get("CONFIG_DIR", "") else None,
        max_body_bytes=int(number("MAX_BODY_BYTES", 64 * 1024, minimum=1024)),
        calendar_events=flag("CALENDAR_EVENTS", False),
        preview_to_spokespersons=flag("PREVIEW_TO_SPOKESPERSONS", False),
        daily_recipient_budget=int(
            number(
                "DAILY_RECIPIENT_BUDGET",
                200 * int(number("LICENSED_SEATS", 500, minimum=1)),
                minimum=1,
            )
        ),
        resend_interval_min=number("RESEND_INTERVAL_MIN", 60.0),
        external_url=external_url,
        workbench=flag("WORKBENCH", False),
    )
    if problems:
        raise SettingsError(problems)
    return settings
