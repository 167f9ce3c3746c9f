"""Method parameters: decoded from any request shape the Bot API accepts.

The query string and the body (form-urlencoded, JSON or multipart) are merged,
the body winning: pyTelegramBotAPI sends ordinary parameters in the query
string even on POST, with only the files in the multipart body.
:class:`Params` gives typed access with Telegram's error wording for missing
or malformed values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from botapi_emulator.errors import ApiError, bad_request


@dataclass(frozen=True)
class Upload:
    """A file sent in a multipart body."""

    filename: str
    content: bytes
    content_type: str


def decode_request(query: str, content_type: str | None, body: bytes) -> dict[str, Any]:
    """Merge query-string and body parameters into one dict (body values win)."""
    values: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if not body:
        return values
    if kind == "application/json":
        values.update(_decode_json(body))
    elif kind == "multipart/form-data":
        values.update(_decode_multipart(content_type or "", body))
    else:
        text = body.decode("utf-8", errors="replace")
        values.update(parse_qsl(text, keep_blank_values=True))
    return values


def _decode_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise bad_request("can't parse JSON encoded request body") from None
    if not isinstance(data, dict):
        raise bad_request("JSON encoded request body must be an object")
    return data


def _decode_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Parse multipart/form-data with the stdlib email parser (cgi is deprecated)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise bad_request("can't parse multipart/form-data request body")
    values: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            values[name] = Upload(filename, payload, part.get_content_type())
        else:
            charset = part.get_content_charset() or "utf-8"
            values[name] = payload.decode(charset, errors="replace")
    return values


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
