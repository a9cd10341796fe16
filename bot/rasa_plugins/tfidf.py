"""scikit-learn's TF-IDF transform for one message, without its per-call checks.

`TfidfVectorizer.transform` is built for batches: for a single short message
most of its time goes to validating its input and output (`check_array`,
`check_format`), a sparse matrix product by the diagonal of the IDF weights,
and a generic normalisation, about a millisecond a vectorizer, each turn.
`OneMessageTfidf` computes the same row with the same operations in the same
order (counts of the vocabulary's n-grams as scikit-learn's analyzer cuts
them, `log(tf) + 1`, times the IDF, then scikit-learn's own in-place L2
normalisation), with the columns in the order scikit-learn leaves them, so
the features, hence the classifier's confidences, are
identical to the last bit (`tests/rasa_plugins/test_tfidf.py`).

Only what the project's featurizer uses is supported (a fitted vectorizer
with IDF weights and a norm); anything else is refused when built, and the
caller keeps scikit-learn's transform.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import scipy.sparse
from sklearn.utils.sparsefuncs_fast import (
    inplace_csr_row_normalize_l1,
    inplace_csr_row_normalize_l2,
)

__all__ = ["OneMessageTfidf"]

_NORMALISE = {"l2": inplace_csr_row_normalize_l2, "l1": inplace_csr_row_normalize_l1}


class OneMessageTfidf:
    """The TF-IDF row of one message, as a fitted `TfidfVectorizer.transform([text])` gives it."""

    def __init__(self, vectorizer: Any) -> None:
        if not getattr(vectorizer, "use_idf", False) or vectorizer.norm not in _NORMALISE:
            raise ValueError("seuls les vecteurs TF-IDF normalisés (l1 ou l2) sont pris en charge")
        self._analyze = vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = vectorizer.vocabulary_
        self._idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self._binary = bool(vectorizer.binary)
        self._sublinear = bool(vectorizer.sublinear_tf)
        self._normalise = _NORMALISE[vectorizer.norm]
        self._dtype = vectorizer.dtype
        self.size = len(self._vocabulary)

    def transform(self, text: str) -> scipy.sparse.csr_matrix:
        """The message's row (1 x vocabulary size), in the vectorizer's dtype."""
        vocabulary = self._vocabulary
        counts = Counter(
            vocabulary[feature] for feature in self._analyze(text) if feature in vocabulary
        )
        # In the order scikit-learn leaves them (its product by the IDF diagonal
        # lists a row's columns from the last to the first): the L2 norm, and
        # later the classifier's dot products, add in that order.
        indices = np.fromiter(sorted(counts, reverse=True), dtype=np.int32, count=len(counts))
        data = np.fromiter((counts[i] for i in indices), dtype=np.float64, count=len(counts))
        if self._binary:
            data.fill(1)
        if self._sublinear:
            np.log(data, data)
            data += 1
        data *= self._idf[indices]
        row = scipy.sparse.csr_matrix(
            (data, indices, np.array([0, len(indices)], dtype=np.int32)),
            shape=(1, self.size),
        )
        self._normalise(row)
        if row.dtype != self._dtype:
            row = row.astype(self._dtype)
        return row
