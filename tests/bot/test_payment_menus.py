"""The tier table, the menus that sell and price, and their strict button grammar (no I/O)."""

from __future__ import annotations

import datetime as dt

import pytest

from tarotbot.packs import InvalidPayload, check_offer, check_subscription, subscription_payload
from tarotbot.telegram import keyboards
from tarotbot.telegram.bot import help_text
from tarotbot.tiers import TIERS_BY_NAME, effective_tier, spread_price

BASIC, PREMIUM, PRO = (TIERS_BY_NAME[n] for n in ("basic", "premium", "professional"))


def labels(markup: dict) -> list[str]:
    return [b["text"] for row in markup["inline_keyboard"] for b in row]


def test_prices_per_tier_are_discounted_rounded_up_and_never_below_one():
    assert [spread_price(BASIC, c) for c in (1, 2, 5, 8)] == [1, 2, 5, 8]
    assert [spread_price(PREMIUM, c) for c in (1, 2, 5, 8)] == [1, 2, 4, 6]
    assert [spread_price(PRO, c) for c in (1, 2, 5, 8)] == [1, 1, 3, 4]


def test_a_tier_counts_until_its_end_then_basic():
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert effective_tier("premium", now + dt.timedelta(seconds=1), now) is PREMIUM
    assert effective_tier("premium", now, now) is BASIC
    assert effective_tier("premium", None, now) is PREMIUM
    assert effective_tier("no-such-tier", None, now) is BASIC


def test_the_reading_menu_marks_what_the_balance_cannot_cover():
    menu = labels(keyboards.spreads_menu(3, PREMIUM))
    assert "Past, Present, Future · 2🪙" in menu
    assert "🔒 Celtic Cross · 4🪙" in menu and "The Week Ahead · 3🪙" in menu
    assert not any("🔒" in label for label in labels(keyboards.spreads_menu()))


def test_the_pack_list_has_cancel_and_subscriptions():
    data = [b["callback_data"] for row in keyboards.buy_menu()["inline_keyboard"] for b in row]
    assert "x:buy" in data and "m:sub" in data


@pytest.mark.parametrize("data", ["x:buy", "u:premium", "u:professional", "u:cancel", "m:sub"])
def test_new_buttons_parse(data):
    assert keyboards.parse_callback(data).rule is not None


@pytest.mark.parametrize("data", ["u:basic", "u:gold", "x:pay", "u:", "u:premium:1", "m:subs"])
def test_forged_subscription_buttons_are_refused(data):
    with pytest.raises(keyboards.ForgedCallback):
        keyboards.parse_callback(data)


def test_subscription_payloads_are_checked_like_packs():
    payload = subscription_payload(PREMIUM, 42)
    assert check_offer(payload, "XTR", 150, 42) is PREMIUM
    with pytest.raises(InvalidPayload, match="someone else"):
        check_offer(payload, "XTR", 150, 43)
    with pytest.raises(InvalidPayload, match="price"):
        check_offer(payload, "XTR", 149, 42)
    assert check_subscription(payload, "XTR", 149, 42, renewal=True) is PREMIUM  # old price
    with pytest.raises(InvalidPayload):
        check_offer("sub:basic:42", "XTR", 0, 42)


def test_help_lists_the_payment_commands_and_every_tier():
    text = help_text()
    for needle in ("/subscription", "/paysupport", "/terms", "Premium", "Professional", "150⭐"):
        assert needle in text
