"""The NLU components of config.yml, on hand-built Rasa messages."""

from __future__ import annotations

from typing import Any, cast

import pytest
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu import CommuneExtractor, NotUnderstoodGuard


class _Storage:
    """Just enough of Rasa's ModelStorage to persist the guard's vocabulary."""

    def __init__(self, tmp_path: Any) -> None:
        self.path = tmp_path

    def write_to(self, resource: Any) -> Any:
        import contextlib

        return contextlib.nullcontext(self.path)

    read_from = write_to


def message(text: str, intent: str = "collecte_dechets") -> Message:
    msg = Message(data={"text": text})
    msg.set("intent", {"name": intent, "confidence": 0.97})
    msg.set("intent_ranking", [{"name": intent, "confidence": 0.97}])
    return msg


@pytest.fixture
def guard(tmp_path: Any) -> NotUnderstoodGuard:
    storage = cast(Any, _Storage(tmp_path))
    component = NotUnderstoodGuard(storage, cast(Any, None))
    examples = [
        Message(data={"text": t, "intent": "collecte_dechets"})
        for t in ["quand passe la poubelle jaune", "jour de collecte des ordures"]
    ]
    component.train(TrainingData(training_examples=examples))
    return NotUnderstoodGuard.load({}, storage, cast(Any, None), cast(Any, None))


def test_extractor_emits_official_names_and_outside_places() -> None:
    msg = Message(data={"text": "collecte a st orens ou a muret ?"})
    CommuneExtractor().process([msg])
    entities = [(e["entity"], e["value"]) for e in msg.get("entities")]
    assert entities == [
        ("commune", "Saint-Orens-de-Gameville"),
        ("commune_hors_metropole", "Muret"),
    ]


@pytest.mark.parametrize(
    "text", ["", "   ", "🙂🙂🙂", "azertyuiop qsdfgh", "?!?", "le la les", "12345"]
)
def test_messages_without_a_known_word_fall_back(guard: NotUnderstoodGuard, text: str) -> None:
    msg = message(text)
    guard.process([msg])
    assert msg.get("intent") == {"name": "nlu_fallback", "confidence": 1.0}


@pytest.mark.parametrize("text", ["la poubelle svp", "poubele jaune", "colecte"])
def test_known_words_and_small_typos_keep_the_classifier_decision(
    guard: NotUnderstoodGuard, text: str
) -> None:
    msg = message(text)
    guard.process([msg])
    assert msg.get("intent")["name"] == "collecte_dechets"


def test_a_commune_alone_is_understood(guard: NotUnderstoodGuard) -> None:
    msg = message("Balma", intent="donner_commune")
    CommuneExtractor().process([msg])
    guard.process([msg])
    assert msg.get("intent")["name"] == "donner_commune"
