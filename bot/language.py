"""The one French spaCy model of a process, loaded lazily and shared.

`french()` returns `fr_core_news_md` with every pipe excluded except the
named-entity recogniser: its tokenizer and word-vector table come with it.
The personal-data masking (`bot.privacy`) runs its entity recogniser on
citizens' messages; the NLU's word-vector featurizer needs only its
tokenizer and vectors. Both ask this module, so a process holds one copy of
the model (about 100 MB) whoever asks first.

Nothing is loaded at import: spaCy itself is imported on the first call.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language

__all__ = ["FRENCH_MODEL", "KEPT_PIPES", "french"]

FRENCH_MODEL = "fr_core_news_md"

# The only trained pipe kept: in fr_core_news_md the recogniser has its own
# token-to-vector layer, so it needs neither `tok2vec` nor the parser.
KEPT_PIPES: tuple[str, ...] = ("ner",)

logger = logging.getLogger(__name__)

# Two threads asking at once must not load two copies.
_lock = threading.Lock()


def french(model: str = FRENCH_MODEL) -> Language:
    """The French spaCy model (tokenizer, vectors, entity recogniser), loaded once per process.

    Args:
        model: name of an installed spaCy package; the default is the one the
            project pins. Every caller passing the same name gets the same object.

    Raises:
        OSError: the model package is not installed (spaCy's own message).
    """
    with _lock:
        return _load(model)


@functools.cache
def _load(model: str) -> Language:
    import spacy

    meta = spacy.info(model)
    components = meta.get("components", []) if isinstance(meta, dict) else []
    excluded = [name for name in components if name not in KEPT_PIPES]
    nlp = spacy.load(model, exclude=excluded)
    logger.info("Modèle spaCy %s chargé (composants : %s).", model, ", ".join(nlp.pipe_names))
    return nlp
