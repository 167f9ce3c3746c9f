"""The nine spreads: their positions, what each position asks, costs and layouts.

A spread is data: a name (the stable identifier stored with every reading), a
title and a one-line description for people, a cost in credits, an *angle*
(which of a card's texts the reading uses: general, love, career, or time
phrasing) and its positions in reading order.

Layout coordinates
------------------
Each :class:`Position` carries ``x`` and ``y``: where the centre of its card
sits on a grid of *card slots*. One slot is a card plus a gutter: ``x`` counts
slot widths to the right, ``y`` slot heights downwards; fractions are allowed.
A card is :data:`CARD_ASPECT` times as tall as it is wide, and the gutter is
:data:`GUTTER` card widths, so :meth:`Position.box` gives a card's rectangle
in card widths. The picture (:mod:`.render`) and the layout tests both use
these boxes. Only the Celtic Cross's crossing card overlaps another card: it
lies ``rotated`` across card 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from tarotbot.tarot.errors import UnknownSpread

__all__ = [
    "CARD_ASPECT",
    "GUTTER",
    "SPREADS",
    "Position",
    "Spread",
    "UnknownSpread",
    "get_spread",
]

#: Card height / card width.
CARD_ASPECT = 1.6
#: Space between two neighbouring slots, in card widths.
GUTTER = 0.14

ANGLES = ("general", "love", "career", "time")
#: What a position's card is read as: one of the card texts' roles
#: (:data:`~.card_texts.ROLES`), ``essence`` (what the card brings), or ``time``
#: (a day, week or month of a time spread).
POSITION_ROLES = (
    "essence",
    "time",
    "past",
    "self",
    "other",
    "obstacle",
    "strength",
    "hidden",
    "hope",
    "advice",
    "outcome",
)


@dataclass(frozen=True)
class Position:
    """One place in a spread: what it asks, how its card is read, and where it lies."""

    key: str
    name: str
    question: str
    x: float
    y: float
    rotated: bool = False
    role: str = "essence"

    def box(self) -> tuple[float, float, float, float]:
        """The card's rectangle ``(left, top, right, bottom)`` in card widths."""
        cx = self.x * (1 + GUTTER)
        cy = self.y * (CARD_ASPECT + GUTTER)
        half_w, half_h = (CARD_ASPECT / 2, 0.5) if self.rotated else (0.5, CARD_ASPECT / 2)
        return (cx - half_w, cy - half_h, cx + half_w, cy + half_h)


@dataclass(frozen=True)
class Spread:
    """A spread: ``name`` is the stable id; ``cost`` is in credits.

    ``angle`` picks the card texts: ``"general"`` (upright/reversed meaning),
    ``"love"``, ``"career"`` or ``"time"`` (the general meaning, phrased for
    the position's moment). ``time_frame`` names the span a time spread covers
    ("the week ahead"); ``focus`` lists the position keys that carry the
    answer to an open question. ``story`` names three positions read as one
    movement in time (from, through, toward); ``pairs`` the positions whose
    cards are read against each other.
    """

    name: str
    title: str
    description: str
    cost: int
    positions: tuple[Position, ...]
    angle: str = "general"
    time_frame: str | None = None
    focus: tuple[str, ...] = ()
    story: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        keys = [p.key for p in self.positions]
        if len(set(keys)) != len(keys):
            raise ValueError(f"spread {self.name!r} repeats a position key")
        if self.angle not in ANGLES:
            raise ValueError(f"spread {self.name!r}: unknown angle {self.angle!r}")
        if not set(self.focus) <= set(keys):
            raise ValueError(f"spread {self.name!r}: focus names an unknown position")
        named = set(self.story) | {key for pair in self.pairs for key in pair}
        if not named <= set(keys) or len(self.story) not in (0, 3):
            raise ValueError(f"spread {self.name!r}: story or pairs name an unknown position")
        for position in self.positions:
            if position.role not in POSITION_ROLES:
                raise ValueError(f"spread {self.name!r}: unknown role {position.role!r}")

    def __len__(self) -> int:
        return len(self.positions)

    def position(self, key: str) -> Position:
        for position in self.positions:
            if position.key == key:
                return position
        raise KeyError(f"spread {self.name!r} has no position {key!r}")

    @property
    def size(self) -> tuple[float, float]:
        """Width and height of the whole layout, in card widths."""
        boxes = [p.box() for p in self.positions]
        return (
            max(b[2] for b in boxes) - min(b[0] for b in boxes),
            max(b[3] for b in boxes) - min(b[1] for b in boxes),
        )


def _p(
    key: str, name: str, question: str, x: float, y: float, rotated: bool = False, role: str = ""
) -> Position:
    return Position(
        key, name, question, float(x), float(y), rotated, role or _ROLE.get(key, "essence")
    )


#: How each position's card is read, by position key (the default: ``essence``).
_ROLE = {
    "past": "past",
    "roots": "past",
    "future": "outcome",
    "near_future": "outcome",
    "outcome": "outcome",
    "potential": "outcome",
    "destination": "outcome",
    "challenge": "obstacle",
    "obstacle": "obstacle",
    "lessons": "obstacle",
    "foundation": "hidden",
    "hidden": "hidden",
    "crown": "hope",
    "hopes_fears": "hope",
    "your_needs": "hope",
    "their_needs": "hope",
    "self": "self",
    "you": "self",
    "them": "other",
    "environment": "other",
    "strengths": "strength",
    "gifts": "strength",
    "action": "advice",
    "next_step": "advice",
}


_SINGLE = Spread(
    name="single",
    title="Single Card",
    description="One card for a clear, quick message about today or one question.",
    cost=1,
    positions=(_p("message", "The message", "What do you most need to hear right now?", 0, 0),),
    focus=("message",),
)

_THREE = Spread(
    name="three",
    title="Past, Present, Future",
    description="Three cards that tell the story of where you come from and where you are heading.",
    cost=2,
    positions=(
        _p("past", "Past", "What from the past has shaped this situation?", 0, 0),
        _p("present", "Present", "What is at the heart of things right now?", 1, 0),
        _p("future", "Future", "Where is this heading if nothing changes?", 2, 0),
    ),
    focus=("present", "future"),
    story=("past", "present", "future"),
)

# The cross: card 1 at the centre with card 2 lying across it, 3 below, 4 to
# the left, 5 above, 6 to the right; the staff (7..10) rises on the right.
# The cross's columns sit 1.2 slots apart so the crossing card, lying on its
# side, clears cards 4 and 6.
_CELTIC = Spread(
    name="celtic",
    title="Celtic Cross",
    description="The classic ten-card reading: the whole situation, its roots, and where it leads.",
    cost=5,
    positions=(
        _p(
            "present",
            "The heart of the matter",
            "What is at the centre of this situation?",
            1.2,
            1.5,
        ),
        _p(
            "challenge",
            "The crossing",
            "What crosses you: the challenge or tension in play?",
            1.2,
            1.5,
            True,
        ),
        _p("foundation", "The root", "What lies beneath, at the foundation of it all?", 1.2, 2.5),
        _p("past", "The recent past", "What is passing away behind you?", 0, 1.5),
        _p("crown", "The crown", "What are you aiming for, consciously or not?", 1.2, 0.5),
        _p("near_future", "The near future", "What is coming into view next?", 2.4, 1.5),
        _p("self", "Yourself", "How are you meeting this situation?", 3.7, 3),
        _p(
            "environment",
            "Your surroundings",
            "How do the people and places around you bear on it?",
            3.7,
            2,
        ),
        _p(
            "hopes_fears",
            "Hopes and fears",
            "What are you hoping for, or quietly afraid of?",
            3.7,
            1,
        ),
        _p("outcome", "The outcome", "Where is this heading as things stand?", 3.7, 0),
    ),
    focus=("present", "outcome"),
    story=("past", "present", "outcome"),
    pairs=(("foundation", "crown"), ("hopes_fears", "outcome"), ("present", "challenge")),
)

_RELATIONSHIP = Spread(
    name="relationship",
    title="Relationship",
    description="Seven cards on you, the other person, and what flows between you.",
    cost=3,
    angle="love",
    positions=(
        _p("you", "You", "How are you showing up in this relationship?", 0, 0),
        _p("bond", "The bond", "What connects the two of you?", 1, 0),
        _p("them", "The other person", "How are they showing up?", 2, 0),
        _p("your_needs", "What you need", "What do you need and long for here?", 0, 1),
        _p("challenge", "The challenge", "What stands between you or tests you?", 1, 1),
        _p("their_needs", "What they need", "What do they need and long for?", 2, 1),
        _p("potential", "Where it can go", "What can this relationship become?", 1, 2),
    ),
    focus=("bond", "potential"),
    pairs=(("you", "them"), ("your_needs", "their_needs"), ("challenge", "potential")),
)

_CAREER = Spread(
    name="career",
    title="Career Path",
    description="Six cards on your work and money: where you stand, what helps, and the next step.",
    cost=3,
    angle="career",
    positions=(
        _p("situation", "Where you stand", "Where do you stand in your work right now?", 0, 0),
        _p("strengths", "Your strengths", "What do you bring that helps you most?", 1, 0),
        _p("obstacle", "The obstacle", "What is holding you back?", 2, 0),
        _p("hidden", "What you don’t see", "What is at work behind the scenes?", 0, 1),
        _p("action", "Your next step", "What is the best move to make now?", 1, 1),
        _p("outcome", "Where it leads", "Where is this path taking you?", 2, 1),
    ),
    focus=("situation", "action", "outcome"),
    story=("situation", "action", "outcome"),
    pairs=(("strengths", "obstacle"), ("hidden", "action")),
)

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY_XY = ((0, 0), (1, 0), (2, 0), (3, 0), (0.5, 1), (1.5, 1), (2.5, 1))

_WEEK = Spread(
    name="week_ahead",
    title="The Week Ahead",
    description="A card for each day of the coming week, Monday to Sunday.",
    cost=4,
    angle="time",
    time_frame="the week ahead",
    positions=tuple(
        _p(day.lower(), day, f"What does {day} hold for you?", x, y, role="time")
        for day, (x, y) in zip(_DAYS, _DAY_XY, strict=True)
    ),
    focus=("monday", "sunday"),
    story=("monday", "thursday", "sunday"),
)

_WEEK_NAMES = ("first", "second", "third", "fourth")

_MONTH = Spread(
    name="monthly_guidance",
    title="Monthly Guidance",
    description="The theme of the coming month and a card for each of its four weeks.",
    cost=5,
    angle="time",
    time_frame="the month ahead",
    positions=(
        _p("theme", "The month’s theme", "What is the thread running through this month?", 1.5, 0),
        *(
            _p(
                f"week_{i + 1}",
                f"Week {i + 1}",
                f"What does the {n} week ask of you?",
                i,
                1,
                role="time",
            )
            for i, n in enumerate(_WEEK_NAMES)
        ),
    ),
    focus=("theme",),
    story=("week_1", "week_2", "week_4"),
)

ORDINALS = (
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
)

# The overview card stands to the left; the twelve months follow in four rows
# of three, one row per season.
_YEAR = Spread(
    name="yearly_path",
    title="The Year Ahead",
    description="An overview card and one card for each of the next twelve months.",
    cost=8,
    angle="time",
    time_frame="the year ahead",
    positions=(
        _p("overview", "The year’s overview", "What is the spirit of the year ahead?", 0, 1.5),
        *(
            _p(
                f"month_{i + 1}",
                f"Month {i + 1}",
                f"What does the {o} month from now bring?",
                1.2 + i % 3,
                i // 3,
                role="time",
            )
            for i, o in enumerate(ORDINALS)
        ),
    ),
    focus=("overview",),
    story=("month_1", "month_6", "month_12"),
)

# A winding path: seven cards alternating between two rows, left to right.
_LIFE = Spread(
    name="life_path",
    title="Life Path",
    description="Seven cards on where you come from, your gifts and lessons, and where your path leads.",
    cost=6,
    angle="time",
    time_frame="your life path",
    positions=(
        _p("roots", "Your roots", "What from your beginnings still shapes you?", 0, 1),
        _p("self", "Who you are now", "Who are you becoming at this point on the path?", 0.6, 0),
        _p("gifts", "Your gifts", "What talents and strengths are yours to use?", 1.2, 1),
        _p("lessons", "Your lessons", "What keeps returning until you learn it?", 1.8, 0),
        _p("purpose", "Your purpose", "What gives your life its deeper meaning?", 2.4, 1),
        _p("next_step", "The next step", "What is the next stretch of the path asking?", 3.0, 0),
        _p("destination", "Where it leads", "Where is your path carrying you?", 3.6, 1),
    ),
    focus=("self", "purpose", "destination"),
    story=("roots", "self", "destination"),
    pairs=(("gifts", "lessons"), ("purpose", "next_step")),
)

#: Every spread by name, in menu order (cheapest first).
SPREADS: dict[str, Spread] = {
    spread.name: spread
    for spread in (
        _SINGLE,
        _THREE,
        _RELATIONSHIP,
        _CAREER,
        _WEEK,
        _CELTIC,
        _MONTH,
        _LIFE,
        _YEAR,
    )
}


def get_spread(name: str) -> Spread:
    """The spread called ``name``; :class:`UnknownSpread` (a ValueError) lists the valid names."""
    try:
        return SPREADS[name]
    except (KeyError, TypeError):
        raise UnknownSpread(str(name), tuple(SPREADS)) from None
