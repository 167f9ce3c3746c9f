"""Periodic jobs run by rq-scheduler: stale purchases, subscription expiry."""

from __future__ import annotations

import logging
from datetime import timedelta

from peewee import JOIN

from jobs import job_context
from tarotbot import ledger
from tarotbot.models import Reading, Transaction, User, utcnow

log = logging.getLogger("tarotbot.jobs.maintenance")

#: A purchase still pending after this long will not complete: mark it failed.
STALE_PURCHASE_AGE = timedelta(minutes=30)
#: A reading debit this old with no stored reading is refunded (invariant 4).
ORPHAN_DEBIT_AGE = timedelta(minutes=10)


@job_context
def expire_stale_purchases() -> int:
    """Pending purchases older than :data:`STALE_PURCHASE_AGE` become failed."""
    count = ledger.expire_stale_purchases(STALE_PURCHASE_AGE)
    if count:
        log.info("marked %d stale pending purchase(s) failed", count)
    return count


@job_context
def expire_subscriptions() -> int:
    """Subscriptions past their end date fall back to the basic tier."""
    count = (
        User.update(subscription_tier="basic")
        .where(
            (User.subscription_tier != "basic")
            & User.subscription_expires_at.is_null(False)
            & (User.subscription_expires_at < utcnow())
        )
        .execute()
    )
    if count:
        log.info("expired %d subscription(s)", count)
    return count


@job_context
def refund_orphan_debits() -> int:
    """Refund every reading debit that has no stored reading (charged iff stored).

    The reading service writes the debit and the reading in one transaction,
    so this should find nothing; it is the safety net for anything that ever
    charges for a reading outside that path.
    """
    orphans = (
        Transaction.select()
        .join(Reading, JOIN.LEFT_OUTER, on=(Reading.transaction == Transaction.id))
        .where(
            (Transaction.type == "reading")
            & (Transaction.status == "completed")
            & Transaction.idempotency_key.is_null(False)
            & (Transaction.created_at < utcnow() - ORPHAN_DEBIT_AGE)
            & Reading.id.is_null()
        )
    )
    count = 0
    for debit in orphans:
        entry = ledger.refund(
            debit.idempotency_key, key=f"orphan-refund-{debit.id}", reason="no reading stored"
        )
        if not entry.replayed:
            count += 1
            log.warning("refunded reading debit %s: no reading was stored", debit.id)
    return count
