"""The reading service: debit, draw, interpret and store, all or nothing.

A reading is keyed by the job that asked for it (derived from the Telegram
``update_id``). The debit and the ``readings`` row commit in one database
transaction, so a user is charged if and only if the reading is stored
(invariant 4). Running the same key again (a retried or redelivered job)
finds the stored reading through its debit and returns it unchanged: the
person sees the same cards, and is charged once.

The draw and its interpretation happen before the transaction opens, so a
slow interpreter (an LLM) never holds a database lock.
"""

from __future__ import annotations

from dataclasses import dataclass

from tarotbot import daily, ledger
from tarotbot.config import Settings, seed_secret_bytes
from tarotbot.db import database
from tarotbot.exceptions import DuplicatePayment
from tarotbot.i18n import current_language
from tarotbot.interpreter import interpret
from tarotbot.models import Reading, Transaction, User
from tarotbot.tarot.commitment import commitment_of, seed_for, valid_nonce
from tarotbot.tarot.compose import compose
from tarotbot.tarot.draw import Draw, draw, new_seed
from tarotbot.tarot.spreads import get_spread
from tarotbot.tiers import effective_tier, spread_price


@dataclass(frozen=True)
class ReadingOutcome:
    reading: Reading
    draw: Draw
    caption: str
    messages: tuple[str, ...]
    cost: int
    balance: int
    replayed: bool  # True when this key had already produced the reading
    offer_daily: bool = False  # the daily card is offered with this reading (once per person)


def _stored_for_key(user_id: int, key: str) -> Reading | None:
    """The reading ``key`` produced for ``user_id``; never another person's."""
    return (
        Reading.select()
        .join(Transaction)
        .where(Transaction.idempotency_key == key, Transaction.user == user_id)
        .first()
    )


def sealed_seed(settings: Settings, nonce: str | None) -> tuple[str, dict]:
    """The seed for a reading and what its record keeps about the commitment.

    With a nonce (chosen with the spread, see :mod:`tarotbot.tarot.commitment`)
    the seed is derived from it and the record keeps the nonce and the
    commitment published before the question; without one (an old job in a
    queue across a deploy) the seed is fresh and nothing was committed.
    """
    if nonce is None or not valid_nonce(nonce):
        return new_seed(), {}
    seed = seed_for(seed_secret_bytes(settings), nonce)
    return seed, {"nonce": nonce, "commitment": commitment_of(seed)}


def perform_reading(
    user: User,
    spread_name: str,
    question: str | None,
    key: str,
    settings: Settings,
    nonce: str | None = None,
    offer_daily: bool = False,
) -> ReadingOutcome:
    """Charge ``user`` for a reading of ``spread_name`` and store it; once per ``key``.

    ``offer_daily``: the person may still be offered the daily card; whether
    this reading offers it is settled in the same transaction (once per
    person: :func:`tarotbot.daily.offer_once`), saving a commit of its own.

    The price is the spread's cost at the person's subscription tier now
    (:func:`tarotbot.tiers.spread_price`). ``nonce``: the reading's commitment
    nonce; its seed is derived from it. Raises
    :class:`~tarotbot.exceptions.InsufficientCredits` (nothing written) when
    the balance is short, and :class:`UnknownSpread` for a bad name.
    """
    spread = get_spread(spread_name)
    tier = effective_tier(user.subscription_tier, user.subscription_expires_at)
    cost = spread_price(tier, spread.cost)
    if settings.llm_url:  # a retry must not ask the LLM again; without one, the debit
        # below finds a retry (one statement fewer per reading; composing costs ~1 ms)
        existing = _stored_for_key(user.id, key)
        if existing is not None:
            return _outcome(existing, cost=cost, balance=ledger.balance(user.id), replayed=True)
    seed, sealed = sealed_seed(settings, nonce)
    the_draw = draw(
        spread.name,
        seed,
        reversal_probability=settings.reversal_probability,
        reversals=user.reads_reversals,
    )
    interpretation = interpret(the_draw, question, settings, current_language())
    record = the_draw.to_record() | {"interpreter": interpretation.author} | sealed
    try:
        with database.atomic():
            # no savepoint: if the debit fails, so does this transaction, and the job's
            # retry finds whatever a concurrent run of the same key stored
            entry = ledger.debit_reading(user.id, cost, key=key, savepoint=False)
            if entry.replayed:  # this key ran before (a retry), or a concurrent run won
                reading = _stored_for_key(user.id, key)
                if reading is not None:
                    return _outcome(reading, cost, ledger.balance(user.id), replayed=True)
            reading = Reading.create(
                user=user.id,
                spread_type=spread.name,
                question=question,
                cards=record,
                interpretation=interpretation.html,
                transaction=entry.transaction_id,
            )
            offered = offer_daily and daily.offer_once(user.id)
    except DuplicatePayment:
        # this key was charged before at another price (the tier changed since): the
        # reading of that charge is the answer
        reading = _stored_for_key(user.id, key)
        if reading is None:
            raise
        return _outcome(reading, cost, ledger.balance(user.id), replayed=True)
    return ReadingOutcome(
        reading=reading,
        draw=the_draw,
        caption=interpretation.caption,
        messages=tuple(interpretation.messages),
        cost=cost,
        balance=entry.balance_after,
        replayed=False,
        offer_daily=offered,
    )


def _outcome(reading: Reading, cost: int, balance: int, replayed: bool) -> ReadingOutcome:
    the_draw = Draw.from_record(reading.cards)
    return ReadingOutcome(
        reading=reading,
        draw=the_draw,
        caption=compose(the_draw, reading.question, current_language()).caption,
        messages=stored_messages(reading.interpretation),
        cost=cost,
        balance=balance,
        replayed=replayed,
    )


def stored_messages(html: str) -> tuple[str, ...]:
    from tarotbot.tarot.telegram_text import split_html

    return tuple(split_html(html))


def reopen(reading: Reading) -> ReadingOutcome:
    """A stored reading, ready to show again (history)."""
    cost = abs(reading.transaction.amount) if reading.transaction_id else 0
    return _outcome(reading, cost, ledger.balance(reading.user_id), replayed=True)
