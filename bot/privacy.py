"""Masks the personal data citizens type, before anything is stored or shown to staff.

One masking serves every place a citizen's words leave the conversation: the
conversation store (before anything is written), the staff report and any log
line that would quote a message.

`mask(text)` replaces:

- e-mail addresses by `[e-mail]`;
- IBANs of any country, grouped or not, any case, by `[IBAN]`;
- French social-security numbers (Corsica's `2A`/`2B` included, key optional)
  by `[n° sécu]`;
- phone numbers (French in every usual writing: `06 12 34 56 78`,
  `06.12.34.56.78`, `0612345678`, `+33 (0)6…`, `0033 6…`; and international
  ones starting with `+` or `00`) by `[téléphone]`;
- other runs of 13 to 19 digits (bank cards) by `[numéro]`;
- the number before a street word (`12 bis rue…`) by `[n°]`;
- person names by `[nom]`: after a self-introduction or a civility
  ("je m'appelle jean dupont", "je suis madame durand", "mon nom est…",
  "Mme X", "M. X"), whatever the case, and wherever the French spaCy model's
  entity recogniser sees a person (label `PER`).

Never masked: the communes (`bot.communes`, the 37 and the places outside
the metropole), the words the bot itself uses (its training examples,
domain and knowledge files: "Jean Jaurès" the metro station, "Bertrand Serp"
the elected official), dates, bus lines, amounts, postal codes.

`mask_patterns(text)` does the same without names: regular expressions only,
no spaCy, for log lines.

Cost: every pattern has bounded repetitions and starts only where a match
can start, so masking is linear in the length of the text (a megabyte of
adversarial text takes one or two seconds). The entity recogniser runs only
when a name is plausible (a capitalised word the bot does not know, not at
the start of a sentence, or a self-introduction) and only on the first
`NER_LIMIT` characters; the model is loaded on first need
(`bot.language.french`).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.communes import COMMUNES, current_places, find_communes, fold
from bot.knowledge import default_knowledge_dir
from bot.paths import PROJECT_ROOT

if TYPE_CHECKING:
    from spacy.language import Language

__all__ = ["NAME", "NER_LIMIT", "mask", "mask_patterns"]

logger = logging.getLogger(__name__)

NAME = "[nom]"

# The entity recogniser reads at most this many characters of a message:
# its cost grows with the length, and a citizen's message is rarely longer.
NER_LIMIT = 1000

# ---------------------------------------------------------------------------
# Patterns. Every repetition is bounded and every pattern starts with a
# look-behind (or \b) that fails inside a run of the characters it repeats,
# so a match is attempted only at the start of a run: linear time.

_SEP = r"[ .\-\u00a0\u202f]"  # what people put between groups of digits

_EMAIL = re.compile(
    r"(?<![\w.+\-])[\w.+\-]{1,64}@[\w\-]{1,63}(?:\.[\w\-]{1,63}){1,8}(?![\w\-])",
)

_IBAN = re.compile(
    rf"\b[A-Z]{{2}}\d{{2}}(?:{_SEP}?[A-Z0-9]{{4}}){{2,7}}(?:{_SEP}?[A-Z0-9]{{1,4}})?(?!\w)",
    re.IGNORECASE | re.ASCII,
)

# Sex (1, 2; 3, 4, 7, 8 for temporary numbers), year, month (or 20-99 for
# unknown months), department (2A/2B for Corsica), commune, order, key.
_SOCIAL_SECURITY = re.compile(
    rf"(?<!\w)[1-478]{_SEP}?\d{{2}}{_SEP}?(?:0[1-9]|1[0-2]|[2-9]\d){_SEP}?(?:\d{{2}}|2[AB])"
    rf"{_SEP}?\d{{3}}{_SEP}?\d{{3}}(?:{_SEP}?\d{{2}})?(?!\w)",
    re.IGNORECASE,
)

_PHONE_FR = re.compile(
    rf"(?<![\w+])(?:(?:\+|00){_SEP}?33{_SEP}?(?:\(0\){_SEP}?|0{_SEP}?)?|0)[1-9](?:{_SEP}?\d{{2}}){{4}}(?!\d)"
)

_PHONE_INTERNATIONAL = re.compile(
    r"(?<![\w+])(?:\+|00)[1-9](?:[ .\-\u00a0\u202f()]{0,2}\d){7,14}(?!\d)"
)

_CARD = re.compile(r"(?<!\w)\d(?:[ \-\u00a0\u202f]?\d){12,18}(?!\w)")

_STREET_NUMBER = re.compile(
    r"\b\d{1,4}(?:[ ]?(?:bis|ter))?[ ,]{1,3}"
    r"(?=(?:rue|avenue|av|bd|boulevard|all[ée]es?|chemin|impasse|place|route|quai|square"
    r"|esplanade|faubourg|lotissement|r[ée]sidence|passage|promenade|rond-point)\b)",
    re.IGNORECASE,
)


def _iban(match: re.Match[str]) -> str:
    """An IBAN, when the candidate is one: valid check digits, or digits enough to be a number."""
    candidate = re.sub(r"[^0-9A-Za-z]", "", match.group()).upper()
    rearranged = candidate[4:] + candidate[:4]
    digits = "".join(str(int(c, 36)) for c in rearranged)
    if int(digits) % 97 == 1 or sum(c.isdigit() for c in candidate) >= 12:
        return "[IBAN]"
    return match.group()  # "rn20 pour aller": words, not a bank account


# Order matters: the longer numbers go first, so that a card or IBAN is not
# read as a phone number followed by digits.
_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (_EMAIL, "[e-mail]"),
    (_IBAN, _iban),
    (_SOCIAL_SECURITY, "[n° sécu]"),
    (_PHONE_FR, "[téléphone]"),
    (_PHONE_INTERNATIONAL, "[téléphone]"),
    (_CARD, "[numéro]"),
    (_STREET_NUMBER, "[n°] "),
)


def mask_patterns(text: str) -> str:
    """The text with e-mails, IBANs, social-security, phone, card and street numbers masked (no names).

    Regular expressions only, linear in the length of the text: cheap enough
    for every log line.
    """
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# ---------------------------------------------------------------------------
# Names.

_CIVILITY = r"madame|monsieur|mademoiselle|mme|mlle|mr"

# Cues after which the next words are the citizen's own name, whatever they are.
_INTRODUCTION = re.compile(
    r"\b(?:je\s{1,3}m['’]\s{0,2}app?ell?e"
    r"|mon\s{1,3}(?:pr[ée]nom|nom(?:\s{1,3}de\s{1,3}famille)?)\s{1,3}(?:est|c['’]\s{0,2}est)"
    r"|mon\s{1,3}(?:pr[ée]nom|nom(?:\s{1,3}de\s{1,3}famille)?)\s{0,3}:"
    rf"|je\s{{1,3}}suis\s{{1,3}}(?:{_CIVILITY})\b\.?"
    r"|cordialement)"
    r"[\s,:]{0,3}",
    re.IGNORECASE,
)

# A civility alone: the next words are a name unless the bot knows them
# ("merci madame bonne journée"). Only spaces may follow ("Madame, Monsieur").
_CIVILITY_CUE = re.compile(rf"(?:\b(?i:{_CIVILITY})\b\.?|\bM\.)[ \t\u00a0]{{1,3}}")

_NAME_WORD = re.compile(r"[^\W\d_]{1,40}(?:-[^\W\d_]{1,40}){0,3}(?![\w'’])")
_BETWEEN_NAME_WORDS = re.compile(r"[ \t\u00a0]{1,3}")
_NAME_WORDS_AFTER_CUE = 3

_CIVILITY_WORDS = frozenset(
    {"madame", "monsieur", "mademoiselle", "mme", "mlle", "mr", "m", "mrs", "dr", "docteur"}
)

# A capitalised word: where a name may hide.
_CAPITALISED = re.compile(r"(?<![\w'’])[A-ZÀ-ÖØ-ÞŒ][\w'’\-]{0,40}")
_SENTENCE_END = frozenset('.!?…:;\n"«»')
_WORD = re.compile(r"[^\W\d_]{1,40}")
_PLACEHOLDER = re.compile(r"\[[^\[\]\n]{1,20}\]")


@functools.cache
def _stop_words() -> frozenset[str]:
    from spacy.lang.fr.stop_words import STOP_WORDS

    return frozenset(fold(word) for word in STOP_WORDS) | _CIVILITY_WORDS


@functools.cache
def _bot_vocabulary() -> tuple[frozenset[str], str]:
    """The bot's own words (folded) and its text as one folded string, to look up phrases."""
    paths: list[Path] = [PROJECT_ROOT / "data" / "nlu.yml", PROJECT_ROOT / "domain.yml"]
    paths.extend(sorted(default_knowledge_dir().glob("*.yml")))
    texts = [fold(name) for name in (*COMMUNES, *current_places().outside)]
    for path in paths:
        try:
            texts.append(fold(path.read_text(encoding="utf-8")))
        except OSError as error:
            logger.warning("Vocabulaire du bot : %s illisible (%s).", path, error)
    text = " " + " ".join(texts) + " "
    return frozenset(text.split()), text


def _knows_phrase(words: Iterable[str]) -> bool:
    """Whether the bot itself uses these words, in this order (folded)."""
    phrase = " ".join(words)
    return bool(phrase) and f" {phrase} " in _bot_vocabulary()[1]


@functools.cache
def _recogniser() -> Language | None:
    """The French entity recogniser, or None (logged once) if the model is missing."""
    from bot.language import french

    try:
        return french()
    except OSError as error:
        logger.warning("Masquage des noms par le modèle spaCy impossible : %s", error)
        return None


def _protected_spans(text: str) -> list[tuple[int, int]]:
    """Spans of `text` that are never a name: communes and earlier placeholders."""
    spans = [(m.start, m.end) for m in find_communes(text)]
    spans.extend((m.start(), m.end()) for m in _PLACEHOLDER.finditer(text))
    return sorted(spans)


def _words_after(text: str, start: int, keep: Callable[[str], bool]) -> Iterable[tuple[int, int]]:
    """Spans of the up to three name words that follow a cue ending at `start`."""
    stop = _stop_words()
    position = start
    for index in range(_NAME_WORDS_AFTER_CUE):
        if index:
            gap = _BETWEEN_NAME_WORDS.match(text, position)
            if gap is None:
                return
            position = gap.end()
        word = _NAME_WORD.match(text, position)
        if word is None:
            return
        folded = fold(word.group())
        if not folded or folded in stop:
            return
        if keep(folded):
            yield word.start(), word.end()
        position = word.end()


def _cue_spans(text: str) -> list[tuple[int, int]]:
    """Names after a self-introduction or a civility, in any case."""
    known = _bot_vocabulary()[0]
    spans: list[tuple[int, int]] = []
    for cue in _INTRODUCTION.finditer(text):
        spans.extend(_words_after(text, cue.end(), lambda _: True))
    for cue in _CIVILITY_CUE.finditer(text):
        spans.extend(_words_after(text, cue.end(), lambda w: w not in known))
    if not spans:
        return spans
    # A commune is never a name ("madame Brax" is a place): each candidate
    # word is checked on its own, so that the cost stays linear.
    return [(start, end) for start, end in spans if not _is_commune(text[start:end])]


@functools.lru_cache(maxsize=4096)
def _is_commune(word: str) -> bool:
    """Whether the whole of `word` names a commune or a place outside the metropole."""
    return any(m.start == 0 and m.end == len(word) for m in find_communes(word))


def _may_hold_name(text: str) -> bool:
    """Whether a name is plausible: a capitalised word the bot does not know, inside a sentence."""
    known = _bot_vocabulary()[0]
    for match in _CAPITALISED.finditer(text):
        index = match.start() - 1
        while index >= 0 and text[index] in " \t\u00a0":
            index -= 1
        if index < 0 or text[index] in _SENTENCE_END:
            continue  # a sentence starts with a capital anyway
        if any(word not in known for word in fold(match.group()).split()):
            return True
    return False


def _entity_spans(text: str) -> list[tuple[int, int]]:
    """Person names the entity recogniser finds in `text`, communes and the bot's words excluded."""
    recogniser = _recogniser()
    if recogniser is None:
        return []
    doc = recogniser(text)
    stop = _stop_words()
    spans: list[tuple[int, int]] = []
    for entity in doc.ents:
        if entity.label_ != "PER":
            continue
        start, end = entity.start_char, entity.end_char
        # The recogniser may swallow a commune ("Mme Durand de Colomiers"):
        # cut it out and look at what is left on each side.
        pieces: list[tuple[int, int]] = []
        cursor = start
        for p_start, p_end in _protected_spans(text[start:end]):
            pieces.append((cursor, start + p_start))
            cursor = start + p_end
        pieces.append((cursor, end))
        for p_start, p_end in pieces:
            words = [
                (m.start() + p_start, m.end() + p_start, fold(m.group()))
                for m in _WORD.finditer(text[p_start:p_end])
            ]
            while words and words[0][2] in stop:
                words.pop(0)
            while words and words[-1][2] in stop:
                words.pop()
            if not words:
                continue
            if _knows_phrase(w for _, _, w in words):
                continue  # "Jean Jaurès", "Bertrand Serp": the bot's own words
            first, last = words[0][0], words[-1][1]
            if not any(c.isupper() for c in text[first:last]):
                continue  # lower-case guesses are too often ordinary words
            spans.append((first, last))
    return spans


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each span (merged when they touch or only spaces part them) replaced by NAME."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and (start <= merged[-1][1] or not text[merged[-1][1] : start].strip()):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[str] = []
    cursor = 0
    for start, end in merged:
        parts.append(text[cursor:start])
        parts.append(NAME)
        cursor = end
    parts.append(text[cursor:])
    return "".join(parts)


def _ner_window(text: str) -> str:
    """The start of `text` the entity recogniser reads, not cutting a word."""
    if len(text) <= NER_LIMIT:
        return text
    cut = text.rfind(" ", 0, NER_LIMIT)
    return text[: cut if cut > 0 else NER_LIMIT]


def mask(text: str) -> str:
    """The text with personal data replaced: e-mails, numbers (phone, IBAN, social security, card, street) and names.

    See the module docstring for the exact list and what is never masked.
    Linear in the length of the text; masking a masked text changes nothing.
    """
    text = mask_patterns(text)
    spans = _cue_spans(text)
    window = _ner_window(text)
    if _may_hold_name(window):
        spans.extend(_entity_spans(window))
    return _replace(text, spans) if spans else text
