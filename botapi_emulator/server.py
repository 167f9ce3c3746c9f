"""The HTTP face of the emulator: Bot API paths, file downloads and the ``/_emulator/`` driver.

The paths are api.telegram.org's (docs/emulator.md, "The Bot API side") plus
the JSON test driver under ``/_emulator/``. The request line is never logged
(it carries the token).
"""

from __future__ import annotations

import json
import logging
import re
import signal
import socket
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from botapi_emulator.core import Disconnect, Emulator
from botapi_emulator.driver import DriverError
from botapi_emulator.errors import NOT_FOUND, ApiError
from botapi_emulator.params import decode_request
from botapi_emulator.registry import Described

log = logging.getLogger("botapi_emulator")

TOKEN_IN_PATH = re.compile(r"/bot(\d+):[^/]*")
DriverRoute = Callable[[Emulator, dict[str, Any], str], Any]


def redact(path: str) -> str:
    """A path fit for logs: the token's secret part replaced."""
    return TOKEN_IN_PATH.sub(r"/bot\1:***", path)


# -- driver routes ---------------------------------------------------------------


def _bot(body: dict[str, Any]) -> Any:
    return body.get("bot_id") or body.get("bot") or body.get("token")


def _require(body: dict[str, Any], *names: str) -> None:
    for name in names:
        if body.get(name) in (None, ""):
            raise DriverError(f'parameter "{name}" is required')


def _send(emu: Emulator, body: dict[str, Any], _: str) -> Any:
    _require(body, "user_id")
    options = {
        key: body[key]
        for key in (
            "first_name",
            "username",
            "language_code",
            "sticker",
            "photo",
            "caption",
            "location",
        )
        if key in body
    }
    return emu.send(int(body["user_id"]), body.get("text"), bot=_bot(body), **options)


def _tap(emu: Emulator, body: dict[str, Any], _: str) -> Any:
    _require(body, "user_id", "message_id")
    data = body.get("data", "")
    return emu.tap(int(body["user_id"]), int(body["message_id"]), str(data), bot=_bot(body))


def _pay(emu: Emulator, body: dict[str, Any], _: str) -> Any:
    _require(body, "user_id")
    message_id = body.get("message_id")
    return emu.pay(
        int(body["user_id"]),
        int(message_id) if message_id is not None else None,
        invoice_link=body.get("invoice_link"),
        timeout=body.get("timeout"),
        deliver=bool(body.get("deliver", True)),
        bot=_bot(body),
    )


def _renew(emu: Emulator, body: dict[str, Any], _: str) -> Any:
    _require(body, "user_id")
    return emu.renew(
        int(body["user_id"]),
        body.get("charge_id"),
        deliver=bool(body.get("deliver", True)),
        bot=_bot(body),
    )


def _subscriptions(emu: Emulator, query: dict[str, Any], user_id: str) -> Any:
    return emu.subscriptions(int(user_id), bot=_bot(query))


def _drop_updates(emu: Emulator, body: dict[str, Any], _: str) -> Any:
    ids = body.get("update_ids")
    return emu.drop_updates(None if ids is None else [int(u) for u in ids], bot=_bot(body))


def _block(emu: Emulator, body: dict[str, Any], _: str) -> Any:
    _require(body, "user_id")
    return emu.block(int(body["user_id"]), bool(body.get("blocked", True)), bot=_bot(body))


def _chat(emu: Emulator, query: dict[str, Any], chat_id: str) -> Any:
    """A chat transcript; ``wait_count``/``timeout`` block until the bot sent that many."""
    bot = _bot(query)
    if query.get("wait_count"):
        timeout = float(query.get("timeout", 5))
        emu.wait_for_messages(int(chat_id), int(query["wait_count"]), timeout, bot=bot)
    include_user = str(query.get("include_user", "")).lower() in ("1", "true")
    return emu.chat(int(chat_id), include_user=include_user, bot=bot)


def _chats(emu: Emulator, query: dict[str, Any], _: str) -> Any:
    bot = emu.resolve_bot(_bot(query))
    with bot.lock:
        return [
            {"chat_id": c.id, "user": c.user.to_api(), "messages": len(c.messages)}
            for c in bot.chats.values()
        ]


def _updates(emu: Emulator, query: dict[str, Any], _: str) -> Any:
    return emu.pending_updates(bot=_bot(query))


def _faults(emu: Emulator, body: dict[str, Any], _: str) -> Any:
    _require(body, "method")
    if "delay_ms" in body:
        emu.set_delay(body["method"], float(body["delay_ms"] or 0))
    if "error_code" in body or body.get("disconnect") or "count" in body:
        emu.inject_fault(
            body["method"],
            body.get("error_code"),
            body.get("description"),
            retry_after=body.get("retry_after"),
            count=int(body.get("count", 1)),
            disconnect=bool(body.get("disconnect", False)),
        )
    return emu.faults.pending()


def _stars(emu: Emulator, body: dict[str, Any], _: str) -> Any:
    _require(body, "stars")
    return emu.set_star_balance(body["stars"], bot=_bot(body))


def _star_balance(emu: Emulator, query: dict[str, Any], _: str) -> Any:
    return emu.star_balance(bot=_bot(query))


def _actions(emu: Emulator, query: dict[str, Any], chat_id: str) -> Any:
    return emu.actions(int(chat_id), bot=_bot(query))


def _limits(emu: Emulator, body: dict[str, Any], _: str) -> Any:
    rates = {k: v for k, v in body.items() if k != "enforce"}
    return emu.set_limits(bool(body.get("enforce", True)), **rates)


def _reset(emu: Emulator, body: dict[str, Any], _: str) -> Any:
    emu.reset()
    return True


def _stats(emu: Emulator, query: dict[str, Any], _: str) -> Any:
    return emu.get_stats()


def _stats_reset(emu: Emulator, body: dict[str, Any], _: str) -> Any:
    emu.reset_stats()
    return True


def _health(emu: Emulator, query: dict[str, Any], _: str) -> Any:
    return {"bots": sorted(emu.bots)}


ROUTES: dict[tuple[str, str], DriverRoute] = {
    ("POST", "send"): _send,
    ("POST", "tap"): _tap,
    ("POST", "pay"): _pay,
    ("POST", "block"): _block,
    ("POST", "renew"): _renew,
    ("GET", "subscriptions/*"): _subscriptions,
    ("POST", "updates/drop"): _drop_updates,
    ("GET", "chats"): _chats,
    ("GET", "chats/*"): _chat,
    ("GET", "updates"): _updates,
    ("POST", "faults"): _faults,
    ("POST", "limits"): _limits,
    ("POST", "stars"): _stars,
    ("GET", "stars"): _star_balance,
    ("GET", "actions/*"): _actions,
    ("POST", "reset"): _reset,
    ("GET", "stats"): _stats,
    ("POST", "stats/reset"): _stats_reset,
    ("GET", "health"): _health,
}


def find_route(verb: str, route: str) -> tuple[DriverRoute | None, str]:
    """The handler for ``/_emulator/<route>`` and the path argument (a chat id)."""
    handler = ROUTES.get((verb, route))
    if handler is not None:
        return handler, ""
    head, _, tail = route.partition("/")
    if tail and "/" not in tail:
        return ROUTES.get((verb, f"{head}/*")), tail
    return None, ""


# -- HTTP ------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 128
    emulator: BotAPIEmulator

    def __init__(self, address: tuple[str, int]):
        super().__init__(address, _Handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self._connections_lock:
            self._connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End idle keep-alive connections so a stopped emulator really stops serving."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log dropped connections quietly instead of printing a traceback to stderr."""
        log.debug("emulator: connection from %s ended with an error", client_address[0])


MAX_LINE = 65536  # bytes in a request or header line (http.client's limit)
MAX_HEADERS = 100  # http.client's limit
REASONS = {status.value: status.phrase for status in HTTPStatus}
_date: tuple[int, str] = (0, "")


def http_date() -> str:
    """The Date header's value, formatted once a second."""
    global _date
    second = int(time.time())
    if _date[0] != second:
        _date = (second, formatdate(second, usegmt=True))
    return _date[1]


class _Headers(dict):
    """Request headers by lower-case name; the first of repeated ones counts."""

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


class _Handler(BaseHTTPRequestHandler):
    """One connection; keep-alive so pyTelegramBotAPI's session is reused.

    http.server reads headers with the ``email`` parser, which costs more than
    the emulated call itself (and, for multipart requests, compiles a regular
    expression for every new boundary), and writes each answer in two sends:
    :meth:`parse_request` reads ordinary HTTP/1.x requests itself (anything
    unusual still goes to http.server, with its errors), and :meth:`_reply`
    writes status line, headers and body at once.
    """

    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: with Nagle's algorithm on, a reply written as headers then
    # body waits for the client's delayed ACK (about 40 ms on Linux) on every
    # keep-alive request, which capped each worker at ~25 calls per second.
    disable_nagle_algorithm = True
    server: _Server

    def parse_request(self) -> bool:
        """Request line and headers of an HTTP/1.0 or 1.1 request; else http.server's way."""
        words = self.raw_requestline.split()
        if len(words) != 3 or words[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            return super().parse_request()
        self.command = words[0].decode("latin-1")
        path = words[1].decode("latin-1")
        self.path = "/" + path.lstrip("/") if path.startswith("//") else path
        self.request_version = words[2].decode("latin-1")
        self.requestline = self.raw_requestline.decode("latin-1").rstrip("\r\n")
        self.close_connection = self.request_version == "HTTP/1.0"
        lines = self._header_lines()
        if lines is None:
            return False
        headers = self.headers = _Headers()
        last = None
        for text in lines:
            if text[:1] in (" ", "\t"):  # a folded line continues the previous header
                if last is not None:
                    headers[last] += " " + text.strip()
                continue
            name, colon, value = text.partition(":")
            last = name.strip().lower() if colon else None
            if last is not None and last not in headers:
                dict.__setitem__(headers, last, value.strip())
            else:
                last = None
        connection = headers.get("connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        expect = headers.get("expect", "").lower()
        if expect == "100-continue" and self.request_version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def _header_lines(self) -> list[str] | None:
        """The header lines before the blank one (None after answering 431), as http.client reads them.

        Usually the whole head is in the read buffer already: it is split at
        once. Otherwise (or with bare LF line ends) line by line.
        """
        buffered = self.rfile.peek()
        end = buffered.find(b"\r\n\r\n")
        if buffered.startswith(b"\r\n"):
            self.rfile.read(2)
            return []
        if end >= 0:
            head = buffered[: end + 2]
            if b"\n\n" not in head and b"\n\r\n" not in head and head.count(b"\n") < MAX_HEADERS:
                self.rfile.read(end + 4)
                return head[:end].decode("latin-1").split("\n")
        lines = []
        for count in range(MAX_HEADERS + 1):
            line = self.rfile.readline(MAX_LINE + 1)
            if len(line) > MAX_LINE:
                explain = f"got more than {MAX_LINE} bytes when reading header line"
                self.send_error(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long", explain
                )
                return None
            if count == MAX_HEADERS:  # http.client counts the blank line too
                explain = f"got more than {MAX_HEADERS} headers"
                self.send_error(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers", explain
                )
                return None
            if line in (b"\r\n", b"\n", b""):
                break
            lines.append(line.decode("latin-1"))
        return lines

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's access log: its request line carries the token."""

    def _dispatch(self, verb: str) -> None:
        if self.path.startswith("/"):
            path, _, query = self.path.partition("#")[0].partition("?")
        else:  # an absolute URL as the request target
            url = urlsplit(self.path)
            path, query = url.path, url.query
        body = self._body()
        try:
            if path.startswith("/bot"):
                self._bot_api(path[len("/bot") :], query, body)
            elif path.startswith("/file/bot"):
                self._file(path[len("/file/bot") :])
            elif path.startswith("/_emulator/"):
                self._driver(verb, path[len("/_emulator/") :].strip("/"), query, body)
            else:
                self._json(404, NOT_FOUND.to_json())
        except (Disconnect, BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # injected, or the client hung up (e.g. mid-poll)
        except ApiError as exc:
            self._json(exc.error_code, exc.to_json())
        except Exception:
            log.exception("emulator: internal error on %s %s", verb, redact(path))
            error = ApiError(500, "Internal Server Error")
            self._json(500, error.to_json())

    def _body(self) -> bytes:
        """The request body: what is buffered, then the rest in one blocking receive.

        A 100 KB photo arrives in many segments; ``rfile.read`` would wake up
        for each, ``MSG_WAITALL`` waits for all of them at once.
        """
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0:
            return b""
        first = self.rfile.read1(length)  # buffered bytes, or one receive
        if len(first) == length or not first:
            return first
        body = bytearray(length)
        body[: len(first)] = first
        view = memoryview(body)[len(first) :]
        while view:
            received = self.connection.recv_into(view, len(view), socket.MSG_WAITALL)
            if not received:
                raise ConnectionResetError("the client closed the connection mid-body")
            view = view[received:]
        return bytes(body)

    def _bot_api(self, rest: str, query: str, body: bytes) -> None:
        token, _, method = rest.partition("/")
        if not method or "/" in method:
            raise NOT_FOUND
        values = decode_request(query, self.headers.get("Content-Type"), body)
        result = self.server.emulator.call(token, method, values)
        if isinstance(result, Described):
            answer = {"ok": True, "result": result.result, "description": result.description}
            self._json(200, answer)
        else:
            self._json(200, {"ok": True, "result": result})

    def _file(self, rest: str) -> None:
        token, _, file_path = rest.partition("/")
        content = self.server.emulator.file_content(token, file_path)
        if content is None:
            raise NOT_FOUND
        self._reply(200, content, "application/octet-stream")

    def _driver(self, verb: str, route: str, query: str, body: bytes) -> None:
        handler, argument = find_route(verb, route)
        if handler is None:
            raise NOT_FOUND
        if verb == "GET":
            data: dict[str, Any] = dict(parse_qsl(query))
        else:
            data = _json_body(body)
        try:
            result = handler(self.server.emulator, data, argument)
        except (TypeError, ValueError) as exc:
            raise DriverError(f"invalid parameter: {exc}") from None
        self._json(200, {"ok": True, "result": result})

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._reply(status, data, "application/json")

    def _reply(self, status: int, data: bytes, content_type: str) -> None:
        """Status line, headers and body in one write (one packet for small answers)."""
        if self.request_version == "HTTP/0.9":
            self.wfile.write(data)
            return
        head = (
            f"{self.protocol_version} {status} {REASONS.get(status, '')}\r\n"
            f"Server: {self.version_string()}\r\nDate: {http_date()}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        self.wfile.write(head.encode("latin-1") + data)


def _json_body(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        raise DriverError("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise DriverError("the body must be a JSON object")
    return data


class BotAPIEmulator(Emulator):
    """The emulator served over HTTP on ``host:port`` (IPv4; port 0: a free port).

    Use as a context manager, or ``start()`` / ``stop()``. Point clients at
    :attr:`base_url` (``TELEGRAM_API_URL``); pyTelegramBotAPI wants
    :attr:`api_url` and :attr:`file_url` in ``apihelper.API_URL``/``FILE_URL``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options: Any):
        super().__init__(**options)
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> BotAPIEmulator:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        self.reopen()
        server = _Server((self.host, self.port))
        server.emulator = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="bot-api-emulator",
            daemon=True,
        )
        self._thread.start()
        log.debug("Bot API emulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Release waiting polls and payments, stop serving, close the socket."""
        if self._server is None:
            return
        self.close()
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> BotAPIEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port``: the value for TELEGRAM_API_URL."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        """pyTelegramBotAPI's ``apihelper.API_URL`` template for this server."""
        return self.base_url + "/bot{0}/{1}"

    @property
    def file_url(self) -> str:
        """pyTelegramBotAPI's ``apihelper.FILE_URL`` template for this server."""
        return self.base_url + "/file/bot{0}/{1}"


def serve_in_foreground(server: BotAPIEmulator, echo: Callable[[str], Any] | None = None) -> None:
    """Serve a started ``server`` until Ctrl-C or SIGTERM, then stop it.

    The foreground part of ``python -m botapi_emulator`` (and of any command
    that wraps it, passing its own ``echo``): prints the base URL to export as ``TELEGRAM_API_URL`` (never a token),
    blocks the main thread, and says when the emulator has stopped.
    """
    echo = echo or _say
    echo(f"Bot API emulator listening on {server.base_url}")
    echo(f"export TELEGRAM_API_URL={server.base_url}")
    echo(f"driver: {server.base_url}/_emulator/ (see docs/emulator.md); Ctrl-C stops")
    try:
        _wait_for_stop()
    finally:
        server.stop()
        echo("emulator stopped")


def _wait_for_stop() -> None:
    """Block the main thread until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _say(line: str) -> None:
    print(line, flush=True)  # at once, even into a pipe
