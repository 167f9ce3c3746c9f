"""age encryption of backups: round trips, every kind of bad input refused in one line, memory.

The memory figures are measured in a child process (``ru_maxrss`` is a
process's peak, so the test run's own allocations must not count).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519

from tarotbot.backups.crypto import (
    AGE_MAGIC,
    decrypt_stream,
    encrypt_stream,
    identities_from,
    recipients_from,
)
from tarotbot.config import Secret, Settings, load_settings
from tarotbot.exceptions import (
    BackupIntegrityError,
    BackupRefused,
    ConfigError,
    DecryptionFailed,
)

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


def encrypted(data: bytes, *recipients: x25519.Recipient) -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, list(recipients))
    return out.getvalue()


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text, text
    return text


@pytest.fixture
def data() -> bytes:
    return os.urandom(5 * MiB + 12345)  # several 64 KiB age chunks and a short last one


# --- round trips ---------------------------------------------------------------------------


def test_round_trip_of_a_multi_megabyte_stream(age_keys, data):
    ciphertext = encrypted(data, x25519.Recipient.from_str(age_keys.recipient_str))
    assert ciphertext.startswith(AGE_MAGIC)  # a standard binary age file
    assert data[:4096] not in ciphertext
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(ciphertext), out, [age_keys.identity])
    assert out.getvalue() == data
    assert pyrage.decrypt(ciphertext, [age_keys.identity]) == data  # age itself agrees


def test_each_of_several_recipients_can_decrypt(age_keys, data):
    other = x25519.Identity.generate()
    ciphertext = encrypted(data[:100_000], age_keys.identity.to_public(), other.to_public())
    for identity in (age_keys.identity, other):
        out = io.BytesIO()
        decrypt_stream(io.BytesIO(ciphertext), out, [identity])
        assert out.getvalue() == data[:100_000]


def test_an_empty_stream_round_trips(age_keys):
    ciphertext = encrypted(b"", age_keys.identity.to_public())
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(ciphertext), out, [age_keys.identity])
    assert out.getvalue() == b""


def test_the_settings_keys_round_trip(age_keys, tmp_path, data):
    key_file = tmp_path / "key.txt"
    key_file.write_text(
        "# created: 2026-11-30T03:00:00Z\n"
        f"# public key: {age_keys.recipient_str}\n"
        f"{age_keys.identity_str}\n"
    )
    settings = load_settings(
        {
            "BACKUP_AGE_RECIPIENTS": f" {age_keys.recipient_str} ,",
            "BACKUP_AGE_IDENTITY_FILE": str(key_file),
        }
    )
    ciphertext = encrypted(data[:70_000], *recipients_from(settings))
    identities = identities_from(settings)
    assert [str(identity.to_public()) for identity in identities] == [age_keys.recipient_str]
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(ciphertext), out, identities)
    assert out.getvalue() == data[:70_000]


# --- refusals ------------------------------------------------------------------------------


def test_a_wrong_identity_is_refused(age_keys, data):
    ciphertext = encrypted(data, age_keys.identity.to_public())
    with pytest.raises(DecryptionFailed) as info:
        decrypt_stream(io.BytesIO(ciphertext), io.BytesIO(), [x25519.Identity.generate()])
    assert "no given age identity opens this backup" in one_line(info.value)


@pytest.mark.parametrize("where", ["payload", "middle chunk", "last byte"])
def test_a_flipped_byte_in_the_payload_is_refused(age_keys, data, where):
    ciphertext = bytearray(encrypted(data, age_keys.identity.to_public()))
    # The header's length varies (age adds a random "grease" stanza): find its end.
    payload = ciphertext.index(b"\n", ciphertext.index(b"\n--- ") + 1) + 1 + 16  # + nonce
    position = {"payload": payload + 5, "middle chunk": len(ciphertext) // 2, "last byte": -1}
    position = position[where]
    ciphertext[position] ^= 0x01
    with pytest.raises(BackupIntegrityError) as info:
        decrypt_stream(io.BytesIO(bytes(ciphertext)), io.BytesIO(), [age_keys.identity])
    assert "truncated or was altered" in one_line(info.value)


def test_a_flipped_byte_in_the_header_is_refused(age_keys, data):
    ciphertext = bytearray(encrypted(data[:1000], age_keys.identity.to_public()))
    ciphertext[ciphertext.index(b"\n--- ") - 3] ^= 0x01  # the last stanza's body
    with pytest.raises((DecryptionFailed, BackupIntegrityError)) as info:
        decrypt_stream(io.BytesIO(bytes(ciphertext)), io.BytesIO(), [age_keys.identity])
    one_line(info.value)


@pytest.mark.parametrize("keep", [0, 10, 60, 300, 65536 * 3, -1])
def test_a_truncated_ciphertext_is_refused(age_keys, data, keep):
    ciphertext = encrypted(data, age_keys.identity.to_public())
    cut = ciphertext[:keep] if keep >= 0 else ciphertext[:-1]
    with pytest.raises(BackupIntegrityError) as info:
        decrypt_stream(io.BytesIO(cut), io.BytesIO(), [age_keys.identity])
    assert "truncated" in one_line(info.value)


def test_bytes_appended_after_the_end_are_refused(age_keys, data):
    ciphertext = encrypted(data[:100_000], age_keys.identity.to_public())
    with pytest.raises(BackupIntegrityError):
        decrypt_stream(io.BytesIO(ciphertext + b"\0"), io.BytesIO(), [age_keys.identity])


@pytest.mark.parametrize("content", [b"PGDMP\x01\x0e\x00" + b"\0" * 100, b"SQLite format 3\0" * 9])
def test_a_file_that_is_not_age_is_refused(age_keys, content):
    with pytest.raises(DecryptionFailed) as info:
        decrypt_stream(io.BytesIO(content), io.BytesIO(), [age_keys.identity])
    assert one_line(info.value) == "not an age file (it does not start with the age header)"


def test_no_recipients_writes_nothing():
    out = io.BytesIO()
    with pytest.raises(BackupRefused) as info:
        encrypt_stream(io.BytesIO(b"plaintext"), out, [])
    assert out.getvalue() == b""
    assert info.value.exit_code == 2
    with pytest.raises(BackupRefused) as info:
        recipients_from(load_settings({}))
    assert one_line(info.value) == (
        "BACKUP_AGE_RECIPIENTS is unset: refusing to write an unencrypted backup "
        "(see README, Backups)"
    )


def test_errors_of_the_streams_themselves_propagate_unchanged(age_keys, data):
    class StorageDown(Exception):
        pass

    class Failing(io.RawIOBase):
        def __init__(self, after: int):
            self.calls = 0
            self.after = after

        def readable(self) -> bool:
            return True

        def writable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            return self.write(buffer) and len(buffer)

        def write(self, chunk) -> int:
            self.calls += 1
            if self.calls > self.after:
                raise StorageDown("the bucket went away")
            return len(chunk)

    recipient = age_keys.identity.to_public()
    with pytest.raises(StorageDown):
        encrypt_stream(io.BytesIO(data), Failing(after=3), [recipient])
    with pytest.raises(StorageDown):
        encrypt_stream(Failing(after=5), io.BytesIO(), [recipient])
    ciphertext = encrypted(data, recipient)
    with pytest.raises(StorageDown):
        decrypt_stream(io.BytesIO(ciphertext), Failing(after=3), [age_keys.identity])


# --- settings -----------------------------------------------------------------------------


def test_recipients_are_parsed_and_kept_canonical(age_keys):
    other = str(x25519.Identity.generate().to_public())
    settings = load_settings(
        {"BACKUP_AGE_RECIPIENTS": f"{age_keys.recipient_str}, {other}\n{age_keys.recipient_str}"}
    )
    assert settings.backup_recipients == (age_keys.recipient_str, other)
    assert [str(r) for r in recipients_from(settings)] == [age_keys.recipient_str, other]


def test_a_bad_recipient_is_one_line_naming_the_item(age_keys):
    with pytest.raises(ConfigError) as info:
        load_settings({"BACKUP_AGE_RECIPIENTS": f"{age_keys.recipient_str},age1notakey"})
    assert info.value.variable == "BACKUP_AGE_RECIPIENTS"
    assert info.value.exit_code == 2
    message = one_line(info.value)
    assert message.startswith("BACKUP_AGE_RECIPIENTS: item 2 of 2 ('age1notakey')")


def test_a_secret_key_given_as_recipient_is_refused_unshown(age_keys):
    with pytest.raises(ConfigError) as info:
        load_settings({"BACKUP_AGE_RECIPIENTS": age_keys.identity_str})
    message = one_line(info.value)
    assert "SECRET key" in message and age_keys.identity_str not in message
    assert age_keys.identity_str[16:30] not in message


@pytest.mark.parametrize(
    "value",
    [
        "AGE-SECRET-KEY-1NOTAVALIDKEYATALLBUTLONGENOUGHTOLOOKLIKEONEQQQQQQQQQQQQQQQQQ",
        "hunter2-my-password",
        "# only a comment",
    ],
)
def test_a_malformed_identity_is_one_line_without_the_value(value):
    with pytest.raises(ConfigError) as info:
        load_settings({"BACKUP_AGE_IDENTITY": value})
    assert info.value.variable == "BACKUP_AGE_IDENTITY"
    message = one_line(info.value)
    assert value not in message and value[10:25] not in message


def test_the_identity_is_a_secret_in_settings(age_keys):
    settings = load_settings({"BACKUP_AGE_IDENTITY": age_keys.identity_str})
    assert settings.backup_identity.reveal() == age_keys.identity_str
    for shown in (repr(settings), str(settings), f"{settings.backup_identity}"):
        assert age_keys.identity_str not in shown
        assert age_keys.identity_str[16:40] not in shown


def test_a_public_key_given_as_identity_is_named(age_keys):
    with pytest.raises(ConfigError) as info:
        load_settings({"BACKUP_AGE_IDENTITY": age_keys.recipient_str})
    assert "is a public key (age1...)" in one_line(info.value)


def test_identities_from_the_variable_and_the_file_are_both_tried(age_keys, tmp_path):
    other = x25519.Identity.generate()
    key_file = tmp_path / "keys.txt"
    key_file.write_text(f"# two keys\n\n{other}\n{age_keys.identity_str}\n")
    settings = load_settings(
        {"BACKUP_AGE_IDENTITY": str(other), "BACKUP_AGE_IDENTITY_FILE": str(key_file)}
    )
    keys = [str(identity.to_public()) for identity in identities_from(settings)]
    assert keys == [str(other.to_public()), str(other.to_public()), age_keys.recipient_str]


def test_identity_problems_are_decryption_failures_naming_the_variable(age_keys, tmp_path):
    with pytest.raises(DecryptionFailed) as info:
        identities_from(load_settings({}))
    message = one_line(info.value)
    assert "BACKUP_AGE_IDENTITY and BACKUP_AGE_IDENTITY_FILE are unset" in message

    missing = tmp_path / "nope.txt"
    with pytest.raises(DecryptionFailed) as info:
        identities_from(load_settings({"BACKUP_AGE_IDENTITY_FILE": str(missing)}))
    assert one_line(info.value).startswith("BACKUP_AGE_IDENTITY_FILE: cannot read ")

    bad = tmp_path / "bad.txt"
    secretish = "AGE-SECRET-KEY-1" + "Q" * 58
    bad.write_text(f"# a comment\n{secretish}\n")
    with pytest.raises(DecryptionFailed) as info:
        identities_from(load_settings({"BACKUP_AGE_IDENTITY_FILE": str(bad)}))
    message = one_line(info.value)
    assert message.startswith("BACKUP_AGE_IDENTITY_FILE (")
    assert secretish not in message and "QQQQ" not in message

    binary = tmp_path / "binary.key"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DecryptionFailed) as info:
        identities_from(load_settings({"BACKUP_AGE_IDENTITY_FILE": str(binary)}))
    assert "not a text file" in one_line(info.value)

    # Settings built directly (not through load_settings) are checked as well.
    with pytest.raises(DecryptionFailed) as info:
        identities_from(Settings(backup_identity=Secret("hunter2")))
    assert one_line(info.value).startswith("BACKUP_AGE_IDENTITY: key 1 of 1 is not an age secret")
    assert "hunter2" not in str(info.value)


# --- memory --------------------------------------------------------------------------------

MEMORY_PROBE = r"""
import io, json, os, resource, sys
from pyrage import x25519
from tarotbot.backups.crypto import decrypt_stream, encrypt_stream

size, path = int(sys.argv[1]), sys.argv[2]
block = os.urandom(1 << 20)

class Source(io.RawIOBase):
    left = size
    def readable(self): return True
    def readinto(self, buffer):
        n = min(len(buffer), self.left, len(block))
        buffer[:n] = block[:n]
        self.left -= n
        return n

class Sink(io.RawIOBase):
    total = 0
    def writable(self): return True
    def write(self, chunk):
        self.total += len(chunk)
        return len(chunk)

def peak():
    # VmHWM: this process's own peak. ru_maxrss would also count the pytest process
    # it was forked from (Linux carries the pre-exec peak across exec).
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

identity = x25519.Identity.generate()
before = peak()
with open(path, "wb") as out:
    encrypt_stream(Source(), out, [identity.to_public()])
after_encrypt = peak()
sink = Sink()
with open(path, "rb") as ciphertext:
    decrypt_stream(ciphertext, sink, [identity])
after_decrypt = peak()
assert sink.total == size, sink.total
print(json.dumps({"before": before, "encrypt": after_encrypt, "decrypt": after_decrypt,
                  "ciphertext": os.path.getsize(path)}))
"""


def test_streaming_memory_stays_flat(tmp_path):
    """128 MiB through encrypt and back through decrypt: the peak grows by a few MiB only."""
    size = 128 * MiB
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(size), str(tmp_path / "big.age")],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout)
    encrypt_growth = (figures["encrypt"] - figures["before"]) / MiB
    decrypt_growth = (figures["decrypt"] - figures["before"]) / MiB
    print(
        f"peak RSS {figures['before'] / MiB:.1f} MiB before; +{encrypt_growth:.1f} MiB "
        f"encrypting and +{decrypt_growth:.1f} MiB decrypting {size // MiB} MiB"
    )
    assert figures["ciphertext"] > size
    assert encrypt_growth < 16, figures
    assert decrypt_growth < 16, figures
