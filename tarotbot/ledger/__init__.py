"""The credits ledger: every change to ``credits.balance`` goes through here.

Bonus, purchase, reading debit and refund each write one ``transactions``
row (signed amount, before, after, version) with the specification's
version-checked ``UPDATE … WHERE version = ?``, retried on a lost race, and
are idempotent by key. ``docs/ledger.md`` is the full reference (statuses and
what the audit counts, how a change is written, idempotency, outer
transactions, the cache). ``statements`` holds the SQL, ``core`` the retry
loop and the cache write-through, ``operations`` the functions; this package
re-exports them (:data:`__all__`).
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
