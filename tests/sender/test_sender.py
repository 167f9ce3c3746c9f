"""The sender against the Bot API emulator with the real pyTelegramBotAPI client and Redis."""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest
import requests
from PIL import Image

from tarotbot.tarot.telegram_text import CAPTION_LIMIT, MESSAGE_LIMIT, escape, telegram_length
from tarotbot.telegram import replies
from tarotbot.telegram.outgoing import Outgoing, store_photo
from tarotbot.telegram.ratelimit import Limits, RedisLimiter
from tarotbot.telegram.sender import Sender

from .conftest import BOT_ID, TOKEN, Recorder, TimerEnqueueLater, bot_texts, messages

SECRET = TOKEN.split(":", 1)[1]
# a burst of three, then one message every half second: the fourth must wait ~0.5 s
HALF_SECOND = Limits(chat_rate=2.0)
KEYBOARD = {"inline_keyboard": [[{"text": "Again", "callback_data": "again"}]]}


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 40), (90, 40, 120)).save(buffer, format="PNG")
    return buffer.getvalue()


def long_html(paragraphs: int, words: int = 120, tag: str = "p") -> str:
    """Numbered HTML paragraphs; each about ``6 * words`` characters."""
    return "\n\n".join(
        f"<b>{tag}{n:02d}</b> " + escape("lorem & ipsum " * (words // 2)).strip()
        for n in range(paragraphs)
    )


def test_outgoing_round_trips_through_json_and_checks_itself():
    items = [
        replies.text(1, "<b>hi</b>", KEYBOARD),
        replies.photo(1, "photo:x", "caption"),
        replies.edit_text(1, 5, "new"),
        Outgoing("edit_markup", 1, message_id=5, reply_markup=None),
        Outgoing("delete", 1, message_id=5),
        replies.action(1, "upload_photo"),
        Outgoing(
            "invoice",
            1,
            title="10 credits",
            description="Ten readings",
            payload="pack:small:1",
            prices=[{"label": "10", "amount": 50}],
        ),
    ]
    for item in items:
        assert Outgoing.from_dict(item.to_dict()) == item
    for bad in (
        {"kind": "fax", "chat_id": 1},
        {"kind": "text", "chat_id": 1, "text": "  "},
        {"kind": "photo", "chat_id": 1},
        {"kind": "delete", "chat_id": 1},
        {
            "kind": "invoice",
            "chat_id": 1,
            "title": "x" * 40,
            "description": "d",
            "payload": "p",
            "prices": [{"label": "a", "amount": 1}],
        },
    ):
        with pytest.raises(ValueError):
            Outgoing.from_dict(bad)


def test_long_text_arrives_as_several_messages_in_order(emulator, users, make_sender):
    users(1001)
    text = long_html(24)  # ~17,000 characters
    assert telegram_length(text) > 4 * MESSAGE_LIMIT
    sender = make_sender()

    plan = sender.plan(1001, [replies.text(1001, text, KEYBOARD)])
    assert len(plan) >= 5 and all(telegram_length(p.text) <= MESSAGE_LIMIT for p in plan)
    result = sender.deliver("long-1", 1001, [replies.text(1001, text, KEYBOARD)])

    assert result.complete and result.sent == list(range(len(plan)))
    sent = messages(emulator, 1001)
    assert [m["message_id"] for m in sent] == result.created
    assert all(len(m["text"]) <= MESSAGE_LIMIT for m in sent)
    joined = "\n\n".join(m["text"] for m in sent)
    positions = [joined.index(f"p{n:02d} ") for n in range(24)]
    assert positions == sorted(positions)  # every paragraph, in order
    assert [m["reply_markup"] for m in sent] == [None] * (len(sent) - 1) + [KEYBOARD]


def test_photo_with_long_caption(emulator, users, make_sender, redis_conn):
    users(1002)
    store_photo(redis_conn, "photo:test:1002", png())
    caption = long_html(6, words=60, tag="c")  # ~2,200 characters
    assert telegram_length(caption) > CAPTION_LIMIT
    item = replies.photo(1002, "photo:test:1002", caption, KEYBOARD)

    result = make_sender().deliver("photo-1", 1002, [item, replies.text(1002, "after")])

    assert result.complete
    first, *rest = messages(emulator, 1002)
    assert first["photo"] and first["photo_size"] == len(png())
    assert 0 < len(first["caption"]) <= CAPTION_LIMIT and first["reply_markup"] is None
    texts = [m["text"] for m in rest]
    assert texts[-1] == "after"
    continued = "\n\n".join([first["caption"], *texts[:-1]])
    positions = [continued.index(f"c{n:02d} ") for n in range(6)]
    assert positions == sorted(positions)
    assert rest[-2]["reply_markup"] == KEYBOARD  # the keyboard follows the caption's last part
    assert b"PNG" not in repr([i.to_dict() for i in make_sender().plan(1002, [item])]).encode()


def test_photo_in_hand_goes_out_without_redis_and_is_kept_only_when_rescheduled(
    emulator, users, make_sender, redis_conn
):
    users(1012)
    picture = png()
    items = [
        replies.photo(1012, "photo:hand:1", "first"),
        replies.text(1012, "between"),
        replies.photo(1012, "photo:hand:2"),
    ]
    later = Recorder()
    sender = make_sender(later)
    emulator.inject_fault("sendMessage", error_code=429, retry_after=1, count=1)

    result = sender.deliver(
        "hand-1", 1012, items, photos={"photo:hand:1": picture, "photo:hand:2": picture}
    )

    # the first went out straight from memory, never through Redis
    assert result.sent == [0] and result.rescheduled == [1, 2]
    assert redis_conn.get("photo:hand:1") is None
    # the second waits for a later attempt, which finds its picture in Redis
    assert redis_conn.get("photo:hand:2") == picture
    [(_, bundle_id, chat_id, rest)] = later.calls
    again = sender.deliver(bundle_id, chat_id, [Outgoing.from_dict(i.to_dict()) for i in rest])
    assert again.sent == [1, 2]
    sent = messages(emulator, 1012)
    assert [m["photo_size"] for m in sent] == [len(picture), None, len(picture)]


def test_injected_429_reschedules_the_rest(emulator, users, make_sender):
    users(1003)
    # through the emulator's HTTP driver, as any client would
    answer = requests.post(
        f"{emulator.base_url}/_emulator/faults",
        json={"method": "sendMessage", "error_code": 429, "retry_after": 1, "count": 1},
        timeout=5,
    )
    assert answer.json()["ok"]
    later = Recorder()
    sender = make_sender(later)
    items = [replies.action(1003, "typing")] + [replies.text(1003, f"part {n}") for n in range(4)]

    result = sender.deliver("b429", 1003, items)

    assert result.sent == [0] and result.rescheduled == [1, 2, 3, 4]
    assert result.delay == 1.0 and "429" in result.reason
    [(delay, bundle_id, chat_id, rest)] = later.calls
    assert (delay, bundle_id, chat_id) == (1.0, "b429", 1003)
    assert messages(emulator, 1003) == []
    # what the job would do with its payload
    payload = [Outgoing.from_dict(item.to_dict()) for item in rest]
    second = sender.deliver(bundle_id, chat_id, payload)
    assert second.complete and second.sent == [1, 2, 3, 4]
    assert bot_texts(emulator, 1003) == [f"part {n}" for n in range(4)]
    assert emulator.get_stats()["responses_429"] == 1


def test_retry_after_a_crash_sends_nothing_twice(emulator, users, make_sender):
    users(1004)
    items = [replies.text(1004, f"m{n}") for n in range(6)]
    later = Recorder()
    sender = make_sender(later, limits=HALF_SECOND)

    # The first attempt gets three out (the burst), then the rest must wait
    # longer than it may: it is handed to enqueue_later ...
    first = sender.deliver("crashy", 1004, items, max_wait=0.2)
    assert first.sent == [0, 1, 2] and first.rescheduled == [3, 4, 5]
    # ... and the process "dies" before that job runs. The original job is
    # retried with the original items, later the rescheduled job runs too.
    retried = sender.deliver("crashy", 1004, items)
    assert retried.skipped == [0, 1, 2] and retried.sent == [3, 4, 5]
    [(_, _, _, rest)] = later.calls
    replayed = sender.deliver("crashy", 1004, rest)
    assert replayed.sent == [] and replayed.skipped == [3, 4, 5]
    again = sender.deliver("crashy", 1004, items)
    assert again.sent == [] and again.created == first.created + retried.created[3:]

    assert bot_texts(emulator, 1004) == [f"m{n}" for n in range(6)]


def test_every_kind_of_call(emulator, users, make_sender, redis_conn):
    users(1005)
    sender = make_sender()
    first = sender.deliver("kinds-1", 1005, [replies.text(1005, "v1", KEYBOARD)])
    [message_id] = first.created
    store_photo(redis_conn, "photo:kinds", png())
    items = [
        replies.action(1005, "upload_photo"),
        replies.photo(1005, "photo:kinds"),
        replies.edit_text(1005, message_id, "<i>v2</i>", KEYBOARD),
        replies.edit_text(1005, message_id, "<i>v2</i>", KEYBOARD),  # not modified: fine
        Outgoing("edit_markup", 1005, message_id=message_id, reply_markup=None),
        Outgoing(
            "invoice",
            1005,
            title="10 credits",
            description="Ten readings",
            payload="pack:small:1005",
            prices=[{"label": "10", "amount": 50}],
        ),
        Outgoing("delete", 1005, message_id=message_id),
        Outgoing("delete", 1005, message_id=message_id),  # already gone: fine
    ]

    result = sender.deliver("kinds-2", 1005, items)

    assert result.complete and result.sent == list(range(8)) and not result.failed
    chat = emulator.chat(1005, bot=BOT_ID)
    assert [a["action"] for a in chat["actions"]] == ["upload_photo"]
    edited, photo, invoice = chat["messages"]
    assert edited["deleted"] and edited["text"] == "v2" and not edited["reply_markup"]
    assert photo["photo"] and photo["caption"] is None
    assert invoice["invoice"]["currency"] == "XTR" and invoice["invoice"]["total_amount"] == 50
    assert result.created == [photo["message_id"], invoice["message_id"]]


def test_blocked_user_is_dropped_quietly(emulator, users, make_sender, caplog):
    users(1006)
    emulator.block(1006, bot=BOT_ID)
    caplog.set_level(logging.INFO, logger="tarotbot.sender")
    later = Recorder()

    result = make_sender(later).deliver("blocked", 1006, [replies.text(1006, "hi")] * 2)

    assert result.dropped == [0, 1] and not later.calls and "blocked" in result.reason
    assert any("blocked" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)


def test_bad_html_falls_back_to_plain_text(emulator, users, make_sender):
    users(1007)
    result = make_sender().deliver("html", 1007, [replies.text(1007, "<b>unclosed & bold")])
    assert result.sent == [0]
    assert bot_texts(emulator, 1007) == ["unclosed & bold"]


def test_missing_picture_sends_its_caption(emulator, users, make_sender):
    users(1008)
    item = replies.photo(1008, "photo:never-stored", "<b>The Tower</b>")
    assert make_sender().deliver("nophoto", 1008, [item]).sent == [0]
    assert bot_texts(emulator, 1008) == ["The Tower"]


def test_transient_failures_back_off_then_give_up(emulator, users, make_sender, caplog):
    users(1009)
    emulator.inject_fault("sendMessage", 500, count=10)
    later = Recorder()
    sender = make_sender(later, max_attempts=3)
    items = [replies.text(1009, "hello")]

    delays = []
    for _ in range(2):
        result = sender.deliver("flaky", 1009, items)
        assert result.rescheduled == [0]
        delays.append(result.delay)
    assert delays == [2.0, 4.0]  # exponential backoff
    caplog.set_level(logging.ERROR, logger="tarotbot.sender")
    result = sender.deliver("flaky", 1009, items)
    assert result.dropped == [0] and "gave up after 3 attempts" in result.reason
    assert any("giving up" in r.getMessage() for r in caplog.records)
    emulator.inject_fault("sendMessage", count=0)


def test_token_never_leaks_on_connection_errors(redis_conn, caplog):
    """An unreachable endpoint: requests' error names the URL (with the token) — we don't."""
    import telebot
    from telebot import apihelper

    saved = apihelper.API_URL, apihelper.FILE_URL
    apihelper.API_URL = "http://127.0.0.1:9/bot{0}/{1}"  # discard port: refused
    caplog.set_level(logging.DEBUG)
    later = Recorder()
    try:
        bot = telebot.TeleBot(TOKEN, threaded=False)
        sender = Sender(bot, redis_conn, RedisLimiter(redis_conn, BOT_ID), later)
        result = sender.deliver("offline", 1010, [replies.text(1010, "hello")])
    finally:
        apihelper.API_URL, apihelper.FILE_URL = saved
    assert result.rescheduled == [0] and "ConnectionError" in result.reason
    assert SECRET not in result.reason
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    for key in redis_conn.keys("*"):
        assert SECRET.encode() not in key
        if redis_conn.type(key) == b"string":
            assert SECRET.encode() not in redis_conn.get(key)


def test_bundles_to_one_chat_keep_their_order(emulator, users, make_sender):
    """A second bundle never overtakes a first one that had to wait."""
    users(1011)
    later = TimerEnqueueLater(max_wait=1.5)
    sender = make_sender(later, limits=HALF_SECOND)
    later.sender = sender
    first = [replies.text(1011, f"a{n}") for n in range(5)]
    second = [replies.text(1011, f"b{n}") for n in range(2)]

    assert sender.deliver("first", 1011, first, max_wait=0.2).rescheduled == [3, 4]
    waiting = sender.deliver("second", 1011, second, max_wait=0.2)
    assert waiting.sent == [] and waiting.reason == "waiting for earlier messages to this chat"

    assert later.wait_idle(15) and not later.errors
    assert bot_texts(emulator, 1011) == ["a0", "a1", "a2", "a3", "a4", "b0", "b1"]


def test_a_bundle_waits_in_place_while_the_chat_is_busy(emulator, users, make_sender):
    """A reading done while the acknowledgement is still going out follows it at once."""
    users(1013, 1014)
    later = Recorder()
    sender = make_sender(later)
    emulator.set_delay("sendMessage", 300)

    def busy(chat_id: int) -> threading.Thread:
        """Start a bundle whose one call takes 300 ms; return once it holds the chat."""
        thread = threading.Thread(
            target=sender.deliver,
            args=(f"busy-{chat_id}", chat_id, [replies.text(chat_id, "ack")]),
        )
        thread.start()
        time.sleep(0.1)
        return thread

    holder = busy(1013)
    patient = sender.deliver("reading-1013", 1013, [replies.text(1013, "reading")])
    holder.join()
    holder = busy(1014)
    hurried = sender.deliver("reading-1014", 1014, [replies.text(1014, "x")], max_wait=0.05)
    holder.join()

    assert patient.sent == [0] and not patient.rescheduled
    assert bot_texts(emulator, 1013) == ["ack", "reading"]
    assert hurried.rescheduled == [0] and hurried.delay >= 1  # not worth waiting for
    assert [call[1] for call in later.calls] == ["reading-1014"]


def test_limits_per_bot_are_namespaced(emulator, users, make_sender, redis_conn):
    users(1012)
    make_sender().deliver("ns", 1012, [replies.text(1012, "x")])
    keys = {k.decode() for k in redis_conn.keys("*")}
    assert "sent:ns" in keys
    assert any(k.startswith(f"tarotbot:ratelimit:{BOT_ID}:") for k in keys)
    assert all(SECRET not in k for k in keys)


def test_other_bots_limits_are_their_own(redis_conn):
    mine = RedisLimiter(redis_conn, BOT_ID, Limits(chat_burst=1))
    theirs = RedisLimiter(redis_conn, "777", Limits(chat_burst=1))
    mine.reserve_slot(1)
    assert theirs.reserve_slot(1).delay == 0.0 and mine.reserve_slot(1).delay > 0.5
