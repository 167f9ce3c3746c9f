"""age encryption of backups, streamed: constant memory whatever the size.

Backups are encrypted to public keys (BACKUP_AGE_RECIPIENTS), so the machine
taking them holds no secret; the output is a standard binary age file.

pyrage's ``encrypt_io``/``decrypt_io`` copy through 8 KiB reads and 64 KiB
age chunks (the Rust side runs ``std::io::copy`` on the Python file objects),
so nothing is held whole. They turn an exception raised by our own reader or
writer (storage down, pg_dump failed) into their own error with the message
as text; the :class:`_Guarded` wrappers keep the original and re-raise it.

age authenticates every 64 KiB chunk and marks the last one, so a flipped
byte, a cut-off end or a swapped chunk is caught; but :func:`decrypt_stream`
writes each chunk as it is authenticated, so on an error the caller must
throw away what reached ``dst``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import pyrage
from pyrage import x25519

from tarotbot.config import Settings, age_identity_keys, age_identity_problem, parse_age_recipients
from tarotbot.exceptions import (
    BackupError,
    BackupIntegrityError,
    BackupRefused,
    DecryptionFailed,
)

#: The first line of every binary age file; the armored form starts with ARMOR_MAGIC.
AGE_MAGIC = b"age-encryption.org/v1\n"
ARMOR_MAGIC = b"-----BEGIN AGE ENCRYPTED FILE-----"
NO_RECIPIENTS = (
    "BACKUP_AGE_RECIPIENTS is unset: refusing to write an unencrypted backup (see README, Backups)"
)
NO_IDENTITY = (
    "BACKUP_AGE_IDENTITY and BACKUP_AGE_IDENTITY_FILE are unset: verifying or restoring a "
    "backup needs the age secret key its recipients were made from (see README, Backups)"
)


def recipients_from(settings: Settings) -> list[x25519.Recipient]:
    """The age public keys backups are encrypted to; BackupRefused when there are none."""
    if not settings.backup_recipients:
        raise BackupRefused(NO_RECIPIENTS)
    keys = parse_age_recipients(",".join(settings.backup_recipients))
    return [x25519.Recipient.from_str(key) for key in keys]


def identities_from(settings: Settings) -> list[x25519.Identity]:
    """The age secret keys of BACKUP_AGE_IDENTITY and BACKUP_AGE_IDENTITY_FILE (both, if set).

    DecryptionFailed, in one line naming the variable and never quoting a
    key, when neither is set, the file cannot be read, or a key is malformed.
    """
    sources: list[tuple[str, str]] = []
    if settings.backup_identity:
        sources.append(("BACKUP_AGE_IDENTITY", settings.backup_identity.reveal()))
    if settings.backup_identity_file:
        path = Path(settings.backup_identity_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not a text file"
            raise DecryptionFailed(
                f"BACKUP_AGE_IDENTITY_FILE: cannot read {str(path)!r} ({reason})"
            ) from None
        sources.append(("BACKUP_AGE_IDENTITY_FILE", text))
    if not sources:
        raise DecryptionFailed(NO_IDENTITY)
    identities: list[x25519.Identity] = []
    for variable, text in sources:
        problem = age_identity_problem(text)
        if problem is not None:
            where = f" ({settings.backup_identity_file!r})" if variable.endswith("_FILE") else ""
            raise DecryptionFailed(f"{variable}{where}: {problem}")
        identities.extend(x25519.Identity.from_str(key) for key in age_identity_keys(text))
    return identities


def encrypt_stream(src: BinaryIO, dst: BinaryIO, recipients: Sequence[x25519.Recipient]) -> None:
    """Encrypt everything ``src.read()`` yields into ``dst.write()``, as one age file.

    Memory stays at a few chunks whatever the size. An exception from ``src``
    or ``dst`` propagates as it was raised; BackupRefused without recipients
    (nothing is written then).
    """
    if not recipients:
        raise BackupRefused(NO_RECIPIENTS)
    reader, writer = _Guarded(src), _Guarded(dst)
    try:
        pyrage.encrypt_io(reader, writer, list(recipients))
    except pyrage.EncryptError as exc:
        reader.reraise()
        writer.reraise()
        raise BackupError(f"age encryption failed: {_one_line(exc)}") from None
    reader.reraise()
    writer.reraise()


def decrypt_stream(src: BinaryIO, dst: BinaryIO, identities: Sequence[x25519.Identity]) -> None:
    """Decrypt the age file ``src`` yields into ``dst``, authenticating every chunk.

    DecryptionFailed: no identity given or none opens it, or ``src`` is not an
    age file. BackupIntegrityError: it is cut short or a byte was changed
    (plaintext already written to ``dst`` must then be discarded). An
    exception from ``src`` or ``dst`` propagates as it was raised.
    """
    if not identities:
        raise DecryptionFailed(NO_IDENTITY)
    reader, writer = _Guarded(src), _Guarded(dst)
    head = reader.peek(len(AGE_MAGIC))
    if not head:
        raise BackupIntegrityError("the backup is empty (0 bytes): truncated to nothing")
    if head != AGE_MAGIC and not ARMOR_MAGIC.startswith(head):
        if len(head) < len(AGE_MAGIC) and AGE_MAGIC.startswith(head):
            raise BackupIntegrityError(
                f"the backup is truncated: only {len(head)} bytes, not even the age header"
            )
        raise DecryptionFailed("not an age file (it does not start with the age header)")
    try:
        pyrage.decrypt_io(reader, writer, list(identities))
    except pyrage.DecryptError as exc:  # the header: recipients' stanzas, its MAC
        reader.reraise()
        writer.reraise()
        if "no matching keys" in str(exc).lower():
            raise DecryptionFailed(
                "no given age identity opens this backup (a key its recipients were not "
                "made from, or a damaged header)"
            ) from None
        raise BackupIntegrityError(
            f"the age header is damaged or truncated ({_one_line(exc)})"
        ) from None
    except OSError as exc:  # the payload: a chunk failed authentication, or the end is missing
        reader.reraise()
        writer.reraise()
        raise BackupIntegrityError(
            f"the backup is truncated or was altered: age refused a chunk ({_one_line(exc)})"
        ) from None
    except Exception:
        reader.reraise()
        writer.reraise()
        raise
    reader.reraise()
    writer.reraise()


class _Guarded:
    """A file's read/write for pyrage, keeping the first exception to re-raise after.

    pyrage turns a Python exception in a callback into its own error with the
    message as text; the original (StorageUnavailable, KeyboardInterrupt, a
    pipe error) is kept here and re-raised by :meth:`reraise` unchanged.
    Once failed, every further call fails too, so pyrage stops at once.
    """

    def __init__(self, file: BinaryIO):
        self._file = file
        self._error: BaseException | None = None
        self._pending = b""

    def peek(self, size: int) -> bytes:
        """Read up to ``size`` bytes ahead; :meth:`read` yields them again first."""
        while len(self._pending) < size:
            self._check()
            try:
                chunk = self._file.read(size - len(self._pending))
            except BaseException as exc:
                self._error = exc
                raise
            if not chunk:
                break
            self._pending += chunk
        return self._pending

    def read(self, size: int = -1) -> bytes:
        if self._pending:
            data = self._pending if size < 0 else self._pending[:size]
            self._pending = self._pending[len(data) :]
            return data
        self._check()
        try:
            return self._file.read(size)
        except BaseException as exc:
            self._error = exc
            raise

    def write(self, data: bytes) -> int:
        self._check()
        try:
            written = self._file.write(data)
        except BaseException as exc:
            self._error = exc
            raise
        return len(data) if written is None else written

    def flush(self) -> None:
        self._check()
        flush = getattr(self._file, "flush", None)
        if flush is not None:
            try:
                flush()
            except BaseException as exc:
                self._error = exc
                raise

    def _check(self) -> None:
        if self._error is not None:
            raise OSError("the stream failed earlier")

    def reraise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
