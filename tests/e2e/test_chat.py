"""End to end with real processes: bot + workers + PostgreSQL + Redis + the emulator."""

from __future__ import annotations

import pytest
import requests
from e2e_stack import TOKEN, audit, body, buttons, containing, count_containing
from rq.job import Job

from tarotbot.models import Reading, Transaction, User
from tarotbot.tarot.spreads import get_spread

pytestmark = pytest.mark.slow
ADA = 5_550_001


def _last_with_button(messages: list[dict], prefix: str) -> dict:
    for message in reversed(messages):
        if any(data and data.startswith(prefix) for data in buttons(message)):
            return message
    raise AssertionError(f"no message with a {prefix!r} button")


def _prompt_in(menu: dict):
    """Wait condition: the spread menu has been edited into the question prompt."""
    return lambda ms: any(
        m["message_id"] == menu["message_id"] and "Type your question (up to" in body(m) for m in ms
    )


def _start(stack, user_id: int) -> list[dict]:
    stack.send(user_id, "/start")
    return stack.wait_for(user_id, containing("free credits"))


def _read(stack, user_id: int, spread: str, question: str | None) -> list[dict]:
    before = len(stack.messages(user_id))
    stack.send(user_id, "/reading")
    menu = _last_with_button(stack.wait_for(user_id, containing("Choose a spread")), "s:")
    stack.tap(user_id, menu["message_id"], f"s:{spread}")
    stack.wait_for(user_id, _prompt_in(menu))
    if question is None:
        stack.tap(user_id, menu["message_id"], f"q:{spread}")
    else:
        stack.send(user_id, question)
    messages = stack.wait_for(
        user_id, lambda ms: count_containing(ms[before:], "used · ") >= 1, timeout=60
    )
    return messages[before:]


def test_first_chat_ends_with_a_reading(stack, app_env):
    welcome = _start(stack, ADA)
    assert "5 free credits" in body(welcome[-1])
    new = _read(stack, ADA, "three", "Will I find a new job?")
    # two messages from the bot: the picture, then the text (a chat action while drawing)
    assert [bool(m.get("photo")) for m in new[1:]] == [True, False]  # after the spread menu
    photos = [m for m in new if m.get("photo")]
    assert len(photos) == 1 and photos[0]["photo_size"] > 10_000

    reading = Reading.get()
    names = [card["name"] for card in reading.cards["cards"]]
    assert len(names) == 3
    caption = body(photos[0])
    text = "\n".join(body(m) for m in new if not m.get("photo"))
    for name in names:
        assert name in caption and name in text
    assert reading.question == "Will I find a new job?"

    user = User.get(User.telegram_id == ADA)
    cost = get_spread("three").cost
    assert Transaction.select().where(Transaction.user == user.id).count() == 2
    debit = Transaction.get(Transaction.type == "reading")
    assert debit.amount == -cost and debit.credits_after == 5 - cost
    assert reading.transaction_id == debit.id

    # "More about card 2": the card's whole text, free, in one tap
    more = _last_with_button(new, "c:")
    assert [d for d in buttons(more) if d.startswith("c:")] == [
        f"c:{reading.id}:{n}" for n in (1, 2, 3)
    ]
    second = reading.cards["cards"][1]
    seen = len(stack.messages(ADA))
    stack.tap(ADA, more["message_id"], f"c:{reading.id}:2")
    page = stack.wait_for(ADA, lambda ms: count_containing(ms[seen:], "In love:"), timeout=30)[-1]
    assert f"2. {second['position_name']}: {second['name']}" in body(page)
    stack.tap(ADA, more["message_id"], f"c:{reading.id + 999}:1")  # not hers: nothing shown
    stack.wait_for(ADA, containing("could not find"), timeout=30)

    stack.send(ADA, "/history")
    history = stack.wait_for(ADA, containing("Your readings"))
    listing = _last_with_button(history, "r:")
    assert f"r:{reading.id}" in buttons(listing)
    seen = len(stack.messages(ADA))
    stack.tap(ADA, listing["message_id"], f"r:{reading.id}")
    again = stack.wait_for(ADA, containing("opened again"), timeout=30)[seen:]
    assert names[0] in body(next(m for m in again if m.get("photo")))
    made = reading.created_at.strftime("%d %b %Y")
    assert count_containing(again, f"Your reading of {made}") == 1
    assert count_containing(again, "nothing charged") == 1
    assert count_containing(again, "used · ") == 0  # nothing suggests a new charge

    stack.send(ADA, "/balance")
    stack.wait_for(ADA, containing(f"You hold {5 - cost} credits"))
    result = audit(app_env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_payment_is_credited_once(stack):
    _start(stack, ADA)
    stack.send(ADA, "/buy")
    menu = _last_with_button(stack.wait_for(ADA, containing("Buy credits")), "b:")
    stack.tap(ADA, menu["message_id"], "b:small")
    messages = stack.wait_for(ADA, lambda ms: any(m.get("invoice") for m in ms))
    invoice = next(m for m in messages if m.get("invoice"))
    result = stack.emulator.pay(ADA, invoice["message_id"])
    assert result["status"] == "paid"
    stack.wait_for(ADA, containing("credits were added"))
    user = User.get(User.telegram_id == ADA)
    purchase = Transaction.get(Transaction.type == "purchase")
    assert purchase.status == "completed" and purchase.amount == 10
    assert purchase.payment_reference == result["charge_id"]
    assert Transaction.select().where(Transaction.user == user.id).count() == 2

    # Telegram refunds it (here: the bot's own refundStarPayment, as an operator would)
    answer = requests.post(
        f"{stack.emulator.base_url}/bot{TOKEN}/refundStarPayment",
        data={"user_id": ADA, "telegram_payment_charge_id": result["charge_id"]},
        timeout=10,
    )
    assert answer.json()["ok"]
    stack.wait_for(ADA, containing("10 credits were taken back"))
    assert Transaction.get_by_id(purchase.id).status == "refunded"
    stack.send(ADA, "/balance")
    stack.wait_for(ADA, containing("You hold 5 credits"))


def test_bad_input_gets_polite_answers_and_writes_nothing(stack):
    stack.send(ADA, "/reading")
    stack.wait_for(ADA, containing("send /start first"))
    _start(stack, ADA)
    stack.send(ADA, "/frobnicate")
    stack.wait_for(ADA, containing("I do not know /frobnicate"))
    stack.emulator.send(ADA, sticker=True)
    stack.wait_for(ADA, containing("I can only read text"))
    menu = _last_with_button(stack.messages(ADA), "m:")
    tap = stack.tap(ADA, menu["message_id"], "s:../../etc/passwd")
    answer = stack.emulator.callback_answer(tap["callback_query_id"], timeout=10)
    assert answer["show_alert"] and "expired" in answer["text"]
    stack.send(ADA, "/reading")
    spreads = _last_with_button(stack.wait_for(ADA, containing("Choose a spread")), "s:")
    stack.tap(ADA, spreads["message_id"], "s:single")
    stack.wait_for(ADA, lambda ms: any("Type your question (up to" in body(m) for m in ms))
    stack.send(ADA, "x" * 600)
    stack.wait_for(ADA, containing("please keep it to 500 or fewer"))
    stack.send(ADA, "\x00\x01\x02 \u200b")
    stack.wait_for(ADA, containing("could not find any words"))
    assert Reading.select().count() == 0
    assert Transaction.select().where(Transaction.type == "reading").count() == 0


def test_not_enough_credits_is_refused_politely(stack):
    _start(stack, ADA)
    new = _read(stack, ADA, "three", None)
    assert any(m.get("photo") for m in new)
    stack.send(ADA, "/reading")
    menu = _last_with_button(stack.wait_for(ADA, containing("You hold 3")), "s:")
    stack.tap(ADA, menu["message_id"], "s:yearly_path")  # 8 credits; Ada holds 3
    messages = stack.wait_for(ADA, containing("needs 8 credits and you hold 3"))
    notice = next(m for m in messages if m["message_id"] == menu["message_id"])
    assert "m:buy" in buttons(notice) and "Type your question" not in body(notice)
    stack.tap(ADA, menu["message_id"], "q:yearly_path")  # a forged "No question" tap
    stack.wait_for(ADA, containing("That button has expired"))
    assert Reading.select().count() == 1
    assert count_containing(stack.messages(ADA), "used · ") == 1  # the first reading


def test_a_double_tap_on_no_question_reads_and_charges_once(stack):
    _start(stack, ADA)
    stack.send(ADA, "/reading")
    menu = _last_with_button(stack.wait_for(ADA, containing("Choose a spread")), "s:")
    stack.tap(ADA, menu["message_id"], "s:three")
    stack.wait_for(ADA, _prompt_in(menu))

    stack.tap(ADA, menu["message_id"], "q:three")
    stack.tap(ADA, menu["message_id"], "q:three")  # an impatient second tap

    stack.wait_for(ADA, containing("used · "), timeout=60)
    messages = stack.wait_for(ADA, containing("That button has expired"))
    assert count_containing(messages, "used · ") == 1
    assert sum(1 for m in messages if m.get("photo")) == 1
    assert Reading.select().count() == 1
    assert [t.amount for t in Transaction.select().order_by(Transaction.id)] == [5, -2]


def test_a_button_press_counts_even_when_telegram_refuses_its_answer(stack, emulator):
    _start(stack, ADA)
    stack.send(ADA, "/reading")
    menu = _last_with_button(stack.wait_for(ADA, containing("Choose a spread")), "s:")
    emulator.inject_fault(
        "answerCallbackQuery",
        400,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    )
    stack.tap(ADA, menu["message_id"], "s:three")
    stack.wait_for(ADA, _prompt_in(menu))


def test_the_token_is_in_no_log_payload_or_key(stack, redis_conn, tmp_path):
    from e2e_stack import TOKEN

    _start(stack, ADA)
    _read(stack, ADA, "single", "Is the token safe?")
    secret = TOKEN.split(":", 1)[1]
    for log in tmp_path.glob("*.log"):
        assert secret not in log.read_text(errors="replace"), log.name
    for key in redis_conn.scan_iter(count=1000):
        assert secret.encode() not in key
        kind = redis_conn.type(key)
        if kind == b"string":
            assert secret.encode() not in (redis_conn.get(key) or b""), key
        elif kind == b"hash":
            for field, value in redis_conn.hgetall(key).items():
                assert secret.encode() not in field + value, key
        elif kind == b"list":
            for value in redis_conn.lrange(key, 0, -1):
                assert secret.encode() not in value, key
    jobs = 0
    for key in redis_conn.scan_iter(match="rq:job:*"):
        if redis_conn.type(key) != b"hash" or key.count(b":") != 2:
            continue
        job = Job.fetch(key.decode().split(":", 2)[2], connection=redis_conn)
        assert secret not in repr((job.func_name, job.args, job.kwargs, job.meta)), job.id
        jobs += 1
    assert jobs >= 2  # registration and reading payloads were inspected
