"""The version-checked core: one ledger change in a transaction, lost races retried.

:func:`transact` retries an operation when its optimistic ``UPDATE … WHERE
version = v`` matched no row (:class:`Conflict`) or a concurrent writer won a
unique index, with full-jitter backoff, then raises :class:`ConflictDetected`;
it keeps :class:`CreditCache` in step with what committed. One place, so every
operation retries and caches the same way.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import peewee

from tarotbot.cache import CreditCache
from tarotbot.db import database, is_postgres
from tarotbot.exceptions import ConflictDetected, UnknownUser
from tarotbot.ledger import statements as sql
from tarotbot.ledger.statements import LedgerEntry

log = logging.getLogger(__package__)  # "tarotbot.ledger", as before the split

MAX_ATTEMPTS = 8  # tries of a version-checked update before ConflictDetected
BACKOFF_BASE = 0.005  # seconds: first retry waits up to this (full jitter)
BACKOFF_CAP = 0.25  # seconds: no retry waits longer than this


# -- post-commit hooks -----------------------------------------------------------


def after_commit(fn: Callable[[], Any]) -> None:
    """Run ``fn()`` after the outermost transaction of this thread commits.

    Outside a transaction it runs at once. Callbacks are dropped if the
    outer transaction rolls back (peewee's per-connection-state list). An
    exception in ``fn`` is logged, never raised: the data is committed, and a
    failed side effect (a cache write) must not look like a failed payment.
    """

    def guarded() -> None:
        try:
            fn()
        except Exception:
            log.exception("after-commit callback %r failed", fn)

    database.after_commit(guarded)


# -- the cache -------------------------------------------------------------------

_credit_cache: CreditCache | None = None


def get_credit_cache() -> CreditCache:
    """The process's :class:`CreditCache` (on ``REDIS_URL``; disabled when unset)."""
    global _credit_cache
    if _credit_cache is None:
        _credit_cache = CreditCache()
    return _credit_cache


def set_credit_cache(cache: CreditCache | None) -> None:
    """Use ``cache`` from now on (tests, benchmarks); None returns to the default."""
    global _credit_cache
    _credit_cache = cache


# -- the retry loop ---------------------------------------------------------------


class Conflict(Exception):
    """A version-checked statement matched no row; roll back and retry."""


class Work:
    """One operation's state across attempts: its cache marker and the change made."""

    __slots__ = ("applied", "cache", "marked", "token", "user_id")

    def __init__(self, cache: CreditCache):
        self.cache = cache
        self.user_id: int | None = None
        self.token: str | None = None
        self.marked = False
        self.applied: tuple[int, int] | None = None  # (balance, version) after our UPDATE

    def mark(self, user_id: int) -> None:
        """Before the first balance UPDATE of this operation: mark the cache dirty."""
        if not self.marked:
            self.user_id = user_id
            self.token = self.cache.begin_change(user_id)
            self.marked = True

    def update_balance(self, user_id: int, amount: int, version: int) -> tuple[int, int]:
        """The optimistic-lock UPDATE; returns (balance, version) after it."""
        self.mark(user_id)
        row = sql.one(sql.UPDATE_BALANCE, (amount, user_id, version))
        if row is None:
            raise Conflict
        self.applied = (row[0], row[1])
        return row[0], row[1]


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * (2**attempt))))


def integrity_kind(exc: peewee.IntegrityError) -> str:
    """'unique', 'check', 'foreign_key' or 'other', on PostgreSQL and SQLite."""
    orig = exc.args[0] if exc.args else exc
    code = getattr(orig, "pgcode", None)
    if code:
        return {"23505": "unique", "23514": "check", "23503": "foreign_key"}.get(code, "other")
    text = str(orig).upper()
    if "UNIQUE" in text:
        return "unique"
    if "CHECK" in text:
        return "check"
    if "FOREIGN KEY" in text:
        return "foreign_key"
    return "other"


def _is_retryable(exc: peewee.OperationalError) -> bool:
    orig = exc.args[0] if exc.args else exc
    code = getattr(orig, "pgcode", None)
    if code in ("40001", "40P01"):  # serialization failure, deadlock detected
        return True
    return "database is locked" in str(orig)


def transact(
    body: Callable[[Work], LedgerEntry],
    user_id: int | None,
    single_write: bool = False,
    savepoint: bool = True,
) -> LedgerEntry:
    """Run ``body`` in a transaction (a savepoint when nested), retrying conflicts.

    ``single_write``: on PostgreSQL the body's only writes are single
    statements that each stand alone (the change of
    :func:`~tarotbot.ledger.operations._apply_new`, an idempotent account
    INSERT), so at top level it runs without BEGIN/COMMIT: each statement is
    its own transaction.

    ``savepoint=False`` (with ``single_write``, nested): no savepoint (two round
    trips) around the body. A conflict is still retried (it is found without
    an error), but a database error (a concurrent writer's duplicate key)
    then aborts the enclosing transaction and goes up to its caller, whose
    retry finds the winner. For callers whose transaction holds nothing else
    worth keeping (a reading stored with its debit).
    """
    cache = get_credit_cache()
    top = database.transaction_depth() == 0
    bare = single_write and is_postgres() and (top or not savepoint)
    work = Work(cache)
    try:
        for attempt in range(MAX_ATTEMPTS):
            work.applied = None
            try:
                with contextlib.nullcontext() if bare else database.atomic(*_begin_args(top)):
                    entry = body(work)
                break
            except Conflict:
                pass
            except peewee.IntegrityError as exc:
                if bare and not top:  # the enclosing transaction is aborted: its caller retries
                    raise
                kind = integrity_kind(exc)
                if kind == "foreign_key":
                    raise UnknownUser(f"no user with id {user_id}") from None
                if kind != "unique":
                    raise
                # Another writer inserted the same key / payment / refund first:
                # the retry reads the winner.
            except peewee.OperationalError as exc:
                if not _is_retryable(exc) or (bare and not top):
                    raise
            if attempt + 1 < MAX_ATTEMPTS:
                _backoff(attempt)
        else:
            raise ConflictDetected(
                f"user {user_id}: credits kept changing under us; gave up after "
                f"{MAX_ATTEMPTS} attempts"
            )
    except BaseException:
        if work.marked:
            cache.abandon_change(work.user_id, work.token)
        raise
    if work.applied is not None:
        if top:  # committed: the figures are final
            cache.finish_change(work.user_id, work.token, *work.applied)
        else:
            after_commit(functools.partial(_refresh_cache, cache, work.user_id, work.token))
    elif work.marked:
        cache.abandon_change(work.user_id, work.token)
    return entry


def _begin_args(top: bool) -> tuple:
    # SQLite: take the write lock at BEGIN, so a reader never has to upgrade
    # (an upgrade under contention fails at once instead of waiting for the lock).
    return ("IMMEDIATE",) if top and not is_postgres() else ()


def _refresh_cache(cache: CreditCache, user_id: int, token: str | None) -> None:
    """After an outer commit: store what is committed now (the caller may have rolled
    back a savepoint holding our change, so our own figures are not trusted)."""
    try:
        row = sql.one(sql.CREDITS, (user_id,))
    except peewee.DatabaseError:
        cache.invalidate(user_id)  # the marker stays until it expires
        raise
    if row is None:
        cache.abandon_change(user_id, token)
    else:
        cache.finish_change(user_id, token, row[0], row[1])
