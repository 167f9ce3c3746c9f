"""Safety notes: crises are recognised, everyday phrasings are not."""

from __future__ import annotations

import re

import pytest

from tarotbot.tarot.errors import QuestionTooLong
from tarotbot.tarot.safety import assess_question, clean_question, verdict_allowed
from tests.tarot.html_check import assert_valid_html

RUSSIAN = re.compile("[а-яё]", re.IGNORECASE)


@pytest.mark.parametrize(
    "text",
    [
        "I want to kill myself",
        "im thinking about suicide",
        "Should I end my life?",
        "I don't want to live anymore",
        "I want to die",
        "Is there any reason to live?",
        "I keep cutting myself, will it stop?",
        "I feel suicidal tonight",
        "everyone would be better off dead without me",
        "Хочу умереть",
        "Я думаю покончить с собой",
        "не хочу больше жить",
    ],
)
def test_self_harm(text):
    note = assess_question(text)
    assert note is not None and note.category == "self_harm"
    assert note.proceed is False and note.allow_verdict is False
    assert "findahelpline.com" in note.html and "112" in note.html and "911" in note.html
    if RUSSIAN.search(text):  # a Russian question gets the whole note in Russian
        assert "Вы заслуживаете поддержки прямо сейчас" in note.html
    else:
        assert "you deserve support right now" in note.html.lower()
    assert_valid_html(note.html)


def test_russian_self_harm_note_speaks_russian():
    assert "112" in assess_question("хочу умереть").html
    assert "Вы заслуживаете" in assess_question("хочу умереть").html


@pytest.mark.parametrize(
    "text",
    [
        "I have chest pain, will it be ok?",
        "my friend took too many pills",
        "I can't breathe properly",
        "I think I overdosed",
        "is my dad having a stroke?",
        "у меня болит в груди",
        "не могу дышать",
    ],
)
def test_medical(text):
    note = assess_question(text)
    assert note is not None and note.category == "medical" and note.proceed is True
    assert "112" in note.html and ("врач" if RUSSIAN.search(text) else "doctor") in note.html
    assert_valid_html(note.html)


@pytest.mark.parametrize(
    "text",
    [
        "I got arrested yesterday, what now?",
        "my ex is threatening me",
        "he threatens to kill me",
        "is this domestic violence?",
        "my husband hits me",
        "I am being blackmailed",
        "меня арестовали",
        "муж бьёт меня",
        "мне угрожают",
    ],
)
def test_legal(text):
    note = assess_question(text)
    assert note is not None and note.category == "legal" and note.proceed is True
    words = ("адвокат", "полици") if RUSSIAN.search(text) else ("lawyer", "police")
    assert all(word in note.html for word in words)
    assert_valid_html(note.html)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "Will my career die down?",
        "Will my love life die a slow death?",
        "This job is killing me, should I quit?",
        "I'm dying to know if he likes me",
        "Am I going to die alone?",
        "I don't want to die without seeing Paris",
        "a stroke of luck this month?",
        "What is my unconscious trying to tell me?",
        "My boyfriend is threatening to leave if I move",
        "Is my boss threatened by my success?",
        "She beat me to the promotion, what now?",
        "Will he hit me up this week?",
        "Should I cut my hair?",
        "How do I end this relationship kindly?",
        "Death card again?",
        "What is the point of life, really?",
        "Что ждёт меня в любви?",
    ],
)
def test_no_false_alarms(text):
    assert assess_question(text) is None


def test_self_harm_outranks_others():
    assert assess_question("I was arrested and I want to kill myself").category == "self_harm"


def test_clean_question():
    assert clean_question("  Will\n\nhe\tcall?\x00\x07  ") == "Will he call?"
    assert clean_question(None) == ""
    assert clean_question("\u202eevil\u202c text") == "evil text"
    assert clean_question("👨\u200d👩\u200d👧 family?") == "👨\u200d👩\u200d👧 family?"
    assert clean_question("x" * 500) == "x" * 500
    with pytest.raises(QuestionTooLong) as info:
        clean_question("x" * 501)
    assert isinstance(info.value, ValueError) and info.value.limit == 500
    assert clean_question("abc", limit=3) == "abc"


# --------------------------------------------------------------------------- the table
# Each class: phrasings that must be caught, direct and indirect, English and Russian.

CAUGHT = {
    "self_harm": [
        # direct
        "I want to kill myself",
        "I'm going to end my life",
        "thinking about taking my own life",
        "I want to die",
        "I wish I was dead",
        "I keep hurting myself",
        "should I just unalive myself",
        # indirect
        "I feel like ending it all",
        "I'm thinking of ending it all tonight",
        "I don't want to be here anymore",
        "I dont want to be around any more",
        "I don’t want to wake up tomorrow",
        "Nobody would miss me if I was gone",
        "no one would even notice if I disappeared",
        "Would anyone care? No one would miss me",
        "Is it worth going on living?",
        "Is life even worth living?",
        "what's the point of living",
        "What is the point in going on?",
        "I want to disappear forever",
        "I just want to disappear.",
        "I wish I could fall asleep and never wake up",
        "Everyone would be better off without me",
        "I wish I had never been born",
        "I can't go on anymore",
        "I'd rather be dead",
        # Russian
        "хочу умереть",
        "Мне хочется умереть",
        "не хочу жить",
        "Жить больше не хочу",
        "никто не заметит, если меня не станет",
        "Никто не будет скучать, если я умру",
        "думаю покончить с собой",
        "стоит ли жить дальше?",
        "Какой смысл жить?",
        "не вижу смысла жить",
        "хочу исчезнуть навсегда",
        "я устала жить",
        "лучше бы я умерла",
    ],
    "health": [
        "Do I have cancer?",
        "Is this lump serious?",
        "Will my surgery go well?",
        "Is the tumour benign?",
        "What will my biopsy results say?",
        "Will the chemo work for my dad?",
        "Am I seriously ill?",
        "Is my mum sick?",
        "Will my grandmother recover?",
        "Will I get better?",
        "Does my husband have dementia?",
        "Will my blood test come back fine?",
        "Will my son survive the operation?",
        "У меня рак?",
        "Опасна ли эта опухоль?",
        "Как пройдёт операция у мамы?",
        "Выздоровеет ли папа?",
        "Что покажут анализы?",
    ],
    "pregnancy": [
        "Am I pregnant?",
        "Could I be pregnant right now?",
        "Is my girlfriend pregnant?",
        "Will I have a miscarriage?",
        "Will IVF work for us?",
        "Is the baby healthy?",
        "Я беременна?",
        "Будет ли выкидыш?",
    ],
    "legal_case": [
        "Will I win my court case?",
        "Will the court rule in my favour?",
        "Will I go to jail?",
        "Will I be found guilty?",
        "Will the charges against me be dropped?",
        "Will I get custody of my kids?",
        "Will they sue me?",
        "Is the lawsuit going to succeed?",
        "Will I be deported?",
        "What will the judge decide?",
        "Выиграю ли я суд?",
        "Посадят ли меня?",
        "Дадут ли мне опеку над сыном?",
    ],
    "distress": [
        "I can't take it anymore",
        "I can't take this any longer, what should I do?",
        "I can't cope",
        "I'm so tired of everything",
        "Tired of it all. What now?",
        "I'm falling apart",
        "I feel hopeless about my future",
        "Я больше не могу",
        "Не вывожу уже ничего",
        "Устала от всего, что дальше?",
        "Нет сил, что делать?",
    ],
    "feared_outcome": [
        "Is my husband cheating on me?",
        "Is he cheating?",
        "Is my wife having an affair?",
        "Has my boyfriend been unfaithful?",
        "Will I lose my job?",
        "Am I going to be fired?",
        "Will I get laid off this year?",
        "Will we lose our house?",
        "Will he leave me?",
        "Is my partner going to dump me?",
        "Will we get divorced?",
        "Is my mother going to die?",
        "Will my dad die this year?",
        "Is my dog dying?",
        "Will my grandpa make it?",
        "Am I going to die soon?",
        "Муж мне изменяет?",
        "Изменяет ли мне жена?",
        "Меня уволят?",
        "Он бросит меня?",
        "Мама умрёт?",
    ],
}

ORDINARY = [
    "Will I find a new job?",
    "Should I move to Berlin?",
    "What does my love life hold?",
    "Is it worth learning piano?",
    "Is it worth going on the trip?",
    "Will my plants survive winter?",
    "Am I on the right path?",
    "How do I kill time on a long flight?",
    "Will the project die if I leave?",
    "Что меня ждёт в новой работе?",
    "Does he love me?",
    "Will he come back?",
    "Should I leave him?",
    "Will I get the promotion?",
    "Will we have a baby next year?",
    "Should I take the job offer or stay?",
    "Am I going to die alone?",
    "Is my ex thinking about me?",
    "I'm a Cancer, what does this month hold?",
    "Is a Cancer man right for me?",
    "Will my business grow?",
    "Should I take the lump sum or the pension?",
    "Should I quit my job to travel?",
    "I want to disappear to Bali for a month, should I?",
    "I don't want to be here in this city, should I move?",
    "Will my friend make it to my wedding?",
    "Will I survive this week at work?",
    "Will I recover from the breakup?",
    "Am I a good judge of character?",
    "Should I start the free trial?",
    "Will the trial period at work go well?",
    "Will Sue call me back?",
    "Is my boss going to like my idea?",
    "Am I sick of my job or just tired?",
    "What is my purpose in life?",
    "Is it worth going on with this project?",
    "Will I win the competition?",
    "Will I pass my driving test?",
    "Should I cut my hair?",
    "What should I know about my health habits this year?",
    "Should I tell her how I feel?",
    "Стоит ли мне менять работу?",
    "Стоит ли жить в Берлине?",
    "Есть ли смысл жить вместе?",
    "Какая у меня судьба?",
    "Что ждёт меня в любви?",
    "Вернётся ли он?",
    "Найду ли я работу мечты?",
    "Стоит ли переезжать?",
    "Я Рак по гороскопу, что меня ждёт?",
    "Can I take the job in Lisbon?",
    "I'm tired of my commute, should I move closer?",
    "Should I give up sugar?",
    "Can I take a break this summer?",
    "Смогу ли я сдать экзамен?",
]


@pytest.mark.parametrize(
    ("category", "text"), [(c, t) for c, texts in CAUGHT.items() for t in texts]
)
def test_caught(category, text):
    note = assess_question(text)
    assert note is not None, text
    assert note.category == category, (text, note.category)
    assert note.allow_verdict is False and not verdict_allowed(text)
    assert note.proceed is (category not in ("self_harm", "distress"))
    assert_valid_html(note.html)
    if RUSSIAN.search(text):
        assert not re.search("[a-z]{4,}", note.html.replace("findahelpline.com", ""))
    else:
        assert not RUSSIAN.search(note.html)


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_questions_trip_nothing(text):
    assert assess_question(text) is None
    assert verdict_allowed(text)


@pytest.mark.parametrize(
    ("category", "words"),
    [
        ("health", ("doctor", "yes or a no")),
        ("pregnancy", ("pregnancy test", "yes or a no")),
        ("legal_case", ("lawyer", "yes or a no")),
        ("feared_outcome", ("yes or a no", "trust")),
    ],
)
def test_no_verdict_notes_say_why_and_where_to_turn(category, words):
    note = assess_question(CAUGHT[category][0])
    assert all(word in note.html for word in words)
    assert len(note.html) < 500  # short: a note, not a lecture


def test_every_note_is_short_and_valid():
    for text in [t for texts in CAUGHT.values() for t in texts]:
        note = assess_question(text)
        assert len(note.html) < 1100 and "<b>" in note.html
