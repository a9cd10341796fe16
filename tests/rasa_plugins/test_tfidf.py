"""One message's TF-IDF row (bot.rasa_plugins.tfidf): scikit-learn's, to the last bit and in its order."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.paths import PROJECT_ROOT
from bot.rasa_plugins.nlu import normalise
from bot.rasa_plugins.tfidf import OneMessageTfidf

UNSEEN = [
    "",
    "   ",
    "👍",
    "zzzqqqxx",
    "Quand passe la collecte à Balma ???",
    "slt cv",
    "a+",
    "é è ê",
]


def nlu_examples() -> list[str]:
    """The examples of data/nlu.yml, as written."""
    data = yaml.safe_load((PROJECT_ROOT / "data" / "nlu.yml").read_text(encoding="utf-8"))
    return [
        line.strip()[2:]
        for item in data["nlu"]
        if "examples" in item
        for line in item["examples"].splitlines()
        if line.strip()
    ]


def _vectorizers() -> list[TfidfVectorizer]:
    return [
        TfidfVectorizer(
            analyzer="char_wb", ngram_range=(1, 5), sublinear_tf=True, preprocessor=normalise
        ),
        TfidfVectorizer(
            analyzer="word", ngram_range=(1, 2), sublinear_tf=True, preprocessor=normalise
        ),
        TfidfVectorizer(analyzer="char", ngram_range=(2, 3), norm="l1"),
        TfidfVectorizer(binary=True),
    ]


@pytest.mark.parametrize(
    "vectorizer", _vectorizers(), ids=lambda v: f"{v.analyzer}-{v.norm}-{v.binary}"
)
def test_each_row_is_scikit_learns_to_the_last_bit(vectorizer: TfidfVectorizer) -> None:
    texts = nlu_examples()
    vectorizer.fit(texts[::2])  # half the texts never seen when fitting
    one = OneMessageTfidf(vectorizer)
    # Every third text: seen and unseen ones alike (a few seconds, not a minute).
    for text in [*texts[::3], *UNSEEN]:
        stock = vectorizer.transform([text])
        ours = one.transform(text)
        assert ours.shape == stock.shape and ours.dtype == stock.dtype, text
        assert np.array_equal(ours.indices, stock.indices), text
        assert np.array_equal(ours.data, stock.data), text


def test_a_vectorizer_it_cannot_reproduce_is_refused() -> None:
    texts = nlu_examples()
    with pytest.raises(ValueError):
        OneMessageTfidf(TfidfVectorizer(use_idf=False).fit(texts))
    with pytest.raises(ValueError):
        OneMessageTfidf(TfidfVectorizer(norm=None).fit(texts))
