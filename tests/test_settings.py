"""Settings: env wins, secrets only from env and never shown, all errors at once (issue 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from liuan_bot.settings import SettingsError, load_settings

LIVE = {
    "LIUAN_WECOM_CORP_ID": "ww1436e0e65a779aee",
    "LIUAN_WECOM_AGENT_ID": "1000002",
    "LIUAN_WECOM_SECRET": "super-secret-value",
    "LIUAN_WECOM_TOKEN": "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
    "LIUAN_WECOM_AES_KEY": "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
    "LIUAN_PUBLIC_URL": "https://xwb.example.gov.cn",
}


def test_live_settings_hide_every_secret_in_repr(tmp_path: Path) -> None:
    settings = load_settings(LIVE, data_dir=tmp_path)
    assert not settings.sandbox
    assert settings.agent_id == 1000002
    shown = repr(settings) + str(settings.secret)
    for key in ("LIUAN_WECOM_SECRET", "LIUAN_WECOM_TOKEN", "LIUAN_WECOM_AES_KEY"):
        assert LIVE[key] not in shown
    assert settings.secret.reveal() == "super-secret-value"


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(LIVE, data_dir=tmp_path)
    assert settings.database_url == "sqlite+aiosqlite:///data/liuan_bot.db"
    assert (settings.reply_budget_s, settings.callback_max_age_s) == (2.0, 300.0)
    assert (settings.http_host, settings.http_port, settings.timezone) == (
        "127.0.0.1",
        8080,
        "Asia/Shanghai",
    )
    assert settings.api_base == "https://qyapi.weixin.qq.com"
    assert (settings.write_batch, settings.pg_write_concurrency) == (16, 4)
    assert load_settings(LIVE | {"LIUAN_WRITE_BATCH": "1"}).write_batch == 1
    assert load_settings(LIVE | {"LIUAN_WRITE_BATCH": "64"}).write_batch == 64
    assert settings.store_patience_s == 300.0
    assert load_settings(LIVE | {"LIUAN_STORE_PATIENCE_S": "0"}).store_patience_s == 0.0


def test_a_write_batch_above_64_is_refused_in_chinese() -> None:
    """PostgreSQL keeps a batch's savepoints open (storage.batch); past 64 open
    subtransactions a backend slows every snapshot of the database."""
    with pytest.raises(SettingsError) as caught:
        load_settings(LIVE | {"LIUAN_WRITE_BATCH": "65"})
    assert "LIUAN_WRITE_BATCH 不能大于 64" in caught.value.problems


def test_every_problem_is_reported_in_one_error(tmp_path: Path) -> None:
    env = {
        "LIUAN_WECOM_SECRET": "s",
        "LIUAN_WECOM_AES_KEY": "short",
        "LIUAN_REPLY_BUDGET_S": "two",
        "LIUAN_HTTP_PORT": "99999",
        "LIUAN_TIMEZONE": "Mars/Olympus",
        "LIUAN_DATABASE_URL": "mysql://x",
        "LIUAN_WRITE_BATCH": "0",
        "LIUAN_PG_WRITE_CONCURRENCY": "0",
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(env, data_dir=tmp_path)
    message = str(caught.value)
    for needle in (
        "LIUAN_WECOM_CORP_ID",
        "LIUAN_WECOM_AGENT_ID",
        "LIUAN_WECOM_TOKEN",
        "LIUAN_WECOM_AES_KEY",
        "LIUAN_REPLY_BUDGET_S",
        "LIUAN_HTTP_PORT",
        "LIUAN_TIMEZONE",
        "LIUAN_DATABASE_URL",
        "LIUAN_WRITE_BATCH",
        "LIUAN_PG_WRITE_CONCURRENCY",
    ):
        assert needle in message
    assert "s" not in [p.strip() for p in caught.value.problems]


def test_environment_wins_over_the_file_and_secrets_are_refused_in_it(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text("http_port = 9000\nreply_budget_s = 1.5\n", encoding="utf-8")
    settings = load_settings(
        {**LIVE, "LIUAN_HTTP_PORT": "9100"}, config_path=config, data_dir=tmp_path
    )
    assert (settings.http_port, settings.reply_budget_s) == (9100, 1.5)
    config.write_text('[liuan]\nwecom_secret = "leak"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="LIUAN_WECOM_SECRET"):
        load_settings(LIVE, config_path=config, data_dir=tmp_path)


def test_plain_database_urls_mean_the_async_drivers(tmp_path: Path) -> None:
    for plain, expected in (
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
    ):
        settings = load_settings({**LIVE, "LIUAN_DATABASE_URL": plain}, data_dir=tmp_path)
        assert settings.database_url == expected


def test_sandbox_mode_generates_callback_credentials_once(tmp_path: Path) -> None:
    first = load_settings({}, data_dir=tmp_path)
    second = load_settings({}, data_dir=tmp_path)
    assert first.sandbox
    assert second.sandbox
    assert first.token == second.token
    assert first.aes_key == second.aes_key
    assert len(first.aes_key.reveal()) == 43
    assert (tmp_path / "sandbox-credentials.toml").stat().st_mode & 0o077 == 0
