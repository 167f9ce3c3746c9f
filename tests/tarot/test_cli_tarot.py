"""The ``cards`` and ``draw`` commands, driven through click's CliRunner."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from PIL import Image

from tarotbot.cli.tarot import COMMANDS, cards, draw_command
from tarotbot.tarot.draw import draw

SEED = "00112233445566778899aabbccddeeff"


@pytest.fixture(autouse=True)
def no_llm(monkeypatch):
    """The commands read settings from the environment: make sure no LLM is configured."""
    from tarotbot import config

    monkeypatch.delenv("TAROT_LLM_URL", raising=False)
    config.get_settings.cache_clear()
    yield
    config.get_settings.cache_clear()


def run(command, *args, env=None):
    return CliRunner().invoke(command, list(args), env=env, catch_exceptions=False)


def test_commands_exported():
    assert [cards, draw_command] == COMMANDS
    assert [c.name for c in COMMANDS] == ["cards", "draw"]


def test_cards_table(deck):
    result = run(cards)
    assert result.exit_code == 0
    assert "The Fool" in result.output and "King of Pentacles" in result.output
    assert "78 cards" in result.output


def test_cards_json(deck):
    result = run(cards, "--json")
    rows = json.loads(result.output)
    assert len(rows) == 78
    assert rows[0]["key"] == "the-fool" and rows[17]["numeral"] == "XVII"


def test_draw_json_shape(deck):
    result = run(draw_command, "three", "--seed", SEED, "--json", "--question", "Will it work?")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"spread", "seed", "cards", "interpretation"} <= set(data)
    assert data["spread"] == "three" and data["seed"] == SEED
    assert [set(c) for c in data["cards"]] == [{"position", "name", "reversed"}] * 3
    expected = draw("three", SEED, deck=deck)
    assert [c["name"] for c in data["cards"]] == [dc.card.name for dc in expected.cards]
    assert "<b>" not in data["interpretation"]
    for c in data["cards"]:
        assert c["name"] in data["interpretation"]


def test_draw_text_and_picture(deck, tmp_path):
    picture = tmp_path / "spread.png"
    result = run(draw_command, "celtic", "--seed", SEED, "--picture", str(picture))
    assert result.exit_code == 0, result.output
    assert "Celtic Cross" in result.output and SEED in result.output
    assert "<b>" not in result.output
    assert Image.open(picture).format == "PNG"


def test_options_from_environment(deck):
    env = {"TAROTBOT_DRAW_SEED": SEED, "TAROTBOT_DRAW_NO_REVERSALS": "1", "TAROTBOT_DRAW_JSON": "1"}
    data = json.loads(run(draw_command, "celtic", env=env).output)
    assert data["seed"] == SEED
    assert not any(c["reversed"] for c in data["cards"])


def test_new_seed_each_time(deck):
    a = json.loads(run(draw_command, "single", "--json").output)["seed"]
    b = json.loads(run(draw_command, "single", "--json").output)["seed"]
    assert a != b and len(a) == 32


def test_unknown_spread_is_a_friendly_usage_error():
    result = run(draw_command, "tree-of-life")
    assert result.exit_code == 2
    assert "unknown spread 'tree-of-life'" in result.output
    assert "celtic" in result.output and "yearly_path" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("seed", ["xyz", "123", "g" * 32])
def test_bad_seed_is_a_usage_error(seed):
    result = run(draw_command, "single", "--seed", seed)
    assert result.exit_code == 2
    assert "16 to 64 hexadecimal" in result.output


def test_too_long_question():
    result = run(draw_command, "single", "--question", "x" * 600)
    assert result.exit_code == 2 and "500" in result.output


def test_self_harm_question_gets_help_not_cards():
    result = run(draw_command, "three", "--question", "I want to kill myself", "--json")
    data = json.loads(result.output)
    assert data["safety"] == "self_harm" and "findahelpline.com" in data["text"]
    assert "cards" not in data


def test_content_report_prints_figures_and_json(deck):
    from tarotbot.cli.content import content_report_command

    result = run(content_report_command, "--readings", "3")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["report"] == "content" and summary["readings_per_spread"] == 3
    assert summary["slips"] == 0 and set(summary["spreads"]) >= {"single", "celtic"}
    assert summary["spreads"]["single"]["readings"] == 3
    assert "words median" in result.output and "template slips: 0" in result.output


def test_draw_in_russian_says_its_language(deck):
    result = run(
        draw_command, "three", "--seed", SEED, "--json", "--language", "ru", "-q", "Что меня ждёт?"
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["language"] == "ru"
    english = [c["key"] for c in draw("three", SEED, deck=deck).to_record()["cards"]]
    assert len(english) == 3 and all(re.search("[А-Я]", c["name"]) for c in payload["cards"])
    assert "Ваш вопрос" in payload["interpretation"]
