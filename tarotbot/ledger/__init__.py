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
(:data:`statements.CHANGE_IN_ONE_STATEMENT`: the read, the replay and balance checks
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

Modules
-------
``statements`` the SQL and the rows it returns; ``core`` the version-checked
retry loop and the cache write-through; ``operations`` the functions above.
This package re-exports the public API (:data:`__all__`).
"""

from __future__ import annotations

import sys
import types

from tarotbot.ledger import core
from tarotbot.ledger.core import after_commit, get_credit_cache, set_credit_cache
from tarotbot.ledger.operations import (
    APPLIED_STATUSES,
    MAX_KEY_LENGTH,
    REFUNDABLE_TYPES,
    balance,
    complete_purchase,
    credit_purchase,
    debit_reading,
    expire_stale_purchases,
    fail_purchase,
    find,
    grant_bonus,
    open_account,
    refund,
    start_purchase,
)
from tarotbot.ledger.statements import LedgerEntry

__all__ = [
    "APPLIED_STATUSES",
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "MAX_ATTEMPTS",
    "MAX_KEY_LENGTH",
    "REFUNDABLE_TYPES",
    "LedgerEntry",
    "after_commit",
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
    "set_credit_cache",
    "start_purchase",
]


def _retry_setting(name: str) -> property:
    return property(lambda _: getattr(core, name), lambda _, value: setattr(core, name, value))


class _Ledger(types.ModuleType):
    """The retry settings live in ``core``, where the loop reads them at each call;
    ``ledger.MAX_ATTEMPTS = 1`` (a test does this) changes that one copy, as it did
    when the ledger was one module."""

    MAX_ATTEMPTS = _retry_setting("MAX_ATTEMPTS")
    BACKOFF_BASE = _retry_setting("BACKOFF_BASE")
    BACKOFF_CAP = _retry_setting("BACKOFF_CAP")


sys.modules[__name__].__class__ = _Ledger
