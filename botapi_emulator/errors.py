"""The Bot API's error answers, worded as Telegram words them.

Every failure a method can produce is an :class:`ApiError`; the HTTP layer
turns it into ``{"ok": false, "error_code", "description"}`` with the same
HTTP status, plus ``parameters`` only when Telegram sends them (``retry_after``
on 429, ``migrate_to_chat_id`` never here).
"""

from __future__ import annotations

import math
from typing import Any


class ApiError(Exception):
    """A Bot API call failed: ``error_code`` is also the HTTP status."""

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        """The response body Telegram sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    """400 with Telegram's ``Bad Request: `` prefix."""
    return ApiError(400, f"Bad Request: {detail}")


def forbidden(detail: str) -> ApiError:
    """403 with Telegram's ``Forbidden: `` prefix (blocked bot and the like)."""
    return ApiError(403, f"Forbidden: {detail}")


def too_many_requests(retry_after: float) -> ApiError:
    """429 flood-wait; ``retry_after`` is rounded up to whole seconds, at least 1."""
    seconds = max(1, math.ceil(retry_after))
    return ApiError(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)


def conflict(detail: str) -> ApiError:
    """409 with Telegram's ``Conflict: `` prefix."""
    return ApiError(409, f"Conflict: {detail}")


UNAUTHORIZED = ApiError(401, "Unauthorized")
NOT_FOUND = ApiError(404, "Not Found")
POLLING_CONFLICT_DETAIL = (
    "terminated by other getUpdates request; make sure that only one bot instance is running"
)
WEBHOOK_ACTIVE_DETAIL = (
    "can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
    "webhook first"
)
SET_WEBHOOK_CONFLICT_DETAIL = "terminated by setWebhook request"
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)

# Default descriptions for injected faults, by error code.
FAULT_DESCRIPTIONS = {
    400: "Bad Request: injected fault",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: " + POLLING_CONFLICT_DETAIL,
    500: "Internal Server Error",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}
