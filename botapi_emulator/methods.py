"""Bot API methods: updates, commands, messages, edits, callbacks, files.

Each handler takes the bot's state and the call's parameters and returns the
``result`` Telegram would return, or raises :class:`ApiError` with Telegram's
wording. Payments live in ``payments.py``, webhooks in ``webhooks.py``.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from botapi_emulator import media
from botapi_emulator.errors import (
    NOT_MODIFIED,
    POLLING_CONFLICT_DETAIL,
    QUERY_TOO_OLD,
    SET_WEBHOOK_CONFLICT_DETAIL,
    WEBHOOK_ACTIVE_DETAIL,
    ApiError,
    bad_request,
    conflict,
)
from botapi_emulator.formatting import (
    FormattedText,
    check_length,
    format_text,
    public_entities,
)
from botapi_emulator.params import Params, missing
from botapi_emulator.registry import api_method
from botapi_emulator.state import BotState, FileRecord, StoredMessage, now

MAX_TEXT = 4096  # UTF-16 code units of visible text
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64  # bytes
MAX_CALLBACK_ANSWER = 200  # characters
KEPT_UPLOADS = 256  # per bot; older uploads keep their metadata but drop their bytes
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
MARKUP_JSON_ERROR = "can't parse reply keyboard markup JSON object"


# -- bot identity and updates ------------------------------------------------


@api_method("getMe")
def get_me(bot: BotState, p: Params) -> dict[str, Any]:
    return {
        **bot.bot_user(),
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


@api_method("getUpdates")
def get_updates(bot: BotState, p: Params) -> list[dict[str, Any]]:
    """Long polling: wait up to ``timeout`` s; a newer poll or setWebhook ends this one with 409.

    While a webhook is set the call is refused with 409 before anything is
    confirmed, as on Telegram.
    """
    offset = p.integer("offset", 0) or 0
    limit = min(100, max(1, p.integer("limit", 100) or 100))
    timeout = min(float(p.integer("timeout", 0) or 0), bot.settings.max_long_poll)
    kinds = p.decoded_json("allowed_updates")
    with bot.lock:
        if bot.webhook is not None:
            raise conflict(WEBHOOK_ACTIVE_DETAIL)
        bot.poll_generation += 1
        mine = bot.poll_generation
        bot.updates_moved()  # an older poll ends with 409
        bot.confirm(offset)
        bot.set_allowed_updates(kinds if isinstance(kinds, list) else None)
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            if bot.webhook is not None:
                raise conflict(SET_WEBHOOK_CONFLICT_DETAIL)
            if bot.poll_generation != mine:
                raise conflict(POLLING_CONFLICT_DETAIL)
            if bot.updates or bot.closing:
                return [dict(u) for u in bot.updates[:limit]]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            bot.updates_changed.wait(remaining)


# -- commands ------------------------------------------------------------------


def _commands_key(p: Params) -> tuple[str, str]:
    scope = p.decoded_json("scope", error="can't parse BotCommandScope JSON object")
    scope = scope or {"type": "default"}
    return json.dumps(scope, sort_keys=True), p.string("language_code", "") or ""


def _valid_commands(raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list):
        raise bad_request("can't parse commands JSON object")
    if len(raw) > 100:
        raise bad_request("too many commands specified")
    commands = []
    for item in raw:
        if not isinstance(item, dict):
            raise bad_request("can't parse BotCommand JSON object")
        command = str(item.get("command", ""))
        description = str(item.get("description", ""))
        if not COMMAND_RE.match(command):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        commands.append({"command": command, "description": description})
    return commands


@api_method("setMyCommands")
def set_my_commands(bot: BotState, p: Params) -> bool:
    raw = p.decoded_json("commands", error="can't parse commands JSON object")
    if raw is None:
        raise missing("commands")
    commands = _valid_commands(raw)
    key = _commands_key(p)
    with bot.lock:
        bot.commands[key] = commands
    return True


@api_method("getMyCommands")
def get_my_commands(bot: BotState, p: Params) -> list[dict[str, str]]:
    key = _commands_key(p)
    with bot.lock:
        return list(bot.commands.get(key, []))


@api_method("deleteMyCommands")
def delete_my_commands(bot: BotState, p: Params) -> bool:
    key = _commands_key(p)
    with bot.lock:
        bot.commands.pop(key, None)
    return True


# -- shared validation ---------------------------------------------------------


def parse_reply_markup(p: Params) -> dict[str, Any] | None:
    """The reply_markup parameter, validated the way Telegram validates inline keyboards."""
    markup = p.decoded_json("reply_markup", error=MARKUP_JSON_ERROR)
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request(MARKUP_JSON_ERROR)
    if "inline_keyboard" in markup:
        _check_inline_keyboard(markup["inline_keyboard"])
    return markup


def _check_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
        )
    for row in rows:
        for button in row:
            _check_button(button)


def _check_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request(
            'can\'t parse inline keyboard button: Field "text" must be of type String'
        )
    if not any(key in button for key in BUTTON_ACTIONS):
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        size = len(str(data).encode("utf-8"))
        if not isinstance(data, str) or not 1 <= size <= MAX_CALLBACK_DATA:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button and not str(button["url"]).startswith(("http://", "https://", "tg://")):
        raise bad_request("BUTTON_URL_INVALID")


def _formatted(bot: BotState, p: Params, field: str, entities_field: str) -> FormattedText | None:
    """Apply parse_mode (or explicit entities) to a text or caption parameter."""
    raw = p.string(field)
    if raw is None:
        return None
    parse_mode = p.string("parse_mode")
    if parse_mode:
        formatted = format_text(raw, parse_mode, strict_entities=bot.settings.strict_entities)
        formatted.entities = public_entities(formatted.entities)
        return formatted
    entities = p.decoded_json(entities_field, error=f"can't parse {entities_field} JSON object")
    return FormattedText(raw, entities if isinstance(entities, list) else [])


def message_text(bot: BotState, p: Params) -> FormattedText:
    """The ``text`` parameter: required, non-blank, at most 4096 visible characters."""
    formatted = _formatted(bot, p, "text", "entities")
    if formatted is None or not formatted.text.strip():
        raise bad_request("message text is empty")
    check_length(formatted.text, MAX_TEXT, "message is too long")
    return formatted


def message_caption(bot: BotState, p: Params) -> FormattedText | None:
    """The optional ``caption``: at most 1024 visible characters; blank means none."""
    formatted = _formatted(bot, p, "caption", "caption_entities")
    if formatted is None or not formatted.text.strip():
        return None
    check_length(formatted.text, MAX_CAPTION, "message caption is too long")
    return formatted


# -- sending -------------------------------------------------------------------


@api_method("sendMessage", counted=True, paid_broadcast=True)
def send_message(bot: BotState, p: Params) -> dict[str, Any]:
    with bot.lock:
        chat = bot.chat_for(p.raw("chat_id"), sending=True)
        text = message_text(bot, p)
        markup = parse_reply_markup(p)
        message = bot.add_message(
            chat,
            outgoing=True,
            method="sendMessage",
            text=text.text,
            entities=text.entities,
            parse_mode=p.string("parse_mode"),
            reply_markup=markup,
        )
        return message.to_api()


@api_method("sendPhoto", counted=True, paid_broadcast=True)
def send_photo(bot: BotState, p: Params) -> dict[str, Any]:
    """A multipart upload (read with Pillow) or the file_id of a photo sent before."""
    upload = p.upload("photo")
    info = media.inspect_image(upload.content) if upload else None
    with bot.lock:
        chat = bot.chat_for(p.raw("chat_id"), sending=True)
        caption = message_caption(bot, p)
        markup = parse_reply_markup(p)
        if upload and info:
            sizes = store_photo(bot, upload.content, info)
        else:
            sizes = _known_photo(bot, p.string("photo"))
        message = bot.add_message(
            chat,
            outgoing=True,
            method="sendPhoto",
            photo=sizes,
            photo_bytes=bot.photo_bytes[sizes[-1]["file_id"]],
            caption=caption.text if caption else None,
            caption_entities=caption.entities if caption else [],
            parse_mode=p.string("parse_mode"),
            reply_markup=markup,
        )
        return message.to_api()


#: Largest document a bot may upload (bytes): Telegram's 50 MB.
MAX_DOCUMENT = 50 * 1024 * 1024


@api_method("sendDocument", counted=True, paid_broadcast=True)
def send_document(bot: BotState, p: Params) -> dict[str, Any]:
    """A multipart file upload (kept, downloadable with getFile) or a known document's file_id."""
    upload = p.upload("document")
    with bot.lock:
        chat = bot.chat_for(p.raw("chat_id"), sending=True)
        caption = message_caption(bot, p)
        markup = parse_reply_markup(p)
        if upload is not None:
            if not upload.content:
                raise bad_request("file must be non-empty")
            if len(upload.content) > MAX_DOCUMENT:
                raise ApiError(413, "Request Entity Too Large")
            record = FileRecord(
                file_id=media.new_file_id(),
                file_unique_id=media.new_file_unique_id(),
                file_size=len(upload.content),
                file_path=f"documents/file_{len(bot.files)}",
                data=upload.content,
            )
            bot.files[record.file_id] = record
            bot.files_by_path[record.file_path] = record
            document = {
                "file_id": record.file_id,
                "file_unique_id": record.file_unique_id,
                "file_name": upload.filename or "document",
                "mime_type": upload.content_type or "application/octet-stream",
                "file_size": record.file_size,
            }
            bot.documents[record.file_id] = document
        else:
            document = bot.documents.get(p.string("document") or "")
            if document is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
        message = bot.add_message(
            chat,
            outgoing=True,
            method="sendDocument",
            caption=caption.text if caption else None,
            caption_entities=caption.entities if caption else [],
            parse_mode=p.string("parse_mode"),
            reply_markup=markup,
            content={"document": document},
        )
        return message.to_api()


def _known_photo(bot: BotState, file_id: str | None) -> list[dict[str, Any]]:
    if not file_id:
        raise bad_request("there is no photo in the request")
    sizes = bot.photos.get(file_id)
    if sizes is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    return sizes


def store_photo(bot: BotState, content: bytes, info: media.ImageInfo) -> list[dict[str, Any]]:
    """Keep the upload and answer with Telegram's ladder of PhotoSize objects."""
    sizes: list[dict[str, Any]] = []
    records: list[FileRecord] = []
    for width, height, size, max_side in media.size_ladder(info):
        extension = info.extension if max_side is None else "jpg"
        record = FileRecord(
            file_id=media.new_file_id(),
            file_unique_id=media.new_file_unique_id(),
            file_size=size,
            file_path=f"photos/file_{len(bot.files)}.{extension}",
            data=content if max_side is None else None,
            source=content,
            max_side=max_side,
        )
        bot.files[record.file_id] = record
        bot.files_by_path[record.file_path] = record
        records.append(record)
        sizes.append(
            {
                "file_id": record.file_id,
                "file_unique_id": record.file_unique_id,
                "file_size": size,
                "width": width,
                "height": height,
            }
        )
    for record in records:
        bot.photos[record.file_id] = sizes
        bot.photo_bytes[record.file_id] = info.size
    _forget_old_uploads(bot, records)
    return sizes


def _forget_old_uploads(bot: BotState, records: list[FileRecord]) -> None:
    """Bound memory in long benchmarks: only the latest uploads keep their bytes."""
    bot.kept_uploads.append(records)
    while len(bot.kept_uploads) > KEPT_UPLOADS:
        for old in bot.kept_uploads.popleft():
            old.data = old.source = None


@api_method("sendChatAction")
def send_chat_action(bot: BotState, p: Params) -> bool:
    action = p.string("action")
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    with bot.lock:
        chat = bot.chat_for(p.raw("chat_id"), sending=True)
        chat.actions.append({"action": action, "date": time.time(), "stored_at": time.monotonic()})
        bot.changed.notify_all()
    return True


# -- edits and deletion --------------------------------------------------------


def _message_to_edit(bot: BotState, p: Params) -> StoredMessage:
    if p.present("inline_message_id") and not p.present("chat_id"):
        raise bad_request("MESSAGE_ID_INVALID")
    chat = bot.chat_for(p.raw("chat_id"))
    message = chat.live_message(p.integer("message_id", required=True))
    if message is None:
        raise bad_request("message to edit not found")
    if not message.outgoing:
        raise bad_request("message can't be edited")
    return message


def _record_edit(bot: BotState, message: StoredMessage, method: str, **changes: Any) -> None:
    """Apply an edit and keep it in the message's edit history."""
    for key, value in changes.items():
        setattr(message, key, value)
    message.edit_date = now()
    entry = {"method": method, "date": message.edit_date}
    entry.update({k: v for k, v in changes.items() if k != "entities"})
    message.edits.append(entry)
    bot.changed.notify_all()


@api_method("editMessageText", counted=True)
def edit_message_text(bot: BotState, p: Params) -> dict[str, Any]:
    with bot.lock:
        message = _message_to_edit(bot, p)
        text = message_text(bot, p)
        markup = parse_reply_markup(p)
        if message.text is None:
            raise bad_request("there is no text in the message to edit")
        same = (text.text, text.entities, markup) == (
            message.text,
            message.entities,
            message.reply_markup,
        )
        if same:
            raise bad_request(NOT_MODIFIED)
        _record_edit(
            bot,
            message,
            "editMessageText",
            text=text.text,
            entities=text.entities,
            parse_mode=p.string("parse_mode"),
            reply_markup=markup,
        )
        return message.to_api()


@api_method("editMessageCaption", counted=True)
def edit_message_caption(bot: BotState, p: Params) -> dict[str, Any]:
    with bot.lock:
        message = _message_to_edit(bot, p)
        caption = message_caption(bot, p)
        markup = parse_reply_markup(p)
        if message.photo is None:
            raise bad_request("there is no caption in the message to edit")
        new_text = caption.text if caption else None
        new_entities = caption.entities if caption else []
        if (new_text, new_entities, markup) == (
            message.caption,
            message.caption_entities,
            message.reply_markup,
        ):
            raise bad_request(NOT_MODIFIED)
        _record_edit(
            bot,
            message,
            "editMessageCaption",
            caption=new_text,
            caption_entities=new_entities,
            parse_mode=p.string("parse_mode"),
            reply_markup=markup,
        )
        return message.to_api()


@api_method("editMessageReplyMarkup", counted=True)
def edit_message_reply_markup(bot: BotState, p: Params) -> dict[str, Any]:
    with bot.lock:
        message = _message_to_edit(bot, p)
        markup = parse_reply_markup(p)
        if markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        _record_edit(bot, message, "editMessageReplyMarkup", reply_markup=markup)
        return message.to_api()


@api_method("deleteMessage")
def delete_message(bot: BotState, p: Params) -> bool:
    with bot.lock:
        chat = bot.chat_for(p.raw("chat_id"))
        message = chat.live_message(p.integer("message_id", required=True))
        if message is None:
            raise bad_request("message to delete not found")
        message.deleted = True
        bot.changed.notify_all()
    return True


@api_method("deleteMessages")
def delete_messages(bot: BotState, p: Params) -> bool:
    """Delete up to 100 messages; unknown ones are skipped, as Telegram does."""
    ids = p.decoded_json("message_ids", error="can't parse message_ids JSON object")
    valid = isinstance(ids, list) and all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids
    )
    if not valid or not 1 <= len(ids) <= 100:
        raise bad_request("message_ids must be a non-empty array of at most 100 identifiers")
    with bot.lock:
        chat = bot.chat_for(p.raw("chat_id"))
        for message_id in ids:
            message = chat.live_message(int(message_id))
            if message is not None:
                message.deleted = True
        bot.changed.notify_all()
    return True


# -- callbacks, chats, files ---------------------------------------------------


@api_method("answerCallbackQuery")
def answer_callback_query(bot: BotState, p: Params) -> bool:
    """Answer once, within the timeout; afterwards Telegram calls the query too old."""
    query_id = p.string("callback_query_id")
    text = p.string("text")
    if text and len(text) > MAX_CALLBACK_ANSWER:
        raise bad_request("MESSAGE_TOO_LONG")
    with bot.lock:
        record = bot.callback_queries.get(query_id or "")
        expired = record is None or (
            time.monotonic() - record.created > bot.settings.callback_answer_timeout
        )
        if expired or record.answered:
            raise bad_request(QUERY_TOO_OLD)
        record.answered = True
        record.answer = {
            "text": text,
            "show_alert": p.flag("show_alert"),
            "url": p.string("url"),
            "cache_time": p.integer("cache_time", 0),
        }
        bot.changed.notify_all()
    return True


@api_method("getChat")
def get_chat(bot: BotState, p: Params) -> dict[str, Any]:
    with bot.lock:
        chat = bot.chat_for(p.raw("chat_id"))
        return {**chat.user.chat_api(), "accent_color_id": 0, "max_reaction_count": 11}


@api_method("getFile")
def get_file(bot: BotState, p: Params) -> dict[str, Any]:
    """File metadata; thumbnails are downscaled now, on first request."""
    file_id = p.string("file_id", required=True)
    with bot.lock:
        record = bot.files.get(file_id or "")
        if record is None:
            raise bad_request("invalid file_id")
        if record.data is None and record.source is not None and record.max_side:
            record.data = media.downscale(record.source, record.max_side)
            record.file_size = len(record.data)
        return record.to_api()


def file_content(bot: BotState, file_path: str) -> bytes | None:
    """Bytes served at ``/file/bot<token>/<file_path>``; None when unknown or dropped."""
    with bot.lock:
        record = bot.files_by_path.get(file_path)
        return record.data if record else None
