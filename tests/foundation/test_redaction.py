"""The bot token never reaches stderr: log lines, library debug output, crash reports."""

from __future__ import annotations

import subprocess
import sys

from tarotbot.redaction import redact

# Shaped like a real token (digits, colon, 35 URL-safe characters), but made up.
TOKEN = "7000000:" + "AbCdEfGhIjKlMnOpQrStUvWxYz012345678"
SECRET = TOKEN.split(":", 1)[1]

LOGGING_SCRIPT = f"""
import logging
from tarotbot.cli import setup_logging
setup_logging("DEBUG")
logging.getLogger("urllib3.connectionpool").debug('"GET /bot{TOKEN}/getMe HTTP/1.1" 200')
logging.getLogger("TeleBot").error("polling failed at /bot%s/getUpdates", "{TOKEN}")
logging.getLogger("tarotbot.test").info("plain line")
try:
    raise ConnectionError("Max retries exceeded with url: /bot{TOKEN}/deleteWebhook")
except ConnectionError:
    logging.getLogger("tarotbot.test").exception("it broke")
"""


def test_redact_hides_known_and_unknown_tokens():
    assert SECRET not in redact(f"url /bot{TOKEN}/getMe")
    assert redact(f"url /bot{TOKEN}/getMe") == "url /bot7000000:***/getMe"
    assert redact("token abc", token="abc:def") == "token abc"
    assert redact("x 42:short-secret x", token="42:short-secret") == "x 42:*** x"


def test_log_lines_and_tracebacks_are_redacted_even_at_debug(clean_env):
    env = {**clean_env, "TELEGRAM_BOT_TOKEN": TOKEN, "LOG_LEVEL": "DEBUG"}
    done = subprocess.run(
        [sys.executable, "-c", LOGGING_SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert SECRET not in err
    assert "plain line" in err and "it broke" in err and "deleteWebhook" in err
    assert "polling failed at /bot7000000:***/getUpdates" in err
    assert "getMe" not in err  # urllib3's request lines stay quiet even at DEBUG
    assert err.count("polling failed") == 1  # TeleBot's own handler is gone: no duplicates


def test_bot_that_cannot_reach_telegram_says_so_without_the_token(clean_env, tmp_path):
    env = {
        **clean_env,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": "http://127.0.0.1:9",  # nothing listens there
    }
    done = subprocess.run(
        [sys.executable, "-m", "tarotbot", "bot"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3
    assert SECRET not in done.stderr + done.stdout
    assert "cannot reach the Bot API at http://127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


def test_query_strings_are_cut_from_errors_and_log_lines():
    """pyTelegramBotAPI sends parameters in the query string: a connection error
    quoting the URL would put the message text (or a name) in the log."""
    from tarotbot.redaction import redact

    error = (
        "HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: "
        "/bot123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/sendMessage?chat_id=5&text=I+feel+lost "
        "(Caused by NewConnectionError('refused'))"
    )
    out = redact(error)
    assert "I+feel+lost" not in out and "chat_id" not in out
    assert "/sendMessage?…" in out and "AAAAAAAA" not in out
    assert redact("Is it worth it? a=1") == "Is it worth it? a=1"
