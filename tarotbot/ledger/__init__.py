"""The credits ledger: every change to ``credits.balance`` goes through here.

``statements`` holds the SQL, ``core`` the version-checked retry loop and the
cache write-through, ``operations`` the functions this package re-exports.
``docs/ledger.md`` is the reference (statuses and what the audit counts, how a
change is written, idempotency, outer transactions, the cache).
"""

from tarotbot.ledger.operations import *  # noqa: F403 (operations.__all__)
