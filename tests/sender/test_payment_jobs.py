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
    [thanks] = bot_texts(emulator, 5101)
    assert "welcome" in thanks and f"{pack.credits} credits were added, plus 5 free" in thanks


def test_a_refund_takes_the_credits_back_once(app, emulator, users):
    users(5102)
    person, pack = paid(5102)

    first = credits.record_refund(5102, 5102, "charge-5102", pack.stars)
    again = credits.record_refund(5102, 5102, "charge-5102", pack.stars)  # redelivered

    assert first == again == {"status": "refunded"}
    assert ledger.balance(person.id) == app.settings.welcome_bonus
    assert Transaction.get(Transaction.payment_reference == "charge-5102").status == "refunded"
    assert Transaction.select().where(Transaction.type == "refund").count() == 1
    told = bot_texts(emulator, 5102)
    assert len(told) == 2 and f"{pack.credits} credits were taken back" in told[1]


def test_a_refund_after_the_credits_were_spent_leaves_the_balance_alone(app, emulator, users):
    users(5103)
    person, pack = paid(5103)
    ledger.debit_reading(person.id, ledger.balance(person.id), key="spent-all")

    assert credits.record_refund(5103, 5103, "charge-5103", pack.stars) == {
        "status": "credits-spent"
    }
    assert credits.record_refund(5103, 5103, "charge-unknown", 5) == {"status": "nothing-to-undo"}
    assert ledger.balance(person.id) == 0
    assert "was refunded" in bot_texts(emulator, 5103)[-1]


def paid(telegram_id: int):
    """Someone who bought the smallest pack (charge id ``charge-<telegram_id>``)."""
    pack = PACKS[0]
    payload = invoice_payload(pack, telegram_id)
    credits.record_payment(
        telegram_id, telegram_id, f"charge-{telegram_id}", payload, "XTR", pack.stars
    )
    return User.get(User.telegram_id == telegram_id), pack
