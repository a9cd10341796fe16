"""The 37 communes of Toulouse Métropole: official names, spelling variants, lookup.

This module is the one place that lists the communes. The NLU extractor, the
actions and the knowledge check all import it.

Matching works on a folded form of the text (lower case, no accents, every
run of non-letters turned into one space, "st"/"ste" expanded), then tries
exact word sequences before a small edit-distance tolerance for longer names,
so that "st orens", "saint orens de gameville", "colommiers" and "l union"
all resolve to the official name.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "COMMUNES",
    "COMMUNES_HORS_METROPOLE",
    "CommuneMatch",
    "find_communes",
    "fold",
    "normalise",
]

COMMUNES: tuple[str, ...] = (
    "Aigrefeuille",
    "Aucamville",
    "Aussonne",
    "Balma",
    "Beaupuy",
    "Beauzelle",
    "Blagnac",
    "Brax",
    "Bruguières",
    "Castelginest",
    "Colomiers",
    "Cornebarrieu",
    "Cugnaux",
    "Drémil-Lafage",
    "Fenouillet",
    "Flourens",
    "Fonbeauzard",
    "Gagnac-sur-Garonne",
    "Gratentour",
    "L'Union",
    "Launaguet",
    "Lespinasse",
    "Mondonville",
    "Mondouzil",
    "Mons",
    "Montrabé",
    "Pibrac",
    "Pin-Balma",
    "Quint-Fonsegrives",
    "Saint-Alban",
    "Saint-Jean",
    "Saint-Jory",
    "Saint-Orens-de-Gameville",
    "Seilh",
    "Toulouse",
    "Tournefeuille",
    "Villeneuve-Tolosane",
)

# Places people near Toulouse often name that are NOT in Toulouse Métropole:
# the bot must say so rather than answer as if they were served.
COMMUNES_HORS_METROPOLE: tuple[str, ...] = (
    "Muret",
    "Portet-sur-Garonne",
    "Plaisance-du-Touch",
    "Frouzins",
    "Roques",
    "Seysses",
    "Fonsorbes",
    "Saint-Lys",
    "Léguevin",
    "Labège",
    "Castanet-Tolosan",
    "Ramonville-Saint-Agne",
    "Escalquens",
    "Auzeville-Tolosane",
    "Montastruc-la-Conseillère",
    "Grenade",
    "Merville",
    "Fronton",
    "Castelnau-d'Estrétefonds",
    "Villemur-sur-Tarn",
    "Saint-Sulpice-la-Pointe",
    "Lavaur",
    "Montauban",
    "Albi",
    "Castres",
    "Auch",
    "Carcassonne",
    "Montpellier",
    "Bordeaux",
    "Paris",
)

# Nicknames and short forms people actually use, folded, mapped to the official name.
_ALIASES: dict[str, str] = {
    "st orens": "Saint-Orens-de-Gameville",
    "saint orens": "Saint-Orens-de-Gameville",
    "quint": "Quint-Fonsegrives",
    "quint fonsegrive": "Quint-Fonsegrives",
    "dremil": "Drémil-Lafage",
    "gagnac": "Gagnac-sur-Garonne",
    "villeneuve tolosanne": "Villeneuve-Tolosane",
    "l union": "L'Union",
    "lunion": "L'Union",
    "tlse": "Toulouse",
    "toulous": "Toulouse",
    "tournefeuil": "Tournefeuille",
    "colomier": "Colomiers",
    "st jean": "Saint-Jean",
    "st jory": "Saint-Jory",
    "st alban": "Saint-Alban",
    "pin balma": "Pin-Balma",
    "portet": "Portet-sur-Garonne",
    "plaisance": "Plaisance-du-Touch",
    "ramonville": "Ramonville-Saint-Agne",
    "castanet": "Castanet-Tolosan",
    "castelnau d estretefonds": "Castelnau-d'Estrétefonds",
    "montastruc": "Montastruc-la-Conseillère",
}

# Folded words that are also ordinary French words: matched only as the whole
# message or after a place preposition, never inside a sentence on their own.
_AMBIGUOUS: frozenset[str] = frozenset({"mons", "brax", "grenade", "roques", "paris", "auch"})

_PLACE_WORDS = frozenset({"a", "au", "de", "sur", "pour", "habite", "vers", "dans", "et"})


def fold(text: str) -> str:
    """Returns the comparison form of a text: lower case, no accents, words only."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    no_accents = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = re.sub(r"[^a-z0-9]+", " ", no_accents).split()
    expanded = ["saint" if w == "st" else "sainte" if w == "ste" else w for w in words]
    return " ".join(expanded)


@dataclass(frozen=True)
class CommuneMatch:
    """A commune found in a text: official name, span in the text, membership."""

    name: str
    start: int
    end: int
    in_metropole: bool


def _build_index() -> dict[tuple[str, ...], str]:
    index: dict[tuple[str, ...], str] = {}
    for name in (*COMMUNES, *COMMUNES_HORS_METROPOLE):
        index[tuple(fold(name).split())] = name
    for alias, name in _ALIASES.items():
        index[tuple(fold(alias).split())] = name
    return index


_INDEX = _build_index()
_MEMBERS = frozenset(COMMUNES)
_MAX_WORDS = max(len(key) for key in _INDEX)


def _edit_distance_at_most_one(a: str, b: str) -> bool:
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diffs) == 1:
            return True
        # One swap of neighbouring letters ("blangac") counts as one typo.
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


def _lookup(words: tuple[str, ...]) -> str | None:
    exact = _INDEX.get(words)
    if exact is not None:
        return exact
    joined = " ".join(words)
    # Typos are only forgiven on long enough names: "bram" must not become "Brax".
    if len(joined) < 6:
        return None
    for key, name in _INDEX.items():
        if len(key) == len(words) and _edit_distance_at_most_one(" ".join(key), joined):
            return name
    return None


def _word_spans(text: str) -> list[tuple[str, int, int]]:
    """Folded words of `text` with their character spans in the original text."""
    spans: list[tuple[str, int, int]] = []
    for match in re.finditer(r"[^\W_]+", text):
        for word in fold(match.group()).split():
            spans.append((word, match.start(), match.end()))
    return spans


def find_communes(text: str) -> list[CommuneMatch]:
    """Finds every commune named in a citizen's message, longest names first."""
    spans = _word_spans(text)
    words = [w for w, _, _ in spans]
    found: list[CommuneMatch] = []
    i = 0
    while i < len(spans):
        match: CommuneMatch | None = None
        for size in range(min(_MAX_WORDS, len(spans) - i), 0, -1):
            key = tuple(words[i : i + size])
            name = _lookup(key)
            if name is None:
                continue
            if size == 1 and key[0] in _AMBIGUOUS:
                alone = len(spans) == 1
                after_place_word = i > 0 and words[i - 1] in _PLACE_WORDS
                if not (alone or after_place_word):
                    continue
            match = CommuneMatch(
                name=name,
                start=spans[i][1],
                end=spans[i + size - 1][2],
                in_metropole=name in _MEMBERS,
            )
            i += size
            break
        if match is None:
            i += 1
        else:
            found.append(match)
    return found


def normalise(text: str) -> str | None:
    """Returns the official name of the metropole commune a text names, if any."""
    for match in find_communes(text):
        if match.in_metropole:
            return match.name
    return None
