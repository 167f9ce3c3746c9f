"""The HTTP layer over raw sockets: keep-alive, HTTP/1.0, Expect, header limits, odd requests.

The emulator reads ordinary HTTP/1.x requests itself (not with http.server's
``email``-based header parser); these pin the behaviour to http.server's.
"""

from __future__ import annotations

import json
import socket
import time

from emulator_support import TOKEN

GET_ME = f"GET /bot{TOKEN}/getMe"


def exchange(emu, request: bytes, *, wait: float = 1.0) -> bytes:
    """Send ``request`` on a new connection; everything received until it closes (or ``wait``)."""
    with socket.create_connection(("127.0.0.1", emu.port)) as sock:
        sock.sendall(request)
        sock.settimeout(wait)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            received += b"<still open>"
    return received


def answers(raw: bytes) -> list[tuple[str, dict[str, str], bytes]]:
    """(status line, headers, body) of each answer in ``raw`` (Content-Length framed)."""
    found = []
    while raw.startswith(b"HTTP/"):
        head, _, rest = raw.partition(b"\r\n\r\n")
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        size = int(headers.get("content-length", 0))
        found.append((status, headers, rest[:size]))
        raw = rest[size:]
    return found


def test_keep_alive_serves_several_requests_on_one_connection(emulator):
    raw = exchange(
        emulator,
        f"{GET_ME} HTTP/1.1\r\nHost: x\r\n\r\n"
        f"{GET_ME}?a=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
    )
    (first, headers, body), (second, _, _) = answers(raw)
    assert first == second == "HTTP/1.1 200 OK"
    assert headers["content-type"] == "application/json" and "date" in headers
    assert json.loads(body)["result"]["id"] == 123456
    assert not raw.endswith(b"<still open>")  # Connection: close was honoured


def test_http_1_0_closes_unless_asked_to_keep_alive(emulator):
    closed = exchange(emulator, f"{GET_ME} HTTP/1.0\r\n\r\n".encode())
    assert answers(closed)[0][0] == "HTTP/1.1 200 OK"
    assert not closed.endswith(b"<still open>")
    kept = exchange(
        emulator, f"{GET_ME} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode(), wait=0.3
    )
    assert kept.endswith(b"<still open>")


def test_expect_100_continue_is_answered_first(emulator):
    raw = exchange(
        emulator,
        f"POST /bot{TOKEN}/getMe HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n"
        "Connection: close\r\n\r\n{}".encode(),
    )
    assert raw.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")


def test_header_limits_as_http_client_sets_them(emulator):
    many = "".join(f"X-{i}: y\r\n" for i in range(100))
    raw = exchange(emulator, f"{GET_ME} HTTP/1.1\r\n{many}\r\n".encode())
    assert raw.startswith(b"HTTP/1.1 431 Too many headers\r\n")
    fewer = "".join(f"X-{i}: y\r\n" for i in range(98))
    raw = exchange(emulator, f"{GET_ME} HTTP/1.1\r\n{fewer}Connection: close\r\n\r\n".encode())
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    long_line = f"{GET_ME} HTTP/1.1\r\nX: {'a' * 70000}\r\n\r\n".encode()
    assert exchange(emulator, long_line).startswith(b"HTTP/1.1 431 Line too long\r\n")


def test_odd_request_lines_get_http_servers_answers(emulator):
    assert b"Bad request version" in exchange(emulator, f"{GET_ME} HTTP/1.x\r\n\r\n".encode())
    assert b"Invalid HTTP version" in exchange(emulator, f"{GET_ME} HTTP/2.0\r\n\r\n".encode())
    raw = exchange(emulator, f"PUT /bot{TOKEN}/getMe HTTP/1.1\r\n\r\n".encode())
    assert raw.startswith(b"HTTP/1.1 501 ")


def test_header_names_are_case_insensitive_and_the_path_may_be_absolute(emulator):
    body = json.dumps({"chat_id": 1, "action": "typing"}).encode()
    raw = exchange(
        emulator,
        f"POST http://emulator/bot{TOKEN}/sendChatAction#x HTTP/1.1\r\n"
        f"content-TYPE: application/json\r\nCONTENT-LENGTH: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode()
        + body,
    )
    status, _, answer = answers(raw)[0]
    assert status == "HTTP/1.1 400 Bad Request"  # the JSON body was read: chat 1 is unknown
    assert json.loads(answer)["description"] == "Bad Request: chat not found"


def test_bare_lf_line_ends_and_folded_headers_are_read_too(emulator):
    body = json.dumps({"chat_id": 1, "action": "typing"}).encode()
    raw = exchange(
        emulator,
        f"POST /bot{TOKEN}/sendChatAction HTTP/1.1\n"
        f"Content-Type:\n application/json\nContent-Length: {len(body)}\n"
        "Connection: close\n\n".encode()
        + body,
    )
    status, _, answer = answers(raw)[0]
    assert status == "HTTP/1.1 400 Bad Request"
    assert json.loads(answer)["description"] == "Bad Request: chat not found"  # JSON was read


def test_a_body_arriving_in_pieces_is_read_whole(emulator, chat):
    body = json.dumps({"chat_id": chat, "text": "x" * 3000 + " end"}).encode()
    head = (
        f"POST /bot{TOKEN}/sendMessage HTTP/1.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", emulator.port)) as sock:
        sock.sendall(head + body[:100])
        for start in range(100, len(body), 1000):
            time.sleep(0.02)
            sock.sendall(body[start : start + 1000])
        sock.settimeout(5)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    assert json.loads(answers(raw)[0][2])["result"]["text"].endswith(" end")


def test_a_client_gone_mid_body_ends_only_its_connection(emulator):
    with socket.create_connection(("127.0.0.1", emulator.port)) as sock:
        sock.sendall(
            f"POST /bot{TOKEN}/sendMessage HTTP/1.1\r\nContent-Type: application/json\r\n"
            'Content-Length: 5000\r\n\r\n{"chat_id": '.encode()
        )
    raw = exchange(emulator, f"{GET_ME} HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
