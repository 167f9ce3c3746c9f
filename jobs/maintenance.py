"""Periodic jobs run by rq-scheduler: stale purchases, subscription expiry."""

from __future__ import annotations

import logging
from datetime import timedelta

from jobs import job_context
from tarotbot import ledger
from tarotbot.models import User, utcnow

log = logging.getLogger("tarotbot.jobs.maintenance")

#: A purchase still pending after this long will not complete: mark it failed.
STALE_PURCHASE_AGE = timedelta(minutes=30)


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
