"""The 37 communes of Toulouse Métropole: official names, spelling variants, lookup.

This module is the one place that lists the 37 communes. The NLU extractor,
the actions and the knowledge check all import it. Their other spellings
("st orens", "l union") and the places outside the metropole people name
(Muret, Portet…) are staff-edited data: `knowledge/communes.yml`, read and
checked by `bot.knowledge.places`. `find_communes` looks at that file's date
at each call and rereads it when staff saved it, so the process that
recognises communes (the Rasa server) follows an edit at the next message,
without retraining; a broken file is refused in French and the last good
version keeps serving.

Matching works on a folded form of the text (lower case, no accents, every
run of non-letters turned into one space, "st"/"ste" expanded), then tries
exact word sequences before a small edit-distance tolerance for longer names,
so that "st orens", "saint orens de gameville", "colommiers" and "l union"
all resolve to the official name.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import re
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "COMMUNES",
    "COMMUNES_FILE",
    "CommuneMatch",
    "Places",
    "common_words",
    "current_places",
    "find_communes",
    "fold",
    "normalise",
    "places_outside",
]

logger = logging.getLogger(__name__)

# The staff-edited file of spellings and places outside, in the knowledge folder.
COMMUNES_FILE = "communes.yml"

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

# Ordinary French words that are also names of places: such a name is matched
# only as the whole message or after a place word ("à Mons"), never inside a
# sentence on its own ("une grenade"). French stop words count too.
_ORDINARY_WORDS = frozenset(
    {"mons", "brax", "grenade", "roques", "paris", "auch", "ville", "mairie", "centre", "gare"}
    | {"place", "rue", "pont", "bois", "saint", "sainte", "tour", "feuille"}
)

_PLACE_WORDS = frozenset({"a", "au", "de", "sur", "pour", "habite", "vers", "dans", "et"})


def fold(text: str) -> str:
    """Returns the comparison form of a text: lower case, no accents, words only."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    no_accents = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = re.sub(r"[^a-z0-9]+", " ", no_accents).split()
    expanded = ["saint" if w == "st" else "sainte" if w == "ste" else w for w in words]
    return " ".join(expanded)


@functools.cache
def common_words() -> frozenset[str]:
    """Folded common French words: spaCy's French stop words and a few ordinary nouns.

    Read from spaCy's word list file without importing spaCy (seconds of
    imports), so that `python -m bot check` stays fast.
    """
    words = set(_ORDINARY_WORDS)
    spec = importlib.util.find_spec("spacy")
    origin = spec.origin if spec is not None else None
    if origin is not None:
        path = Path(origin).parent / "lang" / "fr" / "stop_words.py"
        try:
            # The file is one assignment of a literal set, safe to run on its own.
            namespace: dict[str, object] = {}
            exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
            stop_words = namespace.get("STOP_WORDS")
            if isinstance(stop_words, (set, frozenset)):
                words.update(fold(str(word)) for word in stop_words)
        except (OSError, SyntaxError):
            logger.warning("Mots courants : liste de spaCy illisible (%s).", path)
    words.discard("")
    return frozenset(words)


@dataclass(frozen=True)
class CommuneMatch:
    """A commune found in a text: official name, span in the text, membership."""

    name: str
    start: int
    end: int
    in_metropole: bool


@dataclass(frozen=True)
class Places:
    """What `knowledge/communes.yml` says: other spellings, and the places outside.

    Attributes:
        variants: each other spelling (as written) and the official name it stands for,
            a commune of the metropole or a place outside.
        outside: official names of the places outside the metropole the bot recognises.
    """

    variants: Mapping[str, str] = field(default_factory=dict)
    outside: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Gazetteer:
    """The lookup tables built from `Places`: folded word sequences to official names."""

    places: Places
    index: dict[tuple[str, ...], str]
    members: frozenset[str]
    ambiguous: frozenset[str]
    max_words: int

    @classmethod
    def build(cls, places: Places) -> _Gazetteer:
        index: dict[tuple[str, ...], str] = {}
        for name in (*COMMUNES, *places.outside):
            index[tuple(fold(name).split())] = name
        for variant, name in places.variants.items():
            index.setdefault(tuple(fold(variant).split()), name)
        names = {fold(name) for name in (*COMMUNES, *places.outside)}
        ambiguous = frozenset(name for name in names if name in common_words())
        return cls(
            places=places,
            index=index,
            members=frozenset(COMMUNES),
            ambiguous=ambiguous,
            max_words=max(len(key) for key in index),
        )


class _LivePlaces:
    """The places of the knowledge folder's `communes.yml`, reread when its date or size changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._serving = _Gazetteer.build(Places())
        self._has_good = False

    def current(self) -> _Gazetteer:
        path = _places_path()
        try:
            stat = path.stat()
            stamp: tuple[int, int, int] | None = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except OSError:
            stamp = None
        if path == self._path and stamp == self._stamp:
            return self._serving
        with self._lock:
            if path != self._path or stamp != self._stamp:
                self._reload(path, stamp)
            return self._serving

    def _reload(self, path: Path, stamp: tuple[int, int, int] | None) -> None:
        if path != self._path:
            self._has_good = False
            self._serving = _Gazetteer.build(Places())
        self._path, self._stamp = path, stamp
        if stamp is None:
            logger.warning(
                "Fichier des communes absent (%s) : seuls les noms officiels sont reconnus.", path
            )
            return
        from bot.knowledge.places import load_places

        places, problems = load_places(path)
        if places is None:
            for problem in problems:
                if problem.severity == "erreur":
                    logger.error("Fichier des communes refusé : %s", problem)
            logger.error(
                "%s : %s",
                path.name,
                "la dernière version valide reste en service"
                if self._has_good
                else "aucune version valide : seuls les noms officiels sont reconnus",
            )
            return
        if self._has_good:
            logger.info("Fichier des communes rechargé : %s", path.name)
        self._serving = _Gazetteer.build(places)
        self._has_good = True


def _places_path() -> Path:
    # Checked at every message: the path is rebuilt only when the folder's variable changes.
    return _places_path_for(os.environ.get("BOT_KNOWLEDGE_DIR"))


@functools.lru_cache(maxsize=8)
def _places_path_for(directory: str | None) -> Path:
    from bot.knowledge.base import default_knowledge_dir

    return default_knowledge_dir() / COMMUNES_FILE


_LIVE = _LivePlaces()


def current_places() -> Places:
    """The spellings and places outside now in service (rereads `communes.yml` if it was saved)."""
    return _LIVE.current().places


def places_outside() -> frozenset[str]:
    """Official names of the places outside the metropole now recognised."""
    return frozenset(_LIVE.current().places.outside)


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


def _lookup(gazetteer: _Gazetteer, words: tuple[str, ...]) -> str | None:
    exact = gazetteer.index.get(words)
    if exact is not None:
        return exact
    joined = " ".join(words)
    # Typos are only forgiven on long enough names: "bram" must not become "Brax".
    if len(joined) < 6:
        return None
    for key, name in gazetteer.index.items():
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
    """Finds every commune named in a citizen's message, longest names first.

    Uses the spellings of `knowledge/communes.yml` as saved right now.
    """
    gazetteer = _LIVE.current()
    spans = _word_spans(text)
    words = [w for w, _, _ in spans]
    found: list[CommuneMatch] = []
    i = 0
    while i < len(spans):
        match: CommuneMatch | None = None
        for size in range(min(gazetteer.max_words, len(spans) - i), 0, -1):
            key = tuple(words[i : i + size])
            name = _lookup(gazetteer, key)
            if name is None:
                continue
            if size == 1 and key[0] in gazetteer.ambiguous:
                alone = len(spans) == 1
                after_place_word = i > 0 and words[i - 1] in _PLACE_WORDS
                if not (alone or after_place_word):
                    continue
            match = CommuneMatch(
                name=name,
                start=spans[i][1],
                end=spans[i + size - 1][2],
                in_metropole=name in gazetteer.members,
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
