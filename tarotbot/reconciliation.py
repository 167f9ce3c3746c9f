"""Reconciliation with Telegram's own Stars ledger: what was paid that we never credited.

A payment whose ``successful_payment`` update never reaches us (the bot down
longer than Telegram keeps updates, a bug, a poisonous update passed over)
would otherwise be lost. Telegram lists every Stars transaction of the bot,
in chronological order, through ``getStarTransactions(offset, limit)``: a
payment has a ``source`` (the paying user, the invoice payload, for a
subscription its ``subscription_period``), a refund a ``receiver`` and the
payment's id.

:func:`read_page` mirrors one page into ``star_transactions`` and returns
what it holds; the caller (``jobs.reconcile``) credits, through the ordinary
idempotent payment path, every incoming payment the ledger lacks
(:func:`is_credited`), then :func:`advance` moves the checkpoint past the
page. A crash before ``advance`` reads the page again: nothing is done twice,
since every step is idempotent by charge id. When a pass reaches the end
of the list, :func:`finish_pass` records when it began (``synced_at``): any
purchase credited before that moment must be in the mirror, and the audit
reports those that are not (``telegram_lists``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from tarotbot.db import database
from tarotbot.models import ReconciliationCheckpoint, StarTransaction, Transaction, utcnow

CHECKPOINT = "stars"
PAGE_SIZE = 100  # Telegram's largest page


@dataclass(frozen=True)
class StarPayment:
    """One transaction from Telegram's list, as reconciliation needs it."""

    transaction_id: str  # the telegram_payment_charge_id
    incoming: bool  # a payment (True) or a refund (False)
    amount: int
    date: dt.datetime
    telegram_user_id: int | None
    username: str | None
    first_name: str | None
    invoice_payload: str | None
    subscription_period: int | None

    @classmethod
    def from_api(cls, data: dict) -> StarPayment | None:
        """From a ``StarTransaction`` as JSON; None for one that is not a user's payment or refund."""
        incoming = "source" in data and data.get("source") is not None
        partner = data.get("source") if incoming else data.get("receiver")
        if not isinstance(partner, dict) or partner.get("type") != "user":
            return None
        if partner.get("transaction_type", "invoice_payment") != "invoice_payment":
            return None
        user = partner.get("user") or {}
        transaction_id = data.get("id")
        if not isinstance(transaction_id, str) or not 0 < len(transaction_id) <= 200:
            return None
        return cls(
            transaction_id=transaction_id,
            incoming=incoming,
            amount=int(data.get("amount") or 0),
            date=dt.datetime.fromtimestamp(int(data.get("date") or 0), dt.UTC),
            telegram_user_id=user.get("id"),
            username=user.get("username"),
            first_name=user.get("first_name"),
            invoice_payload=partner.get("invoice_payload"),
            subscription_period=partner.get("subscription_period"),
        )

    @property
    def subscription_ends(self) -> dt.datetime | None:
        """When the period this payment paid for ends (subscriptions only)."""
        if not self.subscription_period:
            return None
        return self.date + dt.timedelta(seconds=int(self.subscription_period))


def checkpoint() -> ReconciliationCheckpoint:
    """The checkpoint row (created at offset 0 the first time)."""
    row, _ = ReconciliationCheckpoint.get_or_create(
        name=CHECKPOINT, defaults={"next_offset": 0, "updated_at": utcnow()}
    )
    return row


def mirror(payments: Iterable[StarPayment]) -> int:
    """Store transactions in ``star_transactions`` (a row seen before is left alone)."""
    rows = [
        {
            "telegram_transaction_id": p.transaction_id,
            "direction": "in" if p.incoming else "out",
            "telegram_user_id": p.telegram_user_id,
            "amount": p.amount,
            "invoice_payload": (p.invoice_payload or "")[:255] or None,
            "subscription_period": p.subscription_period,
            "transaction_date": p.date,
            "seen_at": utcnow(),
        }
        for p in payments
    ]
    if not rows:
        return 0
    with database.atomic():
        return StarTransaction.insert_many(rows).on_conflict_ignore().as_rowcount().execute()


def is_credited(charge_id: str) -> bool:
    """Whether the ledger holds an applied purchase for this Telegram charge."""
    return (
        Transaction.select()
        .where(
            (Transaction.payment_reference == charge_id)
            & (Transaction.type == "purchase")
            & Transaction.status.in_(("completed", "refunded"))
        )
        .exists()
    )


def is_refunded(charge_id: str) -> bool:
    """Whether the ledger's purchase for this charge has been refunded (or never credited)."""
    row = Transaction.get_or_none(
        (Transaction.payment_reference == charge_id) & (Transaction.type == "purchase")
    )
    return row is None or row.status == "refunded"


def advance(offset: int) -> None:
    """Move the checkpoint to ``offset`` (never backwards)."""
    ReconciliationCheckpoint.update(next_offset=offset, updated_at=utcnow()).where(
        (ReconciliationCheckpoint.name == CHECKPOINT)
        & (ReconciliationCheckpoint.next_offset < offset)
    ).execute()


def finish_pass(began: dt.datetime) -> None:
    """A pass read to the end of Telegram's list: what it began with is reconciled."""
    ReconciliationCheckpoint.update(synced_at=began, updated_at=utcnow()).where(
        ReconciliationCheckpoint.name == CHECKPOINT
    ).execute()
