"""Bot API methods through the real pyTelegramBotAPI client: identity, messages, edits, photos."""

from __future__ import annotations

import io

import pytest
import requests
import telebot
from emulator_support import OTHER_TOKEN, TOKEN, USER, png_bytes, png_file
from telebot import apihelper, types
from telebot.apihelper import ApiTelegramException


def keyboard(*buttons: tuple[str, str]) -> types.InlineKeyboardMarkup:
    markup = types.InlineKeyboardMarkup()
    for text, data in buttons:
        markup.add(types.InlineKeyboardButton(text, callback_data=data))
    return markup


def api_error(call, *args, **kwargs) -> ApiTelegramException:
    with pytest.raises(ApiTelegramException) as caught:
        call(*args, **kwargs)
    return caught.value


# -- identity, tokens, method names -------------------------------------------


def test_get_me_answers_with_the_bot_named_by_the_token(bot):
    me = bot.get_me()
    assert (me.id, me.is_bot) == (123456, True)
    assert me.username == "emulated_123456_bot"


def test_malformed_token_is_unauthorized(api):
    error = api_error(apihelper._make_request, "bot:secret", "getMe")
    assert (error.error_code, error.description) == (401, "Unauthorized")
    reply = requests.get(f"{api.base_url}/bot123456:/getMe")
    assert reply.status_code == 401


def test_unknown_method_is_not_found(api):
    error = api_error(apihelper._make_request, TOKEN, "sendHologram")
    assert (error.error_code, error.description) == (404, "Not Found")
    assert error.result.status_code == 404


def test_method_names_are_case_insensitive(api):
    reply = requests.get(f"{api.base_url}/bot{TOKEN}/GETME")
    assert reply.json()["result"]["id"] == 123456


def test_parameters_arrive_as_query_form_json_or_multipart(api, chat):
    url = f"{api.base_url}/bot{TOKEN}/sendMessage"
    shapes = [
        requests.get(url, params={"chat_id": chat, "text": "query"}),
        requests.post(url, data={"chat_id": chat, "text": "form"}),
        requests.post(url, json={"chat_id": chat, "text": "json"}),
        requests.post(url, files={"chat_id": (None, str(chat)), "text": (None, "multipart")}),
    ]
    assert [r.json()["result"]["text"] for r in shapes] == ["query", "form", "json", "multipart"]


# -- sendMessage ----------------------------------------------------------------


def test_send_message_returns_a_message_the_client_parses(bot, chat, api):
    sent = bot.send_message(chat, "<b>The Star</b> &amp; hope", parse_mode="HTML")
    assert sent.chat.id == chat and sent.from_user.is_bot
    assert sent.text == "The Star & hope"
    assert sent.entities[0].type == "bold" and sent.entities[0].length == 8
    second = bot.send_message(chat, "again")
    assert second.message_id == sent.message_id + 1
    view = api.messages(chat)
    assert [m["text"] for m in view] == ["The Star & hope", "again"]
    assert view[0]["parse_mode"] == "HTML"


@pytest.mark.parametrize(
    "text",
    ["<p>hi</p>", "<b>open", "fish & chips", "<i>x</b>"],
)
def test_malformed_html_is_a_400(bot, chat, text):
    error = api_error(bot.send_message, chat, text, parse_mode="HTML")
    assert error.error_code == 400
    assert error.description.startswith("Bad Request: can't parse entities: ")


def test_empty_text_and_unknown_chat(bot, chat):
    error = api_error(bot.send_message, chat, "<b></b>  ", parse_mode="HTML")
    assert error.description == "Bad Request: message text is empty"
    error = api_error(bot.send_message, 999_999, "hi")
    assert error.description == "Bad Request: chat not found"


def test_length_is_counted_on_visible_text_in_utf16(bot, chat):
    bot.send_message(chat, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    error = api_error(bot.send_message, chat, "x" * 4097)
    assert error.description == "Bad Request: message is too long"
    error = api_error(bot.send_message, chat, "\N{CRYSTAL BALL}" * 2049)  # 4098 UTF-16 units
    assert error.description == "Bad Request: message is too long"


def test_callback_data_over_64_bytes_is_refused(bot, chat):
    bot.send_message(chat, "ok", reply_markup=keyboard(("a", "x" * 64)))
    error = api_error(bot.send_message, chat, "no", reply_markup=keyboard(("a", "x" * 65)))
    assert error.description == "Bad Request: BUTTON_DATA_INVALID"


def test_inline_keyboard_is_stored_and_returned(bot, chat, api):
    sent = bot.send_message(chat, "Pick", reply_markup=keyboard(("Past", "pos:1")))
    assert sent.reply_markup.keyboard[0][0].callback_data == "pos:1"
    stored = api.messages(chat)[-1]["reply_markup"]
    assert stored["inline_keyboard"][0][0] == {"text": "Past", "callback_data": "pos:1"}


def test_blocked_user_gives_403(bot, chat, api):
    api.block(chat)
    error = api_error(bot.send_message, chat, "hi")
    assert (error.error_code, error.description) == (403, "Forbidden: bot was blocked by the user")
    api.send(chat, "/start")  # writing again restarts the bot
    bot.send_message(chat, "welcome back")


def test_chat_actions_are_recorded(bot, chat, api):
    bot.send_chat_action(chat, "upload_photo")
    assert [a["action"] for a in api.chat(chat)["actions"]] == ["upload_photo"]
    error = api_error(bot.send_chat_action, chat, "dancing")
    assert error.description == "Bad Request: wrong parameter action in request"


# -- edits and deletion ------------------------------------------------------------


def test_edit_text_keeps_history(bot, chat, api):
    sent = bot.send_message(chat, "Drawing...", reply_markup=keyboard(("Stop", "stop")))
    edited = bot.edit_message_text("<i>Done</i>", chat, sent.message_id, parse_mode="HTML")
    assert edited.text == "Done" and edited.edit_date
    assert edited.reply_markup is None  # an edit without reply_markup removes the keyboard
    view = api.messages(chat)[-1]
    assert view["text"] == "Done"
    assert [e["text"] for e in view["edits"]] == ["Done"]


def test_edit_errors(bot, chat, api):
    sent = bot.send_message(chat, "same")
    error = api_error(bot.edit_message_text, "same", chat, sent.message_id)
    assert error.description.startswith("Bad Request: message is not modified: ")
    error = api_error(bot.edit_message_text, "x", chat, 9999)
    assert error.description == "Bad Request: message to edit not found"
    user_message = api.send(chat, "mine")["message_id"]
    error = api_error(bot.edit_message_text, "x", chat, user_message)
    assert error.description == "Bad Request: message can't be edited"


def test_edit_reply_markup_and_delete(bot, chat, api):
    sent = bot.send_message(chat, "Pick", reply_markup=keyboard(("A", "a")))
    bot.edit_message_reply_markup(chat, sent.message_id, reply_markup=keyboard(("B", "b")))
    error = api_error(
        bot.edit_message_reply_markup, chat, sent.message_id, reply_markup=keyboard(("B", "b"))
    )
    assert error.description.startswith("Bad Request: message is not modified")
    assert bot.delete_message(chat, sent.message_id) is True
    assert api.messages(chat)[-1]["deleted"] is True
    error = api_error(bot.delete_message, chat, sent.message_id)
    assert error.description == "Bad Request: message to delete not found"
    error = api_error(bot.edit_message_text, "late", chat, sent.message_id)
    assert error.description == "Bad Request: message to edit not found"


# -- photos ------------------------------------------------------------------------


def test_send_photo_upload_reads_the_png(bot, chat, api):
    sent = bot.send_photo(
        chat, png_file(1600, 900), caption="<b>Three cards</b>", parse_mode="HTML"
    )
    largest = sent.photo[-1]
    assert (largest.width, largest.height) == (1600, 900)
    assert [p.width for p in sent.photo] == [90, 320, 800, 1280, 1600]
    assert sent.caption == "Three cards" and sent.caption_entities[0].type == "bold"
    assert api.messages(chat)[-1]["photo_size"] == len(png_bytes(1600, 900))


def test_small_photo_keeps_its_size_and_downloads(bot, chat):
    sent = bot.send_photo(chat, png_file(200, 100))
    largest = sent.photo[-1]
    assert (largest.width, largest.height, largest.file_size) == (
        200,
        100,
        len(png_bytes(200, 100)),
    )
    info = bot.get_file(largest.file_id)
    assert bot.download_file(info.file_path) == png_bytes(200, 100)
    thumb = bot.get_file(sent.photo[0].file_id)
    assert bot.download_file(thumb.file_path)[:3] == b"\xff\xd8\xff"  # a JPEG thumbnail


def test_photo_by_file_id_and_errors(bot, chat):
    first = bot.send_photo(chat, png_file())
    again = bot.send_photo(chat, first.photo[-1].file_id)
    assert again.photo[-1].file_id == first.photo[-1].file_id
    error = api_error(bot.send_photo, chat, "no-such-file-id")
    assert error.description == "Bad Request: wrong file identifier/HTTP URL specified"
    error = api_error(bot.send_photo, chat, png_file(), caption="x" * 1025)
    assert error.description == "Bad Request: message caption is too long"
    broken = io.BytesIO(b"not an image")
    broken.name = "x.png"
    error = api_error(bot.send_photo, chat, broken)
    assert error.description == "Bad Request: IMAGE_PROCESS_FAILED"


def test_edit_caption(bot, chat, api):
    sent = bot.send_photo(chat, png_file(), caption="before")
    edited = bot.edit_message_caption("after", chat, sent.message_id)
    assert edited.caption == "after"
    text = bot.send_message(chat, "text")
    error = api_error(bot.edit_message_caption, "x", chat, text.message_id)
    assert error.description == "Bad Request: there is no caption in the message to edit"


# -- commands and isolation -----------------------------------------------------------


def test_set_and_get_my_commands(bot):
    bot.set_my_commands([types.BotCommand("start", "Begin"), types.BotCommand("help", "Help")])
    assert [c.command for c in bot.get_my_commands()] == ["start", "help"]
    error = api_error(bot.set_my_commands, [types.BotCommand("Bad-Name", "x")])
    assert error.description == "Bad Request: BOT_COMMAND_INVALID"


def test_two_bots_do_not_mix(api, chat):
    other = telebot.TeleBot(OTHER_TOKEN)
    error = api_error(other.send_message, chat, "hi")  # USER never wrote to the other bot
    assert error.description == "Bad Request: chat not found"
    api.send(chat, "hi other", bot=OTHER_TOKEN)
    updates = other.get_updates(long_polling_timeout=1)
    assert [u.message.text for u in updates] == ["hi other"]
    assert [u["message"]["text"] for u in api.pending_updates()] == []
    assert USER in api.bot_state(OTHER_TOKEN).chats
