"""A broadcast interrupted by SIGKILLed workers resumes where it stopped: nobody gets it twice."""

from __future__ import annotations

import time

import pytest
from e2e_stack import Stack, buttons, containing, count_containing

from tarotbot import users
from tarotbot.models import AdminAction, Broadcast

pytestmark = pytest.mark.slow
ADMIN = 5_570_000
PEOPLE = [5_570_001 + i for i in range(24)]
TEXT = "Full moon tonight: readings are half price until Sunday"


def test_broadcast_resumes_after_sigkill_without_duplicates(app_env, emulator, pg, tmp_path):
    env = {**app_env, "ADMIN_IDS": str(ADMIN), "BULK_SENDS_PER_SECOND": "4"}
    for user_id in PEOPLE:  # people who once wrote to the bot (their chats exist)
        emulator.send(user_id, "hello", first_name="P")
        users.register(user_id, None, "P", bonus=0)
    emulator.block(PEOPLE[5])  # blocked the bot: skipped, marked inactive
    stack = Stack(env, emulator, workers=2, log_dir=tmp_path).start()
    try:
        stack.send(ADMIN, "/start")
        stack.wait_for(ADMIN, containing("free credits"))
        stack.send(ADMIN, f"/broadcast {TEXT}")
        messages = stack.wait_for(ADMIN, containing("Send broadcast #"))
        confirm = next(
            m for m in reversed(messages) if any(b.startswith("a:send") for b in buttons(m))
        )
        data = next(b for b in buttons(confirm) if b.startswith("a:send"))
        stack.tap(ADMIN, confirm["message_id"], data)
        deadline = time.monotonic() + 30
        while Broadcast.get().sent < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        for worker in list(stack.workers):  # SIGKILL every worker mid-broadcast
            stack.kill(worker)
        cut = Broadcast.get()
        assert cut.status == "sending" and 6 <= cut.sent < len(PEOPLE)
        stack.start_worker()  # hands the dead workers' job back; the broadcast resumes
        stack.wait_for(ADMIN, containing("finished"), timeout=60)
        time.sleep(1)  # anything sent twice would show now
        done = Broadcast.get()
        # the blocked person is skipped: found out by the broadcast, or already marked
        # inactive when the bot's answer to their "hello" came back 403 (issue 15)
        assert done.status == "done" and done.sent + done.skipped in (len(PEOPLE), len(PEOPLE) + 1)
        for user_id in [*PEOPLE, ADMIN]:
            got = count_containing(stack.messages(user_id), TEXT)
            expected = {PEOPLE[5]: 0, ADMIN: 2}.get(user_id, 1)  # the admin: preview and message
            assert got == expected, (user_id, got)
        assert done.skipped in (0, 1) and done.sent == len(PEOPLE)
        assert {a.action for a in AdminAction.select()} >= {
            "broadcast-draft",
            "broadcast-send",
            "broadcast-done",
        }
        progress = stack.messages(ADMIN)
        assert count_containing(progress, "finished: 24 sent") >= 1
    finally:
        stack.stop()
