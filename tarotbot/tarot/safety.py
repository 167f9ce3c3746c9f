"""Questions that need care first: self-harm, emergencies, and questions no card should settle.

A tarot bot must not answer "I want to end my life" with a card, nor "Do I
have cancer?" with "leaning no". Before a reading, :func:`assess_question`
looks for clear phrasings (English and common Russian ones) and returns a
:class:`SafetyNote`:

- ``self_harm`` (direct and indirect: "I want to die", "nobody would miss me
  if I was gone", "не хочу жить"): a caring note with ways to reach help now;
  ``proceed`` is False, so no reading is drawn and nothing is charged;
- ``medical`` / ``legal``: an emergency or danger now (chest pain, an
  overdose; an arrest, violence, threats): a note pointing to emergency
  services, a doctor, a lawyer or the police; the reading follows;
- ``distress``: someone at the end of their strength without words of
  self-harm ("I can't take it anymore", "tired of everything", "больше не
  могу"): a caring note with where to turn, and no reading (a Death card
  read about "endings" is the last thing such a question should get);
- ``health``, ``pregnancy``, ``legal_case``: a verdict would be irresponsible
  ("Is this lump serious?", "Am I pregnant?", "Will I win my court case?"):
  a gentle note (the cards cannot diagnose; ask a doctor, a test, a lawyer),
  then a reflective reading;
- ``feared_outcome``: the person fears the answer ("Is my husband cheating on
  me?", "Will I lose my job?", "Is my mother going to die?"): a short note,
  then a reflective reading.

Every note sets ``allow_verdict`` False: the composer then answers without
yes/no wording (see :func:`verdict_allowed`). A question with no note keeps
its yes/no answer.

The patterns are phrases, not single words, to keep silly false positives
away ("will my career die down?", "this job is killing me", "a stroke of
luck", "is it worth learning piano?", "will the project die if I leave?"). It
is a safety net, not a diagnosis: when in doubt it errs towards showing the
note, which costs the person little.

:func:`clean_question` normalises what a person typed before anything else
sees it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from tarotbot.tarot.errors import QuestionTooLong

__all__ = [
    "QuestionTooLong",
    "SafetyNote",
    "assess_question",
    "clean_question",
    "verdict_allowed",
]

SELF_HARM = "self_harm"
MEDICAL = "medical"
LEGAL = "legal"
HEALTH = "health"
PREGNANCY = "pregnancy"
LEGAL_CASE = "legal_case"
FEARED_OUTCOME = "feared_outcome"
DISTRESS = "distress"


@dataclass(frozen=True)
class SafetyNote:
    """What to tell the person first.

    ``proceed`` says whether a reading may follow; ``allow_verdict`` whether
    that reading may answer yes or no (never, when there is a note).
    """

    category: str
    html: str
    proceed: bool
    allow_verdict: bool = False


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


_NOT = r"(?<!not )(?<!n't )(?<!never )"
_END = r"\s*[.!?…]*\s*$"  # the end of the question, after optional punctuation
_ANYMORE = r"(?:any\s*more|any\s+longer|no\s+more)"
_KIN = (
    r"(?:(?:my|our)\s+(?:\w+\s+)?(?:mum|mom|mother|mommy|mummy|mama|dad|father|daddy|papa|"
    r"parents?|husband|wife|partner|spouse|boyfriend|girlfriend|fianc[eé]e?|son|daughter|"
    r"child|children|kids?|baby|brother|sister|grandma|grandmother|grandpa|grandfather|"
    r"granny|nan|nana|grandparents?|aunt|uncle|cousin|friend|niece|nephew|dog|cat|pet)"
    r"|he|she|they)"
)
_RU_KIN = (
    r"(?:мам[аыуе]|мать|матери|пап[аыуе]|от[её]ц|отца|бабушк[аиу]|дедушк[аиу]|муж|мужа|жена|"
    r"жены|сын|сына|доч[ьи]|дочка|реб[её]н(?:ок|ка)|брат|брата|сестр[аыу]|друг|подруг[аи]|"
    r"собак[аи]|кошк[аи]|кот)"
)

_SELF_HARM = _rx(
    r"\bkill(?:ing)?\s+my\s*self\b(?!\s+laughing)",
    r"\bsuicid(?:e|al)\b(?!\s+squad)",
    r"\bunalive\b",
    r"\b(?:end|ending|take|taking)\s+my\s+(?:own\s+)?life\b",
    r"\b(?:end|ending|ended)\s+it\s+all\b",
    _NOT + r"\b(?:want|wanna|ready|wish)\s+(?:to\s+)?die\b",
    r"\bwish\s+i\s+(?:was|were|'?d\s+been|had\s+been)\s+dead\b",
    r"\bwish\s+i\s+(?:had\s+)?never\s+(?:been\s+born|existed)\b",
    r"\bwish\s+i\s+(?:wasn'?t|weren'?t)\s+(?:alive|here|born)\b",
    r"\bbetter\s+off\s+dead\b|\brather\s+be\s+dead\b",
    r"\b(?:don'?t|do\s+not|no\s+longer)\s+want\s+to\s+(?:live|be\s+alive|exist|wake\s+up)\b",
    r"\b(?:don'?t|do\s+not|no\s+longer)\s+want\s+to\s+(?:be|stay)\s+(?:here|around)\s*(?:"
    + _ANYMORE
    + r"|"
    + _END
    + r")",
    r"\b(?:go\s+to\s+sleep|fall\s+asleep)\s+and\s+(?:never|not)\s+wake\s+up\b",
    r"\b(?:no|any|what'?s\s+the|what\s+is\s+the)\s+(?:reason|point)\s+(?:to|in|of)\s+"
    r"(?:live|living|being\s+alive|staying\s+alive|go(?:ing)?\s+on)\b",
    r"\b(?:not\s+)?worth\s+(?:going\s+on\s+|carrying\s+on\s+)?(?:living|staying\s+alive|"
    r"being\s+alive)\b",
    r"\b(?:is|isn'?t)\s+(?:my\s+)?life\s+(?:even\s+|still\s+|really\s+)?worth\s+(?:it|living)\b",
    r"\bcan'?t\s+(?:go\s+on|keep\s+going|do\s+this)\s+" + _ANYMORE + r"\b",
    r"\b(?:nobody|no\s*-?\s*one|noone)\s+(?:would|will|'d)\s+(?:even\s+)?(?:miss|notice|care)"
    r"\b.{0,40}?\b(?:gone|dead|died|die|disappeared|not\s+here|not\s+around)\b",
    r"\b(?:nobody|no\s*-?\s*one|noone)\s+(?:would|will|'d)\s+(?:even\s+)?miss\s+me\b",
    r"\b(?:everyone|everybody|the\s+world|my\s+family|my\s+kids|my\s+children|people)\s+"
    r"(?:would\s+be|'d\s+be|is|are|will\s+be)\s+better\s+off\s+without\s+me\b",
    r"\b(?:want|wish|wanna)\s+(?:i\s+could\s+|to\s+)?(?:just\s+)?(?:disappear|vanish)\s+"
    r"(?:forever|for\s+good|permanently|from\s+(?:this|the)\s+(?:world|earth))\b",
    r"\b(?:want|wish|wanna)\s+(?:i\s+could\s+|to\s+)?(?:just\s+)?(?:disappear|vanish|"
    r"stop\s+existing|not\s+exist)" + _END,
    r"\bself[-\s]?harm(?:ing)?\b",
    r"\b(?:cut|cutting|hurt|hurting|harm|harming|hang|hanging|drown|drowning|shoot|shooting)"
    r"\s+my\s*self\b",
    r"\bslit(?:ting)?\s+my\s+wrists?\b",
    r"\bover\s*dose\s+on\s+purpose\b",
    # Russian
    r"покончить\s+(?:с\s+собой|с\s+жизнью)",
    r"убить\s+себя|убью\s+себя",
    r"(?<!\bне\s)(?:хочу|хочется|хотела?\s+бы)\s+(?:просто\s+)?(?:умереть|сдохнуть|исчезнуть\s+навсегда)",
    r"(?:лучше\s+бы\s+я\s+умер(?:ла)?|лучше\s+умереть)",
    r"не\s+(?:хочу|хочется)\s+(?:больше\s+)?(?:жить|просыпаться|существовать)",
    r"жить\s+(?:больше\s+|так\s+)?не\s+(?:хочу|хочется)",
    r"исчезнуть\s+навсегда|навсегда\s+исчезнуть",
    r"(?:если|когда)\s+меня\s+(?:не\s+станет|больше\s+не\s+будет)",
    r"никто\s+не\s+(?:заметит|будет\s+скучать|вспомнит|расстроится).{0,40}(?:умру|исчезну)",
    r"(?:стоит\s+ли|есть\s+ли\s+смысл|какой\s+смысл|зачем)\s+(?:мне\s+)?(?:вообще\s+)?"
    r"(?:дальше\s+)?жить(?:\s+дальше)?" + _END,
    r"(?:нет|никакого)\s+смысла\s+(?:дальше\s+)?жить|не\s+вижу\s+смысла\s+(?:жить|в\s+жизни)",
    r"устал[аи]?\s+жить",
    r"суицид",
    r"самоубийств",
    r"свести\s+счёты\s+с\s+жизнью|свести\s+счеты\s+с\s+жизнью",
    r"порезать\s+себя|режу\s+себя|причинить\s+себе\s+вред",
)

_MEDICAL = _rx(
    r"\bchest\s+pains?\b",
    r"\bheart\s+attack\b",
    r"\b(?:can'?t|cannot|can\s+not|struggling\s+to|unable\s+to)\s+breathe?\b",
    r"\b(?:trouble|difficulty|problems?)\s+breathing\b",
    r"\bover\s*dos(?:e|ed|ing)\b",
    r"\btook\s+(?:too\s+many|a\s+lot\s+of|a\s+bottle\s+of)\s+(?:pills|tablets)\b",
    r"\b(?:having|had|signs\s+of)\s+a\s+stroke\b",
    r"\b(?:having|had)\s+a\s+seizure\b",
    r"\b(?:is|went|fell|found|lying|lies|was)\s+unconscious\b",
    r"\bwon'?t\s+stop\s+bleeding\b|\bbleeding\s+(?:heavily|badly|a\s+lot)\b",
    r"\banaphyla\w*\b|\bsevere\s+allergic\s+reaction\b",
    r"\b(?:i\s+was|i\s+am|i'?m|got|been)\s+poisoned\b",
    r"\bpassed\s+out\b",
    # Russian
    r"бол(?:ь|ит)\s+в\s+груди|болит\s+сердце",
    r"не\s+могу\s+дышать|задыхаюсь",
    r"передозировк",
    r"инфаркт|инсульт",
    r"отравил(?:ся|ась)|меня\s+отравили",
    r"потерял(?:а)?\s+сознание",
)

_LEGAL = _rx(
    r"\b(?:been|got|get|getting|was|were|am|is|are|be|being)\s+arrested\b",
    r"\barrested\s+(?:me|my|him|her|us)\b",
    r"\bpolice\s+(?:are|is)\s+(?:at|outside)\s+my\b",
    r"\bbeing\s+threatened\b",
    r"\bthreaten(?:s|ed|ing)?\s+(?:to\s+(?:kill|hurt|harm|beat|shoot|stab)\b|me\b"
    r"|my\s+(?:life|kids|children|family)\b)",
    r"\bdomestic\s+(?:violence|abuse)\b",
    r"\b(?:he|she|they|my\s+\w+)\s+(?:hits|beats|chokes|choked|strangles|strangled|slaps|"
    r"punches|punched|kicks|kicked)\s+me\b(?!\s+(?:up|to|at)\b)",
    r"\b(?:being|am|i'?m)\s+(?:stalked|blackmailed|extorted)\b|\bblackmail(?:ing)?\s+me\b",
    r"\bstalking\s+me\b",
    r"\b(?:was|been|got|i'?m\s+being)\s+(?:assaulted|attacked|raped|kidnapped)\b",
    # Russian
    r"меня\s+(?:арестовали|задержали|избили|шантажируют)",
    r"угрожа(?:ет|ют)\s+(?:мне|убить)|мне\s+угрожа",
    r"домашнее\s+насилие",
    r"(?:он|она|муж|жена)\s+(?:бь[её]т|избивает)\s+меня",
    r"шантаж",
)

_PREGNANCY = _rx(
    r"\bpregnan(?:t|cy)\b",
    r"\bmiscarr(?:y|iage|ied|ying)\b",
    r"\b(?:infertil\w*|ivf)\b",
    r"\bis\s+(?:the|my|our)\s+(?:unborn\s+)?baby\s+(?:healthy|ok|okay|all\s+right|alright)\b",
    # Russian
    r"беременн",
    r"выкидыш",
    r"бесплоди|\bэко\b",
)

_HEALTH = _rx(
    # "cancer", but not the zodiac sign ("I'm a Cancer", "a Cancer man", "Cancer season")
    r"(?<!\ba\s)\bcancer(?:ous)?\b(?!\s+(?:man|men|woman|women|guy|guys|girl|sign|season|sun|"
    r"moon|rising|boyfriend|girlfriend|partner|husband|wife|and|or|compatib\w*)\b)",
    r"\b(?:tumou?rs?|malignant|benign|metasta\w+|chemo(?:therapy)?|radiotherapy|biops(?:y|ies)|"
    r"mammogram|leuka?emia|lymphoma|dementia|alzheimer'?s|parkinson'?s|hiv|stds?|stis?|"
    r"diabetes|sepsis|prognosis|diagnos(?:is|es|ed|e)|symptoms?|illness|disease)\b",
    r"\blumps?\b(?!\s+sum)",
    r"\b(?:surgery|surgeries|transplant|intensive\s+care|icu|hospitali[sz]ed)\b",
    r"\b(?:my|his|her|the|mum'?s|mom'?s|dad'?s)\s+operation\b(?!\s+(?:of|at|in)\b)",
    r"\b(?:test|scan|blood|mri|ct|biopsy|lab)\s+results?\b|\bblood\s+(?:test|work)\b",
    r"\b(?:mri|ct\s+scan|x-?ray|ultrasound)\b",
    r"\b(?:am\s+i|is\s+" + _KIN + r"|are\s+(?:they|we))\s+(?:seriously\s+|very\s+|terminally\s+)?"
    r"(?:sick|ill)\b(?!\s+of\b)",
    r"\bterminal(?:ly\s+ill)?\b(?=.*\b(?:ill|illness|cancer|diagnos\w*|doctor)\b)"
    r"|\bterminally\s+ill\b",
    r"\b(?:will|is|are|am)\s+(?:i|" + _KIN + r")\s+(?:going\s+to\s+|gonna\s+)?"
    r"(?:recover|get\s+better|heal|pull\s+through)\b(?!\s+from\s+(?:the\s+|my\s+|this\s+)?"
    r"(?:break\s*-?\s*up|divorce|heartbreak))",
    r"\bwill\s+(?:i|" + _KIN + r")\s+(?:survive|be\s+(?:ok|okay|alright|all\s+right|fine))\s+"
    r"(?:the\s+|my\s+|his\s+|her\s+|this\s+)?(?:surgery|operation|treatment|illness|"
    r"cancer|chemo|night|accident|stroke|infection|virus)\b",
    r"\bdoctors?\s+(?:say|said|think|found)\b",
    # Russian
    r"(?:у\s+(?:меня|него|неё|нее|мамы|папы|мужа|жены|сына|дочери|ребёнка|ребенка)\s+"
    r"(?:есть\s+)?рак\b|это\s+рак\b|\bрак\s+ли\b)",
    r"онколог|опухол|биопси|метастаз|химиотерап|диагноз|анализ(?:ы|ов|ах)\b|обследовани|\bмрт\b"
    r"|\bузи\b|\bкт\b",
    r"операци[яиюей]\b(?!\s+(?:по|с\s+(?:деньгами|картой)))",
    r"\bболезн|\bбол(?:ен|ьна|ьны)\b|заболел|заболева",
    r"выздоров|поправ(?:ится|люсь|ишься)|вылеч",
    r"\bопасн\w*\s+ли\s+(?:это|уплотнени|шишк)|уплотнени|шишк[аиу]\b",
)

_LEGAL_CASE = _rx(
    r"\bcourt\b|\blawsuits?\b|\blitigation\b|\btribunal\b",
    r"\b(?:being|get|got|be|getting)\s+sued\b|\bsu(?:e|ing)\s+(?:me|us|him|her|them)\b",
    r"\b(?:jail|prison)\b",
    r"\b(?:convicted|acquitted|found\s+guilty|plead\s+guilty|sentenced|sentencing)\b",
    r"\b(?:criminal\s+)?charges?\s+(?:against|dropped|be\s+dropped)\b|\bcriminal\s+charges?\b",
    r"\bcustody\b|\bdeport(?:ed|ation)?\b|\basylum\b|\bprobation\b|\bparole\b",
    r"\b(?:my|the|a)\s+(?:lawyer|attorney|solicitor|barrister)\b|\b(?:the|my)\s+(?:judge|verdict)\b",
    r"\b(?:my|the)\s+trial\b(?!\s+(?:period|version|run|subscription|lesson|class|week|month))",
    r"\b(?:the|court|custody|immigration|disciplinary)\s+hearing\b",
    # Russian
    r"\bсуд(?:а|е|у|ом|ы|ов|ах)?\b|\bсудеб\w*|\bсудь[яией]\b",
    r"\bиск\b|\bиска\b|\bиском\b|адвокат|юрист|приговор|тюрьм|\bпосадят\b|\bсрок\s+дадут\b",
    r"депортац|\bопек[аиу]\b|уголовн",
)

_FEARED = _rx(
    # infidelity
    r"\bcheat(?:s|ed|ing)?\s+on\s+(?:me|us)\b",
    r"\b(?:is|was|are|has\s+been|have\s+been)\s+(?:he|she|they|my\s+(?:\w+\s+)?(?:husband|wife|"
    r"partner|spouse|boyfriend|girlfriend|fianc\w*|man|woman|bf|gf))\s+(?:\w+\s+)?"
    r"(?:cheating|unfaithful|having\s+an\s+affair|seeing\s+someone\s+else|"
    r"sleeping\s+with\s+(?:someone|somebody|her|him))\b",
    r"\b(?:having|had)\s+an\s+affair\b|\bunfaithful\b|\bbetraying\s+me\b",
    # losing a job, a home, a person
    r"\b(?:lose|losing)\s+(?:my|our)\s+(?:job|work|home|house|flat|apartment|business|savings|"
    r"baby|husband|wife|partner|boyfriend|girlfriend|mum|mom|mother|dad|father|child|son|"
    r"daughter|kids|children|family|marriage)\b",
    r"\b(?:get|be|being|getting|am\s+i|was\s+i)\s+(?:going\s+to\s+be\s+)?(?:fired|sacked|"
    r"laid\s+off|made\s+redundant|evicted|dumped)\b",
    r"\b(?:go|going)\s+bankrupt\b|\bbankruptcy\b",
    r"\b(?:leave|leaving|divorce|divorcing|dump|dumping)\s+me\b",
    r"\b(?:will|are)\s+we\s+(?:going\s+to\s+)?(?:get\s+)?divorced?\b|\bbreak\s*-?\s*up\s+with\s+me\b",
    # death of someone close, or one's own
    r"\b(?:will|is|are)\s+" + _KIN + r"\s+(?:going\s+to\s+|gonna\s+)?(?:die|dying|pass\s+away|"
    r"passing\s+away)\b(?!\s+(?:alone|single|down|of\s+(?:embarrassment|boredom|laughter|shame))\b)",
    r"\b(?:will|is|are)\s+"
    + _KIN
    + r"\s+(?:going\s+to\s+|gonna\s+)?(?:survive|make\s+it|live)"
    + _END,
    r"\b(?:am\s+i|will\s+i)\s+(?:going\s+to\s+|gonna\s+)?(?:die|dying)\b(?!\s+(?:alone|single|"
    r"rich|poor|happy|young|old|of\s+(?:embarrassment|boredom|laughter|shame)|to\b|inside\b|"
    r"without\b|before\b|a\s+virgin))",
    r"\b(?:when|how)\s+will\s+(?:i|" + _KIN + r")\s+die\b",
    # Russian
    r"изменя(?:ет|ют|л|ла)\s+(?:ли\s+)?(?:мне|нам)\b|(?:мне|нам)\s+изменя|\bизмен[аы]\b|любовниц|любовник",
    r"уволят|увольн|потеряю\s+(?:ли\s+)?(?:работу|дом|квартиру|ребёнка|ребенка|мужа|жену)",
    r"бросит\s+(?:ли\s+)?(?:он\s+|она\s+)?меня|уйд[её]т\s+(?:ли\s+)?(?:он\s+|она\s+)?от\s+меня|"
    r"развед[её]мся|разведутся|развод",
    r"банкрот",
    r"(?:умр[её]т|умирает|не\s+выживет|выживет|скончается)(?=.*"
    + _RU_KIN
    + r")|"
    + _RU_KIN
    + r".{0,20}(?:умр[её]т|умирает|не\s+выживет|выживет|скончается)",
    r"\bя\s+умру\b|\bумру\s+ли\s+я\b|\bкогда\s+я\s+умру\b",
)

#: Words of someone at the end of their strength, without words of self-harm: a caring
#: note with where to turn, then a reflective reading (never yes/no).
_DISTRESS = _rx(
    r"\bi\s+can'?t\s+(?:take|handle|stand)\s+(?:it|this|any\s*thing)\s+" + _ANYMORE,
    r"\bi\s+can'?t\s+(?:cope|go\s+on|do\s+this)(?:\s+" + _ANYMORE + r")?\b",
    r"\b(?:so\s+)?tired\s+of\s+(?:everything|it\s+all|all\s+of\s+it|life)\b",
    r"\bi'?m\s+(?:falling\s+apart|at\s+(?:my|the)\s+breaking\s+point)\b",
    r"\bi\s+feel\s+(?:so\s+)?(?:hopeless|worthless|empty\s+inside)\b",
    r"\bбольше\s+не\s+могу\b|\bне\s+вывожу\b|\bнет\s+(?:больше\s+)?сил\b",
    r"\bустал[аи]?\s+от\s+(?:всего|жизни)\b|\bвс[её]\s+надоело\b",
    r"\bчувствую\s+себя\s+(?:пуст\w+|никч[её]мн\w+|безнад[её]жн\w+)",
)

# --------------------------------------------------------------------------- the notes

_HELP_EN = (
    "🕯 <b>Before any cards: you matter.</b>\n"
    "What you wrote sounds like you are carrying something very heavy, and you deserve "
    "support right now, from a real person, not from a deck of cards. I won’t draw a "
    "reading for this, and nothing has been charged.\n\n"
    "• If you might act on these thoughts or are in danger, please call your local "
    "emergency number now: <b>112</b> (Europe and many other countries) or <b>911</b> "
    "(USA and Canada).\n"
    "• To talk to someone today, free and confidential, find a helpline in your country at "
    "<b>findahelpline.com</b>.\n"
    "• If you can, tell someone near you how you are feeling, a friend, a family member or "
    "a doctor, and don’t stay alone with this.\n\n"
    "You reached out, and that took strength. I’m glad you’re here."
)
_HELP_RU = (
    "🕯 <b>Прежде всяких карт: вы важны.</b>\n"
    "По вашим словам кажется, что вам сейчас очень тяжело. Вы заслуживаете поддержки прямо "
    "сейчас, от живого человека, а не от колоды карт. Я не буду делать расклад на это, и "
    "ничего не списано.\n\n"
    "• Если вы можете навредить себе или вам грозит опасность, пожалуйста, позвоните сейчас "
    "по номеру экстренной службы: <b>112</b> (в России, Европе и многих других странах) или "
    "<b>911</b> (США и Канада).\n"
    "• Чтобы поговорить с кем-то сегодня, бесплатно и анонимно, найдите телефон доверия "
    "своей страны на <b>findahelpline.com</b>.\n"
    "• Если можете, расскажите кому-то рядом, как вам сейчас: другу, близкому или врачу. "
    "Не оставайтесь с этим в одиночку.\n\n"
    "Вы написали об этом, и для этого нужны силы. Хорошо, что вы здесь."
)
_MEDICAL_NOTE = (
    "🩺 <b>First, please look after your health.</b>\n"
    "What you describe may need a doctor urgently. If it is happening now, please call "
    "emergency services (<b>112</b> in Europe, <b>911</b> in the USA and Canada) or ask "
    "someone nearby to help you get care. The cards can wait; you come first.\n"
    "Your reading follows below, as a companion, never a substitute for medical help."
)
_MEDICAL_NOTE_RU = (
    "🩺 <b>Сначала позаботьтесь о здоровье.</b>\n"
    "То, что вы описываете, может требовать срочной помощи врача. Если это происходит "
    "сейчас, позвоните в экстренную службу (<b>112</b>) или попросите кого-то рядом помочь "
    "вам добраться до врача. Карты подождут, вы важнее.\n"
    "Расклад ниже: как спутник, но никогда не вместо медицинской помощи."
)
_LEGAL_NOTE = (
    "⚖️ <b>First, your safety.</b>\n"
    "What you describe sounds serious. If you are in danger right now, please call the "
    "police or emergency services (<b>112</b> in Europe, <b>911</b> in the USA and Canada). "
    "For legal trouble, a lawyer or a free legal-aid service can tell you your rights; for "
    "violence at home, a domestic-abuse helpline (see <b>findahelpline.com</b>) can help you "
    "plan safely.\n"
    "Your reading follows below: take what helps, and let real people help you too."
)
_LEGAL_NOTE_RU = (
    "⚖️ <b>Сначала ваша безопасность.</b>\n"
    "То, что вы описываете, звучит серьёзно. Если вам угрожает опасность прямо сейчас, "
    "позвоните в полицию или экстренную службу (<b>112</b>). С юридическими проблемами "
    "поможет адвокат или бесплатная юридическая консультация; при насилии дома — линия "
    "помощи (см. <b>findahelpline.com</b>).\n"
    "Расклад ниже: возьмите из него то, что поможет, и позвольте помочь вам живым людям."
)
_HEALTH_NOTE = (
    "🩺 <b>About your health.</b>\n"
    "The cards can’t diagnose anything or tell how an illness or a treatment will go, so "
    "I won’t give a yes or a no here. A doctor can, and if something worries you, please "
    "ask one soon. If it feels urgent, call your local emergency number (<b>112</b> or "
    "<b>911</b>).\n"
    "Below is a gentle, reflective reading for the waiting, not a verdict."
)
_HEALTH_NOTE_RU = (
    "🩺 <b>О здоровье.</b>\n"
    "Карты не ставят диагнозов и не знают, как пройдёт болезнь или лечение, поэтому "
    "ответа «да» или «нет» здесь не будет. Это может сказать врач: если что-то тревожит, "
    "пожалуйста, обратитесь к нему поскорее. Если это срочно, звоните <b>112</b>.\n"
    "Ниже — спокойный расклад-размышление на время ожидания, а не приговор."
)
_PREGNANCY_NOTE = (
    "🤍 <b>About pregnancy.</b>\n"
    "The cards can’t tell whether someone is pregnant or how a pregnancy will go, so I "
    "won’t give a yes or a no here. A pregnancy test, a doctor or a clinic can give you a "
    "real answer, and support with whatever you feel about it.\n"
    "Below is a reflective reading for this moment, not a verdict."
)
_PREGNANCY_NOTE_RU = (
    "🤍 <b>О беременности.</b>\n"
    "Карты не могут сказать, есть ли беременность и как она пройдёт, поэтому ответа «да» "
    "или «нет» здесь не будет. Настоящий ответ даст тест, врач или клиника, там же помогут "
    "и с тем, что вы сейчас чувствуете.\n"
    "Ниже — расклад-размышление об этом моменте, а не приговор."
)
_LEGAL_CASE_NOTE = (
    "⚖️ <b>About your legal question.</b>\n"
    "The cards can’t predict what a court, a judge or an authority will decide, so I "
    "won’t give a yes or a no here. A lawyer or a free legal-aid service can tell you "
    "where you really stand.\n"
    "Below is a reflective reading about how you carry this, not a verdict."
)
_LEGAL_CASE_NOTE_RU = (
    "⚖️ <b>О юридическом вопросе.</b>\n"
    "Карты не могут предсказать решение суда или ведомства, поэтому ответа «да» или «нет» "
    "здесь не будет. Где вы стоите на самом деле, скажет адвокат или бесплатная "
    "юридическая консультация.\n"
    "Ниже — расклад-размышление о том, как вам пройти через это, а не приговор."
)
_FEARED_NOTE = (
    "🤍 <b>A question asked in fear.</b>\n"
    "When we are afraid of the answer, a yes or a no from the cards can hurt more than it "
    "helps, so I won’t give one here. The reading below looks at what you are carrying and "
    "what is in your hands. If this is weighing on you, talk it through with someone you "
    "trust."
)
_FEARED_NOTE_RU = (
    "🤍 <b>Вопрос, заданный со страхом.</b>\n"
    "Когда мы боимся ответа, «да» или «нет» от карт может ранить сильнее, чем помочь, "
    "поэтому здесь его не будет. Расклад ниже о том, что вы несёте и что в ваших руках. "
    "Если это тяготит вас, поговорите с тем, кому доверяете."
)

_DISTRESS_NOTE = (
    "🤍 <b>That sounds like a lot to carry.</b>\n"
    "If it is getting too heavy, please talk to someone today: a friend, a doctor, or a "
    "free helpline (<b>findahelpline.com</b>). If you might harm yourself, call <b>112</b> "
    "or <b>911</b> now. I won’t draw cards on this today, and nothing was charged."
)
_DISTRESS_NOTE_RU = (
    "🤍 <b>Похоже, вам сейчас очень непросто.</b>\n"
    "Если становится слишком тяжело, поговорите сегодня с кем-то: с другом, врачом или "
    "телефоном доверия (<b>findahelpline.com</b>). Если вы можете навредить себе, звоните "
    "<b>112</b> прямо сейчас. Сегодня я не буду делать на это расклад, ничего не списано."
)

#: category: (pattern, English note, Russian note, proceed), in order of precedence
_RULES = (
    (SELF_HARM, _SELF_HARM, _HELP_EN, _HELP_RU, False),
    (MEDICAL, _MEDICAL, _MEDICAL_NOTE, _MEDICAL_NOTE_RU, True),
    (DISTRESS, _DISTRESS, _DISTRESS_NOTE, _DISTRESS_NOTE_RU, False),
    (LEGAL, _LEGAL, _LEGAL_NOTE, _LEGAL_NOTE_RU, True),
    (PREGNANCY, _PREGNANCY, _PREGNANCY_NOTE, _PREGNANCY_NOTE_RU, True),
    (HEALTH, _HEALTH, _HEALTH_NOTE, _HEALTH_NOTE_RU, True),
    (LEGAL_CASE, _LEGAL_CASE, _LEGAL_CASE_NOTE, _LEGAL_CASE_NOTE_RU, True),
    (FEARED_OUTCOME, _FEARED, _FEARED_NOTE, _FEARED_NOTE_RU, True),
)
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


def _normal(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'")
    return " ".join(text.split())


@functools.lru_cache(maxsize=512)
def assess_question(text: str | None, language: str | None = None) -> SafetyNote | None:
    """A :class:`SafetyNote` if ``text`` needs care before (or instead of) a reading, else None.

    Self-harm outranks an emergency, which outranks a question no verdict should
    settle. The note is in ``language`` (the person's: ``"ru"`` or English), or,
    when that is not known, in Russian when the question is. Remembered for the
    last 512 questions: a reading asks about its question three times, and each
    asking runs nine patterns (0.13 ms).
    """
    if not text:
        return None
    normal = _normal(text)
    russian = language == "ru" if language else bool(_CYRILLIC.search(normal))
    for category, pattern, english, russian_note, proceed in _RULES:
        if pattern.search(normal):
            return SafetyNote(category, russian_note if russian else english, proceed)
    return None


def verdict_allowed(text: str | None) -> bool:
    """Whether a reading for ``text`` may answer yes or no (False when any note applies)."""
    note = assess_question(text)
    return note is None or note.allow_verdict


_BIDI_CONTROLS = dict.fromkeys(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0xFEFF]
)


def clean_question(text: str | None, limit: int = 500) -> str:
    """``text`` made safe to store and show: one line, no control characters.

    Control characters (NUL among them, which PostgreSQL refuses) and lone
    surrogates (which no UTF-8 encoder accepts) are removed (newlines and tabs
    become spaces), as are invisible direction overrides; zero-width joiners stay, for emoji. Runs of
    whitespace collapse to one space. Raises :class:`QuestionTooLong` when the
    result is longer than ``limit`` characters. ``None`` gives ``""``.
    """
    if not text:
        return ""
    chars = []
    for char in text:
        if char in "\n\r\t\v\f":
            chars.append(" ")
        elif unicodedata.category(char) in ("Cc", "Cs"):  # controls (NUL), lone surrogates
            continue
        else:
            chars.append(char)
    cleaned = " ".join("".join(chars).translate(_BIDI_CONTROLS).split())
    if len(cleaned) > limit:
        raise QuestionTooLong(len(cleaned), limit)
    return cleaned
