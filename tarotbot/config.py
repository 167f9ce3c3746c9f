"""Every setting TarotBot reads, taken from the environment once and validated.

``load_settings()`` is pure (it reads the mapping it is given), so tests can
build settings without touching ``os.environ``. ``get_settings()`` reads the
real environment once per process. A malformed value raises
:class:`~tarotbot.exceptions.ConfigError` naming the variable; the CLI prints
that one line and exits non-zero.

The bot token is kept in a :class:`Secret` whose ``repr`` and ``str`` hide it,
so it cannot leak into logs, tracebacks or job payloads by accident.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tarotbot.exceptions import ConfigError

TOKEN_RE = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")
DEFAULT_SQLITE_PATH = "tarotbot.sqlite3"


class Secret:
    """A string that never shows itself in repr, str or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self):
        raise TypeError("a Secret must not be pickled (it would end up in a payload)")


@dataclass(frozen=True)
class Settings:
    """Validated configuration. Units are in the field names or comments."""

    telegram_bot_token: Secret | None = None
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str | None = None  # None: the embedded SQLite file
    sqlite_path: str = DEFAULT_SQLITE_PATH
    redis_url: str | None = None  # None: in-process queue (demo, embedded)
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    welcome_bonus: int = 5  # credits, granted once on /start
    reversal_probability: float = 0.3  # chance that a drawn card is reversed
    llm_url: str | None = None  # OpenAI-compatible chat-completions endpoint
    llm_model: str = "gpt-4o-mini"
    llm_api_key: Secret | None = None
    llm_timeout: float = 20.0  # seconds
    db_max_connections: int = 8  # per process, pooled worker only
    log_level: str = "INFO"
    rate_limits: bool = True  # keep to Telegram's flood limits (off: benchmarks only)

    @property
    def uses_postgres(self) -> bool:
        return self.database_url is not None

    @property
    def database_label(self) -> str:
        """Where the data lives, for messages; never includes a password."""
        if self.database_url is None:
            return f"SQLite file {self.sqlite_path}"
        parts = urlsplit(self.database_url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        return f"PostgreSQL {host}{port}{parts.path}"


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def parse_token(value: str | None) -> Secret | None:
    value = _blank_to_none(value)
    if value is None:
        return None
    if not TOKEN_RE.match(value):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN",
            "does not look like a bot token (expected <digits>:<letters> from @BotFather)",
        )
    return Secret(value)


def parse_http_url(name: str, value: str | None, default: str | None) -> str | None:
    value = _blank_to_none(value)
    if value is None:
        return default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(name, f"expected an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


def parse_database_url(value: str | None) -> tuple[str | None, str | None]:
    """Return ``(postgres_url, sqlite_path)``; exactly one is set."""
    value = _blank_to_none(value)
    if value is None:
        return None, None
    parts = urlsplit(value)
    if parts.scheme in ("postgres", "postgresql"):
        if not parts.path.strip("/"):
            raise ConfigError("DATABASE_URL", "names no database (postgresql://host:port/NAME)")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ConfigError("DATABASE_URL", "has a port that is not a number") from None
        return value, None
    if parts.scheme == "sqlite":
        path = value[len("sqlite:///") :] if value.startswith("sqlite:///") else ""
        if not path:
            raise ConfigError("DATABASE_URL", "sqlite URLs look like sqlite:///path/to/file.db")
        return None, path
    raise ConfigError(
        "DATABASE_URL",
        "expected postgresql://user@host:port/dbname or sqlite:///path, "
        f"got {_redact_url(value)!r}",
    )


def parse_redis_url(value: str | None) -> str | None:
    value = _blank_to_none(value)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
        raise ConfigError("REDIS_URL", f"expected redis://host:port/db, got {_redact_url(value)!r}")
    db = parts.path.strip("/")
    if parts.scheme != "unix" and db and not db.isdigit():
        raise ConfigError("REDIS_URL", f"the database index {db!r} is not a number")
    return value


def parse_admin_ids(value: str | None) -> frozenset[int]:
    value = _blank_to_none(value)
    if value is None:
        return frozenset()
    ids = set()
    for item in re.split(r"[,\s]+", value):
        if not item:
            continue
        if not re.fullmatch(r"-?[0-9]{1,20}", item):
            raise ConfigError(
                "ADMIN_IDS", f"{item!r} is not a Telegram user id (use numbers, comma-separated)"
            )
        ids.add(int(item))
    return frozenset(ids)


def parse_int(name: str, value: str | None, default: int, lo: int, hi: int) -> int:
    value = _blank_to_none(value)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(name, f"{value!r} is not a whole number") from None
    if not lo <= number <= hi:
        raise ConfigError(name, f"{number} is outside {lo}..{hi}")
    return number


def parse_float(name: str, value: str | None, default: float, lo: float, hi: float) -> float:
    value = _blank_to_none(value)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(name, f"{value!r} is not a number") from None
    if not lo <= number <= hi:
        raise ConfigError(name, f"{number} is outside {lo}..{hi}")
    return number


def parse_log_level(value: str | None) -> str:
    value = (_blank_to_none(value) or "INFO").upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError("LOG_LEVEL", f"{value!r} is not one of DEBUG, INFO, WARNING, ERROR")
    return value


def parse_switch(name: str, value: str | None, default: bool) -> bool:
    value = _blank_to_none(value)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in ("1", "on", "true", "yes"):
        return True
    if lowered in ("0", "off", "false", "no"):
        return False
    raise ConfigError(name, f"{value!r} is not on or off")


def _redact_url(value: str) -> str:
    """Drop any password from a URL before it goes into a message."""
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", value)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build validated :class:`Settings` from ``environ`` (default: ``os.environ``)."""
    env = os.environ if environ is None else environ
    database_url, sqlite_path = parse_database_url(env.get("DATABASE_URL"))
    sqlite_path = sqlite_path or _blank_to_none(env.get("TAROTBOT_SQLITE_PATH"))
    llm_key = _blank_to_none(env.get("TAROT_LLM_API_KEY"))
    return Settings(
        telegram_bot_token=parse_token(env.get("TELEGRAM_BOT_TOKEN")),
        telegram_api_url=parse_http_url(
            "TELEGRAM_API_URL", env.get("TELEGRAM_API_URL"), "https://api.telegram.org"
        ),
        database_url=database_url,
        sqlite_path=str(Path(sqlite_path)) if sqlite_path else DEFAULT_SQLITE_PATH,
        redis_url=parse_redis_url(env.get("REDIS_URL")),
        admin_ids=parse_admin_ids(env.get("ADMIN_IDS")),
        welcome_bonus=parse_int("WELCOME_BONUS", env.get("WELCOME_BONUS"), 5, 0, 1000),
        reversal_probability=parse_float(
            "REVERSAL_PROBABILITY", env.get("REVERSAL_PROBABILITY"), 0.3, 0.0, 1.0
        ),
        llm_url=parse_http_url("TAROT_LLM_URL", env.get("TAROT_LLM_URL"), None),
        llm_model=_blank_to_none(env.get("TAROT_LLM_MODEL")) or "gpt-4o-mini",
        llm_api_key=Secret(llm_key) if llm_key else None,
        llm_timeout=parse_float("TAROT_LLM_TIMEOUT", env.get("TAROT_LLM_TIMEOUT"), 20.0, 0.1, 600),
        db_max_connections=parse_int(
            "DATABASE_MAX_CONNECTIONS", env.get("DATABASE_MAX_CONNECTIONS"), 8, 1, 200
        ),
        log_level=parse_log_level(env.get("LOG_LEVEL")),
        rate_limits=parse_switch("TELEGRAM_RATE_LIMITS", env.get("TELEGRAM_RATE_LIMITS"), True),
    )


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return load_settings()


#: Every environment variable, its default and meaning: the README's table.
ENVIRONMENT = (
    ("TELEGRAM_BOT_TOKEN", "unset", "Bot token from @BotFather; unset runs the local demo"),
    ("TELEGRAM_API_URL", "https://api.telegram.org", "Bot API base URL (emulator, self-hosted)"),
    ("DATABASE_URL", "unset (SQLite file)", "postgresql://user@host:port/db or sqlite:///path"),
    ("TAROTBOT_SQLITE_PATH", "tarotbot.sqlite3", "SQLite file when DATABASE_URL is unset"),
    ("REDIS_URL", "unset (in-process queue)", "redis://host:port/db for RQ, caches, sessions"),
    ("ADMIN_IDS", "empty", "Comma-separated Telegram user ids with admin commands"),
    ("WELCOME_BONUS", "5", "Credits granted once on /start"),
    ("REVERSAL_PROBABILITY", "0.3", "Chance (0..1) that a drawn card is reversed"),
    ("TAROT_LLM_URL", "unset", "OpenAI-compatible chat-completions URL; unset: built-in composer"),
    ("TAROT_LLM_MODEL", "gpt-4o-mini", "Model name sent to the LLM endpoint"),
    ("TAROT_LLM_API_KEY", "unset", "Bearer key for the LLM endpoint"),
    ("TAROT_LLM_TIMEOUT", "20", "Seconds before the LLM is abandoned for the composer"),
    ("DATABASE_MAX_CONNECTIONS", "8", "Connections per process in pooled mode"),
    ("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR"),
    (
        "TELEGRAM_RATE_LIMITS",
        "on",
        "Keep to Telegram's flood limits; off only for local benchmarks",
    ),
)
