"""Where backups are kept: a folder, or any S3-compatible bucket, behind one interface.

An object becomes visible under its name only when its writer commits: a
reader or :meth:`Storage.list` never sees half an object. A writer left
without a commit (an exception, a crash, SIGKILL) leaves at most a leftover
that :meth:`Storage.list_incomplete` finds and :meth:`Storage.delete_incomplete`
removes, never something listed as complete.

- :class:`FileStorage` writes ``<name>.partial-<pid>-<random>``, fsyncs it
  and renames it into place (``os.replace`` is atomic on one file system).
- :class:`S3Storage` streams a multipart upload of 8 MiB parts (memory is
  bounded by about two parts whatever the object's size); S3 shows the
  object only once the upload is completed. A stream smaller than one part
  is one ``PutObject`` at commit. Leftovers are multipart uploads still in
  progress under the prefix. S3 allows 10,000 parts: objects up to 78 GiB.

Object names are flat (no ``/``): ``[A-Za-z0-9][A-Za-z0-9._+=-]*``.
Every storage failure is :class:`~tarotbot.exceptions.StorageUnavailable`
(or BackupNotFound for a missing object) with a one-line message that holds
no credential.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from tarotbot.config import Settings, backup_url, split_backup_url
from tarotbot.exceptions import BackupNotFound, StorageUnavailable

#: Size of each part of an S3 multipart upload (S3 wants at least 5 MiB but for the last).
PART_SIZE = 8 * 1024 * 1024
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]{0,250}$")
PARTIAL = ".partial-"


@dataclass(frozen=True)
class StoredObject:
    """An object in storage; ``modified`` is aware UTC.

    For an incomplete S3 upload, ``upload_id`` names the multipart upload
    (what :meth:`Storage.delete_incomplete` aborts) and ``modified`` is when
    it was started.
    """

    name: str
    size: int
    modified: dt.datetime
    upload_id: str | None = None


class Storage(Protocol):
    """What the backup service needs of a place to keep objects."""

    def describe(self) -> str:
        """The storage's URL (and endpoint), without credentials."""
        ...

    def writer(self, name: str) -> ObjectWriter: ...

    def reader(self, name: str) -> BinaryIO:
        """The object, streamed; BackupNotFound when there is none."""
        ...

    def list(self) -> list[StoredObject]:
        """Complete objects only, sorted by name."""
        ...

    def list_incomplete(self) -> list[StoredObject]:
        """Leftovers of writers that never committed (killed, crashed).

        A writer still running in another process is listed too; a caller
        that may run beside one spares the recent ones (``modified``).
        """
        ...

    def delete_incomplete(self, obj: StoredObject) -> None: ...

    def delete(self, name: str) -> None:
        """Remove the object; no error when it is already gone."""
        ...

    def exists(self, name: str) -> bool: ...

    def write_bytes(self, name: str, data: bytes) -> None:
        """A small object (a manifest), written atomically like any other."""
        ...

    def read_bytes(self, name: str) -> bytes: ...


def storage_from(settings: Settings) -> Storage:
    """The storage BACKUP_URL names (ConfigError naming BACKUP_URL when it is malformed)."""
    scheme, location, prefix = split_backup_url(backup_url(settings))
    if scheme == "file":
        return FileStorage(location)
    return S3Storage(location, prefix, endpoint_url=settings.s3_endpoint_url)


def check_name(name: str) -> str:
    """``name`` if it is a valid object name, else ValueError (a programming error)."""
    if not isinstance(name, str) or not NAME_RE.match(name) or PARTIAL in name:
        raise ValueError(f"not a valid object name: {name!r}")
    return name


class ObjectWriter:
    """A streamed write of one object; a context manager that aborts unless committed.

    ``write(data)`` streams bytes, ``commit()`` makes the object visible under
    its name at once and returns its size in bytes, ``abort()`` drops it.
    """

    def __init__(self) -> None:
        self.size = 0
        self.state = "open"  # then "committed" or "aborted"

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.state == "open":
            self.abort()

    def _require_open(self) -> None:
        if self.state != "open":
            raise ValueError(f"the writer is {self.state}")

    def abort(self) -> None:
        if self.state == "open":
            self.state = "aborted"
            self._abort()

    def _abort(self) -> None:
        raise NotImplementedError


# --- a folder ------------------------------------------------------------------------------


class FileStorage:
    """Objects as files in one folder (created with mode 0700 on first write)."""

    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory)

    def describe(self) -> str:
        return self.directory.absolute().as_uri()

    def _path(self, name: str) -> Path:
        return self.directory / check_name(name)

    def _failed(self, action: str, exc: OSError) -> StorageUnavailable:
        reason = exc.strerror or type(exc).__name__
        return StorageUnavailable(f"{action} in {self.directory} failed: {reason}")

    def _ensure_directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise self._failed("creating the backup folder", exc) from None

    def writer(self, name: str) -> _FileWriter:
        path = self._path(name)
        self._ensure_directory()
        return _FileWriter(self, path)

    def reader(self, name: str) -> BinaryIO:
        try:
            return open(self._path(name), "rb")
        except FileNotFoundError:
            raise BackupNotFound(f"no object {name} in {self.describe()}") from None
        except OSError as exc:
            raise self._failed(f"opening {name}", exc) from None

    def _scan(self) -> Iterator[tuple[str, os.stat_result]]:
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._failed("listing", exc) from None
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False):
                    yield entry.name, entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # removed meanwhile
                continue

    @staticmethod
    def _object(name: str, stat: os.stat_result) -> StoredObject:
        modified = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC)
        return StoredObject(name, stat.st_size, modified)

    def list(self) -> list[StoredObject]:
        found = [
            self._object(name, stat)
            for name, stat in self._scan()
            if NAME_RE.match(name) and PARTIAL not in name
        ]
        return sorted(found, key=lambda obj: obj.name)

    def list_incomplete(self) -> list[StoredObject]:
        found = [self._object(name, stat) for name, stat in self._scan() if PARTIAL in name]
        return sorted(found, key=lambda obj: obj.name)

    def delete_incomplete(self, obj: StoredObject) -> None:
        if PARTIAL not in obj.name or "/" in obj.name:
            raise ValueError(f"not an incomplete object: {obj.name!r}")
        self._unlink(obj.name)

    def delete(self, name: str) -> None:
        self._unlink(check_name(name))

    def _unlink(self, name: str) -> None:
        try:
            (self.directory / name).unlink(missing_ok=True)
        except OSError as exc:
            raise self._failed(f"deleting {name}", exc) from None

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def write_bytes(self, name: str, data: bytes) -> None:
        with self.writer(name) as writer:
            writer.write(data)
            writer.commit()

    def read_bytes(self, name: str) -> bytes:
        with self.reader(name) as file:
            try:
                return file.read()
            except OSError as exc:
                raise self._failed(f"reading {name}", exc) from None

    def __repr__(self) -> str:
        return f"FileStorage({str(self.directory)!r})"


class _FileWriter(ObjectWriter):
    def __init__(self, storage: FileStorage, path: Path):
        super().__init__()
        self.storage = storage
        self.path = path
        self.partial = path.with_name(f"{path.name}{PARTIAL}{os.getpid()}-{secrets.token_hex(4)}")
        try:
            fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise storage._failed(f"creating {self.partial.name}", exc) from None
        self.file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> int:
        self._require_open()
        try:
            self.file.write(data)
        except OSError as exc:
            raise self.storage._failed(f"writing {self.path.name}", exc) from None
        self.size += len(data)
        return len(data)

    def commit(self) -> int:
        self._require_open()
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.partial, self.path)
        except OSError as exc:
            self.abort()
            raise self.storage._failed(f"saving {self.path.name}", exc) from None
        self.state = "committed"
        _fsync_directory(self.path.parent)
        return self.size

    def _abort(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        with contextlib.suppress(OSError):
            self.partial.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort: not every file system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- S3 and S3-compatible services -----------------------------------------------------------

#: Error codes that mean "these credentials are not accepted here".
_REFUSED = {
    "AccessDenied",
    "AllAccessDisabled",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "TokenRefreshRequired",
    "UnrecognizedClientException",
    "403",
}
_MISSING_OBJECT = {"NoSuchKey", "404", "NotFound"}


class S3Storage:
    """Objects under ``prefix/`` in an S3 bucket (AWS, or S3_ENDPOINT_URL's service).

    Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY, a profile, an instance role); this class never
    reads, keeps or prints them.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        *,
        part_size: int = PART_SIZE,
        client: Any = None,
    ):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.part_size = part_size
        self._client = client if client is not None else _make_client(endpoint_url)

    def describe(self) -> str:
        url = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        if self.endpoint_url:
            parts = urlsplit(self.endpoint_url)
            url += f" at {parts.scheme}://{parts.hostname}" + (
                f":{parts.port}" if parts.port else ""
            )
        return url

    def key(self, name: str) -> str:
        check_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def _name(self, key: str) -> str | None:
        """The object name of ``key``, or None for a key outside this flat namespace."""
        name = key[len(self.prefix) + 1 :] if self.prefix else key
        if self.prefix and not key.startswith(self.prefix + "/"):
            return None
        return name if NAME_RE.match(name) else None

    def _list_prefix(self) -> str:
        return self.prefix + "/" if self.prefix else ""

    def error(self, exc: Exception, action: str, name: str | None = None) -> Exception:
        """The one-line StorageUnavailable (or BackupNotFound) for a boto3 error."""
        from botocore import exceptions as boto

        where = self.describe()
        if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
            return StorageUnavailable(
                f"no usable S3 credentials for {where}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY"
            )
        if isinstance(exc, boto.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket":
                return StorageUnavailable(f"the bucket {self.bucket} does not exist ({where})")
            if name is not None and (code in _MISSING_OBJECT or status == 404):
                return BackupNotFound(f"no object {name} in {where}")
            if code in _REFUSED or status == 403:
                return StorageUnavailable(
                    f"{where} refused the credentials while {action} ({code or status})"
                )
            message = " ".join(str(error.get("Message") or "").split())[:160]
            return StorageUnavailable(
                f"{where} failed while {action}: {code or status}"
                + (f" ({message})" if message else "")
            )
        if isinstance(exc, boto.BotoCoreError):
            kind = type(exc).__name__
            if isinstance(exc, boto.EndpointConnectionError | boto.ConnectTimeoutError):
                return StorageUnavailable(f"{where} is unreachable while {action} ({kind})")
            return StorageUnavailable(f"{where} failed while {action} ({kind})")
        return StorageUnavailable(f"{where} failed while {action} ({type(exc).__name__})")

    def _call(self, action: str, method: str, name: str | None = None, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, method)(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise self.error(exc, action, name) from None

    def writer(self, name: str) -> _S3Writer:
        return _S3Writer(self, name)

    def reader(self, name: str) -> BinaryIO:
        response = self._call(
            f"reading {name}", "get_object", name, Bucket=self.bucket, Key=self.key(name)
        )
        raw = _S3Body(self, name, response["Body"])
        return io.BufferedReader(raw, buffer_size=1024 * 1024)  # type: ignore[return-value]

    def list(self) -> list[StoredObject]:
        found = []
        for page in self._pages("list_objects_v2", "listing", Prefix=self._list_prefix()):
            for item in page.get("Contents", ()):
                name = self._name(item["Key"])
                if name is not None:
                    found.append(StoredObject(name, item["Size"], _utc(item["LastModified"])))
        return sorted(found, key=lambda obj: obj.name)

    def list_incomplete(self) -> list[StoredObject]:
        found = []
        for page in self._pages(
            "list_multipart_uploads", "listing incomplete uploads", Prefix=self._list_prefix()
        ):
            for upload in page.get("Uploads", ()):
                name = self._name(upload["Key"])
                if name is None:
                    continue
                size = self._uploaded_size(upload["Key"], upload["UploadId"])
                found.append(
                    StoredObject(name, size, _utc(upload["Initiated"]), upload["UploadId"])
                )
        return sorted(found, key=lambda obj: (obj.name, obj.modified))

    def _uploaded_size(self, key: str, upload_id: str) -> int:
        size = 0
        for page in self._pages("list_parts", "listing parts", Key=key, UploadId=upload_id):
            size += sum(part["Size"] for part in page.get("Parts", ()))
        return size

    def _pages(self, method: str, action: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            paginator = self._client.get_paginator(method)
            yield from paginator.paginate(Bucket=self.bucket, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise self.error(exc, action) from None

    def delete_incomplete(self, obj: StoredObject) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        if not obj.upload_id:
            raise ValueError(f"not an incomplete upload: {obj.name!r}")
        try:
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key(obj.name), UploadId=obj.upload_id
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":  # gone already
                raise self.error(exc, f"aborting the upload of {obj.name}") from None
        except BotoCoreError as exc:
            raise self.error(exc, f"aborting the upload of {obj.name}") from None

    def delete(self, name: str) -> None:
        self._call(f"deleting {name}", "delete_object", Bucket=self.bucket, Key=self.key(name))

    def exists(self, name: str) -> bool:
        try:
            self._call(
                f"looking up {name}", "head_object", name, Bucket=self.bucket, Key=self.key(name)
            )
        except BackupNotFound:
            return False
        return True

    def write_bytes(self, name: str, data: bytes) -> None:
        self._call(
            f"writing {name}", "put_object", Bucket=self.bucket, Key=self.key(name), Body=data
        )

    def read_bytes(self, name: str) -> bytes:
        with self.reader(name) as body:
            return body.read()

    def __repr__(self) -> str:
        return f"S3Storage({self.describe()!r})"


def _make_client(endpoint_url: str | None) -> Any:
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {
        "connect_timeout": 10,
        "read_timeout": 120,
        "retries": {"max_attempts": 3, "mode": "standard"},
    }
    if endpoint_url:
        # S3-compatible services: path-style addressing works everywhere (MinIO
        # needs it), and the CRC checksums boto3 adds by default since 1.36 are
        # refused by some (older MinIO, B2); the backup's SHA-256 in the manifest
        # is the end-to-end check.
        options["s3"] = {"addressing_style": "path"}
        options["request_checksum_calculation"] = "when_required"
        options["response_checksum_validation"] = "when_required"
    try:
        return boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, config=Config(**options)
        )
    except Exception as exc:  # botocore: an unknown region, a malformed endpoint
        raise StorageUnavailable(
            f"cannot set up the S3 client ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:160]})"
        ) from None


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


class _S3Writer(ObjectWriter):
    """A multipart upload fed part by part; a single PutObject when it stays under one part."""

    def __init__(self, storage: S3Storage, name: str):
        super().__init__()
        self.storage = storage
        self.name = name
        self.key = storage.key(name)
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def write(self, data: bytes) -> int:
        self._require_open()
        self.buffer += data
        self.size += len(data)
        while len(self.buffer) >= self.storage.part_size:
            self._upload_part(self.storage.part_size)
        return len(data)

    def _upload_part(self, length: int) -> None:
        storage = self.storage
        if self.upload_id is None:
            response = storage._call(
                f"starting the upload of {self.name}",
                "create_multipart_upload",
                Bucket=storage.bucket,
                Key=self.key,
            )
            self.upload_id = response["UploadId"]
        number = len(self.parts) + 1
        with memoryview(self.buffer) as view:
            body = bytes(view[:length])  # the one copy: a part in flight, the buffer emptied
        del self.buffer[:length]
        response = storage._call(
            f"uploading part {number} of {self.name}",
            "upload_part",
            Bucket=storage.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=body,
        )
        self.parts.append({"ETag": response["ETag"], "PartNumber": number})

    def commit(self) -> int:
        self._require_open()
        storage = self.storage
        try:
            if self.upload_id is None:
                storage._call(
                    f"writing {self.name}",
                    "put_object",
                    Bucket=storage.bucket,
                    Key=self.key,
                    Body=bytes(self.buffer),
                )
            else:
                if self.buffer:
                    self._upload_part(len(self.buffer))
                storage._call(
                    f"completing the upload of {self.name}",
                    "complete_multipart_upload",
                    Bucket=storage.bucket,
                    Key=self.key,
                    UploadId=self.upload_id,
                    MultipartUpload={"Parts": self.parts},
                )
        except BaseException:
            self.abort()
            raise
        self.buffer = bytearray()
        self.state = "committed"
        return self.size

    def _abort(self) -> None:
        self.buffer = bytearray()
        if self.upload_id is not None:
            # Best effort: if this fails too, the upload stays listed by
            # list_incomplete() and prune aborts it later.
            with contextlib.suppress(Exception):
                self.storage._client.abort_multipart_upload(
                    Bucket=self.storage.bucket, Key=self.key, UploadId=self.upload_id
                )


class _S3Body(io.RawIOBase):
    """A GetObject body as a raw stream; a network failure mid-read is StorageUnavailable."""

    def __init__(self, storage: S3Storage, name: str, body: Any):
        self.storage = storage
        self.name = name
        self.body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        from botocore.exceptions import BotoCoreError
        from urllib3.exceptions import HTTPError

        try:
            data = self.body.read(len(buffer))
        except (BotoCoreError, HTTPError, OSError) as exc:
            raise self.storage.error(exc, f"reading {self.name}") from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                self.body.close()
        super().close()
