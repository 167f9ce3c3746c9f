"""Child process for the crash test: a seeded random mix of ledger operations until a deadline.

Usage: chaos_worker.py WORKER GENERATION SEED USER_IDS UNTIL OUT_DIR

Every key names its operation and its parameters derive from the key alone
(``random.Random(key)``), so replaying any key, even one another worker or
an earlier (killed) generation made up, must return the first result; it can
never be a different operation. Outcomes the API may legitimately give
(insufficient credits, completing an unknown or failed purchase, refunding
what cannot be refunded, conflicts) are fine; anything else is written to
OUT_DIR/unexpected-W-G.txt and the process exits 3.
"""

import datetime as dt
import json
import random
import sys
import time
import traceback
from pathlib import Path

from tarotbot import db, ledger
from tarotbot.exceptions import (
    ConflictDetected,
    InsufficientCredits,
    InvalidTransition,
    NotRefundable,
    UnknownTransaction,
)

EXPECTED = (
    ConflictDetected,
    InsufficientCredits,
    InvalidTransition,
    NotRefundable,
    UnknownTransaction,
)
WORKERS = 6


def params(key: str, users: list[int]) -> tuple[int, int]:
    rng = random.Random(key)
    return rng.choice(users), rng.randint(1, 4)


def run_key(key: str, users: list[int], rng: random.Random):
    """Perform the operation ``key`` names (a purchase key: start, credit, complete or fail)."""
    kind = key.split(".", 1)[0]
    user, amount = params(key, users)
    if kind == "bonus":
        return ledger.grant_bonus(user, amount, key=key, reason="chaos")
    if kind == "debit":
        return ledger.debit_reading(user, amount, key=key)
    if kind == "purchase":
        choice = rng.random()
        if choice < 0.4:
            return ledger.start_purchase(user, amount, f"pay-{key}", key=key)
        if choice < 0.6:
            return ledger.credit_purchase(user, amount, f"pay-{key}", key=key)
        if choice < 0.85:
            return ledger.complete_purchase(key)
        return ledger.fail_purchase(key, "chaos: declined")
    if kind == "refund":
        original = key.split(".", 1)[1]
        return ledger.refund(original, key=key, reason="chaos")
    raise AssertionError(key)


def main() -> None:
    worker, generation, seed = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    users = [int(u) for u in sys.argv[4].split(",")]
    until, out = float(sys.argv[5]), Path(sys.argv[6])
    rng = random.Random(f"{seed}:{worker}:{generation}")
    db.init_database()
    seen: list[str] = []
    counts: dict[str, int] = {}
    n = 0

    def guess(kind: str) -> str:
        return f"{kind}.{rng.randrange(WORKERS)}.{rng.randint(0, generation)}.{rng.randint(0, 40)}"

    while time.time() < until:
        roll = rng.random()
        if roll < 0.15:
            key = f"bonus.{worker}.{generation}.{n}"
        elif roll < 0.45:
            key = f"debit.{worker}.{generation}.{n}"
        elif roll < 0.65:
            key = f"purchase.{worker}.{generation}.{n}"
        elif roll < 0.75:
            original = rng.choice(seen) if seen and rng.random() < 0.7 else guess("debit")
            if original.startswith("refund") or original.startswith("bonus"):
                original = guess("purchase")
            key = f"refund.{original}"
        elif roll < 0.90:  # replay an old key (ours, or made up)
            key = (
                rng.choice(seen)
                if seen and rng.random() < 0.7
                else guess(rng.choice(["bonus", "debit", "purchase"]))
            )
        elif roll < 0.98:
            ledger.balance(rng.choice(users))
            counts["balance"] = counts.get("balance", 0) + 1
            continue
        else:
            ledger.expire_stale_purchases(dt.timedelta(seconds=2))
            continue
        n += 1
        try:
            entry = run_key(key, users, rng)
            outcome = "replayed" if entry.replayed else entry.status
            seen.append(key)
        except EXPECTED as exc:
            outcome = type(exc).__name__
        except Exception:
            (out / f"unexpected-{worker}-{generation}.txt").write_text(
                f"key {key}\n{traceback.format_exc()}"
            )
            sys.exit(3)
        counts[outcome] = counts.get(outcome, 0) + 1
    (out / f"done-{worker}-{generation}.json").write_text(json.dumps(counts))


if __name__ == "__main__":
    main()
