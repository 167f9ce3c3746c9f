"""The Bot API transport: JSON and multipart bodies, kept-alive connections, failures as
``requests`` exceptions with no token in them."""

from __future__ import annotations

import io
import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import requests
from telebot import types

from tarotbot.telegram import transport

TOKEN = "424242:transport-test-token-abcdefghijkl"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list] = []
    connections: ClassVar[set] = set()
    close_after = False
    slow = 0.0

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((self.path, self.headers["Content-Type"], body))
        type(self).connections.add(self.client_address[1])
        time.sleep(type(self).slow)
        data = json.dumps({"ok": True, "result": {"message_id": len(type(self).seen)}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if type(self).close_after:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    handler = type("Handler", (_Handler,), {"seen": [], "connections": set()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, handler, f"http://127.0.0.1:{httpd.server_address[1]}/bot{TOKEN}"
    httpd.shutdown()
    httpd.server_close()
    transport.close_connections()  # the next test's server may get this one's port


def test_parameters_go_as_json_and_one_connection_serves_many_calls(server):
    _, handler, base = server
    for n in range(3):
        answer = transport.send("get", f"{base}/sendMessage", {"chat_id": 7, "text": f"ü {n}"})
        assert answer.status_code == 200 and answer.json()["result"]["message_id"] == n + 1
    path, content_type, body = handler.seen[0]
    assert path == f"/bot{TOKEN}/sendMessage" and content_type == "application/json"
    assert json.loads(body) == {"chat_id": 7, "text": "ü 0"}
    assert len(handler.connections) == 1  # kept alive


def test_files_go_as_multipart_with_their_fields(server):
    _, handler, base = server
    picture = types.InputFile(io.BytesIO(b"\xff\xd8jpeg"), file_name="spread.jpg")
    transport.send(
        "post",
        f"{base}/sendPhoto",
        {"chat_id": 7, "caption": "<b>cards</b>", "reply_markup": {"a": [1]}, "skip": None},
        files={"photo": (picture.file_name, picture.file)},
    )
    _, content_type, body = handler.seen[0]
    assert content_type.startswith("multipart/form-data; boundary=")
    # quoted or not: pyTelegramBotAPI swaps urllib3's header formatting once it sent a file
    assert re.search(rb'name="photo"; filename="?spread\.jpg"?\r\n', body)
    assert b"\xff\xd8jpeg" in body
    assert b'name="caption"\r\n\r\n<b>cards</b>' in body
    assert b'name="reply_markup"\r\n\r\n{"a": [1]}' in body and b'name="skip"' not in body


def test_a_connection_the_server_closed_is_replaced_before_use(server):
    _, handler, base = server
    handler.close_after = True
    for _ in range(3):
        assert transport.send("post", f"{base}/getMe").status_code == 200
    assert len(handler.connections) == 3


def test_failures_are_requests_exceptions_without_the_token(server):
    _, handler, base = server
    with pytest.raises(requests.ConnectionError) as refused:
        transport.send("post", f"http://127.0.0.1:9/bot{TOKEN}/getMe", timeout=(1, 1))
    assert TOKEN not in str(refused.value)
    handler.slow = 0.5
    with pytest.raises(requests.ReadTimeout) as slow:
        transport.send("post", f"{base}/getMe", timeout=(1, 0.1))
    assert TOKEN not in str(slow.value)
    handler.slow = 0.0
    assert transport.send("post", f"{base}/getMe").status_code == 200  # a fresh connection


def test_a_forked_child_opens_its_own_connection(server):
    """A work horse (fork) must not talk on its parent's kept-alive socket."""
    _, handler, base = server
    transport.send("post", f"{base}/getMe")
    pid = os.fork()
    if pid == 0:  # the child: one call, then out without running the parent's teardown
        ok = False
        try:
            ok = transport.send("post", f"{base}/getMe").status_code == 200
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert transport.send("post", f"{base}/getMe").status_code == 200  # the parent's still works
    assert len(handler.connections) == 2  # the parent's one, kept; the child's own
