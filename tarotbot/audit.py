"""The ledger audit: recompute balances from the rows and report every mismatch.

Checks (the ledger's rules, see docs/ledger.md; *applied* means
status ``completed`` or ``refunded``):

``balance``         credits.balance = SUM(amount) of the user's applied rows
``non_negative``    credits.balance ≥ 0
``version``         credits.version = the last applied row's credits_version (1 if none)
``row_arithmetic``  credits_after = credits_before + amount, on every row
``chain``           applied rows ordered by credits_version: versions 2, 3, 4, … and
                    each credits_before = the previous credits_after (0 first)
``reading_debit``   a reading with a transaction_id points at an applied (completed,
                    or refunded because it could not be delivered) 'reading' debit
                    of the same user
``refund_link``     a refund is completed, points at a 'refunded' original of the
                    same user with the opposite amount; a 'refunded' row has one
``payment_once``    a payment reference is credited by at most one purchase
``telegram_lists``  every purchase credited before the last complete reconciliation
                    pass began is among the Stars payments Telegram lists
                    (``star_transactions``, mirrored by ``tarotbot.reconciliation``);
                    skipped until a pass has completed
``orphan``          no transaction without a user

Scales to millions of rows: users are walked in keyset-paginated batches
(``WHERE id > last ORDER BY id LIMIT n``); each batch is a handful of
GROUP BY / window queries over the batch's id range, so Python only sees one
row per user plus the violations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tarotbot.db import database, is_postgres

DEFAULT_BATCH_SIZE = 1000  # users per batch


@dataclass(frozen=True)
class Violation:
    user_id: int | None
    check: str
    expected: str
    actual: str


@dataclass
class AuditReport:
    users: int = 0
    transactions: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def _q(text: str) -> str:
    return text if is_postgres() else text.replace("%s", "?")


def _rows(text: str, params: tuple = ()) -> list[tuple]:
    return database.execute_sql(_q(text), params).fetchall()


_BALANCES = """
SELECT u.id, c.balance, c.version, COALESCE(s.total, 0), s.last_version
FROM users AS u
LEFT JOIN credits AS c ON c.user_id = u.id
LEFT JOIN (
    SELECT user_id, SUM(amount) AS total, MAX(credits_version) AS last_version
    FROM transactions
    WHERE user_id BETWEEN %s AND %s AND status IN ('completed', 'refunded')
    GROUP BY user_id
) AS s ON s.user_id = u.id
WHERE u.id BETWEEN %s AND %s
ORDER BY u.id
"""

_ARITHMETIC = """
SELECT user_id, id, credits_before, amount, credits_after
FROM transactions
WHERE user_id BETWEEN %s AND %s AND credits_after <> credits_before + amount
ORDER BY user_id, id
"""

_CHAIN = """
SELECT user_id, id, credits_version, credits_before, prev_after, prev_version
FROM (
    SELECT user_id, id, credits_version, credits_before,
           LAG(credits_after, 1, 0) OVER w AS prev_after,
           LAG(credits_version, 1, 1) OVER w AS prev_version
    FROM transactions
    WHERE user_id BETWEEN %s AND %s AND status IN ('completed', 'refunded')
    WINDOW w AS (PARTITION BY user_id ORDER BY credits_version, id)
) AS x
WHERE credits_version IS NULL OR credits_before <> prev_after
   OR prev_version IS NULL OR credits_version <> prev_version + 1
ORDER BY user_id, credits_version
"""

_READINGS = """
SELECT r.user_id, r.id, r.transaction_id, t.user_id, t.type, t.status
FROM readings AS r
LEFT JOIN transactions AS t ON t.id = r.transaction_id
WHERE r.user_id BETWEEN %s AND %s AND r.transaction_id IS NOT NULL
  AND (t.id IS NULL OR t.type <> 'reading' OR t.status NOT IN ('completed', 'refunded')
       OR t.user_id <> r.user_id)
ORDER BY r.user_id, r.id
"""

_REFUNDS = """
SELECT t.user_id, t.id, t.status, t.amount, o.id, o.user_id, o.status, o.amount
FROM transactions AS t
LEFT JOIN transactions AS o ON o.id = t.refund_of_id
WHERE t.user_id BETWEEN %s AND %s AND t.type = 'refund'
  AND (o.id IS NULL OR t.status <> 'completed' OR o.status <> 'refunded'
       OR o.user_id <> t.user_id OR o.amount <> -t.amount)
ORDER BY t.user_id, t.id
"""

_UNREFUNDED = """
SELECT o.user_id, o.id
FROM transactions AS o
WHERE o.user_id BETWEEN %s AND %s AND o.status = 'refunded'
  AND NOT EXISTS (SELECT 1 FROM transactions AS r
                  WHERE r.refund_of_id = o.id AND r.status = 'completed')
ORDER BY o.user_id, o.id
"""

_PAYMENTS = """
SELECT payment_reference, COUNT(*), MIN(user_id)
FROM transactions
WHERE type = 'purchase' AND status IN ('completed', 'refunded')
  AND payment_reference IS NOT NULL
GROUP BY payment_reference
HAVING COUNT(*) > 1
ORDER BY payment_reference
"""


# Purchases Telegram does not list: credited before the last complete pass over
# its transactions began, yet absent from the mirror of what it listed.
_UNLISTED = """
SELECT t.user_id, t.id, t.payment_reference, t.amount
FROM transactions AS t
WHERE t.type = 'purchase' AND t.status IN ('completed', 'refunded')
  AND t.payment_reference IS NOT NULL
  AND t.created_at < (SELECT synced_at FROM reconciliation_checkpoints WHERE name = 'stars')
  AND NOT EXISTS (SELECT 1 FROM star_transactions AS s
                  WHERE s.telegram_transaction_id = t.payment_reference AND s.direction = 'in')
ORDER BY t.user_id, t.id
"""


def _user_batches(batch_size: int) -> Iterator[list[int]]:
    last = 0
    while True:
        ids = [
            r[0]
            for r in _rows(
                "SELECT id FROM users WHERE id > %s ORDER BY id LIMIT %s", (last, batch_size)
            )
        ]
        if not ids:
            return
        yield ids
        last = ids[-1]


def _check_batch(lo: int, hi: int) -> list[Violation]:
    found: list[Violation] = []
    add = found.append
    for user_id, bal, version, total, last_version in _rows(_BALANCES, (lo, hi, lo, hi)):
        actual = 0 if bal is None else bal
        if actual != total:
            add(Violation(user_id, "balance", f"{total} (sum of applied rows)", str(bal)))
        if bal is not None and bal < 0:
            add(Violation(user_id, "non_negative", ">= 0", str(bal)))
        if bal is not None and (version or 1) != (last_version or 1):
            add(
                Violation(
                    user_id, "version", f"{last_version or 1} (last applied row)", str(version)
                )
            )
    for user_id, txn_id, before, amount, after in _rows(_ARITHMETIC, (lo, hi)):
        add(
            Violation(
                user_id,
                "row_arithmetic",
                f"transaction {txn_id}: {before} + {amount} = {before + amount}",
                str(after),
            )
        )
    for user_id, txn_id, version, before, prev_after, prev_version in _rows(_CHAIN, (lo, hi)):
        if version is None:
            add(Violation(user_id, "chain", f"transaction {txn_id}: a credits_version", "NULL"))
            continue
        if prev_version is not None and version != prev_version + 1:
            add(
                Violation(
                    user_id,
                    "chain",
                    f"transaction {txn_id}: version {prev_version + 1}",
                    f"version {version}",
                )
            )
        if before != prev_after:
            add(
                Violation(
                    user_id,
                    "chain",
                    f"transaction {txn_id}: credits_before {prev_after} (previous after)",
                    f"credits_before {before}",
                )
            )
    for user_id, reading_id, txn_id, t_user, t_type, t_status in _rows(_READINGS, (lo, hi)):
        actual = (
            f"transaction {txn_id} missing"
            if t_type is None
            else f"{t_type} {t_status} of user {t_user}"
        )
        add(
            Violation(
                user_id,
                "reading_debit",
                f"reading {reading_id}: applied reading debit of user {user_id}",
                actual,
            )
        )
    for user_id, txn_id, status, amount, o_id, o_user, o_status, o_amount in _rows(
        _REFUNDS, (lo, hi)
    ):
        actual = (
            "no original"
            if o_id is None
            else f"refund {status} {amount}; original {o_id} {o_status} {o_amount} of user {o_user}"
        )
        add(
            Violation(
                user_id,
                "refund_link",
                f"refund {txn_id}: completed, original refunded, amount {-(o_amount or 0)}",
                actual,
            )
        )
    for user_id, txn_id in _rows(_UNREFUNDED, (lo, hi)):
        add(
            Violation(user_id, "refund_link", f"transaction {txn_id}: one completed refund", "none")
        )
    return found


def run_audit(
    batch_size: int = DEFAULT_BATCH_SIZE, on_users: Callable[[int], object] | None = None
) -> AuditReport:
    """Audit the whole ledger; ``on_users(n)`` is called after each batch of n users."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = AuditReport()
    report.transactions = _rows("SELECT COUNT(*) FROM transactions")[0][0]
    for ids in _user_batches(batch_size):
        report.violations.extend(_check_batch(ids[0], ids[-1]))
        report.users += len(ids)
        if on_users:
            on_users(len(ids))
    for reference, count, user_id in _rows(_PAYMENTS):
        report.violations.append(
            Violation(
                user_id, "payment_once", f"payment {reference!r} credited once", f"{count} times"
            )
        )
    for user_id, txn_id, reference, amount in _rows(_UNLISTED):
        report.violations.append(
            Violation(
                user_id,
                "telegram_lists",
                f"purchase {txn_id} ({amount} credits): payment {reference!r} in Telegram's list",
                "not listed",
            )
        )
    orphans = _rows("SELECT COUNT(*) FROM transactions WHERE user_id IS NULL")[0][0]
    if orphans:
        report.violations.append(Violation(None, "orphan", "0 rows without a user", str(orphans)))
    return report


def user_count() -> int:
    return _rows("SELECT COUNT(*) FROM users")[0][0]


def format_table(violations: list[Violation], limit: int | None = None) -> str:
    """The violations as an aligned text table (user, check, expected, actual)."""
    shown = violations if limit is None else violations[:limit]
    header = ("user", "check", "expected", "actual")
    rows = [
        ("-" if v.user_id is None else str(v.user_id), v.check, v.expected, v.actual) for v in shown
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if len(shown) < len(violations):
        lines.append(f"... and {len(violations) - len(shown)} more")
    return "\n".join(lines)
