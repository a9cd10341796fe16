"""Rasa NLU components of the bot: commune recognition and the not-understood guard.

Both are named in `config.yml`:

- `bot.nlu.CommuneExtractor` finds the communes a message names (spelling
  variants, no accents, "st", typos) and emits entity `commune` with the
  official name, or `commune_hors_metropole` for a place outside the metropole.
- `bot.nlu.NotUnderstoodGuard` turns a message into `nlu_fallback` when it has
  no word the bot was ever trained on (gibberish, emoji only, empty text), so
  that such a message never gets a confident answer on some topic.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from spacy.lang.fr.stop_words import STOP_WORDS

from bot.communes import find_communes, fold

__all__ = ["CommuneExtractor", "NotUnderstoodGuard"]

ENTITY_COMMUNE = "commune"
ENTITY_OUTSIDE = "commune_hors_metropole"
FALLBACK_INTENT = "nlu_fallback"

_STOP_WORDS = frozenset(fold(word) for word in STOP_WORDS)


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
    """Sends messages with no known word to the fallback, whatever the classifier said."""

    VOCABULARY_FILE = "vocabulary.json"

    def __init__(
        self,
        model_storage: ModelStorage,
        resource: Resource,
        vocabulary: frozenset[str] = frozenset(),
    ) -> None:
        self._model_storage = model_storage
        self._resource = resource
        self.vocabulary = vocabulary
        self._long_words = sorted(word for word in vocabulary if len(word) >= 5)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> NotUnderstoodGuard:
        return cls(model_storage, resource)

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
            words = json.loads((directory / cls.VOCABULARY_FILE).read_text(encoding="utf-8"))
        return cls(model_storage, resource, frozenset(words))

    def train(self, training_data: TrainingData) -> Resource:
        words: set[str] = set()
        for example in training_data.intent_examples:
            words.update(_content_words(example.get("text") or ""))
        self.vocabulary = frozenset(words)
        with self._model_storage.write_to(self._resource) as directory:
            (directory / self.VOCABULARY_FILE).write_text(
                json.dumps(sorted(words), ensure_ascii=False), encoding="utf-8"
            )
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def knows_any_word(self, text: str) -> bool:
        """Whether the text has a content word seen in training, allowing one typo in long words."""
        for word in _content_words(text):
            if word in self.vocabulary:
                return True
            if len(word) >= 5 and difflib.get_close_matches(
                word, self._long_words, n=1, cutoff=0.8
            ):
                return True
        return False

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get("text") or ""
            names_commune = any(
                entity.get("entity") in (ENTITY_COMMUNE, ENTITY_OUTSIDE)
                for entity in message.get("entities", [])
            )
            if names_commune or self.knows_any_word(text):
                continue
            fallback = {"name": FALLBACK_INTENT, "confidence": 1.0}
            message.set("intent", fallback, add_to_output=True)
            message.set("intent_ranking", [fallback], add_to_output=True)
        return messages


def _content_words(text: str) -> set[str]:
    return {word for word in fold(text).split() if len(word) >= 2 and word not in _STOP_WORDS}
