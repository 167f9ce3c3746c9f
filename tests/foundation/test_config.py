"""Settings: defaults, validation, and one-line errors from the CLI."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from tarotbot.config import Secret, load_settings
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
