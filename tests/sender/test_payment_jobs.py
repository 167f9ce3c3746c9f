"""The payment job: Stars already taken are always credited, exactly once."""

from __future__ import annotations

from jobs import credits
from tarotbot import ledger
from tarotbot.models import Transaction, User
from tarotbot.packs import PACKS, invoice_payload

from .conftest import bot_texts


def test_a_payer_who_never_sent_start_is_registered_and_credited(app, emulator, users):
    users(5101)  # the chat exists (they tapped /buy), but there is no account
    pack = PACKS[0]
    args = (5101, 5101, "charge-5101", invoice_payload(pack, 5101), "XTR", pack.stars)

    first = credits.record_payment(*args, "ada", "Ada")
    again = credits.record_payment(*args, "ada", "Ada")  # a redelivered update

    person = User.get(User.telegram_id == 5101)
    assert person.first_name == "Ada"
    assert not first["replayed"] and again["replayed"]
    assert ledger.balance(person.id) == app.settings.welcome_bonus + pack.credits
    kinds = sorted(t.type for t in Transaction.select().where(Transaction.user == person.id))
    assert kinds == ["bonus", "purchase"]
    assert f"{pack.credits} credits" in bot_texts(emulator, 5101)[0]
