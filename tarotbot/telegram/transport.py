"""pyTelegramBotAPI's HTTP transport, lean: one urllib3 pool, parameters in the body.

pyTelegramBotAPI sends every call through ``requests`` with the parameters in
the URL's query string. For a reading's 1,700-character text that costs about
1.7 ms of CPU per call in urllib3's URL checks (a Python loop over every
character), and ``requests`` reads the proxy variables from the environment on
every call. The Bot API takes the same parameters as a JSON body (files as
multipart/form-data), so this transport, installed through pyTelegramBotAPI's
own hook (``apihelper.CUSTOM_REQUEST_SENDER``), posts them that way over one
thread-safe urllib3 pool with keep-alive. pyTelegramBotAPI still builds every
call and parses every answer; its exceptions are unchanged.

No retries here: a POST retried after Telegram received it would send a
message twice. Failures surface as ``requests`` exceptions (the callers
catch ``requests.RequestException``) and the sender decides.
"""

from __future__ import annotations

import io
import json
from typing import Any

import requests
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
)

from tarotbot.redaction import redact

POOL_SIZE = 16  # keep-alive connections per host: the bot's handler threads and its poller

_pool = urllib3.PoolManager(num_pools=4, maxsize=POOL_SIZE, block=False, retries=False)


class Answer:
    """The parts of a ``requests.Response`` pyTelegramBotAPI reads from an answer."""

    __slots__ = ("content", "reason", "status_code")

    def __init__(self, status_code: int, reason: str | None, content: bytes):
        self.status_code = status_code
        self.reason = reason or ""
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _field(value: Any) -> str:
    """A parameter as the Bot API reads it in a form field (objects as JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _file_part(name: str, value: Any) -> tuple[str, bytes]:
    """``(file name, bytes)`` of a file as pyTelegramBotAPI hands it over."""
    if isinstance(value, tuple):
        file_name, content = value[0], value[1]
    else:
        file_name, content = name, value
    if isinstance(content, (bytes, bytearray)):
        return str(file_name or name), bytes(content)
    if isinstance(content, io.IOBase) or hasattr(content, "read"):
        return str(file_name or getattr(content, "name", name)), content.read()
    raise TypeError(f"cannot upload a {type(content).__name__} as {name}")


def send(
    method: str,
    url: str,
    params: dict | None = None,
    files: dict | None = None,
    timeout: tuple[float, float] | float | None = None,
    proxies: Any = None,
) -> Answer:
    """Make one Bot API call (``apihelper.CUSTOM_REQUEST_SENDER``); ``method`` is ignored.

    Every call is a POST, as the Bot API allows for all its methods.
    """
    if isinstance(timeout, tuple):
        limits = urllib3.Timeout(connect=timeout[0], read=timeout[1])
    else:
        limits = urllib3.Timeout(total=timeout)
    if files:
        fields: dict[str, Any] = {k: _field(v) for k, v in (params or {}).items() if v is not None}
        for name, value in files.items():
            fields[name] = _file_part(name, value)
        body, content_type = urllib3.encode_multipart_formdata(fields)
    else:
        body = json.dumps(params or {}, ensure_ascii=False).encode("utf-8")
        content_type = "application/json"
    try:
        reply = _pool.request(
            "POST",
            url,
            body=body,
            headers={"Content-Type": content_type},
            timeout=limits,
            redirect=False,
            preload_content=True,
        )
    except (HTTPError, OSError) as exc:
        raise _as_requests_error(exc) from None
    return Answer(reply.status, reply.reason, reply.data)


def _as_requests_error(exc: BaseException) -> requests.RequestException:
    """The ``requests`` exception for a urllib3 failure (callers catch those)."""
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason  # urllib3 wraps connection failures even with retries off
    if isinstance(exc, NewConnectionError):  # a subclass of ConnectTimeoutError in urllib3 2
        return requests.ConnectionError(_redacted(exc))
    if isinstance(exc, ConnectTimeoutError):
        return requests.ConnectTimeout(_redacted(exc))
    if isinstance(exc, ReadTimeoutError):
        return requests.ReadTimeout(_redacted(exc))
    return requests.ConnectionError(_redacted(exc))


def _redacted(exc: BaseException | None) -> str:
    """What failed, with any bot token in it (URLs carry it) replaced."""
    return redact(exc) if exc is not None else "connection failed"
