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
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from tarotbot.exceptions import ConfigError

TOKEN_RE = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")
#: What Telegram accepts as a webhook's secret_token (sent back in a header).
WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
#: The path the web process answers health checks on; no webhook may use it.
HEALTH_PATH = "/healthz"
DEFAULT_SQLITE_PATH = "tarotbot.sqlite3"

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
#: REDIS_TLS_VERIFY values, as redis-py's ``ssl_cert_reqs``.
REDIS_TLS_VERIFY_MODES = ("none", "required")


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
    redis_tls_verify: str = "none"  # rediss:// only: "none" (self-signed, Heroku) or "required"
    redis_tls_ca_file: str | None = None  # CA bundle for "required"; None: the system CAs
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
    paid_broadcast: bool = False  # allow_paid_broadcast for messages the overall limit delays
    paid_broadcast_after: float = 1.0  # seconds of such delay from which a message goes paid
    webhook_url: str | None = None  # public URL Telegram posts updates to (the `web` process)
    webhook_secret: Secret | None = None  # Telegram sends it back in a header with each update
    database_url_given: bool = False  # DATABASE_URL was set (even to sqlite:///path)
    backup_url: str | None = None  # None: file://<folder of the SQLite file>/backups (backup_url())
    backup_recipients: tuple[str, ...] = ()  # age public keys (age1...) backups are encrypted to
    backup_identity: Secret | None = None  # age secret key(s): verify and restore only
    backup_identity_file: str | None = None  # an age-keygen file: verify and restore only
    s3_endpoint_url: str | None = None  # S3-compatible service (R2, B2, MinIO); None: AWS
    backup_keep_daily: int = 7  # prune keeps the newest backup of this many days
    backup_keep_weekly: int = 4  # ... of this many ISO weeks
    backup_keep_monthly: int = 12  # ... of this many months
    backup_at: str = "03:00"  # HH:MM UTC of the daily scheduled backup
    seed_secret: Secret | None = None  # HMAC key of reading seeds (None: derived from the token)
    bulk_rate: float = 20.0  # messages per second daily cards and broadcasts may use, at most
    daily_batch: int = 50  # people per daily-card job
    invite_bonus: int = 2  # credits each side of an invitation gets, once
    invite_daily_cap: int = 10  # rewarded invitations per inviter per UTC day

    @property
    def uses_postgres(self) -> bool:
        return self.database_url is not None

    def require_shared_database(self, process: str) -> None:
        """Refuse to run ``process`` on an implicit SQLite file next to a shared Redis.

        With ``REDIS_URL`` set, jobs move between processes (bot, workers,
        scheduler), which must then share one database; an unset
        ``DATABASE_URL`` would give each its own SQLite file. An explicit
        ``DATABASE_URL=sqlite:///path`` is taken as meant.
        """
        if self.redis_url is None or self.database_url is not None or self.database_url_given:
            return
        raise ConfigError(
            "DATABASE_URL",
            f"is unset while REDIS_URL is set: the {process} would write its own SQLite "
            "file; set DATABASE_URL to the shared PostgreSQL database",
        )

    @property
    def database_label(self) -> str:
        """Where the data lives, for messages; never includes a password."""
        if self.database_url is None:
            return f"SQLite file {self.sqlite_path}"
        parts = urlsplit(self.database_url)
        query = postgres_query(self.database_url)
        host = query.get("host") or parts.hostname or "localhost"
        port = query.get("port") or (str(parts.port) if parts.port else "")
        path = "/" + query["dbname"] if "dbname" in query else parts.path
        return f"PostgreSQL {host}{':' if port else ''}{port}{path}"


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


def parse_webhook_url(value: str | None) -> str | None:
    """TELEGRAM_WEBHOOK_URL: https://host[:port]/path (plain http only to a loopback host).

    Kept exactly as given (Telegram posts to this very URL); the `web`
    process serves its path.
    """
    name = "TELEGRAM_WEBHOOK_URL"
    value = _blank_to_none(value)
    if value is None:
        return None
    parts = _split_url(name, value)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(name, f"expected an https:// URL, got {_redact_url(value)!r}")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConfigError(
            name,
            "must be https:// (Telegram posts only to HTTPS); plain http:// is allowed "
            "for 127.0.0.1 and localhost (the emulator) only",
        )
    if parts.fragment:
        raise ConfigError(name, "must not have a #fragment")
    if (parts.path or "/") == HEALTH_PATH:
        raise ConfigError(name, f"the path {HEALTH_PATH} is the health check's; choose another")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_webhook_secret(value: str | None) -> Secret | None:
    """TELEGRAM_WEBHOOK_SECRET: 1-256 characters of A-Z a-z 0-9 _ - (Telegram's rule)."""
    value = _blank_to_none(value)
    if value is None:
        return None
    if not WEBHOOK_SECRET_RE.match(value):
        problem = (
            f"is {len(value)} characters long; Telegram takes at most 256"
            if len(value) > 256
            else "may hold only A-Z, a-z, 0-9, _ and - (Telegram's rule)"
        )
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET", problem)
    return Secret(value)


def _split_url(name: str, value: str) -> SplitResult:
    """``urlsplit`` with a checked port; anything malformed is a ConfigError naming ``name``."""
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed [IPv6 address
        raise ConfigError(name, f"is not a valid URL: {_redact_url(value)!r}") from None
    try:
        port = parts.port  # raises ValueError on a port that is not a number in 0..65535
    except ValueError:
        port = 0
    if port == 0:
        raise ConfigError(
            name, f"has a port that is not a number in 1..65535: {_redact_url(value)!r}"
        )
    return parts


def parse_http_url(name: str, value: str | None, default: str | None) -> str | None:
    value = _blank_to_none(value)
    if value is None:
        return default
    parts = _split_url(name, value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(name, f"expected an http:// or https:// URL, got {_redact_url(value)!r}")
    return value.rstrip("/")


def postgres_query(url: str) -> dict[str, str]:
    """The libpq parameters in a postgres:// URL's query string, decoded.

    Raises ConfigError naming DATABASE_URL for a parameter libpq does not
    know, one given twice, or an sslmode libpq would refuse. Messages name
    the parameter, never its value (a query may carry ``password=``).
    """
    params: dict[str, str] = {}
    for item in filter(None, urlsplit(url).query.split("&")):
        key, _, raw = item.partition("=")
        key = unquote(key)
        shown = repr(key) if re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", key) else "a query parameter"
        if not _libpq_knows(key):
            raise ConfigError(
                "DATABASE_URL",
                f"{shown} is not a PostgreSQL connection parameter "
                "(query parameters are libpq's, e.g. ?sslmode=require)",
            )
        if key in params:
            raise ConfigError("DATABASE_URL", f"gives {shown} twice")
        params[key] = unquote(raw)
    sslmode = params.get("sslmode")
    if sslmode is not None and sslmode not in SSLMODES:
        raise ConfigError(
            "DATABASE_URL",
            f"sslmode must be one of {', '.join(SSLMODES)}, got {sslmode[:20]!r}",
        )
    return params


def _libpq_knows(key: str) -> bool:
    """Whether this process's libpq takes ``key`` as a connection parameter."""
    from psycopg2 import ProgrammingError
    from psycopg2.extensions import parse_dsn

    try:
        return parse_dsn(f"{key}=x") == {key: "x"}
    except ProgrammingError:
        return False


def parse_database_url(value: str | None) -> tuple[str | None, str | None]:
    """Return ``(postgres_url, sqlite_path)``; exactly one is set."""
    value = _blank_to_none(value)
    if value is None:
        return None, None
    parts = _split_url("DATABASE_URL", value)
    if parts.scheme in ("postgres", "postgresql"):
        if not parts.path.strip("/"):
            raise ConfigError("DATABASE_URL", "names no database (postgresql://host:port/NAME)")
        postgres_query(value)
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
    parts = _split_url("REDIS_URL", value)
    scheme = parts.scheme  # lower-cased by urlsplit, but redis-py wants it so in the URL too
    if (
        scheme not in ("redis", "rediss", "unix")
        or not value.startswith(scheme + ":")
        or not (parts.netloc or parts.path)
    ):
        raise ConfigError(
            "REDIS_URL",
            f"expected redis://host:port/db or rediss://host:port, got {_redact_url(value)!r}",
        )
    db = parts.path.strip("/")
    if scheme != "unix" and db and not db.isdigit():
        raise ConfigError("REDIS_URL", f"the database index {db[:20]!r} is not a number")
    for item in filter(None, parts.query.split("&")):
        key, _, index = item.partition("=")
        # Other query parameters would reach redis-py's connection as keyword
        # arguments (a TypeError on first use) or override REDIS_TLS_VERIFY.
        if key != "db":
            raise ConfigError(
                "REDIS_URL",
                "takes no query parameters but db (TLS checks are set by REDIS_TLS_VERIFY)",
            )
        if not index.isdigit():
            raise ConfigError("REDIS_URL", f"the database index {index[:20]!r} is not a number")
    return value


def parse_choice(name: str, value: str | None, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (case-insensitive); unset or blank is the first."""
    value = _blank_to_none(value)
    if value is None:
        return choices[0]
    if value.lower() not in choices:
        raise ConfigError(name, f"{value[:20]!r} is not one of {', '.join(choices)}")
    return value.lower()


#: Shortest SEED_SECRET accepted (characters): 32 hex digits are 128 bits.
SEED_SECRET_MIN = 32


def parse_seed_secret(value: str | None) -> Secret | None:
    """SEED_SECRET: at least :data:`SEED_SECRET_MIN` characters, kept in a :class:`Secret`."""
    value = _blank_to_none(value)
    if value is None:
        return None
    if len(value) < SEED_SECRET_MIN:
        raise ConfigError(
            "SEED_SECRET",
            f"is {len(value)} characters long; use at least {SEED_SECRET_MIN} "
            "(e.g. the output of `openssl rand -hex 32`)",
        )
    return Secret(value)


def seed_secret_bytes(settings: Settings) -> bytes:
    """The key reading seeds are derived from (see :mod:`tarotbot.tarot.commitment`).

    SEED_SECRET when set; otherwise a key derived from the bot token (so every
    process of one bot agrees without more configuration; a new token then
    gives new seeds to new readings only). Without either (local tools) a
    fixed development key, which makes commitments checkable but not secret.
    """
    import hashlib
    import hmac

    if settings.seed_secret:
        return settings.seed_secret.reveal().encode()
    if settings.telegram_bot_token:
        token = settings.telegram_bot_token.reveal().encode()
        return hmac.new(token, b"tarotbot-seed-secret-v1", hashlib.sha256).digest()
    return b"tarotbot-development-seed-secret-not-secret"


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


def parse_redis_tls_ca_file(value: str | None, verify: str) -> str | None:
    """REDIS_TLS_CA_FILE, which only REDIS_TLS_VERIFY=required (``verify``) uses."""
    value = _blank_to_none(value)
    if value is not None and verify != "required":
        raise ConfigError(
            "REDIS_TLS_CA_FILE",
            "is set but REDIS_TLS_VERIFY is not required, so nothing would be checked "
            "against it; set REDIS_TLS_VERIFY=required",
        )
    return value


BACKUP_URL_FORMS = "file:///absolute/dir or s3://bucket/prefix"
S3_BUCKET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")
BACKUP_AT_RE = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
AGE_SECRET_KEY_PREFIX = "AGE-SECRET-KEY-1"


def split_backup_url(url: str) -> tuple[str, str, str]:
    """``("file", directory, "")`` or ``("s3", bucket, prefix)`` for a BACKUP_URL.

    Raises ConfigError naming BACKUP_URL for anything else: a relative or
    remote file URL, a bad bucket name, credentials, a query or fragment
    (S3 credentials come from the AWS variables, never from the URL).
    """
    name = "BACKUP_URL"
    parts = _split_url(name, url)
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            name,
            f"must not carry credentials ({_redact_url(url)!r}); S3 reads them from "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        )
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ConfigError(name, f"takes no ?query or #fragment, got {_redact_url(url)!r}")
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ConfigError(
                name, f"file URLs name an absolute folder (file:///srv/backups), got {url!r}"
            )
        directory = unquote(parts.path).rstrip("/") or "/"
        if "\x00" in directory:
            raise ConfigError(name, "holds a NUL character")
        return "file", directory, ""
    if parts.scheme == "s3":
        bucket = parts.netloc
        if not S3_BUCKET_RE.match(bucket) or ".." in bucket:
            raise ConfigError(
                name,
                f"{bucket[:70]!r} is not an S3 bucket name (3-63 letters, digits, dots, "
                "hyphens): s3://bucket/prefix",
            )
        prefix = unquote(parts.path).strip("/")
        if "//" in prefix:
            raise ConfigError(name, f"the prefix {prefix[:70]!r} has an empty path segment")
        return "s3", bucket, prefix
    raise ConfigError(name, f"expected {BACKUP_URL_FORMS}, got {_redact_url(url)!r}")


def parse_backup_url(value: str | None) -> str | None:
    """BACKUP_URL, checked by :func:`split_backup_url`; None when unset (the default applies)."""
    value = _blank_to_none(value)
    if value is None:
        return None
    split_backup_url(value)
    return value


def backup_url(settings: Settings) -> str:
    """Where backups go: BACKUP_URL, else a ``backups/`` folder beside the SQLite file.

    The default holds for PostgreSQL too (the folder beside TAROTBOT_SQLITE_PATH),
    which on a PaaS dyno is ephemeral disk: set BACKUP_URL to s3://... there.
    """
    if settings.backup_url is not None:
        return settings.backup_url
    return (Path(settings.sqlite_path).absolute().parent / "backups").as_uri()


def parse_age_recipients(value: str | None) -> tuple[str, ...]:
    """BACKUP_AGE_RECIPIENTS: age public keys (age1...), comma- or space-separated.

    Each is checked by pyrage (imported only when the variable is set) and
    kept in its canonical form, duplicates dropped. A secret key given here
    by mistake is refused without being shown.
    """
    name = "BACKUP_AGE_RECIPIENTS"
    value = _blank_to_none(value)
    if value is None:
        return ()
    from pyrage import x25519

    items = [item for item in re.split(r"[,\s]+", value) if item]
    keys: list[str] = []
    for index, item in enumerate(items, 1):
        where = f"item {index} of {len(items)}"
        if item.upper().startswith("AGE-SECRET-KEY-"):
            raise ConfigError(
                name,
                f"{where} is an age SECRET key (not shown); give its public key "
                "(age-keygen -y KEYFILE prints it) and keep the secret key off this machine",
            )
        try:
            key = str(x25519.Recipient.from_str(item))
        except Exception:  # pyrage.RecipientError: not bech32, wrong kind, bad checksum
            shown = repr(item[:12] + ("..." if len(item) > 12 else ""))
            raise ConfigError(
                name, f"{where} ({shown}) is not an age public key (age1... from age-keygen)"
            ) from None
        if key not in keys:
            keys.append(key)
    return tuple(keys)


def age_identity_keys(text: str) -> list[str]:
    """The keys in an age identity text (an age-keygen file or the variable's value).

    Lines starting with ``#`` (age-keygen's comments) and blank lines are
    skipped; a line may hold several keys separated by commas or spaces.
    """
    keys: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keys.extend(item for item in re.split(r"[,\s]+", line) if item)
    return keys


def age_identity_problem(text: str) -> str | None:
    """Why ``text`` is not a list of age secret keys, never quoting it; None when it is."""
    from pyrage import x25519

    keys = age_identity_keys(text)
    if not keys:
        return f"holds no age secret key ({AGE_SECRET_KEY_PREFIX}..., as age-keygen writes)"
    for index, key in enumerate(keys, 1):
        where = f"key {index} of {len(keys)}"
        if key.lower().startswith("age1"):
            return (
                f"{where} is a public key (age1...); verify and restore need the secret "
                f"key ({AGE_SECRET_KEY_PREFIX}...)"
            )
        try:
            x25519.Identity.from_str(key)
        except Exception:  # pyrage.IdentityError
            return (
                f"{where} is not an age secret key ({AGE_SECRET_KEY_PREFIX}..., as "
                "age-keygen writes); its value is not shown"
            )
    return None


def parse_age_identity(value: str | None) -> Secret | None:
    """BACKUP_AGE_IDENTITY: one or more age secret keys, kept in a :class:`Secret`."""
    value = _blank_to_none(value)
    if value is None:
        return None
    problem = age_identity_problem(value)
    if problem is not None:
        raise ConfigError("BACKUP_AGE_IDENTITY", problem)
    return Secret(value)


def parse_s3_endpoint_url(value: str | None) -> str | None:
    """S3_ENDPOINT_URL: http(s)://host[:port] of an S3-compatible service, no credentials."""
    name = "S3_ENDPOINT_URL"
    url = parse_http_url(name, value, None)
    if url is not None:
        parts = _split_url(name, url)
        if parts.username is not None or parts.password is not None:
            raise ConfigError(
                name,
                f"must not carry credentials ({_redact_url(url)!r}); set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            )
        if parts.query or parts.fragment:
            raise ConfigError(name, f"takes no ?query or #fragment, got {_redact_url(url)!r}")
    return url


def parse_backup_at(value: str | None) -> str:
    """BACKUP_AT: HH:MM (24-hour, UTC), returned zero-padded; unset is 03:00."""
    value = _blank_to_none(value)
    if value is None:
        return "03:00"
    match = BACKUP_AT_RE.match(value)
    if not match:
        raise ConfigError("BACKUP_AT", f"{value[:20]!r} is not a time of day as HH:MM (UTC)")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _redact_url(value: str) -> str:
    """A URL fit for a message: no password, no query string.

    Works on the raw text, not on ``urlsplit`` (which a malformed URL defeats):
    everything before the last ``@`` of the authority is the user info, of
    which only a user name before a ``:`` is kept (``redis://:pw@host``,
    ``http://user:pw@host``, a password holding ``/``; ``user:pw@host``
    without a scheme). A query (``?password=...``) and fragment are cut.
    """
    value = re.split(r"[?#]", value, maxsplit=1)[0] + ("?..." if re.search(r"[?#]", value) else "")
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "", value
    if "@" not in rest:
        return value
    userinfo, _, host = rest.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:***" if colon and "/" not in user else "***"
    return f"{scheme}{sep}{shown}@{host}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build validated :class:`Settings` from ``environ`` (default: ``os.environ``)."""
    env = os.environ if environ is None else environ
    database_url_given = _blank_to_none(env.get("DATABASE_URL")) is not None
    database_url, sqlite_path = parse_database_url(env.get("DATABASE_URL"))
    sqlite_path = sqlite_path or _blank_to_none(env.get("TAROTBOT_SQLITE_PATH"))
    llm_key = _blank_to_none(env.get("TAROT_LLM_API_KEY"))
    redis_tls_verify = parse_choice(
        "REDIS_TLS_VERIFY", env.get("REDIS_TLS_VERIFY"), REDIS_TLS_VERIFY_MODES
    )
    return Settings(
        telegram_bot_token=parse_token(env.get("TELEGRAM_BOT_TOKEN")),
        telegram_api_url=parse_http_url(
            "TELEGRAM_API_URL", env.get("TELEGRAM_API_URL"), "https://api.telegram.org"
        ),
        database_url=database_url,
        sqlite_path=str(Path(sqlite_path)) if sqlite_path else DEFAULT_SQLITE_PATH,
        redis_url=parse_redis_url(env.get("REDIS_URL")),
        redis_tls_verify=redis_tls_verify,
        redis_tls_ca_file=parse_redis_tls_ca_file(env.get("REDIS_TLS_CA_FILE"), redis_tls_verify),
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
        paid_broadcast=parse_switch(
            "TELEGRAM_PAID_BROADCAST", env.get("TELEGRAM_PAID_BROADCAST"), False
        ),
        paid_broadcast_after=parse_float(
            "TELEGRAM_PAID_BROADCAST_AFTER", env.get("TELEGRAM_PAID_BROADCAST_AFTER"), 1.0, 0.0, 60
        ),
        webhook_url=parse_webhook_url(env.get("TELEGRAM_WEBHOOK_URL")),
        webhook_secret=parse_webhook_secret(env.get("TELEGRAM_WEBHOOK_SECRET")),
        database_url_given=database_url_given,
        backup_url=parse_backup_url(env.get("BACKUP_URL")),
        backup_recipients=parse_age_recipients(env.get("BACKUP_AGE_RECIPIENTS")),
        backup_identity=parse_age_identity(env.get("BACKUP_AGE_IDENTITY")),
        backup_identity_file=_blank_to_none(env.get("BACKUP_AGE_IDENTITY_FILE")),
        s3_endpoint_url=parse_s3_endpoint_url(env.get("S3_ENDPOINT_URL")),
        **_backup_retention(env),
        backup_at=parse_backup_at(env.get("BACKUP_AT")),
        seed_secret=parse_seed_secret(env.get("SEED_SECRET")),
        bulk_rate=parse_float(
            "BULK_SENDS_PER_SECOND", env.get("BULK_SENDS_PER_SECOND"), 20.0, 0.1, 30.0
        ),
        daily_batch=parse_int("DAILY_BATCH_SIZE", env.get("DAILY_BATCH_SIZE"), 50, 1, 1000),
        invite_bonus=parse_int("INVITE_BONUS", env.get("INVITE_BONUS"), 2, 0, 1000),
        invite_daily_cap=parse_int("INVITE_DAILY_CAP", env.get("INVITE_DAILY_CAP"), 10, 0, 10000),
    )


def _backup_retention(env: Mapping[str, str]) -> dict[str, int]:
    """BACKUP_KEEP_DAILY/WEEKLY/MONTHLY (0..1000 each); all three 0 would prune every backup."""
    keep = {
        f"backup_keep_{period}": parse_int(
            f"BACKUP_KEEP_{period.upper()}",
            env.get(f"BACKUP_KEEP_{period.upper()}"),
            default,
            0,
            1000,
        )
        for period, default in (("daily", 7), ("weekly", 4), ("monthly", 12))
    }
    if not any(keep.values()):
        raise ConfigError(
            "BACKUP_KEEP_DAILY",
            "BACKUP_KEEP_DAILY, BACKUP_KEEP_WEEKLY and BACKUP_KEEP_MONTHLY are all 0: "
            "prune would delete every backup",
        )
    return keep


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return load_settings()
