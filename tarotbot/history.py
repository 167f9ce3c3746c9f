"""A user's reading history, newest first, paged with keyset cursors.

Why keyset and not the specification's ``LIMIT … OFFSET``: OFFSET makes the
database walk (and join) every skipped row, so page *n* costs O(n), and a
reading inserted between two page views shifts every later page by one (a
reading is shown twice or never). A keyset cursor names the last row shown,
``(created_at, id)``; the next page is "the rows strictly after that
position in ``created_at DESC, id DESC`` order", which the index
``idx_readings_user_lookup (user_id, created_at DESC)`` serves directly, at
the same cost on page 1 and page 10,000. ``id`` breaks ties between readings
created in the same microsecond.

Cursors are short opaque strings (``<base36 µs since epoch>.<base36 id>``,
at most 25 characters) meant for Telegram ``callback_data`` (64 bytes).
They are not signed and need not be: every query is restricted to the
caller's ``user_id``, so a forged cursor can only move within the caller's
own history. Malformed cursors raise :class:`BadCursor` (a ``ValueError``).

:func:`history_page_offset` keeps the specification's OFFSET query verbatim,
for comparison (``bench/history.py``) and tests.

Works on PostgreSQL and on SQLite. On SQLite timestamps are stored as text
``YYYY-MM-DD HH:MM:SS.ffffff+00:00``, which sorts like time; cursor values
are turned into that form by the field's own ``db_value`` before they are
compared, so both engines compare like with like. (A row written with
SQLite's own ``CURRENT_TIMESTAMP`` text, without microseconds and offset,
would not compare equal to its own cursor; the models never write one.)
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from tarotbot.db import database
from tarotbot.models import Reading

OLDER = "older"
NEWER = "newer"
MAX_PAGE_SIZE = 50  # a Telegram message lists a handful; this only stops abuse

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_MICROS = (dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC) - _EPOCH) // (
    dt.timedelta(microseconds=1)
)
_MAX_ID = 2**63 - 1  # BIGSERIAL
_CURSOR_RE = re.compile(r"[0-9a-z]{1,13}\.[0-9a-z]{1,13}")
_MAX_CURSOR_LEN = 27  # 13 + 1 + 13; checked before the regex so garbage is cheap
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"

# The specification's "Reading History" query (data-management.md), verbatim
# but for the placeholder style, which differs per driver.
SPEC_OFFSET_QUERY = (
    "SELECT r.*, t.amount AS credit_cost "
    "FROM readings r "
    "LEFT JOIN transactions t ON r.transaction_id = t.id "
    "WHERE r.user_id = %s "
    "ORDER BY r.created_at DESC "
    "LIMIT %s OFFSET %s"
)


class BadCursor(ValueError):
    """A history cursor that is not one :func:`encode_cursor` could have made."""


@dataclass(frozen=True)
class HistoryItem:
    """One reading as the history list shows it.

    ``credit_cost`` is the absolute amount of the linked transaction (reading
    transactions carry a negative amount), ``None`` for a free reading.
    """

    reading_id: int
    spread_type: str
    question: str | None
    created_at: dt.datetime
    credit_cost: int | None
    card_names: tuple[str, ...]

    @property
    def cursor(self) -> str:
        """This reading's position, for :func:`history_page`."""
        return encode_cursor(self.created_at, self.reading_id)


@dataclass(frozen=True)
class HistoryPage:
    """One page, newest first, with cursors to the neighbouring pages.

    ``older_cursor`` is set when older readings exist (pass it with
    ``direction="older"``), ``newer_cursor`` when newer ones do (pass it
    with ``direction="newer"``).
    """

    items: tuple[HistoryItem, ...]
    older_cursor: str | None
    newer_cursor: str | None
    page_size: int


def _base36(number: int) -> str:
    if number == 0:
        return "0"
    digits = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(_DIGITS[rest])
    return "".join(reversed(digits))


def _to_utc(value: dt.datetime) -> dt.datetime:
    """Aware UTC, reading a naive value as UTC (as :class:`TimestampTZField` does)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def encode_cursor(created_at: dt.datetime, reading_id: int) -> str:
    """The compact cursor for the position ``(created_at, reading_id)``."""
    micros = (_to_utc(created_at) - _EPOCH) // dt.timedelta(microseconds=1)
    if not 0 <= micros <= _MAX_MICROS or not 1 <= reading_id <= _MAX_ID:
        raise ValueError(f"cannot encode position ({created_at!r}, {reading_id!r})")
    return f"{_base36(micros)}.{_base36(reading_id)}"


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    """``(created_at, reading_id)`` of a cursor; :class:`BadCursor` if forged or garbled.

    Only the canonical spelling :func:`encode_cursor` produces is accepted
    (lower case, no leading zeros), so each position has exactly one cursor.
    """
    if not isinstance(cursor, str) or len(cursor) > _MAX_CURSOR_LEN:
        raise BadCursor("not a history cursor")
    if not _CURSOR_RE.fullmatch(cursor):
        raise BadCursor("not a history cursor")
    micros_text, id_text = cursor.split(".")
    micros, reading_id = int(micros_text, 36), int(id_text, 36)
    if not 0 <= micros <= _MAX_MICROS or not 1 <= reading_id <= _MAX_ID:
        raise BadCursor("history cursor out of range")
    created_at = _EPOCH + dt.timedelta(microseconds=micros)
    if encode_cursor(created_at, reading_id) != cursor:
        raise BadCursor("history cursor is not canonical")
    return created_at, reading_id


def _card_names(cards: object) -> tuple[str, ...]:
    """Card names from ``readings.cards``: ``{"cards": [...]}`` or a bare list.

    A malformed value yields no names rather than breaking the whole list.
    """
    if isinstance(cards, (str, bytes)):
        try:
            cards = json.loads(cards)
        except ValueError:
            return ()
    if isinstance(cards, dict):
        cards = cards.get("cards")
    if not isinstance(cards, list):
        return ()
    return tuple(
        card["name"]
        for card in cards
        if isinstance(card, dict) and isinstance(card.get("name"), str)
    )


def _item(reading_id, spread_type, question, cards, created_at, amount) -> HistoryItem:
    return HistoryItem(
        reading_id=reading_id,
        spread_type=spread_type,
        question=question,
        created_at=Reading.created_at.python_value(created_at),
        credit_cost=None if amount is None else abs(amount),
        card_names=_card_names(cards),
    )


# Hand-written SQL rather than peewee's query builder: building the same
# query through peewee costs ~0.5 ms a page in Python, as much as running it
# (measured). Placeholders are {p}, filled with the driver's own (%s or ?).
# Unquoted lower-case names and the aliases r/t mean the same on both engines.
_PAGE_SELECT = (
    "SELECT r.id, r.spread_type, r.question, r.cards, r.created_at, t.amount"
    " FROM readings r LEFT JOIN transactions t ON r.transaction_id = t.id"
    " WHERE r.user_id = {p}"
)
_EXISTS_SELECT = "SELECT 1 FROM readings r WHERE r.user_id = {p}"
# "Older than (c, i)" in created_at DESC, id DESC order. The redundant
# ``created_at <= c`` is what gives PostgreSQL a range bound on
# idx_readings_user_lookup (Index Cond ``user_id = u AND created_at <= c``):
# with the OR alone the Index Cond is ``user_id = u`` only and every newer
# row is read and filtered out (measured on a million readings, 700 rows
# deep: 5.6 ms and 701 rows filtered, against 0.3 ms). A row comparison
# ``(created_at, id) < (c, i)`` plans like the bounded form on PostgreSQL;
# this spelling reads the same on both engines.
_OLDER = " AND r.created_at <= {p} AND (r.created_at < {p} OR (r.created_at = {p} AND r.id < {p}))"
_NEWER = (  # the mirror image: "newer than (c, i)"
    " AND r.created_at >= {p} AND (r.created_at > {p} OR (r.created_at = {p} AND r.id > {p}))"
)
_NEWEST_FIRST = " ORDER BY r.created_at DESC, r.id DESC LIMIT {p}"
_OLDEST_FIRST = " ORDER BY r.created_at ASC, r.id ASC LIMIT {p}"


def _sql(*parts: str) -> str:
    return "".join(parts).format(p=database.param)


def _position_params(position: tuple[dt.datetime, int]) -> tuple:
    """Parameters of :data:`_OLDER` / :data:`_NEWER`, the timestamp as the column stores it.

    ``db_value`` gives the aware datetime on PostgreSQL and the canonical
    ISO text on SQLite, so the comparison is like with like on both.
    """
    created_at, reading_id = position
    stored = Reading.created_at.db_value(created_at)
    return (stored, stored, stored, reading_id)


def _fetch(sql: str, params: tuple) -> list[HistoryItem]:
    return [_item(*row) for row in database.execute_sql(sql, params).fetchall()]


def _exists(user_id: int, predicate: str, position: tuple[dt.datetime, int]) -> bool:
    sql = _sql(_EXISTS_SELECT, predicate, " LIMIT 1")
    return database.execute_sql(sql, (user_id, *_position_params(position))).fetchone() is not None


def history_page(
    user_id: int, cursor: str | None = None, direction: str = OLDER, limit: int = 5
) -> HistoryPage:
    """One page of ``user_id``'s readings, newest first.

    Without a cursor: the newest ``limit`` readings. With ``direction="older"``
    the readings strictly older than the cursor position, with ``"newer"`` the
    ones strictly newer (the page just above it). One query fetches
    ``limit + 1`` rows (the extra row tells whether another page follows in
    that direction) with the transaction joined; at most one ``EXISTS``
    query checks the opposite direction.

    When "newer" reaches the top with fewer than ``limit`` readings (pages
    shifted because readings were added or deleted meanwhile), the full
    newest page is returned instead of a short one.

    Raises :class:`BadCursor` for a malformed cursor and ``ValueError`` for a
    bad ``direction`` or ``limit``.
    """
    if direction not in (OLDER, NEWER):
        raise ValueError(f"direction must be {OLDER!r} or {NEWER!r}, not {direction!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be an integer from 1 to {MAX_PAGE_SIZE}")
    position = decode_cursor(cursor) if cursor is not None else None

    if position is None:
        rows = _fetch(_sql(_PAGE_SELECT, _NEWEST_FIRST), (user_id, limit + 1))
    else:
        bound, order = (_OLDER, _NEWEST_FIRST) if direction == OLDER else (_NEWER, _OLDEST_FIRST)
        sql = _sql(_PAGE_SELECT, bound, order)
        rows = _fetch(sql, (user_id, *_position_params(position), limit + 1))
    more = len(rows) > limit
    items = rows[:limit]

    if position is None:  # the newest page: nothing is newer
        older = items[-1].cursor if more else None
        return HistoryPage(tuple(items), older, None, limit)

    if direction == OLDER:
        older_cursor = items[-1].cursor if more else None
        anchor = (items[0].created_at, items[0].reading_id) if items else position
        newer_cursor = encode_cursor(*anchor) if _exists(user_id, _NEWER, anchor) else None
        return HistoryPage(tuple(items), older_cursor, newer_cursor, limit)

    items.reverse()
    if not more and len(items) < limit:
        return history_page(user_id, None, OLDER, limit)
    newer_cursor = items[0].cursor if more else None
    anchor = (items[-1].created_at, items[-1].reading_id)
    older_cursor = encode_cursor(*anchor) if _exists(user_id, _OLDER, anchor) else None
    return HistoryPage(tuple(items), older_cursor, newer_cursor, limit)


def reading_for_user(user_id: int, reading_id: int) -> Reading | None:
    """The reading ``reading_id`` if it belongs to ``user_id``, else ``None``.

    Ownership is part of the query, so an id guessed or forged in callback
    data never reveals someone else's reading. Ids outside the BIGINT range
    are simply not found.
    """
    if isinstance(reading_id, bool) or not isinstance(reading_id, int):
        return None
    if not 1 <= reading_id <= _MAX_ID:
        return None
    return Reading.get_or_none((Reading.id == reading_id) & (Reading.user == user_id))


def history_page_offset(user_id: int, limit: int, offset: int) -> list[HistoryItem]:
    """The specification's OFFSET pagination query, kept for comparison.

    Costs grow with ``offset`` and ties in ``created_at`` come back in no
    defined order (the spec orders by ``created_at`` alone); use
    :func:`history_page` in the bot.
    """
    sql = SPEC_OFFSET_QUERY.replace("%s", database.param)
    cursor = database.execute_sql(sql, (user_id, limit, offset))
    names = [column[0] for column in cursor.description]
    at = {name: names.index(name) for name in ("id", "spread_type", "question", "cards")}
    at["created_at"] = names.index("created_at")
    at["credit_cost"] = len(names) - 1  # the last column; r.* may hold other names
    return [
        _item(
            row[at["id"]],
            row[at["spread_type"]],
            row[at["question"]],
            row[at["cards"]],
            row[at["created_at"]],
            row[at["credit_cost"]],
        )
        for row in cursor.fetchall()
    ]
