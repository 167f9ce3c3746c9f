"""Reading history: keyset pages on PostgreSQL and SQLite.

Every test runs on both engines (the ``db`` fixture): on SQLite timestamps
are text, so these tests are what shows the cursor compares correctly there.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tarotbot.history import (
    MAX_PAGE_SIZE,
    BadCursor,
    HistoryItem,
    HistoryPage,
    history_page,
    history_page_offset,
    reading_for_user,
)
from tests.history.helpers import (
    BASE_TIME,
    expected_order,
    make_reading,
    make_readings,
    make_user,
)


def walk(user_id: int, limit: int) -> tuple[list[HistoryPage], list[HistoryPage]]:
    """All pages oldest-ward from the top, then all pages back up from the bottom."""
    down = [history_page(user_id, limit=limit)]
    while down[-1].older_cursor is not None:
        down.append(history_page(user_id, down[-1].older_cursor, "older", limit))
        assert len(down) < 10_000
    up = [down[-1]]
    while up[-1].newer_cursor is not None:
        up.append(history_page(user_id, up[-1].newer_cursor, "newer", limit))
        assert len(up) < 10_000
    return down, up


def ids(pages: list[HistoryPage]) -> list[int]:
    return [item.reading_id for page in pages for item in page.items]


def check_walk(user_id: int, limit: int) -> None:
    """Down and back up again, every reading exactly once per way, in history order."""
    expected = expected_order(user_id)
    down, up = walk(user_id, limit)
    assert ids(down) == expected
    assert [item.reading_id for page in reversed(up) for item in page.items] == expected
    assert [page.items for page in reversed(up)] == [page.items for page in down]
    for page in down:
        assert page.page_size == limit
        assert 1 <= len(page.items) <= limit or expected == []
    assert down[0].newer_cursor is None
    assert down[-1].older_cursor is None
    assert all(len(page.items) == limit for page in down[:-1])


def test_item_fields(db):
    user = make_user()
    at = BASE_TIME.replace(microsecond=123456)
    paid = make_reading(user, at, cost=3, names=("The Fool", "Death"), spread_type="three")
    free = make_reading(
        user, at + dt.timedelta(seconds=1), cost=None, question=None, names=("The Star",)
    )
    page = history_page(user)
    assert [item.reading_id for item in page.items] == [free, paid]
    newest, oldest = page.items
    assert oldest == HistoryItem(
        reading_id=paid,
        spread_type="three",
        question="What now?",
        created_at=at,
        credit_cost=3,
        card_names=("The Fool", "Death"),
    )
    assert oldest.created_at.tzinfo is not None
    assert oldest.created_at.utcoffset() == dt.timedelta(0)
    assert newest.credit_cost is None
    assert newest.question is None
    assert newest.card_names == ("The Star",)
    assert page.older_cursor is None and page.newer_cursor is None


def test_bare_list_of_cards(db):
    user = make_user()
    make_reading(user, BASE_TIME, names=("The Moon", "The Sun"), bare_list=True)
    (item,) = history_page(user).items
    assert item.card_names == ("The Moon", "The Sun")


def test_empty_history(db):
    user = make_user()
    assert history_page(user) == HistoryPage((), None, None, 5)
    assert history_page(user, direction="newer") == HistoryPage((), None, None, 5)
    assert history_page_offset(user, 5, 0) == []


def test_walk_older_and_back_newer(db):
    user = make_user()
    make_readings(user, [BASE_TIME + dt.timedelta(minutes=i) for i in range(23)])
    check_walk(user, 5)
    down, _ = walk(user, 5)
    assert [len(page.items) for page in down] == [5, 5, 5, 5, 3]


def test_exact_multiple_of_page_size(db):
    user = make_user()
    make_readings(user, [BASE_TIME + dt.timedelta(minutes=i) for i in range(10)])
    down, _ = walk(user, 5)
    assert [len(page.items) for page in down] == [5, 5]
    check_walk(user, 5)


def test_ties_are_broken_by_id(db):
    """Many readings in the same microsecond, straddling page boundaries."""
    user = make_user()
    same = BASE_TIME.replace(microsecond=500)
    times = [same] * 7 + [same + dt.timedelta(microseconds=1)] * 3 + [same] * 4
    times += [same - dt.timedelta(microseconds=1)] * 2
    make_readings(user, times)
    for limit in (1, 2, 3, 5, 20):
        check_walk(user, limit)


def test_other_users_readings_are_invisible(db):
    alice, bob = make_user(), make_user()
    alice_ids = make_readings(alice, [BASE_TIME + dt.timedelta(seconds=i) for i in range(6)])
    bob_ids = make_readings(bob, [BASE_TIME + dt.timedelta(seconds=i) for i in range(6)])
    down, _ = walk(alice, 4)
    assert sorted(ids(down)) == sorted(alice_ids)
    # Bob's cursor (a real position in Bob's history) does not show Bob's readings to Alice.
    bob_page = history_page(bob, limit=2)
    page = history_page(alice, bob_page.older_cursor, "older", 10)
    assert not set(item.reading_id for item in page.items) & set(bob_ids)
    assert reading_for_user(alice, bob_ids[0]) is None
    assert reading_for_user(bob, bob_ids[0]).id == bob_ids[0]
    assert history_page(make_user()).items == ()


def test_reading_for_user_rejects_odd_ids(db):
    user = make_user()
    reading = make_reading(user, BASE_TIME)
    assert reading_for_user(user, reading).user_id == user
    for bad in (0, -1, 2**63, 10**30, "1", None, True):
        assert reading_for_user(user, bad) is None
    assert reading_for_user(user, reading + 1000) is None


def test_new_reading_between_page_views_is_not_repeated(db):
    """OFFSET would show the boundary reading twice; a cursor does not."""
    user = make_user()
    make_readings(user, [BASE_TIME + dt.timedelta(minutes=i) for i in range(10)])
    first = history_page(user, limit=5)
    make_reading(user, BASE_TIME + dt.timedelta(hours=1))
    second = history_page(user, first.older_cursor, "older", 5)
    assert not {i.reading_id for i in first.items} & {i.reading_id for i in second.items}
    assert [i.reading_id for i in first.items + second.items] == expected_order(user)[1:]
    # Back up: the new reading is announced, and the top page is a full one.
    back = history_page(user, second.newer_cursor, "newer", 5)
    assert back.items == first.items
    assert back.newer_cursor is not None
    top = history_page(user, back.newer_cursor, "newer", 5)
    assert [i.reading_id for i in top.items] == expected_order(user)[:5]
    assert top.newer_cursor is None
    assert top.older_cursor is not None


def test_offset_query_matches_keyset_without_ties(db):
    user = make_user()
    make_readings(user, [BASE_TIME + dt.timedelta(minutes=i) for i in range(12)])
    down, _ = walk(user, 5)
    for number, page in enumerate(down):
        assert history_page_offset(user, 5, number * 5) == list(page.items)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "h:o:zzz",
        "zzz",
        ".",
        "1.",
        ".1",
        "1.0",  # id 0
        "01.1",  # not canonical
        "1.01",
        "ABC.1",  # upper case
        "1.1.1",
        " 1.1",
        "1.1\n",
        "-1.1",
        "1.-1",
        "zzzzzzzzzzzzz.1",  # past year 9999
        "1.zzzzzzzzzzzzz",  # beyond BIGINT
        "1" * 100 + ".1",
        "x" * 10_000,
        "١.١",  # Arabic-Indic digits: int() would accept them
    ],
)
def test_forged_cursors_raise_value_error(db, cursor):
    user = make_user()
    make_reading(user, BASE_TIME)
    for direction in ("older", "newer"):
        with pytest.raises(BadCursor):
            history_page(user, cursor, direction)
    assert issubclass(BadCursor, ValueError)


def test_random_garbage_cursors(db):
    user = make_user()
    rng = random.Random(1)
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz.:-_ABCZ"
    for _ in range(200):
        cursor = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        try:
            history_page(user, cursor)
        except ValueError:
            pass  # garbage is refused; anything that decodes is a harmless position


def test_bad_direction_and_limit(db):
    user = make_user()
    with pytest.raises(ValueError):
        history_page(user, direction="sideways")
    for limit in (0, -1, MAX_PAGE_SIZE + 1, True, 2.0):
        with pytest.raises(ValueError):
            history_page(user, limit=limit)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=6), max_size=30),
    limit=st.integers(min_value=1, max_value=7),
)
def test_walk_property(db, offsets, limit):
    """Any history (ties included), any page size: each reading once, in order, both ways."""
    user = make_user()  # a fresh user per example; the database is shared
    make_readings(user, [BASE_TIME + dt.timedelta(microseconds=o) for o in offsets])
    check_walk(user, limit)


def test_history_labels_shorten_long_questions_at_a_word():
    from jobs.readings import _shortened

    assert _shortened("Will I find a new job?", 24) == "Will I find a new job?"
    assert _shortened("Question number 9 about my future", 24) == "Question number 9 about…"
    assert _shortened("Supercalifragilisticexpialidocious", 10) == "Supercali…"
    assert len(_shortened("a " * 40, 24)) <= 24
