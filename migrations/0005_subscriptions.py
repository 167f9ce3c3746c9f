"""Subscriptions sold for Telegram Stars: which charge pays the current period, and renewal.

- ``subscription_charge_id``: the ``telegram_payment_charge_id`` of the payment
  that set the current period (the first payment or the latest renewal);
  editUserStarSubscription names the subscription by it, and a refund of that
  charge takes the tier back.
- ``subscription_canceled``: the person cancelled renewal (/subscription);
  the tier stays until ``subscription_expires_at``.

The same statements run on PostgreSQL and SQLite.
"""

STATEMENTS = [
    "ALTER TABLE users ADD COLUMN subscription_charge_id VARCHAR(255)",
    "ALTER TABLE users ADD COLUMN subscription_canceled BOOLEAN NOT NULL DEFAULT false",
]


def up(migrator, db):
    for statement in STATEMENTS:
        db.execute_sql(statement)
