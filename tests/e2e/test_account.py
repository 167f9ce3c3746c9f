"""End to end with real processes: /verify, /reading <question>, export and delete, invitations,
the daily card (asked and pushed), and the admin commands with their audit trail."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import requests
from e2e_stack import TOKEN, Stack, audit, body, buttons, containing, count_containing
from rq import Queue

from tarotbot.models import AdminAction, DailyCard, InviteReward, Reading, Transaction, User
from tarotbot.tarot.spreads import get_spread

pytestmark = pytest.mark.slow
ADA, BO, CY, ADMIN = 5_560_001, 5_560_002, 5_560_003, 5_560_099


def _last_with_button(messages: list[dict], prefix: str) -> dict:
    for message in reversed(messages):
        if any(data and data.startswith(prefix) for data in buttons(message)):
            return message
    raise AssertionError(f"no message with a {prefix!r} button")


def _start(stack, user_id: int, text: str = "/start", expect: str = "credits") -> list[dict]:
    before = len(stack.messages(user_id)) if stack.emulator.messages(user_id) else 0
    stack.send(user_id, text)
    return stack.wait_for(user_id, lambda ms: any(expect in body(m) for m in ms[before:]))


def _new(stack, user_id: int, before: int, needle: str, timeout: float = 30) -> list[dict]:
    messages = stack.wait_for(
        user_id, lambda ms: any(needle in body(m) for m in ms[before:]), timeout=timeout
    )
    return messages[before:]


def _download(stack, document: dict) -> bytes:
    base = stack.emulator.base_url
    info = requests.get(
        f"{base}/bot{TOKEN}/getFile", params={"file_id": document["file_id"]}, timeout=10
    )
    path = info.json()["result"]["file_path"]
    return requests.get(f"{base}/file/bot{TOKEN}/{path}", timeout=10).content


@pytest.fixture
def admin_stack(app_env, emulator, pg, redis_conn, tmp_path):
    env = {**app_env, "ADMIN_IDS": str(ADMIN), "SEED_SECRET": "e2e-seed-secret-" + "0" * 24}
    running = Stack(env, emulator, workers=2, log_dir=tmp_path).start()
    yield running
    running.stop()
    for log in sorted(tmp_path.glob("*.log")):
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            print(f"--- {log.name} ---\n{text[-4000:]}")


def test_verify_export_delete_invite_daily_and_admin(admin_stack, app_env, redis_conn):
    stack = admin_stack
    # -- a reading with the question typed after /reading; the seal comes before the cards --
    _start(stack, ADA)
    stack.send(ADA, "/reading Will the garden grow?")
    menu = _last_with_button(stack.wait_for(ADA, containing("for your question")), "s:")
    before = len(stack.messages(ADA))
    stack.tap(ADA, menu["message_id"], "s:three")
    new = _new(stack, ADA, before, "used · ", timeout=60)
    # the spread menu became "Shuffling the deck…" with the seal, before the cards came
    ack = next(m for m in stack.messages(ADA) if m["message_id"] == menu["message_id"])
    assert "Shuffling the deck" in body(ack)
    seal = re.search(r"Sealed before your question: ([0-9a-f]{64})", body(ack)).group(1)
    reading = Reading.get()
    assert reading.question == "Will the garden grow?"
    assert hashlib.sha256(reading.cards["seed"].encode()).hexdigest() == seal
    footer = _last_with_button(new, "f:")
    assert f"f:{reading.id}" in buttons(footer) and f"p:{reading.id}" in buttons(footer)
    # the daily card, offered once after a first reading, in the reading's own last message
    assert "card of the day" in body(footer) and "d:on" in buttons(footer)
    assert [bool(m.get("photo")) for m in new if m["from"] == "bot"] == [True, False]  # no more

    # -- /verify from the button under the reading --
    before = len(stack.messages(ADA))
    stack.tap(ADA, footer["message_id"], f"f:{reading.id}")
    text = body(_new(stack, ADA, before, "How to check reading")[-1])
    assert reading.cards["seed"] in text and seal in text
    assert f"python -m tarotbot draw three --seed {reading.cards['seed']}" in text
    assert "All 3 cards match" in text
    for card in reading.cards["cards"]:
        assert card["name"] in text
    stack.send(ADA, "/verify 999999")
    stack.wait_for(ADA, containing("could not find that reading"))
    stack.send(ADA, "/verify nonsense")
    stack.wait_for(ADA, containing("/verify NUMBER"))

    # -- /daily twice: one card a day, the same one --
    before = len(stack.messages(ADA))
    stack.send(ADA, "/daily")
    _new(stack, ADA, before, "Your card for")
    before = len(stack.messages(ADA))
    stack.send(ADA, "/daily")
    _new(stack, ADA, before, "drew today's card already")
    assert DailyCard.select().count() == 1
    # -- timezone from a shared location --
    stack.emulator.send(ADA, location=(35.7, 139.7))
    stack.wait_for(ADA, containing("UTC+09:00"))
    assert User.get(User.telegram_id == ADA).timezone == "UTC+09:00"

    # -- invitations: a new account through Ada's link rewards both, once --
    before = len(stack.messages(ADA))
    stack.send(ADA, "/invite")
    invite = body(_new(stack, ADA, before, "Invite a friend")[-1])
    code = re.search(r"\?start=(i[0-9a-z]+-[0-9a-f]{8})", invite).group(1)
    _start(stack, BO, f"/start {code}", expect="extra credits")
    stack.wait_for(ADA, containing("through your invitation"))
    _start(stack, BO, f"/start {code}", expect="Welcome back")  # not a new account: nothing
    _start(stack, ADA, f"/start {code}", expect="Welcome back")  # one's own link: nothing
    assert InviteReward.select().count() == 1
    bo = User.get(User.telegram_id == BO)
    assert sum(t.amount for t in Transaction.select().where(Transaction.user == bo.id)) == 5 + 2

    # -- admins only: others get the ordinary unknown-command answer --
    stack.send(BO, "/stats")
    stack.wait_for(BO, containing("I do not know /stats"))
    _start(stack, ADMIN)
    stack.send(ADMIN, "/grant 5560002 7 goodwill after an outage")
    stack.wait_for(ADMIN, containing("Granted 7 credit(s)"))
    stack.send(ADMIN, "/revoke 5560002 100 too much")
    stack.wait_for(ADMIN, containing("nothing was revoked"))
    stack.send(ADMIN, "/revoke 5560002 3 typo")
    stack.wait_for(ADMIN, containing("Revoked 3 credit(s)"))
    grant = Transaction.get(Transaction.reason.contains("goodwill"))
    assert grant.amount == 7 and f"admin {ADMIN}" in grant.reason
    actions = {a.action: a for a in AdminAction.select()}
    assert actions["grant"].transaction_id == grant.id and actions["revoke"].transaction_id
    stack.send(ADMIN, "/user @nobody_here")
    stack.wait_for(ADMIN, containing("No such user"))
    stack.send(ADMIN, f"/user {BO}")
    stack.wait_for(ADMIN, containing("Balance: 11 credits"))
    stack.send(ADMIN, "/grant 5560002 lots")
    stack.wait_for(ADMIN, containing("Usage: /grant"))
    # a payment, refunded by the admin: Stars back and credits taken back, once
    stack.send(CY, "/buy")
    buy = _last_with_button(stack.wait_for(CY, containing("Buy credits")), "b:")
    stack.tap(CY, buy["message_id"], "b:small")
    invoice = next(
        m
        for m in stack.wait_for(CY, lambda ms: any(m.get("invoice") for m in ms))
        if m.get("invoice")
    )
    paid = stack.emulator.pay(CY, invoice["message_id"])
    stack.wait_for(CY, containing("credits were added"))
    stack.send(ADMIN, f"/refund {paid['charge_id']}")
    stack.wait_for(ADMIN, containing("refunded: 50⭐"))
    stack.wait_for(CY, containing("10 credits were taken back"))  # Telegram's own notice, replayed
    assert Transaction.select().where(Transaction.type == "refund").count() == 1
    stack.send(ADMIN, "/stats")
    stats = body(stack.wait_for(ADMIN, containing("Readings by spread"))[-1])
    assert (
        f"{get_spread('three').title}: 1" in stats and f"{get_spread('single').title}: 1" in stats
    )
    assert "Stars taken: 50⭐ · refunded: 50⭐" in stats

    # -- /export: a JSON document with every transaction and reading --
    before = len(stack.messages(ADA))
    stack.send(ADA, "/export")
    document = next(m for m in _new(stack, ADA, before, "Everything I keep") if m.get("document"))
    data = json.loads(_download(stack, document["document"]))
    assert data["profile"]["telegram_id"] == ADA
    assert data["readings"][0]["question"] == "Will the garden grow?"
    assert (
        len(data["transactions"])
        == Transaction.select().join(User).where(User.telegram_id == ADA).count()
    )

    # -- /delete: confirmed, erased, idempotent; a new /start gets no second welcome --
    ada_id = User.get(User.telegram_id == ADA).id
    before = len(stack.messages(ADA))
    stack.send(ADA, "/delete")
    ask = _last_with_button(_new(stack, ADA, before, "Delete your data?"), "e:")
    stack.tap(ADA, ask["message_id"], "e:yes")
    stack.wait_for(ADA, containing("personal details are erased"))
    stack.tap(ADA, ask["message_id"], "e:yes")  # a second tap: nothing left to erase
    stack.wait_for(ADA, containing("nothing to delete"))
    erased = User.get_by_id(ada_id)
    assert erased.telegram_id == -ada_id and erased.first_name is None and erased.erased_at
    assert Reading.select().where(Reading.user == ada_id).count() == 0
    kept = Transaction.select().where(Transaction.user == ada_id).count()
    assert kept >= 2  # the ledger rows stay, anonymised
    _start(stack, ADA, expect="start afresh")
    fresh = User.get(User.telegram_id == ADA)
    assert Transaction.select().where(Transaction.user == fresh.id).count() == 0
    result = audit(app_env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_daily_cards_are_pushed_by_the_scheduled_job_and_blocked_people_skipped(
    admin_stack, redis_conn
):
    import datetime as dt

    stack = admin_stack
    for user_id in (ADA, BO):
        _start(stack, user_id)
        stack.send(user_id, "/settings")
        menu = _last_with_button(stack.wait_for(user_id, containing("Daily card")), "d:")
        stack.tap(user_id, menu["message_id"], "d:on")
        stack.wait_for(user_id, containing("Your card of the day comes at"))
    stack.emulator.block(BO)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    User.update(daily_next_at=past).execute()
    Queue("maintenance", connection=redis_conn).enqueue("jobs.daily.tick", job_id="tick-e2e")
    messages = stack.wait_for(ADA, containing("Your card for"), timeout=30)
    card = next(m for m in messages if "Your card for" in body(m))
    assert card.get("photo")
    stack.wait_for(ADA, lambda ms: any("d:stop" in buttons(m) for m in ms))
    deadline = __import__("time").monotonic() + 20
    while User.get(User.telegram_id == BO).is_active and __import__("time").monotonic() < deadline:
        __import__("time").sleep(0.2)
    assert not User.get(User.telegram_id == BO).is_active  # blocked: marked inactive
    assert User.get(User.telegram_id == ADA).daily_next_at > past + dt.timedelta(hours=1)
    assert count_containing(stack.messages(ADA), "Your card for") == 1
    # one tap stops it
    stop = _last_with_button(stack.messages(ADA), "d:stop")
    stack.tap(ADA, stop["message_id"], "d:stop")
    stack.wait_for(ADA, containing("No more daily cards"))
    assert not User.get(User.telegram_id == ADA).daily_enabled
