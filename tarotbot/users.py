"""Users: registration with its one-time welcome bonus, cache warming, preferences, activity."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import peewee
import redis

from tarotbot import ledger
from tarotbot.cache import ReadingCache
from tarotbot.cleaning import clean_text
from tarotbot.db import database
from tarotbot.exceptions import UnknownUser
from tarotbot.models import ErasedAccount, Reading, User, utcnow
from tarotbot.sessions import SessionCache


@dataclass(frozen=True)
class Registration:
    user: User
    created: bool
    bonus: int  # credits granted by this call (0 on a repeat /start)
    balance: int
    returning: bool = False  # a new account of someone whose earlier data was erased


def warm_caches(conn: redis.Redis, telegram_id: int, recent: int = 3) -> None:
    """Fill a returning person's caches ahead of use (the spec's CacheWarmer).

    Run on /start: their session, their balance and their ``recent`` latest
    readings are then served from Redis for the next hour.
    """
    session = SessionCache(conn).get(telegram_id)
    if session is None:
        return
    ledger.balance(session.user_id)  # populates credits:<id> on a miss
    readings = ReadingCache(conn)
    latest = (
        Reading.select()
        .where(Reading.user == session.user_id)
        .order_by(Reading.created_at.desc(), Reading.id.desc())
        .limit(recent)
    )
    for reading in latest:
        readings.put(reading)


def welcome_key(user_id: int) -> str:
    """The ledger key of a user's welcome bonus: one per user, ever."""
    return f"welcome-{user_id}"


def erased_digest(telegram_id: int, secret: bytes) -> str:
    """The keyed digest an erased account leaves behind (no Telegram id is kept in clear)."""
    return hmac.new(secret, f"erased:{int(telegram_id)}".encode(), hashlib.sha256).hexdigest()


def was_erased(telegram_id: int, secret: bytes) -> bool:
    digest = erased_digest(telegram_id, secret)
    return ErasedAccount.select().where(ErasedAccount.digest == digest).exists()


def register(
    telegram_id: int,
    username: str | None,
    first_name: str | None,
    bonus: int,
    erasure_secret: bytes | None = None,
    language: str | None = None,
) -> Registration:
    """Create the user if new, open the credit account and grant the bonus once.

    With ``erasure_secret``, someone whose earlier account was erased
    (/delete) gets a new account without a second welcome bonus. Names are
    cleaned first (:func:`~tarotbot.cleaning.clean_text`): a NUL or a lone
    surrogate in a Telegram name must not make registration, or the payment
    that registers a payer, fail forever.
    """
    username, first_name = clean_text(username), clean_text(first_name)
    returning = erasure_secret is not None and bonus > 0 and was_erased(telegram_id, erasure_secret)
    with database.atomic():
        try:
            with database.atomic():
                user = User.create(
                    telegram_id=telegram_id,
                    username=username,
                    first_name=first_name,
                    last_active_at=utcnow(),
                    language=language,
                )
                created = True
        except peewee.IntegrityError:
            user = User.get(User.telegram_id == telegram_id)
            created = False
            # writing to the bot again makes a person who had blocked it reachable again
            User.update(last_active_at=utcnow(), is_active=True).where(User.id == user.id).execute()
        ledger.open_account(user.id)
        granted = 0
        if bonus > 0 and not returning:  # once per person, erased accounts included
            entry = ledger.grant_bonus(user.id, bonus, key=welcome_key(user.id), reason="welcome")
            granted = 0 if entry.replayed else bonus
    # Read after the commit: a replayed bonus carries the balance of its day, not today's.
    return Registration(user, created, granted, ledger.balance(user.id), returning and created)


_BY_TELEGRAM_ID: dict[type, tuple[str, list]] = {}  # per database class: SQL, its fields


def by_telegram_id(telegram_id: int) -> User:
    """The person with this Telegram id; :class:`UnknownUser` if none.

    Every job starts here, so the SELECT peewee would build anew for each call
    (0.3 ms of CPU) is built once per database kind and reused; the row is
    turned into a :class:`User` through the fields' own conversions, as
    peewee does.
    """
    engine = type(database.obj)
    compiled = _BY_TELEGRAM_ID.get(engine)
    if compiled is None:
        query = User.select().where(User.telegram_id == 0).limit(1)
        compiled = _BY_TELEGRAM_ID[engine] = (query.sql()[0], list(query._returning))
    text, fields = compiled
    row = database.execute_sql(text, (telegram_id, 1)).fetchone()
    if row is None:
        raise UnknownUser(f"no user with telegram id {telegram_id}")
    data = {field.name: field.python_value(value) for field, value in zip(fields, row, strict=True)}
    user = User(__no_default__=1, **data)
    user._dirty.clear()  # as read: a save() writes only what the caller changes
    return user


def language_of(telegram_id: int) -> str | None:
    """The language on record for ``telegram_id`` (None: unknown person, or none chosen)."""
    user = User.get_or_none(User.telegram_id == telegram_id)
    return user.language if user is not None else None


def set_language(telegram_id: int, language: str) -> User:
    """Remember the language the person chose (/language) for every reply from now on."""
    user = by_telegram_id(telegram_id)
    User.update(language=language).where(User.id == user.id).execute()
    user.language = language
    return user


def set_reversals(telegram_id: int, enabled: bool) -> User:
    user = by_telegram_id(telegram_id)
    User.update(reads_reversals=enabled).where(User.id == user.id).execute()
    user.reads_reversals = enabled
    return user


def set_active(telegram_id: int, active: bool) -> bool:
    """Mark the person active (they wrote again) or inactive (they blocked the bot).

    Returns whether a user row was changed; an unknown person is no error
    (a payer's chat may be unreachable before they ever registered).
    """
    values = {"is_active": active}
    if active:
        values["last_active_at"] = utcnow()
    query = User.update(**values).where(
        (User.telegram_id == telegram_id) & (User.is_active != active)
    )
    return query.execute() > 0
