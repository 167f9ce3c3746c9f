"""pyTelegramBotAPI's HTTP transport, lean: parameters in the body, a kept-alive
connection per thread.

pyTelegramBotAPI sends every call through ``requests`` with the parameters in
the URL's query string. For a reading's 1,700-character text that costs about
1.7 ms of CPU per call in urllib3's URL checks (a Python loop over every
character), and ``requests`` reads the proxy variables from the environment on
every call. The Bot API takes the same parameters as a JSON body (files as
multipart/form-data), so this transport, installed through pyTelegramBotAPI's
own hook (``apihelper.CUSTOM_REQUEST_SENDER``), posts them that way, on one
keep-alive ``http.client`` connection per thread and host (urllib3's pool
cost twice the CPU per call: 0.18-0.20 against 0.08 ms). A connection the
server has closed meanwhile is noticed before it is used (as urllib3 does)
and replaced. pyTelegramBotAPI still builds every call and parses every
answer; its exceptions are unchanged.

No retries here: a POST retried after Telegram received it would send a
message twice. Failures surface as ``requests`` exceptions (the callers
catch ``requests.RequestException``) and the sender decides.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import select
import socket
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from tarotbot.redaction import redact

_local = threading.local()  # this thread's connections: (scheme, host, port) -> connection
_tls = ssl.create_default_context()


def _forget_after_fork() -> None:
    """In a forked child (a work horse): never reuse the parent's sockets, never close them."""
    global _local
    _local = threading.local()


os.register_at_fork(after_in_child=_forget_after_fork)


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


def _connection(scheme: str, host: str, port: int | None, connect: float | None):
    """This thread's kept-alive connection to the host, new if the server closed it."""
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
    key = (scheme, host, port)
    conn = pool.get(key)
    if conn is not None and conn.sock is not None and _dropped(conn.sock):
        conn.close()  # the server closed it while idle: http.client would fail on it
    if conn is None:
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=connect, context=_tls)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=connect)
        pool[key] = conn
    if conn.sock is None:
        conn.timeout = connect
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def close_connections() -> None:
    """Close this thread's connections (the next call opens new ones)."""
    for conn in getattr(_local, "pool", {}).values():
        conn.close()
    _local.pool = {}


def _dropped(sock: socket.socket) -> bool:
    """True when an idle socket is readable: the server sent EOF (or garbage) meanwhile."""
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


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
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if files:
        fields: dict[str, Any] = {k: _field(v) for k, v in (params or {}).items() if v is not None}
        for name, value in files.items():
            fields[name] = _file_part(name, value)
        body, content_type = urllib3.encode_multipart_formdata(fields)
    else:
        body = json.dumps(params or {}, ensure_ascii=False).encode("utf-8")
        content_type = "application/json"
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        conn = _connection(parts.scheme, parts.hostname or "", parts.port, connect)
    except TimeoutError as exc:
        raise requests.ConnectTimeout(_redacted(exc)) from None
    except (OSError, http.client.HTTPException) as exc:
        raise requests.ConnectionError(_redacted(exc)) from None
    try:
        conn.sock.settimeout(read)
        conn.request("POST", target, body=body, headers={"Content-Type": content_type})
        reply = conn.getresponse()
        content = reply.read()
        if reply.will_close:
            conn.close()
        return Answer(reply.status, reply.reason, content)
    except TimeoutError as exc:
        conn.close()
        raise requests.ReadTimeout(_redacted(exc)) from None
    except (OSError, http.client.HTTPException) as exc:
        conn.close()  # its state is unknown: the next call starts a new one
        raise requests.ConnectionError(_redacted(exc)) from None
    except BaseException:  # e.g. a long poll cut short by SIGTERM: never reuse it mid-call
        conn.close()
        raise


def _redacted(exc: BaseException | None) -> str:
    """What failed, with any bot token in it (URLs carry it) replaced."""
    return redact(exc) if exc is not None else "connection failed"
