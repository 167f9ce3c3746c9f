"""The composer's wording: loaded from ``data/phrasing/*.json`` once, validated, then immutable.

The phrases are data (``data/phrasing/SCHEMA.md``); :mod:`.compose` picks and fills them by
path (``<file>.<key>…``). :data:`SCHEMA` lists every path, its kind and the ``{placeholders}``
the composer fills in; :func:`load_phrasing` checks the files against it and names the file,
key and problem (missing or unknown key, wrong type, unknown or missing placeholder, bad HTML).
"""

from __future__ import annotations

import functools
import hashlib
import json
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from tarotbot.tarot.deck import DATA_DIR, ELEMENTS, RANKS
from tarotbot.tarot.errors import PhrasingError
from tarotbot.tarot.languages import DEFAULT_LANGUAGE, language_dir, plural_forms
from tarotbot.tarot.telegram_text import HtmlProblem, check_html

__all__ = ["PHRASING_DIR", "SCHEMA", "Phrasing", "build_phrasing", "load_phrasing", "slots_for"]

PHRASING_DIR = DATA_DIR / "phrasing"


SETS = {
    "plural": ("one", "other"),  # English; another language's come from CLDR (plural_forms)
    "orientation": ("upright", "reversed"),
    "lean": ("yes", "no", "maybe"),
    "number": tuple(str(n) for n in range(1, 14)),  # up to the largest spread's 13 cards
    "twelve": tuple(str(n) for n in range(1, 13)),  # weeks and months of the time spreads
    "day": ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    "element": ELEMENTS,
    "rank": RANKS,
}

#: ``path kind placeholders``; ``<set>`` stands for each name in SETS, ``{a,b}``
#: for a and b. Kinds: ``wordings`` (a list of Telegram-HTML sentences, one
#: picked per reading), ``text`` (one fixed piece of Telegram HTML), ``plain``
#: (plain text). A template must use each plain placeholder name (``a|b``:
#: either) and may use each ``?name``; nothing else is filled in.
SCHEMA = """
grammar.number_words.<number> text
grammar.counted.cards.<plural> text number
grammar.list_separator text
grammar.list_last text items last
grammar.card_reversed text card
grammar.quoted_question text question
grammar.ordinal.{week,month}.<twelve> text
grammar.day.<day> text
opening.single_card.question wordings question ?stop
opening.single_card.no_question wordings
opening.question wordings question ?stop ?spread cards
opening.no_question wordings ?spread cards
positions.header.<orientation> text number position card_name
positions.lead_in.{day,week,month} wordings when
synthesis.header.{single_card,spread} text
synthesis.story.plain wordings first second third
synthesis.story.time wordings first second third ?time_frame
synthesis.pair.{light,heavy,tension} wordings a|a_card b|b_card a_theme b_theme
synthesis.pattern.{single_major,single_minor} wordings card
synthesis.pattern.no_majors wordings
synthesis.pattern.reversals wordings count ?total
synthesis.pattern.majors wordings count ?total ?names
synthesis.pattern.element wordings element ?count ?total ?meaning
synthesis.pattern.rank wordings count rank names ?meaning
synthesis.week_ahead.brightest_day wordings day card
synthesis.week_ahead.gentle_day wordings day card_as_drawn
synthesis.yearly_path.turning_points wordings months
synthesis.yearly_path.turning_point text month card
synthesis.yearly_path.no_turning_points wordings
symbolism.elements.<element>.{name,in_short} text
symbolism.ranks.<rank>.{plural,meaning} text
answer.{question,no_question}.header text
answer.question.intro wordings question
answer.yes_no.{opening,closing}.<lean> wordings
answer.yes_no.{cards_for_yes,cards_for_no}.<plural> text names
answer.yes_no.card_leaning.<lean> text
answer.yes_no.single_card.<orientation> wordings card leaning
answer.open.{outcome,advice,cause,timing,obstacle} wordings card_as_drawn where
answer.where text number position
answer.reflective.intro wordings
answer.reflective.{lead,further} wordings card_as_drawn where
answer.reflective.close.<orientation> wordings
advice.header text
advice.main.<orientation> wordings card advice
advice.second wordings card advice
advice.closing wordings
card_page.keywords text keywords
card_page.{love,work,advice} text text
caption.essence.<orientation> plain card_name keywords
caption.leaning.<lean> plain
caption.essence_with_leaning plain leaning essence
picture.{reversed,major_arcana,quote_open,quote_close} plain
picture.cards.<plural> plain number
picture.months.<twelve> plain
picture.elements.<element> plain
picture.ranks.{ace,page,knight,queen,king} plain
"""


class Slot(NamedTuple):
    kind: str
    allowed: frozenset[str]
    required: tuple[frozenset[str], ...]  # each: at least one of these names


def _parse(schema: str, sets: Mapping[str, tuple[str, ...]] = SETS) -> dict[str, Slot]:
    slots = {}
    for line in schema.strip().splitlines():
        path, kind, *fields = line.split()
        paths = [""]
        for part in path.split("."):
            names = sets[part[1:-1]] if part[0] == "<" else part.strip("{}").split(",")
            paths = [f"{p}.{n}".lstrip(".") for p in paths for n in names]
        groups = [frozenset(f.removeprefix("?").split("|")) for f in fields]
        required = tuple(g for f, g in zip(fields, groups, strict=True) if f[0] != "?")
        slots.update(dict.fromkeys(paths, Slot(kind, frozenset().union(*groups), required)))
    return slots


#: Every slot by its full path (``"answer.yes_no.opening.maybe"``).
SLOTS = _parse(SCHEMA)
FILES = tuple(dict.fromkeys(path.split(".")[0] for path in SLOTS))


@functools.cache
def slots_for(language: str) -> dict[str, Slot]:
    """Every slot of ``language``: the same paths, with its own plural forms."""
    if language == DEFAULT_LANGUAGE:
        return SLOTS
    return _parse(SCHEMA, {**SETS, "plural": plural_forms(language)})


def _listed(names: frozenset[str] | set[str], joiner: str = ", ") -> str:
    return joiner.join(f"{{{name}}}" for name in sorted(names)) or "no placeholders"


def _check(where: str, slot: Slot, template: Any) -> str | tuple[str, ...]:
    """The value of one slot, checked: a list of wordings becomes a tuple."""
    if slot.kind == "wordings":
        if not isinstance(template, list) or not template:
            raise PhrasingError(f"{where}: must be a list of one or more wordings")
        text = slot._replace(kind="text")
        return tuple(_check(f"{where}, wording {i}", text, t) for i, t in enumerate(template, 1))
    if not isinstance(template, str) or not template.strip():
        raise PhrasingError(f"{where}: must be a non-empty string")
    try:
        fields = [f for f in string.Formatter().parse(template) if f[1] is not None]
    except ValueError as exc:
        raise PhrasingError(f"{where}: {exc}; write {{{{ or }}}} for a literal brace") from None
    for _, name, spec, conversion in fields:
        if name not in slot.allowed or spec or conversion:  # plain names: no {a!r}, {a:>9}
            raise PhrasingError(
                f"{where}: unknown placeholder {{{name}}}; this key fills in {_listed(slot.allowed)}"
            )
    for group in slot.required:
        if not group & {f[1] for f in fields}:
            raise PhrasingError(f"{where}: missing placeholder {_listed(group, ' or ')}")
    if slot.kind == "plain" and ("<" in template or ">" in template):
        raise PhrasingError(f"{where}: plain text only (found < or >)")
    try:
        if slot.kind != "plain":
            check_html(template)
    except HtmlProblem as exc:
        raise PhrasingError(f"{where}: not valid Telegram HTML ({exc})") from None
    return template


def _flatten(path: str, value: Any, out: dict[str, Any], slots: Mapping) -> dict[str, Any]:
    """The values of one parsed file by their full paths (down to the slots)."""
    if path in slots or not isinstance(value, dict):
        out[path] = value
    else:
        for key, sub in value.items():
            _flatten(f"{path}.{key}", sub, out, slots)
    return out


class Phrasing:
    """The validated phrasing: :meth:`say` fills in the slot at a path."""

    def __init__(self, values: Mapping[str, str | tuple[str, ...]], language: str = "en"):
        self.values = dict(values)
        self.language = language
        self.slots = slots_for(language)

    def number(self, n: int) -> str:
        """``n`` in words where ``grammar.number_words`` has it, else in digits."""
        return str(self.values.get(f"grammar.number_words.{n}", n))

    def say(self, path: str, seed: str = "", salt: str | None = None, **values: str) -> str:
        """The text at ``path``, or one of its wordings (chosen by hashing ``seed`` with
        ``salt``, default ``path``: varied, yet repeatable), filled in with ``values``."""
        if set(values) != self.slots[path].allowed:  # the composer disagrees with SCHEMA: a bug
            raise TypeError(f"{path}: filled in {_listed(set(values))}, see SCHEMA")
        template = options = self.values[path]
        if isinstance(options, tuple):
            digest = hashlib.sha256(f"{seed}|{salt or path}".encode()).digest()
            template = options[int.from_bytes(digest[:4], "big") % len(options)]
        return template.format_map(values)


def build_phrasing(files: Mapping[str, Any], language: str = DEFAULT_LANGUAGE) -> Phrasing:
    """Validate parsed files (``{"grammar": {...}, ...}``); pure, tests break copies with it."""
    slots = slots_for(language)
    values: dict[str, Any] = {}
    for name in FILES:
        if name not in files:
            raise PhrasingError(f"{name}.json: missing")
        expected = [path for path in slots if path.split(".")[0] == name]
        found = _flatten(name, files[name], {}, slots)
        for path in dict.fromkeys([*found, *expected]):
            key = path.partition(".")[2]
            where = f"{name}.json, key {key!r}" if key else f"{name}.json"
            if path not in found:
                raise PhrasingError(f"{where}: missing")
            if path not in slots:
                inner = any(slot.startswith(f"{path}.") for slot in expected)
                raise PhrasingError(
                    f"{where}: {'must be a JSON object' if inner else 'unknown key'}"
                )
            values[path] = _check(where, slots[path], found[path])
    return Phrasing(values, language)


@functools.cache
def _load(data_dir: Path, language: str) -> Phrasing:
    files = {}
    for name in FILES:
        try:
            files[name] = json.loads((data_dir / f"{name}.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PhrasingError(f"{name}.json: missing in {data_dir} (see SCHEMA.md)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PhrasingError(f"{name}.json: cannot be read as UTF-8 JSON ({exc})") from None
    return build_phrasing(files, language)


@functools.cache
def _default(language: str) -> Phrasing:
    return _load(language_dir(language) / "phrasing", language)


def load_phrasing(data_dir: Path | str | None = None, language: str = DEFAULT_LANGUAGE) -> Phrasing:
    """The phrasing of ``language`` (from ``data_dir``, default its ``phrasing/`` folder), read
    and validated once per directory for the life of the process (``load_phrasing.cache_clear()``).

    The composer asks for it about 25 times per reading: the default folder is
    found by language alone (building and hashing its path each time cost
    0.27 ms per reading).
    """
    if data_dir is None:
        return _default(language)
    return _load(Path(data_dir), language)


def _cache_clear() -> None:
    _load.cache_clear()
    _default.cache_clear()


load_phrasing.cache_clear = _cache_clear  # type: ignore[attr-defined]
