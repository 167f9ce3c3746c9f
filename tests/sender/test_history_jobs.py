"""The history job against forged cursors: a polite pointer back to /history."""

from __future__ import annotations

from jobs import readings as reading_jobs
from tarotbot import users as accounts

from .conftest import bot_texts


def test_a_forged_history_cursor_points_back_to_history(app, emulator, users):
    users(5201)
    accounts.register(5201, None, "Di", bonus=5)

    result = reading_jobs.show_history(5201, 5201, "not-a-cursor", "older", None, "history-5201-1")

    assert result == {"status": "bad-cursor"}
    assert bot_texts(emulator, 5201) == [
        "That page of your history has expired. Open /history again."
    ]
