"""The terminal demo, scripted through stdin, with no configuration at all."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def demo(script: str, env: dict, cwd: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tarotbot", "demo", *options],
        input=script,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_scripted_demo_reaches_a_reading_and_the_history(clean_env, tmp_path):
    script = "/start\n/reading\n2\nWill I find a new job?\n/history\n/frobnicate\n"
    result = demo(script, clean_env, tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Welcome, Seeker" in out and "5 free credits" in out
    assert "[2] Past, Present, Future" in out
    pictures = re.findall(r"\[picture: ([^\]]+)\]", out)
    assert len(pictures) == 1
    picture = tmp_path / pictures[0]
    assert picture.suffix == ".jpg" and picture.read_bytes().startswith(b"\xff\xd8\xff")
    assert "credits used · 3 left" in out
    assert "Your readings" in out and "Will I find a new job?" in out.split("Your readings")[1]
    assert "I do not know /frobnicate" in out
    assert (tmp_path / "tarotbot.sqlite3").exists()
    assert "Traceback" not in result.stderr
    assert not Path(tmp_path / "dump.rdb").exists()


def test_a_second_demo_run_on_the_same_database_is_a_new_conversation(clean_env, tmp_path):
    """The emulator starts afresh each run, the SQLite file stays: no update replays the past."""
    first = demo("/start\n/reading\n2\nWill I find a new job?\n", clean_env, tmp_path)
    assert first.returncode == 0 and "credits used · 3 left" in first.stdout

    second = demo("/start\n/reading\n1\nShould I move abroad?\n/history\n", clean_env, tmp_path)

    out = second.stdout
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Welcome back" in out and "Should I move abroad?" in out
    assert "1 credit used · 2 left" in out
    history = out.split("Your readings")[1]
    assert "Should I move abroad?" in history and "Will I find a new job?" in history


def test_walking_away_from_a_question_leaves_no_paid_step_behind(clean_env, tmp_path):
    """A spread chosen, then another command: a later "hello" is not a paid question."""
    result = demo("/start\n/reading\n2\n/balance\nhello\n/balance\n", clean_env, tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Shuffling" not in out and "used · " not in out
    assert "If that is a question for the cards" in out
    assert out.count("🪙 You hold 5 credits") == 2


def test_markup_in_a_question_is_shown_as_typed(clean_env, tmp_path):
    question = "Is <b>this</b> & <i>that</i> wise?"
    result = demo(f"/start\n/reading\n1\n{question}\n", clean_env, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"“{question}”" in result.stdout  # quoted back in the reading, exactly


def test_the_demo_speaks_russian_when_asked(clean_env, tmp_path):
    """--language ru: the demo person's Telegram app is in Russian, so the bot answers in it."""
    script = "/start\n/reading\n2\nПолучу ли я эту работу?\n"
    result = demo(script, clean_env, tmp_path, "--language", "ru")
    out = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Добро пожаловать" in out and "Прошлое, настоящее, будущее" in out
    assert ("Ваш вопрос" in out and "кредита использовано" in out) or "кредит" in out
    assert "Welcome" not in out and "Your question" not in out
