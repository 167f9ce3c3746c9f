"""RQ entry point: reconcile the ledger with Telegram's list of Stars transactions.

Run by the scheduler every :data:`RECONCILE_EVERY` seconds and once by
``python -m tarotbot reconcile``. See :mod:`tarotbot.reconciliation` for the
method; here are the Telegram calls and the ordinary payment paths it uses.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from jobs import credits, get_app, job_context
from jobs import subscriptions as subscription_jobs
from tarotbot import reconciliation, users
from tarotbot.i18n import speaking
from tarotbot.models import utcnow
from tarotbot.packs import InvalidPayload, is_subscription
from tarotbot.reconciliation import PAGE_SIZE, StarPayment

log = logging.getLogger("tarotbot.jobs.reconcile")

#: Seconds between scheduled passes.
RECONCILE_EVERY = 900
#: Pages read in one pass at most (100 transactions each); the next pass goes on.
MAX_PAGES = 50


@dataclass
class ReconcileResult:
    read: int = 0  # transactions read from Telegram this pass
    recovered: int = 0  # payments credited that the ledger lacked
    refunds: int = 0  # refunds applied that the ledger lacked
    unusable: int = 0  # payments whose payload matches no offer (logged for the operator)
    offset: int = 0  # the checkpoint after this pass
    complete: bool = False  # the pass reached the end of Telegram's list


@job_context
def reconcile_star_transactions(max_pages: int = MAX_PAGES) -> dict:
    """Page through getStarTransactions from the checkpoint; credit what the ledger lacks."""
    return asdict(reconcile(max_pages))


def reconcile(max_pages: int = MAX_PAGES) -> ReconcileResult:
    bot = get_app().sender.bot
    result = ReconcileResult()
    began = utcnow()
    offset = reconciliation.checkpoint().next_offset
    for _ in range(max_pages):
        page = bot.get_star_transactions(offset=offset, limit=PAGE_SIZE).transactions or []
        payments = [StarPayment.from_api(_as_dict(t)) for t in page]
        payments = [p for p in payments if p is not None]
        reconciliation.mirror(payments)
        for payment in payments:
            _settle(payment, result)
        result.read += len(page)
        offset += len(page)
        reconciliation.advance(offset)
        if len(page) < PAGE_SIZE:
            reconciliation.finish_pass(began)
            result.complete = True
            break
    result.offset = offset
    if result.recovered or result.refunds or result.unusable:
        log.warning(
            "reconciliation: %d payment(s) recovered, %d refund(s) applied, %d unusable "
            "(%d transactions read)",
            result.recovered,
            result.refunds,
            result.unusable,
            result.read,
        )
    return result


def _settle(payment: StarPayment, result: ReconcileResult) -> None:
    """Credit (or refund) through the ordinary path what the ledger does not know yet."""
    user_id = payment.telegram_user_id
    if user_id is None:
        return
    charge = payment.transaction_id
    with speaking(users.language_of(user_id)):  # the thank-you in the payer's language
        _apply(payment, charge, user_id, result)


def _apply(payment: StarPayment, charge: str, user_id: int, result: ReconcileResult) -> None:
    if payment.incoming:
        if reconciliation.is_credited(charge):
            return
        try:
            if is_subscription(payment.invoice_payload):
                ends = payment.subscription_ends
                subscription_jobs.credit_subscription(
                    user_id,
                    user_id,
                    charge,
                    payment.invoice_payload,
                    "XTR",
                    payment.amount,
                    int(ends.timestamp()) if ends else None,
                    False,  # as a renewal: Telegram's list does not say which was first
                    payment.username,
                    payment.first_name,
                    notify_wait=0,
                )
            else:
                credits.credit_pack(
                    user_id,
                    user_id,
                    charge,
                    payment.invoice_payload or "",
                    "XTR",
                    payment.amount,
                    payment.username,
                    payment.first_name,
                    notify_wait=0,
                )
        except InvalidPayload as problem:
            result.unusable += 1
            log.error("reconciliation: Stars payment %s matches no offer (%s)", charge, problem)
            return
        result.recovered += 1
        log.warning("reconciliation: recovered Stars payment %s of user %s", charge, user_id)
    elif not reconciliation.is_refunded(charge):
        credits.take_back_refund(user_id, user_id, charge, payment.amount, notify_wait=0)
        result.refunds += 1
        log.warning("reconciliation: applied the refund of Stars payment %s", charge)


def _as_dict(transaction) -> dict:
    """pyTelegramBotAPI's StarTransaction back to Bot API JSON (what reconciliation reads)."""
    data = {"id": transaction.id, "amount": transaction.amount, "date": transaction.date}
    for side in ("source", "receiver"):
        partner = getattr(transaction, side, None)
        if partner is None:
            continue
        user = getattr(partner, "user", None)
        data[side] = {
            "type": partner.type,
            "transaction_type": getattr(partner, "transaction_type", None) or "invoice_payment",
            "user": {
                "id": user.id,
                "username": user.username,
                "first_name": user.first_name,
            }
            if user is not None
            else {},
            "invoice_payload": getattr(partner, "invoice_payload", None),
            "subscription_period": getattr(partner, "subscription_period", None),
        }
    return data
