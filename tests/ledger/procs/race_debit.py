"""Child process: wait at a Redis barrier, then spend one credit; print the outcome as JSON.

Usage: race_debit.py USER_ID BARRIER_KEY KEY (DATABASE_URL and REDIS_URL from the environment).
"""

import json
import os
import sys
import time

import redis

from tarotbot import db, ledger
from tarotbot.exceptions import InsufficientCredits


def main() -> None:
    user_id, barrier, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    db.init_database()
    db.database.connect()
    db.database.execute_sql("SELECT 1")  # connected and warm before the barrier
    ledger.get_credit_cache().get(user_id)  # so is Redis
    conn = redis.Redis.from_url(os.environ["REDIS_URL"])
    conn.incr(barrier + ":ready")
    deadline = time.monotonic() + 60
    while not conn.exists(barrier + ":go"):
        if time.monotonic() > deadline:
            sys.exit("barrier never opened")
        time.sleep(0.001)
    try:
        entry = ledger.debit_reading(user_id, 1, key=key)
        outcome = {"ok": True, "balance_after": entry.balance_after, "replayed": entry.replayed}
    except InsufficientCredits as exc:
        outcome = {"ok": False, "error": type(exc).__name__}
    print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    main()
