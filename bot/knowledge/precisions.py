"""Which of a topic's precisions a question asks for: trigger words matched accent- and typo-tolerantly.

A precision (`precisions:` in a knowledge file) is one or two sentences that
answer one precise question about a topic ("qui a gagné ?" → "Athènes"). Each
has trigger expressions (`mots:`); an expression matches a question when
every one of its words is in the question, accents, case and small typos
aside. The question's best precision (most trigger words matched, then the
first in the file) is shown before the general answer.

Pure Python, used by the loader (to refuse trigger words too common to mean
anything) and by `bot.answers` (to choose).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.communes import fold

__all__ = ["COMMON_WORDS", "Precision", "best_precision", "expression_words", "is_common"]

# Words found in questions about any topic: a trigger made only of these would
# fire on everything. Folded (no accents, lower case).
_COMMON = """
    a au aux avec c ca ce ces cet cette d de des du elle en est et etait il ils j je l la le les
    leur lui m ma me mes mon n ne ni nous on ou par pas pour qu que quel quelle quelles quels qui
    quoi s sa se ses si son sur t ta te tes ton tu un une vos votre vous y
    comment combien quand pourquoi dire sais savoir peux peut veux voudrais faire fait svp stp
    bonjour merci oui non ok bien tout tous toute toutes plus moins tres aussi
    toulouse metropole ville
"""
COMMON_WORDS: frozenset[str] = frozenset(_COMMON.split())

# Shorter words must match exactly: "gare" is not a typo of "gars".
_FUZZY_MIN_CHARS = 5
_FUZZY_RATIO = 0.8


@dataclass(frozen=True)
class Precision:
    """A short answer to one precise question, and the expressions that ask it.

    Attributes:
        expressions: each a tuple of folded words, all needed for a match.
        text: what the citizen reads, before the topic's general answer.
        line: where it is written in its file.
    """

    expressions: tuple[tuple[str, ...], ...]
    text: str
    line: int = field(default=0, compare=False)

    def score(self, words: Sequence[str]) -> int:
        """How many trigger words of its best matching expression the question has (0: none matches)."""
        best = 0
        for expression in self.expressions:
            if all(_in_question(word, words) for word in expression):
                best = max(best, len(expression))
        return best


def expression_words(expression: str) -> tuple[str, ...]:
    """A trigger expression as staff write it ("qui a gagné"), as folded words."""
    return tuple(fold(expression).split())


def is_common(expression: tuple[str, ...]) -> bool:
    """Whether an expression is made only of words that any question may contain."""
    return all(word in COMMON_WORDS or len(word) < 3 for word in expression)


def _same_word(trigger: str, word: str) -> bool:
    if trigger == word:
        return True
    shorter, longer = sorted((trigger, word), key=len)
    if len(shorter) < _FUZZY_MIN_CHARS:
        return False
    # "gagne" / "gagnee" / "gagnes"; "icapital" / "icapitale".
    if longer.startswith(shorter) and len(longer) - len(shorter) <= 2:
        return True
    return difflib.SequenceMatcher(None, trigger, word).ratio() >= _FUZZY_RATIO


def _in_question(trigger: str, words: Sequence[str]) -> bool:
    return any(_same_word(trigger, word) for word in words)


def best_precision(precisions: Iterable[Precision], question: str) -> Precision | None:
    """The precision the question asks for, or None when no trigger expression matches."""
    words = fold(question).split()
    if not words:
        return None
    best: Precision | None = None
    best_score = 0
    for precision in precisions:
        score = precision.score(words)
        if score > best_score:
            best, best_score = precision, score
    return best
