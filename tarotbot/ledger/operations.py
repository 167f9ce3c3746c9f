"""The ledger's operations: bonus, purchase, reading debit, refund, balance, find.

Each checks its arguments, reads, decides (replay, a refusal or a change) and
writes through :func:`~tarotbot.ledger.core.transact`. The rules they keep are
described in ``docs/ledger.md``; the package re-exports :data:`__all__`.
"""

from __future__ import annotations

import datetime as dt

import peewee

from tarotbot.db import database, is_postgres
from tarotbot.exceptions import (
    DuplicatePayment,
    InsufficientCredits,
    InvalidTransition,
    NotRefundable,
    UnknownTransaction,
    UnknownUser,
)
from tarotbot.ledger import statements as sql
from tarotbot.ledger.core import (
    Conflict,
    Work,
    get_credit_cache,
    integrity_kind,
    set_credit_cache,
    transact,
)
from tarotbot.ledger.statements import LedgerEntry, Txn, txn_or_none

__all__ = [
    "LedgerEntry",
    "balance",
    "complete_purchase",
    "credit_purchase",
    "debit_reading",
    "expire_stale_purchases",
    "fail_purchase",
    "find",
    "get_credit_cache",
    "grant_bonus",
    "open_account",
    "refund",
    "revoke_bonus",
    "set_credit_cache",
    "start_purchase",
]

MAX_KEY_LENGTH = 255  # transactions.idempotency_key is VARCHAR(255)

APPLIED_STATUSES = ("completed", "refunded")
REFUNDABLE_TYPES = ("reading", "purchase")


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
    txn: Txn,
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
    sql.execute(sql.OPEN_ACCOUNT, (user_id,))
    row = sql.one(sql.CREDITS, (user_id,))
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
) -> Txn:
    row = sql.one(
        sql.INSERT_TXN,
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
    return Txn(
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
    work: Work,
    user_id: int,
    type_: str,
    amount: int,
    key: str,
    *,
    payment_reference: str | None = None,
    reason: str | None = None,
) -> LedgerEntry:
    """A new completed row: replay check, optimistic UPDATE, INSERT (see docs/ledger.md)."""
    if is_postgres():
        return _apply_new_postgres(work, user_id, type_, amount, key, payment_reference, reason)
    row = sql.one(sql.FETCH_FOR_KEY, (user_id, key))
    balance_now, version = row[0], row[1]
    existing = txn_or_none(row[2:])
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
    work: Work,
    user_id: int,
    type_: str,
    amount: int,
    key: str,
    payment_reference: str | None,
    reason: str | None,
) -> LedgerEntry:
    """:func:`_apply_new` on PostgreSQL: one prepared statement
    (:data:`~tarotbot.ledger.statements.CHANGE_IN_ONE_STATEMENT`).

    The cache is marked dirty before it, since whether it writes is known only
    after; a replay or a refusal then just unmarks (:func:`~tarotbot.ledger.core.transact`).
    """
    if type_ == "purchase" and payment_reference is not None:
        credited = _credited(payment_reference)
        if credited is not None and credited.idempotency_key != key:
            return _replay(credited, key, user_id, type_, amount)
    for _ in range(2):  # a second pass only after opening the account
        work.mark(user_id)
        row = sql.execute_prepared(
            sql.CHANGE_STATEMENT,
            sql.CHANGE_TYPES,
            sql.CHANGE_IN_ONE_STATEMENT,
            (user_id, key, amount, type_, payment_reference, reason),
        ).fetchone()
        balance_now, _version, txn_id, after, new_version = row[:5]
        if txn_id is not None:
            work.applied = (after, new_version)
            return LedgerEntry(
                txn_id, user_id, type_, amount, after - amount, after, "completed", key
            )
        existing = txn_or_none(row[5:])
        if existing is not None:
            return _replay(
                existing, key, user_id, type_, amount, payment_reference, type_ == "purchase"
            )
        if balance_now is None:
            if amount < 0:
                raise InsufficientCredits(user_id, 0, -amount)
            sql.execute(sql.OPEN_ACCOUNT, (user_id,))
            continue
        if balance_now + amount < 0:
            raise InsufficientCredits(user_id, balance_now, -amount)
        raise Conflict  # the version moved between the read and the UPDATE
    raise Conflict


def _credited(payment_reference: str) -> Txn | None:
    row = sql.one(sql.FETCH_CREDITED_REFERENCE, (payment_reference,))
    return None if row is None else Txn(*row)


# -- public API ------------------------------------------------------------------------


def open_account(user_id: int) -> None:
    """Create the user's credits row at balance 0 if missing (idempotent, race-safe).

    Raises :class:`UnknownUser` when no such user exists.
    """
    _check_user(user_id)
    try:
        with database.atomic():
            sql.execute(sql.OPEN_ACCOUNT, (user_id,))
    except peewee.IntegrityError as exc:
        if integrity_kind(exc) == "foreign_key":
            raise UnknownUser(f"no user with id {user_id}") from None
        raise


def grant_bonus(user_id: int, amount: int, key: str, reason: str | None = None) -> LedgerEntry:
    """Give ``amount`` free credits (welcome bonus, goodwill); opens the account if needed."""
    _check_user(user_id)
    _check_amount(amount)
    _check_key(key)
    return transact(
        lambda w: _apply_new(w, user_id, "bonus", amount, key, reason=reason), user_id, True
    )


def revoke_bonus(user_id: int, amount: int, key: str, reason: str) -> LedgerEntry:
    """Take back ``amount`` free credits (an operator's correction): a ``bonus`` row of −amount.

    The specification's four transaction types have no "adjustment", so a
    correction is a negative bonus, with its reason. Raises
    :class:`InsufficientCredits` (nothing written) when the balance is short.
    """
    _check_user(user_id)
    _check_amount(amount)
    _check_key(key)
    if not reason:
        raise ValueError("a revocation needs its reason")
    return transact(
        lambda w: _apply_new(w, user_id, "bonus", -amount, key, reason=reason), user_id, True
    )


def debit_reading(user_id: int, amount: int, key: str, savepoint: bool = True) -> LedgerEntry:
    """Charge ``amount`` credits for a reading.

    Raises :class:`InsufficientCredits` (nothing written) when the balance is
    short. ``savepoint``: see :func:`~tarotbot.ledger.core.transact`.
    """
    _check_user(user_id)
    _check_amount(amount)
    _check_key(key)
    return transact(
        lambda w: _apply_new(w, user_id, "reading", -amount, key), user_id, True, savepoint
    )


def credit_purchase(
    user_id: int, amount: int, payment_reference: str, key: str, reason: str | None = None
) -> LedgerEntry:
    """Credit a successful payment in one step (no pending row was started).

    ``reason`` says what was bought when it is not a credit pack (e.g.
    ``subscription premium``); it is stored on a new row only.

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

    def body(work: Work) -> LedgerEntry:
        row = sql.one(sql.FETCH_BY_KEY, (key,))
        existing = None if row is None else Txn(*row)
        if existing is not None and existing.status in ("pending", "failed"):
            _replay(existing, key, user_id, "purchase", amount)
            if existing.status == "failed":
                raise InvalidTransition(
                    f"purchase {key!r} failed; credit its payment under a new key"
                )
            return _complete(work, key, payment_reference)
        return _apply_new(
            work,
            user_id,
            "purchase",
            amount,
            key,
            payment_reference=payment_reference,
            reason=reason,
        )

    return transact(body, user_id)


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

    def body(work: Work) -> LedgerEntry:
        row = sql.one(sql.FETCH_FOR_KEY, (user_id, key))
        existing = txn_or_none(row[2:])
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

    return transact(body, user_id)


def _complete(work: Work, key: str, payment_reference: str | None) -> LedgerEntry:
    row = sql.one(sql.FETCH_BY_KEY_WITH_CREDITS, (key,))
    if row is None:
        raise UnknownTransaction(f"no purchase with key {key!r}")
    balance_now, version = row[0], row[1]
    txn = Txn(*row[2:])
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
    updated = sql.execute(
        sql.COMPLETE_PENDING, (after - txn.amount, after, new_version, reference, txn.id)
    ).rowcount
    if updated != 1:
        raise Conflict  # failed or completed meanwhile: the retry sees which
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
    return transact(lambda w: _complete(w, key, payment_reference), None)


def fail_purchase(key: str, error_message: str) -> LedgerEntry:
    """Pending → failed (no balance change). Failing a failed purchase is a replay;
    a completed one raises :class:`InvalidTransition`."""
    _check_key(key)

    def body(work: Work) -> LedgerEntry:
        row = sql.one(sql.FETCH_BY_KEY, (key,))
        if row is None:
            raise UnknownTransaction(f"no purchase with key {key!r}")
        txn = Txn(*row)
        if txn.type != "purchase":
            raise DuplicatePayment(f"key {key!r} is a {txn.type}, not a purchase")
        if txn.status == "failed":
            return txn.entry(replayed=True)
        if txn.status != "pending":
            raise InvalidTransition(f"purchase {key!r} is {txn.status}; it cannot fail now")
        updated = sql.execute(sql.FAIL_PENDING, (error_message, txn.id)).rowcount
        if updated != 1:
            raise Conflict
        return txn._replace(status="failed").entry(replayed=False)

    return transact(body, None)


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

    def body(work: Work) -> LedgerEntry:
        row = sql.one(sql.FETCH_REFUND, (original_key, key))
        balance_now, version = row[0], row[1]
        orig = txn_or_none(row[2 : 2 + sql.NTXN])
        existing = txn_or_none(row[2 + sql.NTXN :])
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
            done = sql.one(sql.FETCH_REFUND_OF, (orig.id,))
            if done is None:
                raise NotRefundable(f"{original_key!r} is marked refunded but has no refund row")
            return Txn(*done).entry(replayed=True)
        if orig.status != "completed":
            raise NotRefundable(f"{orig.type} {original_key!r} is {orig.status}: nothing to undo")
        amount = -orig.amount
        if balance_now is None or balance_now + amount < 0:
            raise InsufficientCredits(orig.user_id, balance_now or 0, max(0, -amount))
        after, new_version = work.update_balance(orig.user_id, amount, version)
        updated = sql.execute(sql.MARK_REFUNDED, (orig.id,)).rowcount
        if updated != 1:
            raise Conflict
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

    return transact(body, None)


def find(key: str) -> LedgerEntry | None:
    """The transaction carrying ``key`` (``replayed=True``: it already exists), or None."""
    row = sql.one(sql.FETCH_BY_KEY, (_check_key(key),))
    return None if row is None else Txn(*row).entry(replayed=True)


def _db_balance(user_id: int) -> tuple[int, int]:
    row = sql.one(sql.CREDITS, (user_id,))
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
            cursor = database.execute_sql(sql.EXPIRE_STALE_POSTGRES, (message, seconds))
        else:
            cursor = database.execute_sql(sql.EXPIRE_STALE_SQLITE, (message, f"-{seconds} seconds"))
        return cursor.rowcount
