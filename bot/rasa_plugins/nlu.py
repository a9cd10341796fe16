"""Rasa NLU components of the bot: features, intent classifier, communes, guard.

All are named in `config.yml`:

- `bot.rasa_plugins.nlu.TfidfFeaturizer` turns a message into TF-IDF weights of its words
  (and word pairs) and of its character n-grams, after lower-casing and
  removing accents, so that "déchèterie", "dechetterie" and "DECHETERIE" share
  most of their features.
- `bot.rasa_plugins.nlu.WordVectorsFeaturizer` adds the mean of the message's spaCy word
  vectors (a meaning the TF-IDF cannot see: "poubelle" is near "ordures");
  with `content_words`, of its words that are not stop words.
  Only spaCy's tokenizer and vector table are used: no tagger or parser is
  loaded, and the named-entity model that comes with the shared copy
  (`bot.language`) runs only when personal data is masked before storage.
- `bot.rasa_plugins.nlu.LinearIntentClassifier` is a linear SVM on those sentence features;
  its confidences are calibrated on held-out folds of the training data, so
  that one threshold means the same for every intent. On the data this bot
  learns from (a few dozen examples per intent) it beats DIET on accuracy,
  trains in seconds and parses in about a millisecond
  (`bench/nlu_benchmark.py`, results in `bench/results/nlu_benchmark.md`).
- `bot.rasa_plugins.nlu.CommuneExtractor` finds the communes a message names (spelling
  variants, no accents, "st", typos) and emits entity `commune` with the
  official name, or `commune_hors_metropole` for a place outside the metropole.
- `bot.rasa_plugins.nlu.NotUnderstoodGuard` turns a message into `nlu_fallback` when it has
  no word the bot was ever trained on (gibberish, unknown emoji, empty text),
  so that such a message never gets a confident answer on some topic, but
  never overrides a message the classifier is sure of ("merci", "👍").
"""

from __future__ import annotations

import difflib
import itertools
import json
import unicodedata
from collections import Counter
from typing import Any

import joblib
import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers import LABEL_RANKING_LENGTH
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from spacy.lang.fr.stop_words import STOP_WORDS

from bot.communes import find_communes, fold
from bot.domain import ENTITY_COMMUNE, ENTITY_OUTSIDE, INTENT_FALLBACK
from bot.language import french
from bot.rasa_plugins.tfidf import OneMessageTfidf

__all__ = [
    "CommuneExtractor",
    "LinearIntentClassifier",
    "NotUnderstoodGuard",
    "TfidfFeaturizer",
    "WordVectorsFeaturizer",
]


_STOP_WORDS = frozenset(fold(word) for word in STOP_WORDS)
# Symbols that carry meaning on their own in a chat message: emoji ("👍",
# "🙏") and signs ("a+", "<3"). `fold` drops them with the punctuation.
_SYMBOL_CATEGORIES = frozenset({"So", "Sm"})
# Longer than any French word with its punctuation ("anticonstitutionnellement," is 26).
_MAX_WORD_CHARS = 40


def normalise(text: str) -> str:
    """`fold` (lower case, no accents, words only), keeping emoji and signs as words of their own."""
    spaced = "".join(
        f" {char} " if unicodedata.category(char) in _SYMBOL_CATEGORIES else char for char in text
    )
    pieces = (
        piece
        if len(piece) == 1 and unicodedata.category(piece) in _SYMBOL_CATEGORIES
        else fold(piece)
        for piece in spaced.split()
    )
    return " ".join(piece for piece in pieces if piece)


def _add_sentence_features(message: Message, matrix: Any, origin: str) -> None:
    message.add_features(Features(matrix, FEATURE_TYPE_SENTENCE, TEXT, origin))


class _FittedComponent(GraphComponent):
    """A trainable component whose fitted scikit-learn object is kept in Rasa's model storage."""

    MODEL_FILE = "fitted.joblib"

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        fitted: Any = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._fitted = fitted

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> _FittedComponent:
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> _FittedComponent:
        with model_storage.read_from(resource) as directory:
            fitted = joblib.load(directory / cls.MODEL_FILE)
        return cls(config, model_storage, resource, fitted)

    def _save(self, fitted: Any) -> Resource:
        self._fitted = fitted
        with self._model_storage.write_to(self._resource) as directory:
            joblib.dump(fitted, directory / self.MODEL_FILE)
        return self._resource


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class TfidfFeaturizer(_FittedComponent):
    """Sentence-level TF-IDF of words and character n-grams, accents and case folded."""

    MODEL_FILE = "tfidf.joblib"

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # Character n-grams inside word boundaries: they absorb typos,
            # missing accents and word endings ("poubelles", "poubele").
            "char_min_ngram": 1,
            "char_max_ngram": 4,
            # Words and pairs of words ("carte grise", "pas de").
            "word_max_ngram": 2,
        }

    def _new_vectorizers(self) -> list[Any]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        chars = (self._config["char_min_ngram"], self._config["char_max_ngram"])
        words = (1, self._config["word_max_ngram"])
        return [
            TfidfVectorizer(
                analyzer="char_wb", ngram_range=chars, sublinear_tf=True, preprocessor=normalise
            ),
            TfidfVectorizer(
                analyzer="word", ngram_range=words, sublinear_tf=True, preprocessor=normalise
            ),
        ]

    def train(self, training_data: TrainingData) -> Resource:
        texts = [example.get(TEXT) or "" for example in training_data.intent_examples]
        vectorizers = self._new_vectorizers()
        for vectorizer in vectorizers:
            vectorizer.fit(texts)
        return self._save(vectorizers)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def _one_message(self) -> list[OneMessageTfidf]:
        """The fitted vectorizers' one-message transforms, built at the first message."""
        one: list[OneMessageTfidf] | None = getattr(self, "_one", None)
        if one is None:
            one = self._one = [OneMessageTfidf(v) for v in self._fitted]
        return one

    def process(self, messages: list[Message]) -> list[Message]:
        if not self._fitted:
            return messages
        texts = [message.get(TEXT) for message in messages]
        with_text = [i for i, text in enumerate(texts) if text is not None]
        if not with_text:
            return messages
        if len(with_text) == 1:
            # A citizen's message, at each turn: the same row, without
            # scikit-learn's per-call checks (bot.rasa_plugins.tfidf).
            text = texts[with_text[0]]
            rows = [one.transform(text) for one in self._one_message()]
        else:
            rows = [v.transform([texts[i] for i in with_text]) for v in self._fitted]
        matrix = scipy.sparse.hstack(rows).tocsr()
        for row, i in enumerate(with_text):
            _add_sentence_features(messages[i], matrix[row], self.__class__.__name__)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class WordVectorsFeaturizer(GraphComponent):
    """The mean spaCy vector of a message's words, unit length (zeros if none is known)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # content_words: average only the words that are not stop words (all of
        # them when every word is one), so that "le", "de", "je" do not pull
        # every sentence towards the same mean.
        return {"model": "fr_core_news_md", "content_words": False}

    @staticmethod
    def required_packages() -> list[str]:
        return ["spacy"]

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = {**self.get_default_config(), **config}
        self._nlp = french(self._config["model"])
        self._size = int(self._nlp.vocab.vectors.shape[1])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> WordVectorsFeaturizer:
        return cls(config)

    def vector(self, text: str) -> np.ndarray:
        # spaCy's suffix search grows with the square of a run without spaces
        # (4,096 emoji: seconds of CPU for every conversation); such a run is
        # never a word with a vector, so it is left out before tokenizing.
        words = [word for word in text.lower().split() if len(word) <= _MAX_WORD_CHARS]
        doc = self._nlp.make_doc(" ".join(words))
        tokens = [t for t in doc if t.has_vector and not (t.is_punct or t.is_space)]
        if self._config["content_words"]:
            tokens = [t for t in tokens if fold(t.text) not in _STOP_WORDS] or tokens
        known = [t.vector for t in tokens]
        if not known:
            return np.zeros(self._size, dtype=np.float32)
        mean = np.asarray(known, dtype=np.float32).mean(axis=0)
        norm = float(np.linalg.norm(mean))
        return mean / norm if norm else mean

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if text is not None:
                _add_sentence_features(
                    message, self.vector(text)[np.newaxis, :], self.__class__.__name__
                )
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(_FittedComponent, IntentClassifier):
    """A linear SVM on the messages' sentence features, with calibrated confidences.

    With `calibration_folds` of 2 or more (the default), the confidences are
    the SVM's scores mapped to probabilities by a sigmoid fitted on held-out
    folds of the training data (scikit-learn's `CalibratedClassifierCV`), so
    that one FallbackClassifier threshold means about the same for every
    intent; with `calibration_ensemble`, the average of the folds' SVMs, each
    with its own sigmoid (better separated from off-topic messages in
    bench/nlu_benchmark.py, for a few more dot products per message). With 0 or 1, they are a softmax of the scores scaled by
    `temperature` (higher makes them sharper). The threshold that follows is
    chosen for them (bench/fallback_threshold.py).
    """

    MODEL_FILE = "linear_intent_classifier.joblib"

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "C": 1.0,
            "temperature": 3.0,
            "calibration_folds": 5,
            "calibration_ensemble": True,
            "random_seed": 0,
        }

    @staticmethod
    def _features(message: Message) -> Any:
        """All sentence features of the text, side by side, as one sparse row."""
        parts = []
        for features in (
            message.get_sparse_features(TEXT)[1],
            message.get_dense_features(TEXT)[1],
        ):
            if features is not None:
                parts.append(scipy.sparse.csr_matrix(features.features))
        if not parts:
            raise ValueError(
                "LinearIntentClassifier : aucun descripteur de phrase ; placez "
                "TfidfFeaturizer ou WordVectorsFeaturizer avant lui dans config.yml."
            )
        return scipy.sparse.hstack(parts).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        examples = [e for e in training_data.intent_examples if e.get(INTENT)]
        labels = np.asarray([e.get(INTENT) for e in examples])
        if len(set(labels)) < 2:
            raise ValueError("LinearIntentClassifier : il faut au moins deux intentions.")
        matrix = scipy.sparse.vstack([self._features(e) for e in examples]).tocsr()
        svm = LinearSVC(C=self._config["C"], random_state=self._config["random_seed"])
        # Every intent needs an example in each calibration fold.
        folds = min(int(self._config["calibration_folds"]), *_counts(labels))
        if folds < 2:
            return self._save(svm.fit(matrix, labels))
        calibrated = CalibratedClassifierCV(
            svm, method="sigmoid", cv=folds, ensemble=bool(self._config["calibration_ensemble"])
        ).fit(matrix, labels)
        if len(calibrated.classes_) == 2:
            return self._save(calibrated)
        return self._save(_CalibratedLinear.of(calibrated))

    def _confidences(self, features: Any) -> np.ndarray:
        if isinstance(self._fitted, _CalibratedLinear):
            return self._fitted.probabilities(features)
        if hasattr(self._fitted, "predict_proba"):
            return np.asarray(self._fitted.predict_proba(features)[0], dtype=float)
        scores = np.atleast_2d(self._fitted.decision_function(features))[0]
        if len(self._fitted.classes_) == 2:
            scores = np.array([-scores[0], scores[0]])
        scaled = scores * self._config["temperature"]
        confidences = np.exp(scaled - scaled.max())
        return np.asarray(confidences / confidences.sum(), dtype=float)

    def process(self, messages: list[Message]) -> list[Message]:
        if self._fitted is None:
            return messages
        for message in messages:
            if message.get(TEXT) is None:
                continue
            confidences = self._confidences(self._features(message))
            order = np.argsort(-confidences, kind="stable")[:LABEL_RANKING_LENGTH]
            ranking = [
                {"name": str(self._fitted.classes_[i]), "confidence": float(confidences[i])}
                for i in order
            ]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking, add_to_output=True)
        return messages


class _CalibratedLinear:
    """scikit-learn's fitted `CalibratedClassifierCV` of linear SVMs, as arrays: same confidences, one product.

    scikit-learn calls each fold's SVM, then one sigmoid per intent and fold
    (175 small calls for 35 intents and 5 folds, most of a parse's time);
    here the folds' weights are stacked and the sigmoids applied at once.
    """

    def __init__(
        self,
        classes: np.ndarray,
        weights: Any,
        intercepts: np.ndarray,
        a: np.ndarray,
        b: np.ndarray,
    ) -> None:
        self.classes_ = classes
        self.weights = weights  # (features, folds × intents)
        self.intercepts = intercepts  # (folds × intents,)
        self.a = a  # sigmoid slopes, (folds, intents)
        self.b = b  # sigmoid offsets, (folds, intents)

    @classmethod
    def of(cls, calibrated: Any) -> _CalibratedLinear:
        """The arrays of a fitted multi-class `CalibratedClassifierCV` over `LinearSVC`s."""
        folds = calibrated.calibrated_classifiers_
        estimators = [getattr(f, "estimator", None) or f.base_estimator for f in folds]
        weights = scipy.sparse.csr_matrix(np.vstack([e.coef_ for e in estimators]).T)
        intercepts = np.concatenate([e.intercept_ for e in estimators])
        a = np.array([[c.a_ for c in f.calibrators] for f in folds])
        b = np.array([[c.b_ for c in f.calibrators] for f in folds])
        return cls(calibrated.classes_, weights, intercepts, a, b)

    def probabilities(self, features: Any) -> np.ndarray:
        """The confidences `CalibratedClassifierCV.predict_proba` gives for one message."""
        product = features @ self.weights
        dense = product.toarray() if scipy.sparse.issparse(product) else np.asarray(product)
        scores = (dense.ravel() + self.intercepts).reshape(self.a.shape)
        probabilities = 1.0 / (1.0 + np.exp(self.a * scores + self.b))
        totals = probabilities.sum(axis=1, keepdims=True)
        uniform = np.full_like(probabilities, 1.0 / probabilities.shape[1])
        probabilities = np.divide(probabilities, totals, out=uniform, where=totals > 0)
        return np.asarray(probabilities.mean(axis=0), dtype=float)


def _counts(labels: np.ndarray) -> list[int]:
    """How many examples each label has."""
    return list(Counter(labels.tolist()).values())


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class CommuneExtractor(GraphComponent, EntityExtractorMixin):
    """Recognises the communes a message names and normalises them to the official name."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CommuneExtractor:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get("text") or ""
            entities = [
                entity
                for entity in message.get("entities", [])
                if entity.get("entity") not in (ENTITY_COMMUNE, ENTITY_OUTSIDE)
            ]
            for match in find_communes(text):
                entities.append(
                    {
                        "entity": ENTITY_COMMUNE if match.in_metropole else ENTITY_OUTSIDE,
                        "value": match.name,
                        "start": match.start,
                        "end": match.end,
                        "confidence_entity": 1.0,
                        "extractor": self.__class__.__name__,
                    }
                )
            message.set("entities", entities, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class NotUnderstoodGuard(GraphComponent, IntentClassifier):
    """Sends messages with nothing known in them to the fallback, unless the classifier is sure.

    Known means: a content word seen in training (one typo allowed in long
    words) or found in the spaCy model's vocabulary of real words (`model`;
    "ciao", "yep", "exactement"), or two words seen side by side in training,
    so that questions made only of small words ("qui es-tu ?") still reach the
    classifier while "le la les" and "azertyuiop" do not. A message whose
    every word (emoji included) was seen in training and that the classifier
    ranks at `sure_confidence` or more is never overridden: "merci", "hé",
    "a+" and "👍" are made of words spaCy counts as stop words or of no word
    at all, yet they are exact training examples. Whatever passes, the
    classifier's confidence and the FallbackClassifier still decide.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # model None: only the training vocabulary counts. sure_confidence:
        # the confidence config.yml's FallbackClassifier asks for an answer.
        return {"model": "fr_core_news_md", "sure_confidence": 0.5}

    VOCABULARY_FILE = "vocabulary.json"

    def __init__(
        self,
        model_storage: ModelStorage,
        resource: Resource,
        vocabulary: frozenset[str] = frozenset(),
        pairs: frozenset[str] = frozenset(),
        model: str | None = None,
        tokens: frozenset[str] = frozenset(),
        sure_confidence: float = 0.5,
    ) -> None:
        self._model_storage = model_storage
        self._resource = resource
        self.vocabulary = vocabulary
        self.pairs = pairs
        self.tokens = tokens
        self.sure_confidence = sure_confidence
        self._lexicon = french(model).vocab if model else None
        self._long_words = sorted(word for word in vocabulary if len(word) >= 5)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> NotUnderstoodGuard:
        config = {**cls.get_default_config(), **config}
        return cls(
            model_storage,
            resource,
            model=config["model"],
            sure_confidence=float(config["sure_confidence"]),
        )

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> NotUnderstoodGuard:
        with model_storage.read_from(resource) as directory:
            saved = json.loads((directory / cls.VOCABULARY_FILE).read_text(encoding="utf-8"))
        config = {**cls.get_default_config(), **config}
        return cls(
            model_storage,
            resource,
            frozenset(saved["words"]),
            frozenset(saved["pairs"]),
            model=config["model"],
            tokens=frozenset(saved.get("tokens", ())),
            sure_confidence=float(config["sure_confidence"]),
        )

    def train(self, training_data: TrainingData) -> Resource:
        words: set[str] = set()
        pairs: set[str] = set()
        tokens: set[str] = set()
        for example in training_data.intent_examples:
            text = example.get("text") or ""
            words.update(_content_words(text))
            pairs.update(_word_pairs(text))
            tokens.update(normalise(text).split())
        self.vocabulary = frozenset(words)
        self.pairs = frozenset(pairs)
        self.tokens = frozenset(tokens)
        saved = {"words": sorted(words), "pairs": sorted(pairs), "tokens": sorted(tokens)}
        with self._model_storage.write_to(self._resource) as directory:
            (directory / self.VOCABULARY_FILE).write_text(
                json.dumps(saved, ensure_ascii=False), encoding="utf-8"
            )
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def knows_any_word(self, text: str) -> bool:
        """Whether the text has a known content word (one typo allowed) or a known pair of words."""
        if not _word_pairs(text).isdisjoint(self.pairs):
            return True
        for word in _content_words(text):
            if word in self.vocabulary:
                return True
            if self._lexicon is not None and _is_real_word(word, self._lexicon):
                return True
            if len(word) >= 5 and difflib.get_close_matches(
                word, self._long_words, n=1, cutoff=0.8
            ):
                return True
        return False

    def classifier_is_sure(self, message: Message) -> bool:
        """Whether every word of the message was seen in training and the classifier is sure of it."""
        words = normalise(message.get("text") or "").split()
        if not words or not self.tokens.issuperset(words):
            return False
        ranking = [
            r for r in message.get("intent_ranking") or [] if r.get("name") != INTENT_FALLBACK
        ]
        return bool(ranking) and float(ranking[0]["confidence"]) >= self.sure_confidence

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get("text") or ""
            names_commune = any(
                entity.get("entity") in (ENTITY_COMMUNE, ENTITY_OUTSIDE)
                for entity in message.get("entities", [])
            )
            if names_commune or self.knows_any_word(text) or self.classifier_is_sure(message):
                continue
            fallback = {"name": INTENT_FALLBACK, "confidence": 1.0}
            message.set("intent", fallback, add_to_output=True)
            message.set("intent_ranking", [fallback], add_to_output=True)
        return messages


def _content_words(text: str) -> set[str]:
    return {word for word in fold(text).split() if len(word) >= 2 and word not in _STOP_WORDS}


def _is_real_word(word: str, lexicon: Any) -> bool:
    """A word of letters only that the spaCy model has a vector for ("ciao", "qc")."""
    return word.isalpha() and bool(lexicon.has_vector(word))


def _word_pairs(text: str) -> set[str]:
    words = fold(text).split()
    return {f"{a} {b}" for a, b in itertools.pairwise(words)}
