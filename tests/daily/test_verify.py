"""/verify's pieces: a reading's seed is sealed before the question and reproduces its cards."""

from __future__ import annotations

import json
import subprocess
import sys

from tarotbot import users
from tarotbot.config import load_settings, seed_secret_bytes
from tarotbot.readings import perform_reading
from tarotbot.tarot.commitment import commitment_of, new_nonce, seed_for
from tarotbot.verification import verification_of

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_seed_is_derived_from_the_nonce_and_sealed(pg):
    settings = load_settings({"SEED_SECRET": "x" * 40, "REVERSAL_PROBABILITY": "0.5"})
    user = users.register(11, None, "A", bonus=5).user
    nonce = new_nonce()
    seal = commitment_of(seed_for(seed_secret_bytes(settings), nonce))  # what the prompt showed
    outcome = perform_reading(user, "three", "Will it rain?", "reading-1", settings, nonce=nonce)
    record = outcome.reading.cards
    assert record["nonce"] == nonce and record["commitment"] == seal
    check = verification_of(outcome.reading)
    assert check.matches and check.seal_holds and check.commitment == seal
    assert check.command == (
        f"REVERSAL_PROBABILITY=0.5 python -m tarotbot draw three --seed {record['seed']}"
    )
    # the command, run as printed, lays the same cards
    result = subprocess.run(
        [sys.executable, "-m", "tarotbot", "draw", "three", "--seed", record["seed"], "--json"],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "REVERSAL_PROBABILITY": "0.5"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    drawn = json.loads(result.stdout)["cards"]
    assert [(c["name"], c["reversed"]) for c in drawn] == [
        (c["name"], c["reversed"]) for c in record["cards"]
    ]


def test_a_tampered_record_is_reported(pg):
    settings = load_settings({})
    user = users.register(12, None, "A", bonus=5).user
    outcome = perform_reading(user, "single", None, "reading-2", settings, nonce=new_nonce())
    record = dict(outcome.reading.cards)
    record["commitment"] = "0" * 64
    outcome.reading.cards = record
    assert not verification_of(outcome.reading).seal_holds


def test_without_a_nonce_a_fresh_seed_and_no_seal(pg):
    user = users.register(13, None, "A", bonus=5).user
    outcome = perform_reading(user, "single", None, "reading-3", load_settings({}))
    assert "commitment" not in outcome.reading.cards
    check = verification_of(outcome.reading)
    assert check.matches and check.commitment is None
