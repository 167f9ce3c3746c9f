"""Method parameters: decoded from any request shape the Bot API accepts.

The query string and the body (form-urlencoded, JSON or multipart) are merged,
the body winning: pyTelegramBotAPI sends ordinary parameters in the query
string even on POST, with only the files in the multipart body.
:class:`Params` gives typed access with Telegram's error wording for missing
or malformed values.

Decoding is on every call's path, so it avoids the general machinery:
:func:`parse_query` is ``urllib.parse.parse_qsl(..., keep_blank_values=True)``
with the percent-decoding done in C, and :func:`decode_multipart` splits the
body on its boundary instead of running the ``email`` parser (which cost
milliseconds on a 100 KB photo).
"""

from __future__ import annotations

import binascii
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botapi_emulator.errors import ApiError, bad_request


@dataclass(frozen=True)
class Upload:
    """A file sent in a multipart body."""

    filename: str
    content: bytes
    content_type: str


def decode_request(query: str, content_type: str | None, body: bytes) -> dict[str, Any]:
    """Merge query-string and body parameters into one dict (body values win)."""
    values: dict[str, Any] = dict(parse_query(query)) if query else {}
    if not body:
        return values
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind == "application/json":
        values.update(_decode_json(body))
    elif kind == "multipart/form-data":
        values.update(decode_multipart(content_type or "", body))
    else:
        values.update(parse_query(body.decode("utf-8", errors="replace")))
    return values


def _decode_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise bad_request("can't parse JSON encoded request body") from None
    if not isinstance(data, dict):
        raise bad_request("JSON encoded request body must be an object")
    return data


# -- application/x-www-form-urlencoded and query strings -------------------------


def unquote_plus(text: str) -> str:
    """``urllib.parse.unquote_plus(text)`` (UTF-8, errors replaced), fast for long texts.

    unquote() decodes each ``%XX`` in a Python loop (about 0.3 ms for a
    1700-character Russian message). ``binascii.a2b_qp`` decodes
    quoted-printable (``=XX``) in C, so the text goes through it with literal
    ``=`` written ``=3D`` and ``%`` turned into ``=``. That is exact when every
    ``%`` starts a valid escape, each then shortening the text by two; any
    other ``%`` shortens it by less (CR and LF, which quoted-printable treats
    specially, are left to unquote), so a length check tells, and unquote()
    takes whatever fails it.
    """
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    if text.isascii() and "\n" not in text and "\r" not in text:
        raw = binascii.a2b_qp(text.replace("=", "=3D").replace("%", "="))
        if len(raw) == len(text) - 2 * text.count("%"):
            return raw.decode("utf-8", errors="replace")
    return unquote(text, errors="replace")


def parse_query(query: str) -> list[tuple[str, str]]:
    """``urllib.parse.parse_qsl(query, keep_blank_values=True)``, with :func:`unquote_plus`."""
    pairs = []
    for field in query.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


# -- multipart/form-data ---------------------------------------------------------

# One header parameter: name, then a quoted string (with backslash escapes) or a token.
_HEADER_PARAM = re.compile(r';\s*([^\s=;]+)\s*(?:=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*)))?', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """A header's main value (lower case) and its parameters (names in lower case).

    ``filename*=utf-8''caf%C3%A9`` (RFC 2231/5987) is decoded into ``filename``
    and preferred to a plain ``filename``, as RFC 6266 asks.
    """
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    extended: dict[str, str] = {}
    for match in _HEADER_PARAM.finditer(";" + rest):
        name = match.group(1).lower()
        quoted, token = match.group(2), match.group(3)
        if quoted is not None:
            text = _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted
        else:
            text = (token or "").strip()
        if name.endswith("*"):
            extended[name[:-1]] = _rfc2231(text)
        else:
            params.setdefault(name, text)
    params.update(extended)  # RFC 6266: the extended form wins
    return main.strip().lower(), params


def _rfc2231(text: str) -> str:
    """``charset'language'percent-encoded`` into text (malformed: kept as sent)."""
    charset, quote, rest = text.partition("'")
    if not quote:
        return text
    _, _, encoded = rest.partition("'")
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="replace")
    except LookupError:
        return unquote(encoded, errors="replace")


def decode_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Parse a multipart/form-data body: fields as strings, files as :class:`Upload`.

    Lenient where mail parsers are: a preamble and an epilogue are ignored,
    a missing closing delimiter ends the last part at the end of the body,
    bare LF line ends are read too. ``Content-Transfer-Encoding`` base64 and
    quoted-printable are decoded. Without a boundary, or without a single
    delimiter in the body, it cannot be read (400).
    """
    boundary = header_params(content_type)[1].get("boundary")
    if not boundary:
        raise bad_request("can't parse multipart/form-data request body")
    delimiter = b"--" + boundary.encode("latin-1", errors="replace")
    values: dict[str, Any] = {}
    found = body.find(delimiter)
    if found < 0:
        raise bad_request("can't parse multipart/form-data request body")
    position = found + len(delimiter)
    size = len(body)
    while position < size and not body.startswith(b"--", position):
        line_end = body.find(b"\n", position)  # the rest of the delimiter line
        if line_end < 0:
            break
        start = line_end + 1
        end = body.find(b"\r\n" + delimiter, start)
        if end >= 0:
            position = end + 2 + len(delimiter)
        else:
            end = body.find(b"\n" + delimiter, start)
            if end >= 0:
                position = end + 1 + len(delimiter)
            else:
                end = position = size
        _add_part(values, body, start, end)
    return values


def _add_part(values: dict[str, Any], body: bytes, start: int, end: int) -> None:
    """One part ``body[start:end]``: headers, a blank line, then the content."""
    if body.startswith(b"\r\n", start) or body.startswith(b"\n", start):
        head, content_start = b"", body.index(b"\n", start) + 1  # no headers at all
    else:
        crlf = body.find(b"\r\n\r\n", start, end)
        # bare LF ends only count before the CRLF end (a file's bytes need no scan)
        lf = body.find(b"\n\n", start, crlf + 2 if crlf >= 0 else end)
        if lf >= 0 and (crlf < 0 or lf < crlf):
            head, content_start = body[start:lf], lf + 2
        elif crlf >= 0:
            head, content_start = body[start:crlf], crlf + 4
        else:
            return  # headers without content: not a field
    headers = _part_headers(head)
    params = header_params(headers.get("content-disposition", ""))[1]
    name = params.get("name")
    if not name:
        return
    content = body[content_start:end]
    encoding = headers.get("content-transfer-encoding", "").strip().lower()
    if encoding == "base64":
        try:
            content = binascii.a2b_base64(content)
        except binascii.Error:
            pass
    elif encoding == "quoted-printable":
        content = binascii.a2b_qp(content)
    kind, kind_params = header_params(headers.get("content-type", ""))
    if "filename" in params:
        content_type = kind if kind.count("/") == 1 else "text/plain"
        values[name] = Upload(params["filename"], content, content_type)
    else:
        charset = kind_params.get("charset") or "utf-8"
        try:
            values[name] = content.decode(charset, errors="replace")
        except LookupError:
            values[name] = content.decode("utf-8", errors="replace")


def _part_headers(block: bytes) -> dict[str, str]:
    """A part's headers by lower-case name (the first of repeated ones; folded lines joined)."""
    headers: dict[str, str] = {}
    last = None
    for line in block.decode("utf-8", errors="replace").splitlines():
        if line[:1] in (" ", "\t") and last is not None:
            headers[last] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon:
            continue
        last = name.strip().lower()
        if last in headers:
            last = None  # a repeated header: the first one counts
            continue
        headers[last] = value.strip()
    return headers


class Params:
    """Typed, Telegram-worded access to one call's parameters."""

    def __init__(self, values: dict[str, Any]):
        self.values = values

    def __contains__(self, name: str) -> bool:
        return self.present(name)

    def present(self, name: str) -> bool:
        """True when the parameter was sent with a non-empty value."""
        value = self.values.get(name)
        return value is not None and value != ""

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    def string(
        self, name: str, default: str | None = None, *, required: bool = False
    ) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise missing(name)
            return default
        if isinstance(value, Upload):
            raise bad_request(f'parameter "{name}" must be a string')
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False)
        return str(value)

    def integer(
        self, name: str, default: int | None = None, *, required: bool = False
    ) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise missing(name)
            return default
        if isinstance(value, bool):
            raise invalid_number(name)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value).strip())
        except ValueError:
            raise invalid_number(name) from None

    def flag(self, name: str, default: bool = False) -> bool:
        """Telegram's booleans: true/false in any case, or 1/0."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        return str(value).strip().lower() in ("true", "1")

    def decoded_json(self, name: str, *, error: str | None = None) -> Any:
        """A JSON-serialized parameter (or an already-decoded JSON body value)."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(error or f"can't parse {name} JSON object") from None

    def upload(self, name: str) -> Upload | None:
        value = self.values.get(name)
        return value if isinstance(value, Upload) else None


def missing(name: str) -> ApiError:
    """Telegram's wording for an absent required parameter."""
    special = {
        "chat_id": "chat_id is empty",
        "message_id": "message identifier is not specified",
        "text": "message text is empty",
        "callback_query_id": QUERY_ID_EMPTY,
        "pre_checkout_query_id": QUERY_ID_EMPTY,
        "user_id": "user_id is empty",
    }
    return bad_request(special.get(name, f'parameter "{name}" is required'))


def invalid_number(name: str) -> ApiError:
    return bad_request(f'field "{name}" must be a valid Number')


QUERY_ID_EMPTY = "query is too old and response timeout expired or query ID is invalid"
