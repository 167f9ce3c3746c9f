"""The credits ledger: every change to ``credits.balance`` goes through here.

Four kinds of change, one ``transactions`` row each (type, signed amount,
``credits_before``, ``credits_after``, status):

========  =======  ==============================================================
type      amount   how
========  =======  ==============================================================
bonus     +n       :func:`grant_bonus`
purchase  +n       :func:`start_purchase` (pending) → :func:`complete_purchase` /
                   :func:`fail_purchase`; or :func:`credit_purchase` in one step
reading   −n       :func:`debit_reading`; :class:`InsufficientCredits` when short
refund    ∓n       :func:`refund`: a new row compensating a reading (+n) or a
                   purchase (−n); the original's status becomes ``refunded``
========  =======  ==============================================================

Statuses and what the audit counts
----------------------------------
A row is *applied* when its amount is part of the balance: status
``completed``, or ``refunded`` (it was applied, and a separate ``refund`` row
compensates it; the original keeps its amount, before/after and version, only
the status changes). ``pending`` and ``failed`` rows (purchases only) were
never applied. Hence, per user::

    credits.balance == SUM(amount) over rows with status IN ('completed', 'refunded')

Every row satisfies ``credits_after = credits_before + amount``: applied rows
record the real balances; a pending purchase records the balance at the time
it was started and the balance it *would* give (a projection, rewritten with
the real figures when it completes, kept as is when it fails). Applied rows
carry ``credits_version``, the ``credits.version`` their UPDATE produced, so a
user's history is a chain ordered by version: 2, 3, 4, … each row's
``credits_before`` equal to the previous row's ``credits_after`` (0 for the
first). Ordering by id would be wrong: a purchase started early and completed
late is applied after rows with higher ids.

How a change is written
-----------------------
1. ``SELECT`` the credits row (balance, version) and any transaction
   already carrying the key (the replay check), in one statement;
2. decide: replay, :class:`InsufficientCredits`, or go on (nothing written yet);
3. the specification's optimistic lock, ``UPDATE credits SET balance =
   balance + :amount, version = version + 1, last_updated_at =
   CURRENT_TIMESTAMP WHERE user_id = ? AND version = ? RETURNING balance,
   version``, with the version read in step 1;
4. ``INSERT`` the transactions row, before/after and version taken from the
   RETURNING.

Steps 3 and 4 commit together or not at all. On PostgreSQL a new row
(bonus, debit, one-step purchase) is all four steps in ONE statement
(:data:`_CHANGE_IN_ONE_STATEMENT`: the read, the replay and balance checks
and the version-checked UPDATE feeding the INSERT, as data-modifying CTEs),
so outside a caller's transaction a debit costs one round trip and no
BEGIN/COMMIT. It is a server-side prepared statement (PREPAREd once per
connection: planning the CTEs costs more than running them), so the
connection must be a real session, not a transaction-mode pooler. Everything
else, SQLite, and every call inside a caller's transaction use
``database.atomic()`` around the steps.

Zero rows updated means another writer got there first: the attempt (or,
inside a caller's transaction, only our savepoint) is rolled back and retried
up to :data:`MAX_ATTEMPTS` (8) times with full-jitter exponential backoff
(:data:`BACKOFF_BASE` 5 ms doubling up to :data:`BACKOFF_CAP` 250 ms), then
:class:`ConflictDetected`. The CHECK ``balance >= 0`` backs up the
insufficient-credits check against any writer that bypasses the ledger.

Idempotency
-----------
Every operation takes a key (a payment charge id, a job id). The key is
stored on the row it created, under a UNIQUE index. Replaying a key returns
the first result with ``replayed=True`` and changes nothing; the same key with
another user, type, amount or payment reference raises
:class:`DuplicatePayment`. Two processes racing with one key: one insert
wins, the loser's unique violation rolls back its attempt and the retry reads
the winner. A payment reference is credited once (partial UNIQUE index over
credited purchases); one original is refunded once (UNIQUE ``refund_of_id``).

Composing with an outer transaction
-----------------------------------
Every function may run inside a caller's ``database.atomic()`` (e.g. debit +
store the reading, one transaction). It then runs in a savepoint, retries
only that savepoint, and the cache write happens after the OUTER commit
(:func:`after_commit`, peewee's per-thread commit-callback list, cleared on
rollback). Because a caller may roll back an inner savepoint of its own and
still commit, the post-commit hook re-reads the committed balance instead of
trusting the figures it computed. :func:`balance` inside a transaction reads
the database (its own view) and never touches the cache.

Cache
-----
:class:`tarotbot.cache.CreditCache` is written through after commit; see
that module for why no reader gets an old balance after a change returned.
Redis down never fails a ledger write (a warning is logged).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import peewee

from tarotbot.cache import CreditCache
from tarotbot.db import database, is_postgres
from tarotbot.exceptions import (
    ConflictDetected,
    DuplicatePayment,
    InsufficientCredits,
    InvalidTransition,
    NotRefundable,
    UnknownTransaction,
    UnknownUser,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # tries of a version-checked update before ConflictDetected
BACKOFF_BASE = 0.005  # seconds: first retry waits up to this (full jitter)
BACKOFF_CAP = 0.25  # seconds: no retry waits longer than this
MAX_KEY_LENGTH = 255  # transactions.idempotency_key is VARCHAR(255)

APPLIED_STATUSES = ("completed", "refunded")
REFUNDABLE_TYPES = ("reading", "purchase")


@dataclass(frozen=True)
class LedgerEntry:
    """The outcome of a ledger operation: one ``transactions`` row.

    ``amount`` is signed (a debit is negative). ``balance_before`` and
    ``balance_after`` are the row's ``credits_before``/``credits_after`` (for a
    pending or failed purchase: the projection made when it started).
    ``replayed`` is True when the key had been seen and this is the first
    result, unchanged.
    """

    transaction_id: int
    user_id: int
    type: str
    amount: int
    balance_before: int
    balance_after: int
    status: str
    key: str | None
    replayed: bool = False


class _Txn(NamedTuple):
    id: int
    user_id: int
    type: str
    amount: int
    credits_before: int
    credits_after: int
    status: str
    idempotency_key: str | None
    payment_reference: str | None
    refund_of_id: int | None
    credits_version: int | None

    def entry(self, replayed: bool) -> LedgerEntry:
        return LedgerEntry(
            transaction_id=self.id,
            user_id=self.user_id,
            type=self.type,
            amount=self.amount,
            balance_before=self.credits_before,
            balance_after=self.credits_after,
            status=self.status,
            key=self.idempotency_key,
            replayed=replayed,
        )


_TXN_COLUMNS = _Txn._fields
_NTXN = len(_TXN_COLUMNS)


def _cols(alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in _TXN_COLUMNS)


def _txn(values: tuple | list) -> _Txn | None:
    return None if values[0] is None else _Txn(*values)


# -- SQL ----------------------------------------------------------------------

# One row always: the user's credits (balance, version) and the row already
# carrying the key, if any (of whichever user: a key is global).
_FETCH_FOR_KEY = f"""
SELECT c.balance, c.version, {_cols("t")}
FROM (SELECT 1 AS one) AS o
LEFT JOIN credits AS c ON c.user_id = %s
LEFT JOIN transactions AS t ON t.idempotency_key = %s
"""

_FETCH_BY_KEY_WITH_CREDITS = f"""
SELECT c.balance, c.version, {_cols("t")}
FROM transactions AS t
LEFT JOIN credits AS c ON c.user_id = t.user_id
WHERE t.idempotency_key = %s
"""

_FETCH_REFUND = f"""
SELECT c.balance, c.version, {_cols("orig")}, {_cols("r")}
FROM (SELECT 1 AS one) AS o
LEFT JOIN transactions AS orig ON orig.idempotency_key = %s
LEFT JOIN transactions AS r ON r.idempotency_key = %s
LEFT JOIN credits AS c ON c.user_id = orig.user_id
"""

_FETCH_CREDITED_REFERENCE = f"""
SELECT {_cols("t")} FROM transactions AS t
WHERE t.payment_reference = %s AND t.type = 'purchase'
  AND t.status IN ('completed', 'refunded')
"""

_FETCH_REFUND_OF = f"SELECT {_cols('t')} FROM transactions AS t WHERE t.refund_of_id = %s"

_FETCH_BY_KEY = f"SELECT {_cols('t')} FROM transactions AS t WHERE t.idempotency_key = %s"

_UPDATE_BALANCE = """
UPDATE credits
SET balance = balance + %s, version = version + 1, last_updated_at = CURRENT_TIMESTAMP
WHERE user_id = %s AND version = %s
RETURNING balance, version
"""

# PostgreSQL: the whole change in one statement (autocommit: one transaction).
# ``cur`` reads balance and version, ``prior`` the row already carrying the
# key; ``u`` is the specification's version-checked UPDATE, allowed only if
# the key is new and the balance suffices; ``ins`` writes the row from its
# RETURNING. Under READ COMMITTED a concurrent committed change makes the
# UPDATE re-check ``version = (read version)`` against the new row: no match,
# no row updated, nothing inserted — a conflict, retried like any other. The
# result row tells which case happened (see _apply_new_postgres). It runs as
# a server-side prepared statement: planning these CTEs costs more than
# executing them. Parameters: $1 user_id, $2 key, $3 signed amount, $4 type,
# $5 payment_reference, $6 reason.
_CHANGE_STATEMENT = "tarotbot_ledger_change_v1"
_CHANGE_TYPES = "bigint, varchar, integer, varchar, varchar, text"
_CHANGE_IN_ONE_STATEMENT = f"""
WITH cur AS (
    SELECT balance, version FROM credits WHERE user_id = $1
), prior AS (
    SELECT {", ".join(_TXN_COLUMNS)} FROM transactions WHERE idempotency_key = $2
), u AS (
    UPDATE credits
    SET balance = balance + $3, version = version + 1, last_updated_at = CURRENT_TIMESTAMP
    WHERE user_id = $1 AND version = (SELECT version FROM cur)
      AND (SELECT balance FROM cur) + $3 >= 0
      AND NOT EXISTS (SELECT 1 FROM prior)
    RETURNING balance, version
), ins AS (
    INSERT INTO transactions (user_id, type, amount, credits_before, credits_after, status,
        payment_reference, idempotency_key, credits_version, reason, completed_at)
    SELECT $1, $4, $3, u.balance - $3, u.balance, 'completed', $5, $2, u.version, $6,
        CURRENT_TIMESTAMP
    FROM u
    RETURNING id, credits_after, credits_version
)
SELECT cur.balance, cur.version, ins.id, ins.credits_after, ins.credits_version,
    {_cols("prior")}
FROM (SELECT 1 AS one) AS o
LEFT JOIN cur ON TRUE
LEFT JOIN ins ON TRUE
LEFT JOIN prior ON TRUE
"""

_INSERT_TXN = """
INSERT INTO transactions (user_id, type, amount, credits_before, credits_after, status,
    payment_reference, idempotency_key, refund_of_id, credits_version, reason, completed_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
    CASE WHEN %s = 'completed' THEN CURRENT_TIMESTAMP END)
RETURNING id
"""

_OPEN_ACCOUNT = """
INSERT INTO credits (user_id, balance, version) VALUES (%s, 0, 1)
ON CONFLICT (user_id) DO NOTHING
"""

_CREDITS = "SELECT balance, version FROM credits WHERE user_id = %s"


@functools.lru_cache(maxsize=64)
def _dialect(text: str, postgres: bool) -> str:
    return text if postgres else text.replace("%s", "?")


def _execute(text: str, params: tuple = ()):
    return database.execute_sql(_dialect(text, is_postgres()), params)


# psycopg2 connection -> names of the statements prepared on it. Weak keys: a
# closed or forgotten (forked) connection takes its entry with it.
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_prepared_lock = threading.Lock()


def _execute_prepared(name: str, types: str, text: str, params: tuple):
    """PostgreSQL: EXECUTE ``name``, preparing it on this connection the first time."""
    conn = database.connection()
    with _prepared_lock:
        names = _prepared.setdefault(conn, set())
    if name not in names:
        database.execute_sql(f"PREPARE {name} ({types}) AS {text}")
        names.add(name)
    placeholders = ", ".join(["%s"] * len(params))
    return database.execute_sql(f"EXECUTE {name} ({placeholders})", params)


def _one(text: str, params: tuple = ()) -> tuple | None:
    rows = _execute(text, params).fetchall()  # fetchall: SQLite finishes RETURNING
    return rows[0] if rows else None


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


class _Conflict(Exception):
    """Internal: a version-checked statement matched no row; roll back and retry."""


class _Work:
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
        row = _one(_UPDATE_BALANCE, (amount, user_id, version))
        if row is None:
            raise _Conflict
        self.applied = (row[0], row[1])
        return row[0], row[1]


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * (2**attempt))))


def _integrity_kind(exc: peewee.IntegrityError) -> str:
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


def _transact(
    body: Callable[[_Work], LedgerEntry], user_id: int | None, single_write: bool = False
) -> LedgerEntry:
    """Run ``body`` in a transaction (a savepoint when nested), retrying conflicts.

    ``single_write``: on PostgreSQL the body's only writes are single
    statements that each stand alone (the change of :func:`_apply_new`, an
    idempotent account INSERT), so at top level it runs without BEGIN/COMMIT:
    each statement is its own transaction.
    """
    cache = get_credit_cache()
    top = database.transaction_depth() == 0
    bare = top and single_write and is_postgres()
    work = _Work(cache)
    try:
        for attempt in range(MAX_ATTEMPTS):
            work.applied = None
            try:
                with contextlib.nullcontext() if bare else database.atomic(*_begin_args(top)):
                    entry = body(work)
                break
            except _Conflict:
                pass
            except peewee.IntegrityError as exc:
                kind = _integrity_kind(exc)
                if kind == "foreign_key":
                    raise UnknownUser(f"no user with id {user_id}") from None
                if kind != "unique":
                    raise
                # Another writer inserted the same key / payment / refund first:
                # the retry reads the winner.
            except peewee.OperationalError as exc:
                if not _is_retryable(exc):
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
        row = _one(_CREDITS, (user_id,))
    except peewee.DatabaseError:
        cache.invalidate(user_id)  # the marker stays until it expires
        raise
    if row is None:
        cache.abandon_change(user_id, token)
    else:
        cache.finish_change(user_id, token, row[0], row[1])


# -- validation ---------------------------------------------------------------------


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"an idempotency key is a non-empty string of ≤ {MAX_KEY_LENGTH} chars")
    return key


def _check_amount(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"amount must be a positive whole number of credits, got {amount!r}")
    return amount


def _check_user(user_id: int) -> int:
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise ValueError(f"user_id must be an int, got {user_id!r}")
    return user_id


def _replay(
    txn: _Txn,
    key: str,
    user_id: int,
    type_: str,
    amount: int,
    payment_reference: str | None = None,
    check_reference: bool = False,
) -> LedgerEntry:
    """The first result for ``key``, or DuplicatePayment if it was another operation."""
    same = txn.user_id == user_id and txn.type == type_ and txn.amount == amount
    if same and check_reference:
        same = txn.payment_reference == payment_reference
    if not same:
        raise DuplicatePayment(
            f"key {key!r} already used for {txn.type} of {txn.amount} "
            f"(user {txn.user_id}, reference {txn.payment_reference!r}); "
            f"refusing {type_} of {amount} (user {user_id}, reference {payment_reference!r})"
        )
    return txn.entry(replayed=True)


def _open_account_here(user_id: int) -> tuple[int, int]:
    """Inside the current transaction: make sure the credits row exists; (balance, version)."""
    _execute(_OPEN_ACCOUNT, (user_id,))
    row = _one(_CREDITS, (user_id,))
    return row[0], row[1]


def _insert(
    user_id: int,
    type_: str,
    amount: int,
    before: int,
    after: int,
    status: str,
    key: str,
    *,
    version: int | None,
    payment_reference: str | None = None,
    refund_of_id: int | None = None,
    reason: str | None = None,
) -> _Txn:
    row = _one(
        _INSERT_TXN,
        (
            user_id,
            type_,
            amount,
            before,
            after,
            status,
            payment_reference,
            key,
            refund_of_id,
            version,
            reason,
            status,
        ),
    )
    return _Txn(
        row[0],
        user_id,
        type_,
        amount,
        before,
        after,
        status,
        key,
        payment_reference,
        refund_of_id,
        version,
    )


def _apply_new(
    work: _Work,
    user_id: int,
    type_: str,
    amount: int,
    key: str,
    *,
    payment_reference: str | None = None,
    reason: str | None = None,
) -> LedgerEntry:
    """A new completed row: replay check, optimistic UPDATE, INSERT (see the module doc)."""
    if is_postgres():
        return _apply_new_postgres(work, user_id, type_, amount, key, payment_reference, reason)
    row = _one(_FETCH_FOR_KEY, (user_id, key))
    balance_now, version = row[0], row[1]
    existing = _txn(row[2:])
    if existing is not None:
        return _replay(
            existing, key, user_id, type_, amount, payment_reference, type_ == "purchase"
        )
    if type_ == "purchase" and payment_reference is not None:
        credited = _credited(payment_reference)
        if credited is not None:
            return _replay(credited, key, user_id, type_, amount)
    if balance_now is None:
        if amount < 0:
            raise InsufficientCredits(user_id, 0, -amount)
        balance_now, version = _open_account_here(user_id)
    if balance_now + amount < 0:
        raise InsufficientCredits(user_id, balance_now, -amount)
    after, new_version = work.update_balance(user_id, amount, version)
    txn = _insert(
        user_id,
        type_,
        amount,
        after - amount,
        after,
        "completed",
        key,
        version=new_version,
        payment_reference=payment_reference,
        reason=reason,
    )
    return txn.entry(replayed=False)


def _apply_new_postgres(
    work: _Work,
    user_id: int,
    type_: str,
    amount: int,
    key: str,
    payment_reference: str | None,
    reason: str | None,
) -> LedgerEntry:
    """:func:`_apply_new` on PostgreSQL: one prepared statement (:data:`_CHANGE_IN_ONE_STATEMENT`).

    The cache is marked dirty before it, since whether it writes is known only
    after; a replay or a refusal then just unmarks (:func:`_transact`).
    """
    if type_ == "purchase" and payment_reference is not None:
        credited = _credited(payment_reference)
        if credited is not None and credited.idempotency_key != key:
            return _replay(credited, key, user_id, type_, amount)
    for _ in range(2):  # a second pass only after opening the account
        work.mark(user_id)
        row = _execute_prepared(
            _CHANGE_STATEMENT,
            _CHANGE_TYPES,
            _CHANGE_IN_ONE_STATEMENT,
            (user_id, key, amount, type_, payment_reference, reason),
        ).fetchone()
        balance_now, _version, txn_id, after, new_version = row[:5]
        if txn_id is not None:
            work.applied = (after, new_version)
            return LedgerEntry(
                txn_id, user_id, type_, amount, after - amount, after, "completed", key
            )
        existing = _txn(row[5:])
        if existing is not None:
            return _replay(
                existing, key, user_id, type_, amount, payment_reference, type_ == "purchase"
            )
        if balance_now is None:
            if amount < 0:
                raise InsufficientCredits(user_id, 0, -amount)
            _execute(_OPEN_ACCOUNT, (user_id,))
            continue
        if balance_now + amount < 0:
            raise InsufficientCredits(user_id, balance_now, -amount)
        raise _Conflict  # the version moved between the read and the UPDATE
    raise _Conflict


def _credited(payment_reference: str) -> _Txn | None:
    row = _one(_FETCH_CREDITED_REFERENCE, (payment_reference,))
    return None if row is None else _Txn(*row)


# -- public API ------------------------------------------------------------------------


def open_account(user_id: int) -> None:
    """Create the user's credits row at balance 0 if missing (idempotent, race-safe).

    Raises :class:`UnknownUser` when no such user exists.
    """
    _check_user(user_id)
    try:
        with database.atomic():
            _execute(_OPEN_ACCOUNT, (user_id,))
    except peewee.IntegrityError as exc:
        if _integrity_kind(exc) == "foreign_key":
            raise UnknownUser(f"no user with id {user_id}") from None
        raise


def grant_bonus(user_id: int, amount: int, key: str, reason: str | None = None) -> LedgerEntry:
    """Give ``amount`` free credits (welcome bonus, goodwill); opens the account if needed."""
    _check_user(user_id)
    _check_amount(amount)
    _check_key(key)
    return _transact(
        lambda w: _apply_new(w, user_id, "bonus", amount, key, reason=reason), user_id, True
    )


def debit_reading(user_id: int, amount: int, key: str) -> LedgerEntry:
    """Charge ``amount`` credits for a reading.

    Raises :class:`InsufficientCredits` (nothing written) when the balance is short.
    """
    _check_user(user_id)
    _check_amount(amount)
    _check_key(key)
    return _transact(lambda w: _apply_new(w, user_id, "reading", -amount, key), user_id, True)


def credit_purchase(user_id: int, amount: int, payment_reference: str, key: str) -> LedgerEntry:
    """Credit a successful payment in one step (no pending row was started).

    If ``key`` names a pending purchase (same user and amount), that purchase
    is completed instead, recording ``payment_reference``; if it names a
    failed one, :class:`InvalidTransition` (use a new key, e.g. the charge id). If ``payment_reference`` was already
    credited under another key, that purchase is returned as a replay (or
    :class:`DuplicatePayment` if user or amount differ): a payment is
    credited once.
    """
    _check_user(user_id)
    _check_amount(amount)
    _check_key(key)
    if not payment_reference:
        raise ValueError("a purchase needs its payment reference")

    def body(work: _Work) -> LedgerEntry:
        row = _one(_FETCH_BY_KEY, (key,))
        existing = None if row is None else _Txn(*row)
        if existing is not None and existing.status in ("pending", "failed"):
            _replay(existing, key, user_id, "purchase", amount)
            if existing.status == "failed":
                raise InvalidTransition(
                    f"purchase {key!r} failed; credit its payment under a new key"
                )
            return _complete(work, key, payment_reference)
        return _apply_new(
            work, user_id, "purchase", amount, key, payment_reference=payment_reference
        )

    return _transact(body, user_id)


def start_purchase(user_id: int, amount: int, payment_reference: str, key: str) -> LedgerEntry:
    """Record a purchase as ``pending`` (no balance change) until the payment arrives.

    The row's before/after are a projection: the balance now and the
    balance it would give. Complete it with :func:`complete_purchase` or
    fail it with :func:`fail_purchase`; :func:`expire_stale_purchases` fails
    those left pending.
    """
    _check_user(user_id)
    _check_amount(amount)
    _check_key(key)

    def body(work: _Work) -> LedgerEntry:
        row = _one(_FETCH_FOR_KEY, (user_id, key))
        existing = _txn(row[2:])
        if existing is not None:
            return _replay(existing, key, user_id, "purchase", amount, payment_reference, True)
        if payment_reference is not None:
            credited = _credited(payment_reference)
            if credited is not None:
                return _replay(credited, key, user_id, "purchase", amount)
        now = row[0] or 0
        txn = _insert(
            user_id,
            "purchase",
            amount,
            now,
            now + amount,
            "pending",
            key,
            version=None,
            payment_reference=payment_reference,
        )
        return txn.entry(replayed=False)

    return _transact(body, user_id)


def _complete(work: _Work, key: str, payment_reference: str | None) -> LedgerEntry:
    row = _one(_FETCH_BY_KEY_WITH_CREDITS, (key,))
    if row is None:
        raise UnknownTransaction(f"no purchase with key {key!r}")
    balance_now, version = row[0], row[1]
    txn = _Txn(*row[2:])
    if txn.type != "purchase":
        raise DuplicatePayment(f"key {key!r} is a {txn.type}, not a purchase")
    reference = payment_reference or txn.payment_reference
    if txn.status in APPLIED_STATUSES:
        if payment_reference and payment_reference != txn.payment_reference:
            raise DuplicatePayment(
                f"purchase {key!r} was credited for payment {txn.payment_reference!r}, "
                f"not {payment_reference!r}"
            )
        return txn.entry(replayed=True)
    if txn.status != "pending":
        raise InvalidTransition(f"purchase {key!r} is {txn.status}; it cannot be completed")
    if reference is not None:
        credited = _credited(reference)
        if credited is not None:
            raise DuplicatePayment(
                f"payment {reference!r} was already credited by transaction {credited.id}"
            )
    if balance_now is None:
        balance_now, version = _open_account_here(txn.user_id)
    after, new_version = work.update_balance(txn.user_id, txn.amount, version)
    updated = _execute(
        """
        UPDATE transactions
        SET status = 'completed', credits_before = %s, credits_after = %s,
            credits_version = %s, payment_reference = %s, completed_at = CURRENT_TIMESTAMP
        WHERE id = %s AND status = 'pending'
        """,
        (after - txn.amount, after, new_version, reference, txn.id),
    ).rowcount
    if updated != 1:
        raise _Conflict  # failed or completed meanwhile: the retry sees which
    return txn._replace(
        status="completed",
        credits_before=after - txn.amount,
        credits_after=after,
        credits_version=new_version,
        payment_reference=reference,
    ).entry(replayed=False)


def complete_purchase(key: str, payment_reference: str | None = None) -> LedgerEntry:
    """Pending → completed: add the purchase's credits. Idempotent.

    ``payment_reference`` (optional) records the payment's final id, e.g. the
    Telegram charge id known only at ``successful_payment``. A completed
    purchase is returned as a replay; a failed one raises
    :class:`InvalidTransition` (if its payment did arrive after all, credit it
    with :func:`credit_purchase` under a new key); an unknown key raises
    :class:`UnknownTransaction`.
    """
    _check_key(key)
    return _transact(lambda w: _complete(w, key, payment_reference), None)


def fail_purchase(key: str, error_message: str) -> LedgerEntry:
    """Pending → failed (no balance change). Failing a failed purchase is a replay;
    a completed one raises :class:`InvalidTransition`."""
    _check_key(key)

    def body(work: _Work) -> LedgerEntry:
        row = _one(_FETCH_BY_KEY, (key,))
        if row is None:
            raise UnknownTransaction(f"no purchase with key {key!r}")
        txn = _Txn(*row)
        if txn.type != "purchase":
            raise DuplicatePayment(f"key {key!r} is a {txn.type}, not a purchase")
        if txn.status == "failed":
            return txn.entry(replayed=True)
        if txn.status != "pending":
            raise InvalidTransition(f"purchase {key!r} is {txn.status}; it cannot fail now")
        updated = _execute(
            "UPDATE transactions SET status = 'failed', error_message = %s "
            "WHERE id = %s AND status = 'pending'",
            (error_message, txn.id),
        ).rowcount
        if updated != 1:
            raise _Conflict
        return txn._replace(status="failed").entry(replayed=False)

    return _transact(body, None)


def refund(original_key: str, key: str, reason: str) -> LedgerEntry:
    """Compensate an applied reading (+n) or purchase (−n) with a new ``refund`` row.

    The original keeps its amount and balances; its status becomes
    ``refunded``. An original is refunded once: refunding it again under
    another key returns the existing refund as a replay. Refunding a
    purchase whose credits were spent raises :class:`InsufficientCredits`.
    Raises :class:`UnknownTransaction` for an unknown original and
    :class:`NotRefundable` for a bonus, a refund, or a purchase never applied.
    """
    _check_key(original_key)
    _check_key(key)

    def body(work: _Work) -> LedgerEntry:
        row = _one(_FETCH_REFUND, (original_key, key))
        balance_now, version = row[0], row[1]
        orig = _txn(row[2 : 2 + _NTXN])
        existing = _txn(row[2 + _NTXN :])
        if existing is not None:
            if existing.type != "refund" or orig is None or existing.refund_of_id != orig.id:
                raise DuplicatePayment(
                    f"key {key!r} already used for {existing.type} of {existing.amount}, "
                    f"not for a refund of {original_key!r}"
                )
            return existing.entry(replayed=True)
        if orig is None:
            raise UnknownTransaction(f"no transaction with key {original_key!r}")
        if orig.type not in REFUNDABLE_TYPES:
            raise NotRefundable(f"{orig.type} {original_key!r} cannot be refunded")
        if orig.status == "refunded":
            done = _one(_FETCH_REFUND_OF, (orig.id,))
            if done is None:
                raise NotRefundable(f"{original_key!r} is marked refunded but has no refund row")
            return _Txn(*done).entry(replayed=True)
        if orig.status != "completed":
            raise NotRefundable(f"{orig.type} {original_key!r} is {orig.status}: nothing to undo")
        amount = -orig.amount
        if balance_now is None or balance_now + amount < 0:
            raise InsufficientCredits(orig.user_id, balance_now or 0, max(0, -amount))
        after, new_version = work.update_balance(orig.user_id, amount, version)
        updated = _execute(
            "UPDATE transactions SET status = 'refunded' WHERE id = %s AND status = 'completed'",
            (orig.id,),
        ).rowcount
        if updated != 1:
            raise _Conflict
        txn = _insert(
            orig.user_id,
            "refund",
            amount,
            after - amount,
            after,
            "completed",
            key,
            version=new_version,
            refund_of_id=orig.id,
            reason=reason,
        )
        return txn.entry(replayed=False)

    return _transact(body, None)


def find(key: str) -> LedgerEntry | None:
    """The transaction carrying ``key`` (``replayed=True``: it already exists), or None."""
    row = _one(_FETCH_BY_KEY, (_check_key(key),))
    return None if row is None else _Txn(*row).entry(replayed=True)


def _db_balance(user_id: int) -> tuple[int, int]:
    row = _one(_CREDITS, (user_id,))
    return (0, 0) if row is None else (row[0], row[1])


def balance(user_id: int) -> int:
    """The user's balance: CreditCache first, the database on a miss or with Redis down.

    A user without a credits row has 0. Inside a transaction the database is
    read directly (the transaction's own view), and the cache is left alone.
    """
    _check_user(user_id)
    if database.in_transaction():
        return _db_balance(user_id)[0]
    cache = get_credit_cache()
    cached = cache.get(user_id)
    if cached is not None:
        return cached
    value, version = _db_balance(user_id)
    cache.populate(user_id, value, version)
    return value


def expire_stale_purchases(older_than: dt.timedelta) -> int:
    """Fail purchases still pending after ``older_than``; returns how many (periodic job).

    A purchase completing at the same moment wins or loses cleanly: both
    updates require ``status = 'pending'``.
    """
    seconds = max(0.0, older_than.total_seconds())
    message = f"expired: pending for more than {seconds:g} s"
    with database.atomic():
        if is_postgres():
            cursor = database.execute_sql(
                """
                UPDATE transactions SET status = 'failed', error_message = %s
                WHERE id IN (
                    SELECT id FROM transactions
                    WHERE status = 'pending' AND type = 'purchase'
                      AND created_at < CURRENT_TIMESTAMP - %s * INTERVAL '1 second'
                    ORDER BY id FOR UPDATE SKIP LOCKED)
                """,
                (message, seconds),
            )
        else:
            cursor = database.execute_sql(
                """
                UPDATE transactions SET status = 'failed', error_message = ?
                WHERE status = 'pending' AND type = 'purchase'
                  AND created_at < strftime('%Y-%m-%d %H:%M:%f', 'now', ?)
                """,
                (message, f"-{seconds} seconds"),
            )
        return cursor.rowcount
