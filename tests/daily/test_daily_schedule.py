"""The daily card against PostgreSQL with a fake clock: due once a day at local time, DST included."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tarotbot import daily, users
from tarotbot.config import load_settings
from tarotbot.models import DailyCard, Reading, User
from tarotbot.tarot.commitment import commitment_of
from tarotbot.tarot.draw import verify_record

ZONES = {
    101: ("Europe/Berlin", None),  # spring forward 29 March 2026
    102: ("Australia/Sydney", None),  # autumn back 5 April 2026
    103: ("UTC+05:30", None),
    104: ("America/New_York", (6 * 60, 10 * 60)),  # quiet until 10:00: its card waits
}


def test_each_subscriber_is_due_once_per_local_day_across_dst(pg):
    start = dt.datetime(2026, 3, 26, 0, 0, tzinfo=dt.UTC)
    for telegram_id, (zone, quiet) in ZONES.items():
        users.register(telegram_id, None, "A", bonus=0)
        daily.update_settings(
            telegram_id, start, enabled=True, minute=9 * 60, zone=zone,
            quiet=tuple(quiet) if quiet else None,
        )  # fmt: skip
    users.register(105, None, "Off", bonus=0)  # never subscribed
    users.register(106, None, "Gone", bonus=0)
    daily.update_settings(106, start, enabled=True, minute=9 * 60)
    User.update(is_active=False).where(User.telegram_id == 106).execute()  # blocked the bot

    seen: dict[int, list[tuple[str, dt.datetime]]] = {t: [] for t in ZONES}
    moment = start
    while moment < start + dt.timedelta(days=12):
        for due in daily.claim_due(moment, limit=10):
            seen[due.telegram_id].append((due.day, moment))
        moment += dt.timedelta(minutes=5)

    for telegram_id, (zone, quiet) in ZONES.items():
        tz = daily.zone_of(User.get(User.telegram_id == telegram_id))
        days = [day for day, _ in seen[telegram_id]]
        assert len(days) == len(set(days)) == 12, (zone, days)  # once a day, no day twice
        wanted = "10:00" if quiet else "09:00"
        for day, claimed in seen[telegram_id]:
            local = claimed.astimezone(tz)
            assert local.strftime("%H:%M") == wanted, (zone, claimed)
            assert local.date().isoformat() == day
    berlin = [c for _, c in seen[101]]
    assert dt.datetime(2026, 3, 28, 8, 0, tzinfo=dt.UTC) in berlin  # 09:00 CET
    assert dt.datetime(2026, 3, 29, 7, 0, tzinfo=dt.UTC) in berlin  # 09:00 CEST
    sydney = [c for _, c in seen[102]]
    assert dt.datetime(2026, 4, 3, 22, 0, tzinfo=dt.UTC) in sydney  # 4 Apr 09:00 AEDT
    assert dt.datetime(2026, 4, 4, 23, 0, tzinfo=dt.UTC) in sydney  # 5 Apr 09:00 AEST


def test_a_claimer_running_late_sends_each_day_once_and_moves_on(pg):
    users.register(201, None, "A", bonus=0)
    start = dt.datetime(2026, 5, 1, 0, 0, tzinfo=dt.UTC)
    daily.update_settings(201, start, enabled=True, minute=9 * 60, zone="Asia/Tokyo")
    late = start + dt.timedelta(days=3)  # the scheduler was down for three days
    first = daily.claim_due(late, 10)
    assert [d.day for d in first] == ["2026-05-02"]  # one card, not three
    assert daily.claim_due(late, 10) == []
    assert User.get(User.telegram_id == 201).daily_next_at > late


def test_the_card_of_the_day_is_one_verifiable_card_shared_by_push_and_ask(pg):
    settings = load_settings({"SEED_SECRET": "s" * 40})
    user = users.register(301, None, "A", bonus=0).user
    card, reading = daily.card_of_the_day(user, "2026-05-02", settings)
    again, same = daily.card_of_the_day(user, "2026-05-02", settings)
    assert again.id == card.id and same.id == reading.id
    assert verify_record(reading.cards)
    assert reading.cards["commitment"] == commitment_of(reading.cards["seed"])
    assert reading.transaction_id is None  # free: no ledger row
    _, next_day = daily.card_of_the_day(user, "2026-05-03", settings)
    assert next_day.cards["seed"] != reading.cards["seed"]
    assert DailyCard.select().count() == 2 and Reading.select().count() == 2


def test_offered_once(pg):
    user = users.register(401, None, "A", bonus=0).user
    assert daily.offer_once(user.id) is True
    assert daily.offer_once(user.id) is False
    assert ZoneInfo("Europe/Berlin")  # zoneinfo data is installed
