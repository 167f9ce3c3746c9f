"""Peewee models for the specification's four tables, and the mirror of Telegram's Stars ledger.

The tables themselves are created by the numbered scripts in ``migrations/``
(they carry the CHECKs and partial indexes peewee cannot express); these
models only read and write them. Every timestamp is an aware UTC datetime.
"""

from __future__ import annotations

import datetime as dt

import peewee

from tarotbot.db import database


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TimestampTZField(peewee.Field):
    """``TIMESTAMP WITH TIME ZONE``; always hands out aware UTC datetimes.

    PostgreSQL returns aware values itself. SQLite stores ISO-8601 text, which
    is parsed back here; a naive value (SQLite's CURRENT_TIMESTAMP) is UTC.
    """

    field_type = "TIMESTAMPTZ"

    def db_value(self, value):
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.UTC)
            value = value.astimezone(dt.UTC)
            if not isinstance(self.model._meta.database.obj, peewee.PostgresqlDatabase):
                return value.strftime("%Y-%m-%d %H:%M:%S.%f+00:00")
        return value

    def python_value(self, value):
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                return value.replace(tzinfo=dt.UTC)
            return value.astimezone(dt.UTC)
        return value


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class User(BaseModel):
    id = peewee.BigAutoField()
    telegram_id = peewee.BigIntegerField(unique=True)
    username = peewee.CharField(max_length=255, null=True)
    created_at = TimestampTZField(default=utcnow)
    last_active_at = TimestampTZField(null=True)
    is_active = peewee.BooleanField(default=True)
    subscription_tier = peewee.CharField(max_length=50, default="basic")
    subscription_expires_at = TimestampTZField(null=True)
    # Added by migration 0004: preferences the session cache is rebuilt from.
    reads_reversals = peewee.BooleanField(default=True)
    first_name = peewee.CharField(max_length=255, null=True)
    # Added by migration 0010: the daily card and the person's own time.
    timezone = peewee.CharField(max_length=64, null=True)  # IANA name or UTC+HH:MM; None: UTC
    daily_enabled = peewee.BooleanField(default=False)
    daily_minute = peewee.IntegerField(default=540)  # local minute of the day (09:00)
    quiet_start = peewee.IntegerField(null=True)  # local minutes; None: no quiet hours
    quiet_end = peewee.IntegerField(null=True)
    daily_next_at = TimestampTZField(null=True)  # next UTC instant the card is due
    daily_offered = peewee.BooleanField(default=False)  # offered once after a first reading
    # Added by migration 0011: set when the person's data was erased (/delete).
    erased_at = TimestampTZField(null=True)
    # Added by migration 0005: the charge that pays the current subscription
    # period (editUserStarSubscription names it), and renewal cancelled.
    subscription_charge_id = peewee.CharField(max_length=255, null=True)
    # Added by migration 0015: the language chosen with /language (None: Telegram's).
    language = peewee.CharField(max_length=8, null=True)
    subscription_canceled = peewee.BooleanField(default=False)

    class Meta:
        table_name = "users"


class Credit(BaseModel):
    id = peewee.BigAutoField()
    user = peewee.ForeignKeyField(User, column_name="user_id", backref="credit_rows")
    balance = peewee.IntegerField(default=0)
    last_updated_at = TimestampTZField(default=utcnow)
    version = peewee.IntegerField(default=1)

    class Meta:
        table_name = "credits"


class Transaction(BaseModel):
    id = peewee.BigAutoField()
    user = peewee.ForeignKeyField(User, column_name="user_id", backref="transactions")
    type = peewee.CharField(max_length=50)
    amount = peewee.IntegerField()
    credits_before = peewee.IntegerField()
    credits_after = peewee.IntegerField()
    status = peewee.CharField(max_length=50, default="pending")
    payment_reference = peewee.CharField(max_length=255, null=True)
    created_at = TimestampTZField(default=utcnow)
    completed_at = TimestampTZField(null=True)
    error_message = peewee.TextField(null=True)
    # Added by migration 0003 (see tarotbot.ledger): the caller's idempotency
    # key (unique), the row a refund compensates, the credits.version this
    # row produced when applied (NULL while pending/failed), and a free-text
    # reason for bonuses and refunds.
    idempotency_key = peewee.CharField(max_length=255, null=True, unique=True)
    refund_of = peewee.ForeignKeyField(
        "self", column_name="refund_of_id", null=True, backref="refunds"
    )
    credits_version = peewee.IntegerField(null=True)
    reason = peewee.TextField(null=True)

    class Meta:
        table_name = "transactions"


class Reading(BaseModel):
    id = peewee.BigAutoField()
    user = peewee.ForeignKeyField(User, column_name="user_id", backref="readings")
    spread_type = peewee.CharField(max_length=50)
    question = peewee.TextField(null=True)
    cards = peewee.JSONField()
    interpretation = peewee.TextField()
    created_at = TimestampTZField(default=utcnow)
    transaction = peewee.ForeignKeyField(
        Transaction, column_name="transaction_id", null=True, backref="readings"
    )

    class Meta:
        table_name = "readings"


class DailyCard(BaseModel):
    """One card of the day per person and local day (migration 0010)."""

    id = peewee.BigAutoField()
    user = peewee.ForeignKeyField(User, column_name="user_id", backref="daily_cards")
    day = peewee.DateField()
    reading = peewee.ForeignKeyField(Reading, column_name="reading_id", null=True)
    created_at = TimestampTZField(default=utcnow)
    pushed_at = TimestampTZField(null=True)  # sent by the scheduler
    asked_at = TimestampTZField(null=True)  # shown on /daily

    class Meta:
        table_name = "daily_cards"


class ErasedAccount(BaseModel):
    """A keyed digest of an erased person's Telegram id: no second welcome bonus (0011)."""

    digest = peewee.CharField(max_length=64, primary_key=True)
    erased_at = TimestampTZField(default=utcnow)

    class Meta:
        table_name = "erased_accounts"


class AdminAction(BaseModel):
    """The admin audit trail (migration 0012)."""

    id = peewee.BigAutoField()
    admin_telegram_id = peewee.BigIntegerField()
    action = peewee.CharField(max_length=32)
    user = peewee.ForeignKeyField(User, column_name="user_id", null=True)
    transaction = peewee.ForeignKeyField(Transaction, column_name="transaction_id", null=True)
    detail = peewee.TextField(null=True)
    created_at = TimestampTZField(default=utcnow)

    class Meta:
        table_name = "admin_actions"


class Broadcast(BaseModel):
    """A message to everyone, sent in resumable batches (migration 0012)."""

    id = peewee.BigAutoField()
    admin_telegram_id = peewee.BigIntegerField()
    admin_chat_id = peewee.BigIntegerField()
    text = peewee.TextField()
    status = peewee.CharField(max_length=16, default="draft")
    cursor_user_id = peewee.BigIntegerField(default=0)
    inflight_user_id = peewee.BigIntegerField(null=True)
    total = peewee.IntegerField(default=0)
    sent = peewee.IntegerField(default=0)
    skipped = peewee.IntegerField(default=0)
    progress_message_id = peewee.BigIntegerField(null=True)
    created_at = TimestampTZField(default=utcnow)
    started_at = TimestampTZField(null=True)
    updated_at = TimestampTZField(null=True)
    finished_at = TimestampTZField(null=True)

    class Meta:
        table_name = "broadcasts"


class InviteReward(BaseModel):
    """An invitation that was rewarded: one per new account (migration 0013)."""

    invitee = peewee.ForeignKeyField(User, column_name="invitee_id", primary_key=True)
    inviter = peewee.ForeignKeyField(User, column_name="inviter_id", backref="invites")
    day = peewee.DateField()
    created_at = TimestampTZField(default=utcnow)

    class Meta:
        table_name = "invite_rewards"


class StarTransaction(BaseModel):
    """A Stars transaction as Telegram's getStarTransactions lists it (migration 0006)."""

    telegram_transaction_id = peewee.CharField(max_length=255)
    direction = peewee.CharField(max_length=3)  # "in": a payment; "out": a refund
    telegram_user_id = peewee.BigIntegerField(null=True)
    amount = peewee.IntegerField()
    invoice_payload = peewee.CharField(max_length=255, null=True)
    subscription_period = peewee.IntegerField(null=True)
    transaction_date = TimestampTZField()
    seen_at = TimestampTZField(default=utcnow)

    class Meta:
        table_name = "star_transactions"
        primary_key = peewee.CompositeKey("telegram_transaction_id", "direction")


class ReconciliationCheckpoint(BaseModel):
    """Where reconciliation stopped reading Telegram's list (migration 0006)."""

    name = peewee.CharField(max_length=50, primary_key=True)
    next_offset = peewee.IntegerField(default=0)
    synced_at = TimestampTZField(null=True)
    updated_at = TimestampTZField(default=utcnow)

    class Meta:
        table_name = "reconciliation_checkpoints"
