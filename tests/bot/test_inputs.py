"""Callback data and payment payloads: only what we produced is accepted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tarotbot.packs import PACKS, InvalidPayload, check_payment, invoice_payload
from tarotbot.tarot.spreads import SPREADS
from tarotbot.telegram import keyboards


def _all_buttons(markup: dict) -> list[str]:
    return [b["callback_data"] for row in markup["inline_keyboard"] for b in row]


def test_every_button_we_make_parses_and_fits_telegram():
    markups = [
        keyboards.main_menu(),
        keyboards.spreads_menu(),
        keyboards.buy_menu(),
        keyboards.after_reading(),
        keyboards.after_reading(2**62, 1),
        keyboards.after_reading(2**62, 13),
        keyboards.not_enough_credits(),
        keyboards.settings_menu(True),
        keyboards.settings_menu(False),
        keyboards.history_menu([(123, "x"), (2**62, "y")], "zzzz.1", "abc.2"),
        *(keyboards.question_menu(name) for name in SPREADS),
        keyboards.markup(keyboards.reading_extras(2**62)),
        keyboards.settings_menu(True, True),
        keyboards.settings_menu(False, False),
        keyboards.time_menu(),
        keyboards.zone_menu(),
        keyboards.offset_menu(),
        keyboards.quiet_menu(),
        keyboards.offer_daily(),
        keyboards.daily_card_menu(),
        keyboards.confirm_erase(),
        keyboards.broadcast_confirm(2**62),
    ]
    for markup in markups:
        for data in _all_buttons(markup):
            assert len(data.encode()) <= 64
            keyboards.parse_callback(data)


def test_spread_menu_offers_all_nine_with_costs():
    data = _all_buttons(keyboards.spreads_menu())
    assert {d.split(":")[1] for d in data if d.startswith("s:")} == set(SPREADS)


@pytest.mark.parametrize(
    "data",
    [None, "", "s:evil", "s:celtic;drop", "q:", "b:huge", "r:-1", "r:abc", "h:o:", "h:x:abc",
     "v:maybe", "zz", "m:admin", "x:1", "r:" + "9" * 30, "s:" + "a" * 70, "\x00", "s:celtic\n",
     "c:1:0", "c:1:100", "c:x:1", "c:1", "c:-1:2",
     "f:", "f:-1", "p:x", "e:maybe", "d:evil", "t:", "t:12345", "z:c", "z:o99999", "k:on",
     "a:send:", "a:drop:1", "n:admin"],
)  # fmt: skip
def test_forged_callback_data_is_refused(data):
    with pytest.raises(keyboards.ForgedCallback):
        keyboards.parse_callback(data)


@given(st.text(max_size=80))
def test_arbitrary_callback_data_never_crashes(data):
    try:
        callback = keyboards.parse_callback(data)
    except keyboards.ForgedCallback:
        return
    assert callback.action in {rule.name for rule in keyboards.ACTIONS.values()}


def test_payment_checks():
    pack = PACKS[0]
    payload = invoice_payload(pack, 77)
    assert check_payment(payload, "XTR", pack.stars, 77) == pack
    for args in [
        (payload, "USD", pack.stars, 77),
        (payload, "XTR", pack.stars + 1, 77),
        (payload, "XTR", pack.stars, 78),
        ("pack:nope:77", "XTR", pack.stars, 77),
        ("garbage", "XTR", pack.stars, 77),
        ("", "XTR", pack.stars, 77),
    ]:
        with pytest.raises(InvalidPayload):
            check_payment(*args)
