"""Every exception the application raises on purpose, named for the condition.

The CLI turns :class:`TarotBotError` subclasses into a one-line message and a
non-zero exit code; anything else is a bug and keeps its traceback.
"""


class TarotBotError(Exception):
    """Base class: an expected failure with a message fit for a person."""

    exit_code = 1


class ConfigError(TarotBotError):
    """An environment variable is missing, malformed or points nowhere."""

    exit_code = 2

    def __init__(self, variable: str, problem: str):
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


class TelegramUnavailable(TarotBotError):
    """The Bot API cannot be reached, or refuses our token, when the bot starts."""

    exit_code = 3


class PollingConflict(TarotBotError):
    """Another process keeps polling Telegram with the same bot token (409 Conflict)."""

    exit_code = 4


class MigrationError(TarotBotError):
    """A migration script is missing, malformed or failed to apply."""


class InsufficientCredits(TarotBotError):
    """A debit asked for more credits than the user holds; nothing was written."""

    def __init__(self, user_id: int, balance: int, needed: int):
        self.user_id = user_id
        self.balance = balance
        self.needed = needed
        super().__init__(f"user {user_id} holds {balance} credits, needs {needed}")


class ConflictDetected(TarotBotError):
    """A version-checked update kept losing to concurrent writers."""


class DuplicatePayment(TarotBotError):
    """An idempotency key was replayed with a different user, type or amount."""


class UnknownUser(TarotBotError):
    """No user row exists for the given id."""


class UnknownSpread(TarotBotError):
    """A spread name that is not one of the nine."""


class InvalidSeed(TarotBotError):
    """A draw seed that is not the expected hex string."""


class AuditFailed(TarotBotError):
    """The ledger audit found at least one violation."""


class UnknownTransaction(TarotBotError):
    """No ledger transaction carries the given idempotency key."""


class InvalidTransition(TarotBotError):
    """A ledger row cannot move to the requested status (e.g. completing a failed purchase)."""


class NotRefundable(TarotBotError):
    """A transaction that cannot be refunded: not a reading or purchase, or never applied."""


class BackupError(TarotBotError):
    """A backup could not be taken, found, verified or restored (base class).

    Messages are one line and never hold a secret: no age identity, no
    storage credentials, no password from a URL.
    """


class BackupRefused(BackupError):
    """A backup was not taken on purpose (e.g. no age recipients); nothing was written."""

    exit_code = 2


class StorageUnavailable(BackupError):
    """The backup storage is unreachable, refuses the credentials, or lacks the bucket."""


class BackupNotFound(BackupError):
    """No backup (or stored object) has the given id or name."""


class IncompleteBackup(BackupError):
    """A backup object without its manifest: never finished, never to be trusted."""


class BackupIntegrityError(BackupError):
    """A backup's bytes are not what was written: checksum or size mismatch, truncated, tampered."""


class DecryptionFailed(BackupError):
    """A backup cannot be decrypted: no identity matches, no identity given, or not an age file."""


class RestoreRefused(BackupError):
    """The target database is not empty and --replace --yes was not given; nothing was touched."""

    exit_code = 2


class ToolMismatch(BackupError):
    """pg_dump or pg_restore is missing or its version cannot handle the server or the dump."""
