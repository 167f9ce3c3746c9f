"""Settings: defaults, validation, and one-line errors from the CLI."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tarotbot.config import Secret, _redact_url, load_settings
from tarotbot.exceptions import ConfigError

FAKE_TOKEN = "123456:config-test-token-abcdefg"


def test_defaults_are_the_embedded_mode():
    settings = load_settings({})
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.telegram_bot_token is None
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.admin_ids == frozenset()


def test_valid_values_are_parsed():
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://u:pw@db:5433/tarot",
            "REDIS_URL": "redis://cache:6379/3",
            "ADMIN_IDS": "1, 2,3",
            "TELEGRAM_BOT_TOKEN": FAKE_TOKEN,
            "TELEGRAM_API_URL": "http://127.0.0.1:8081/",
            "WELCOME_BONUS": "7",
        }
    )
    assert settings.admin_ids == {1, 2, 3}
    assert settings.telegram_api_url == "http://127.0.0.1:8081"
    assert settings.welcome_bonus == 7
    assert settings.database_label == "PostgreSQL db:5433/tarot"  # no password


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://host:notaport/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://host/"}, "DATABASE_URL"),
        ({"ADMIN_IDS": "abc"}, "ADMIN_IDS"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://x:6379/abc"}, "REDIS_URL"),
        ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_API_URL": "ftp://x"}, "TELEGRAM_API_URL"),
        ({"WELCOME_BONUS": "-1"}, "WELCOME_BONUS"),
        ({"REVERSAL_PROBABILITY": "1.5"}, "REVERSAL_PROBABILITY"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ],
)
def test_malformed_values_name_the_variable(env, variable):
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert info.value.variable == variable
    assert str(info.value).startswith(variable + ":")


def test_password_is_not_echoed_in_errors():
    with pytest.raises(ConfigError) as info:
        load_settings({"DATABASE_URL": "mysql://me:hunter2@db/x"})
    assert "hunter2" not in str(info.value)


def test_token_never_shows_itself():
    settings = load_settings({"TELEGRAM_BOT_TOKEN": FAKE_TOKEN})
    token = settings.telegram_bot_token
    assert token.reveal() == FAKE_TOKEN
    for text in (repr(settings), str(token), f"{token}", repr(token)):
        assert FAKE_TOKEN not in text
    with pytest.raises(TypeError):
        pickle.dumps(token)
    assert isinstance(token, Secret)


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"ADMIN_IDS": "abc"}, "ADMIN_IDS"),
        ({"DATABASE_URL": "postgresql://127.0.0.1:5432/tarotbot_no_such_db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://127.0.0.1:1/x"}, "DATABASE_URL"),
    ],
)
def test_cli_stops_with_one_line_and_no_traceback(env, needle, tmp_path, clean_env):
    result = subprocess.run(
        [sys.executable, "-m", "tarotbot", "migrate"],
        env={**clean_env, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


def test_every_command_has_help(clean_env):
    result = subprocess.run(
        [sys.executable, "-m", "tarotbot", "--help"],
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    commands = [
        line.split()[0]
        for line in result.stdout.split("Commands:")[1].splitlines()
        if line.startswith("  ") and line.split()
    ]
    assert "migrate" in commands
    for command in commands:
        sub = subprocess.run(
            [sys.executable, "-m", "tarotbot", command, "--help"],
            env=clean_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sub.returncode == 0, (command, sub.stderr)
        assert "Usage:" in sub.stdout


# --- URL errors never show a password (found by an attack: empty user names) ---

URL_PASSWORD = "url-secret-hunter2"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (f"http://:{URL_PASSWORD}@host/0", "http://:***@host/0"),
        (f"mysql://me:{URL_PASSWORD}@db/x", "mysql://me:***@db/x"),
        (f"redis://:{URL_PASSWORD}/with/slash@host:1/0", "redis://:***@host:1/0"),
        (f"redis://:{URL_PASSWORD}@[::1/0", "redis://:***@[::1/0"),
        (f"me:{URL_PASSWORD}@db/x", "me:***@db/x"),  # no scheme at all
        (f"postgres://u@h/db?password={URL_PASSWORD}", "postgres://***@h/db?..."),
        (f"redis://{URL_PASSWORD}@host", "redis://***@host"),  # a lone user info may be a password
        ("redis://host:6379/0", "redis://host:6379/0"),
    ],
)
def test_redact_url(raw, shown):
    assert _redact_url(raw) == shown


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REDIS_URL", f"http://:{URL_PASSWORD}@host/0"),
        ("REDIS_URL", f"redis://:{URL_PASSWORD}@127.0.0.1:notaport/0"),
        ("REDIS_URL", f"redis://:{URL_PASSWORD}@127.0.0.1:99999/0"),
        ("REDIS_URL", f"redis://:{URL_PASSWORD}@[::1/0"),
        ("REDIS_URL", f"redis://:{URL_PASSWORD}@host:6379/0?ssl_cert_reqs=none"),
        ("REDIS_URL", f":{URL_PASSWORD}@host:6379"),
        ("DATABASE_URL", f"mysql://:{URL_PASSWORD}@db/x"),
        ("DATABASE_URL", f"postgres://u:{URL_PASSWORD}@db:notaport/x"),
        ("DATABASE_URL", f"postgres://u:{URL_PASSWORD}@[db/x"),
        ("DATABASE_URL", f"u:{URL_PASSWORD}@db/x"),
        ("DATABASE_URL", f"postgres://u@db/x?password={URL_PASSWORD}&bogus=1"),
        ("TAROT_LLM_URL", f"ftp://:{URL_PASSWORD}@llm/v1"),
        ("TAROT_LLM_URL", f"https://:{URL_PASSWORD}@llm:notaport/v1"),
        ("TELEGRAM_API_URL", f"ftp://bot:{URL_PASSWORD}@api"),
    ],
)
def test_url_errors_never_show_the_password(variable, value):
    with pytest.raises(ConfigError) as info:
        load_settings({variable: value})
    message = str(info.value)
    assert info.value.variable == variable
    assert message.startswith(variable + ": ")
    assert URL_PASSWORD not in message
    assert "\n" not in message


# --- ports are checked where the URL is read, not deep inside redis-py ---


@pytest.mark.parametrize("port", ["notaport", "99999", "0", "-1"])
def test_redis_url_port_is_validated(port):
    with pytest.raises(ConfigError) as info:
        load_settings({"REDIS_URL": f"redis://:pw@127.0.0.1:{port}/0"})
    assert info.value.variable == "REDIS_URL"
    assert "port" in str(info.value)


@pytest.mark.parametrize(
    "value",
    [
        "redis://127.0.0.1:6379/0",
        "redis://127.0.0.1/0",
        "rediss://:pw@ec2-1-2-3-4.compute-1.amazonaws.com:12345",
        "redis://127.0.0.1:6379?db=3",
        "unix:///var/run/redis.sock?db=2",
    ],
)
def test_good_redis_urls_pass(value):
    assert load_settings({"REDIS_URL": value}).redis_url == value


@pytest.mark.parametrize(
    "value",
    [
        f"redis://:{URL_PASSWORD}@127.0.0.1:notaport/0",
        f"http://:{URL_PASSWORD}@127.0.0.1/0",
        f"redis://:{URL_PASSWORD}@[::1/0",
    ],
)
def test_worker_cli_stops_on_a_bad_redis_url_in_one_line(value, tmp_path, clean_env):
    result = subprocess.run(
        [sys.executable, "-m", "tarotbot", "worker", "--burst"],
        env={**clean_env, "REDIS_URL": value},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: REDIS_URL: ")
    assert URL_PASSWORD not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


# --- REDIS_TLS_VERIFY / REDIS_TLS_CA_FILE ---


def test_redis_tls_settings():
    assert load_settings({}).redis_tls_verify == "none"  # what Heroku Redis needs
    assert load_settings({"REDIS_TLS_VERIFY": " Required "}).redis_tls_verify == "required"
    settings = load_settings({"REDIS_TLS_VERIFY": "required", "REDIS_TLS_CA_FILE": "/ca.pem"})
    assert settings.redis_tls_ca_file == "/ca.pem"
    with pytest.raises(ConfigError) as info:
        load_settings({"REDIS_TLS_VERIFY": "optional"})
    assert info.value.variable == "REDIS_TLS_VERIFY"
    with pytest.raises(ConfigError) as info:  # a CA file nobody would check against
        load_settings({"REDIS_TLS_CA_FILE": "/ca.pem"})
    assert info.value.variable == "REDIS_TLS_CA_FILE"


def test_every_setting_has_a_row_in_the_readme():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", section, re.MULTILINE))
    names: set[str] = set()

    class Recording(dict):  # every variable load_settings reads
        def get(self, key, default=None):
            names.add(key)
            return default

    load_settings(Recording())
    names |= {"PORT", "WEB_CONCURRENCY"}  # read by the web command itself
    assert names - rows == set()
    assert {"REDIS_TLS_VERIFY", "REDIS_TLS_CA_FILE"} <= names


# --- a Redis shared between processes needs a shared database ---


def test_require_shared_database_refuses_an_implicit_sqlite_file():
    settings = load_settings({"REDIS_URL": "redis://127.0.0.1:6379/0"})
    with pytest.raises(ConfigError) as info:
        settings.require_shared_database("worker")
    assert info.value.variable == "DATABASE_URL"
    message = str(info.value)
    assert message.startswith("DATABASE_URL: is unset while REDIS_URL is set: the worker ")
    assert "PostgreSQL" in message and "\n" not in message


@pytest.mark.parametrize(
    "env",
    [
        {},  # embedded mode: one process, its own SQLite file is the point
        {"TAROTBOT_SQLITE_PATH": "/tmp/x.sqlite3"},
        {"REDIS_URL": "redis://127.0.0.1:6379/0", "DATABASE_URL": "postgres://u:pw@db/tarot"},
        {"REDIS_URL": "redis://127.0.0.1:6379/0", "DATABASE_URL": "sqlite:///shared/tarot.db"},
    ],
)
def test_require_shared_database_allows(env):
    settings = load_settings(env)
    settings.require_shared_database("bot")


def test_database_url_semantics_are_unchanged_by_remembering_it():
    explicit = load_settings({"DATABASE_URL": "sqlite:///shared/tarot.db"})
    assert explicit.database_url is None and explicit.sqlite_path == "shared/tarot.db"
    assert explicit.database_url_given and not explicit.uses_postgres
    implicit = load_settings({"DATABASE_URL": "  "})  # blank counts as unset
    assert implicit.database_url is None and not implicit.database_url_given
    with pytest.raises(ConfigError):
        load_settings({"DATABASE_URL": " ", "REDIS_URL": "redis://h"}).require_shared_database(
            "scheduler"
        )
