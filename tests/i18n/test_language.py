"""Which language the bot speaks, and how its words come out in it."""

from __future__ import annotations

import threading

import pytest

from tarotbot.i18n import current_language, speaking
from tarotbot.tarot.languages import LANGUAGES, language_for, plural_category
from tarotbot.telegram import keyboards, texts


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("ru", "ru"),
        ("ru-RU", "ru"),
        ("be", "ru"),
        ("kk", "ru"),
        ("uz", "ru"),
        ("uk", "en"),  # Ukrainian speakers are not answered in Russian unasked
        ("en-GB", "en"),
        ("de", "en"),
        ("", "en"),
        (None, "en"),
        ("x" * 300, "en"),
    ],
)
def test_telegram_language_codes_map_to_our_languages(code, language):
    assert language_for(code) == language


def test_the_languages_are_the_data_folders():
    assert LANGUAGES == ("en", "ru")


@pytest.mark.parametrize(
    ("n", "form"), [(1, "one"), (2, "few"), (5, "many"), (11, "many"), (21, "one"), (22, "few")]
)
def test_russian_plural_forms_come_from_cldr(n, form):
    assert plural_category(n, "ru") == form
    assert plural_category(n, "en") == ("one" if n == 1 else "other")


def test_speaking_is_per_thread_and_restored():
    seen = {}
    with speaking("ru"):
        thread = threading.Thread(target=lambda: seen.setdefault("other", current_language()))
        thread.start()
        thread.join()
        assert current_language() == "ru"
    assert current_language() == "en" and seen["other"] == "en"
    with speaking("klingon") as chosen:  # anything unknown is English
        assert chosen == "en"


@pytest.mark.parametrize(
    ("n", "english", "russian"),
    [
        (1, "1</b> credit.", "1</b> кредит"),
        (2, "2</b> credits.", "2</b> кредита"),
        (5, "5</b> credits.", "5</b> кредитов"),
    ],
)
def test_counted_words_agree_in_each_language(n, english, russian):
    assert english in texts.render(texts.BALANCE, balance=n)
    with speaking("ru"):
        assert russian in texts.render(texts.BALANCE, balance=n)


def test_buttons_and_names_are_translated():
    english = keyboards.main_menu()
    with speaking("ru"):
        russian = keyboards.main_menu()
        spreads = str(keyboards.spreads_menu())
        assert texts.local_spread("three").title == "Прошлое, настоящее, будущее"
    assert english != russian and "Past, Present, Future" not in spreads
    assert "Прошлое, настоящее, будущее" in spreads


def test_a_rendered_text_passes_the_reply_builders_unchanged():
    from tarotbot.telegram import replies

    with speaking("ru"):
        rendered = texts.render(texts.BALANCE, balance=3)
        assert replies.text(1, rendered).text == rendered
        assert replies.text(1, texts.NOT_TEXT).text != texts.NOT_TEXT  # a bare message: translated
