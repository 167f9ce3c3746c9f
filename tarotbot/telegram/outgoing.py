"""What goes out to Telegram: :class:`Outgoing` items and how long texts are split.

An item describes one Bot API call as JSON-friendly data, because items
travel in RQ job payloads (a rescheduled remainder of a bundle). Pictures
travel by reference: an item carries a ``photo_key`` and the bytes live in
Redis under it (:func:`store_photo`) only when an item has to wait.
"""

from __future__ import annotations

import html
import logging
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import redis

from tarotbot.tarot.telegram_text import CAPTION_LIMIT, MESSAGE_LIMIT, split_html, telegram_length
from tarotbot.telegram.chat_turns import RECORD_TTL

log = logging.getLogger("tarotbot.sender")

KINDS = (
    "text",
    "photo",
    "edit_text",
    "edit_markup",
    "delete",
    "chat_action",
    "invoice",
    "document",
)
CREATING_KINDS = frozenset({"text", "photo", "invoice", "document"})  # kinds that create a message
#: Kinds whose bytes travel by a Redis key (or the ``photos`` handed to deliver).
FILE_KINDS = frozenset({"photo", "document"})
EDIT_KINDS = frozenset({"edit_text", "edit_markup"})
# Calls Telegram does not count as messages for its flood limits: they take no slot.
UNLIMITED_KINDS = frozenset({"chat_action", "delete"})


@dataclass(frozen=True)
class Outgoing:
    """One Telegram call, described as JSON-friendly data (it travels in RQ job payloads).

    ``kind`` is one of :data:`KINDS`:

    * ``text``: ``text`` (Telegram HTML), optional ``reply_markup``;
    * ``photo``: ``photo_key`` (a Redis key holding the picture, see
      :func:`store_photo`, or a key of the ``photos`` given to
      :meth:`Sender.deliver`), optional caption in ``text`` and ``reply_markup``;
    * ``edit_text``: ``message_id``, ``text``, optional ``reply_markup``;
    * ``edit_markup``: ``message_id``, ``reply_markup`` (None removes the keyboard);
    * ``delete``: ``message_id``;
    * ``chat_action``: ``action`` (``typing``, ``upload_photo``, ...);
    * ``invoice``: ``title``, ``description``, ``payload``, ``currency``
      (``XTR``: Telegram Stars), ``prices`` as ``[{"label", "amount"}]``;
    * ``document``: ``photo_key`` (the key of the file's bytes, as for a
      photo), ``file_name``, optional caption in ``text`` and ``reply_markup``.

    ``reply_markup`` is a keyboard in Bot API JSON form (a dict).
    ``html=False`` sends ``text`` without parse mode (the sender's fallback
    when Telegram cannot parse the HTML). ``index`` is the item's position in
    its bundle, assigned by the sender; leave it None.
    """

    kind: str
    chat_id: int
    text: str | None = None
    reply_markup: dict[str, Any] | None = None
    photo_key: str | None = None
    message_id: int | None = None
    action: str | None = None
    title: str | None = None
    description: str | None = None
    payload: str | None = None
    currency: str = "XTR"
    prices: list[dict[str, Any]] | None = None
    html: bool = True
    file_name: str | None = None
    index: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if not isinstance(self.chat_id, int) or isinstance(self.chat_id, bool):
            raise ValueError("chat_id must be an int")
        if self.kind in ("text", "edit_text") and not (self.text and self.text.strip()):
            raise ValueError(f"a {self.kind} item needs a non-empty text")
        if self.kind in FILE_KINDS and not self.photo_key:
            raise ValueError(f"a {self.kind} item needs a photo_key (see store_photo)")
        if self.kind == "document" and not (self.file_name and 1 <= len(self.file_name) <= 128):
            raise ValueError("a document item needs a file_name of 1-128 characters")
        if self.kind in ("edit_text", "edit_markup", "delete") and self.message_id is None:
            raise ValueError(f"a {self.kind} item needs the message_id to act on")
        if self.kind == "chat_action" and not self.action:
            raise ValueError("a chat_action item needs an action, e.g. 'typing'")
        if self.kind == "invoice":
            self._check_invoice()
        if self.reply_markup is not None and not isinstance(self.reply_markup, dict):
            raise ValueError("reply_markup must be a dict in Bot API JSON form")

    def _check_invoice(self) -> None:
        if not self.title or not 1 <= len(self.title) <= 32:
            raise ValueError("an invoice title must be 1-32 characters")
        if not self.description or not 1 <= len(self.description) <= 255:
            raise ValueError("an invoice description must be 1-255 characters")
        if not self.payload or not 1 <= len(self.payload.encode()) <= 128:
            raise ValueError("an invoice payload must be 1-128 bytes")
        if not self.prices or any(
            not isinstance(p, dict) or "label" not in p or not isinstance(p.get("amount"), int)
            for p in self.prices
        ):
            raise ValueError('invoice prices must be [{"label": str, "amount": int}, ...]')

    # -- JSON -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (None fields left out) for a job payload."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outgoing:
        """The item back from :meth:`to_dict` (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def store_photo(conn: redis.Redis, key: str, image: bytes, ttl: int = RECORD_TTL) -> str:
    """Keep a picture (JPEG or PNG bytes) in Redis under ``key`` for ``ttl`` s; return the key.

    Items refer to it by ``photo_key``: image bytes never go into a job payload.
    """
    if not isinstance(image, bytes | bytearray) or not image:
        raise ValueError("image must be non-empty bytes")
    conn.set(key, bytes(image), ex=int(ttl))
    return key


def _split_text(text: str, limit: int, as_html: bool) -> list[str]:
    """``text`` as pieces of at most ``limit`` characters (split only when needed)."""
    if telegram_length(text) <= limit:
        return [text]
    if as_html:
        return list(split_html(text, limit))
    # Plain text: split the escaped form, then unescape (which never makes a piece longer).
    return [html.unescape(p) for p in split_html(html.escape(text, quote=False), limit)]


def expand(item: Outgoing) -> list[Outgoing]:
    """One item as the Telegram calls it takes: long texts and captions split.

    The keyboard goes on the last piece. An edit cannot be split: a text over
    the limit keeps its first message-sized piece (logged).
    """
    if item.kind == "text":
        pieces = _split_text(item.text or "", MESSAGE_LIMIT, item.html)
        return [
            replace(item, text=p, reply_markup=item.reply_markup if i == len(pieces) - 1 else None)
            for i, p in enumerate(pieces)
        ]
    if item.kind in FILE_KINDS and item.text and telegram_length(item.text) > CAPTION_LIMIT:
        head, *rest = _split_text(item.text, CAPTION_LIMIT, item.html)
        tail = _split_text("\n\n".join(rest), MESSAGE_LIMIT, item.html)
        texts = [Outgoing("text", item.chat_id, text=t, html=item.html) for t in tail if t.strip()]
        if not texts:
            return [item]
        texts[-1] = replace(texts[-1], reply_markup=item.reply_markup)
        return [replace(item, text=head, reply_markup=None), *texts]
    if item.kind == "edit_text" and telegram_length(item.text or "") > MESSAGE_LIMIT:
        log.warning(
            "edit of message %s in chat %s is over %d characters; keeping the first part",
            item.message_id,
            item.chat_id,
            MESSAGE_LIMIT,
        )
        return [replace(item, text=_split_text(item.text or "", MESSAGE_LIMIT, item.html)[0])]
    return [item]
