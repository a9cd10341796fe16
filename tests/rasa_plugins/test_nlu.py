"""The NLU components of config.yml, on hand-built Rasa messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import scipy.sparse
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.rasa_plugins.nlu import (
    CommuneExtractor,
    LinearIntentClassifier,
    NotUnderstoodGuard,
    TfidfFeaturizer,
    WordVectorsFeaturizer,
    normalise,
)


class _Storage:
    """Just enough of Rasa's ModelStorage to persist the guard's vocabulary."""

    def __init__(self, tmp_path: Any) -> None:
        self.path = tmp_path

    def write_to(self, resource: Any) -> Any:
        import contextlib

        return contextlib.nullcontext(self.path)

    read_from = write_to


def message(text: str, intent: str = "collecte_dechets", confidence: float = 0.97) -> Message:
    msg = Message(data={"text": text})
    msg.set("intent", {"name": intent, "confidence": confidence})
    msg.set("intent_ranking", [{"name": intent, "confidence": confidence}])
    return msg


def trained_guard(
    tmp_path: Any, intent: str, texts: list[str], config: dict[str, Any] | None = None
) -> NotUnderstoodGuard:
    """A guard trained on the texts, then loaded back from storage as Rasa would."""
    storage = cast(Any, _Storage(tmp_path))
    component = NotUnderstoodGuard(storage, cast(Any, None))
    examples = [Message(data={"text": t, "intent": intent}) for t in texts]
    component.train(TrainingData(training_examples=examples))
    return NotUnderstoodGuard.load(config or {}, storage, cast(Any, None), cast(Any, None))


@pytest.fixture
def guard(tmp_path: Any) -> NotUnderstoodGuard:
    return trained_guard(
        tmp_path,
        "collecte_dechets",
        ["quand passe la poubelle jaune", "jour de collecte des ordures"],
    )


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


@pytest.mark.parametrize("text", ["ciao", "yep !", "poubelles débordent"])
def test_real_words_never_seen_in_training_reach_the_classifier(
    guard: NotUnderstoodGuard, text: str
) -> None:
    msg = message(text)
    guard.process([msg])
    assert msg.get("intent")["name"] == "collecte_dechets"


def test_without_a_spacy_model_only_the_training_vocabulary_counts(tmp_path: Any) -> None:
    loaded = trained_guard(tmp_path, "collecte_dechets", ["jour de collecte"], {"model": None})
    assert loaded.knows_any_word("collecte")
    assert not loaded.knows_any_word("ciao")


def test_questions_made_of_small_words_reach_the_classifier(tmp_path: Any) -> None:
    loaded = trained_guard(tmp_path, "demander_si_robot", ["qui es tu ?", "t'es qui toi"])
    for text in ["Qui es-tu ?", "et t'es qui ?"]:
        msg = message(text, intent="demander_si_robot")
        loaded.process([msg])
        assert msg.get("intent")["name"] == "demander_si_robot", text
    msg = message("tu es le la", intent="demander_si_robot")
    loaded.process([msg])
    assert msg.get("intent")["name"] == "nlu_fallback"


@pytest.mark.parametrize("text", ["merci", "Merci !", "hé", "a+", "à +", "👍"])
def test_stop_words_and_emoji_seen_in_training_pass_when_the_classifier_is_sure(
    tmp_path: Any, text: str
) -> None:
    loaded = trained_guard(tmp_path, "remercier", ["merci", "hé", "a+", "👍", "merci à toi aussi"])
    sure = message(text, intent="remercier", confidence=0.9)
    loaded.process([sure])
    assert sure.get("intent")["name"] == "remercier"
    unsure = message(text, intent="remercier", confidence=0.3)
    loaded.process([unsure])
    assert unsure.get("intent")["name"] == "nlu_fallback"


def test_a_sure_classifier_does_not_rescue_words_never_seen(tmp_path: Any) -> None:
    loaded = trained_guard(tmp_path, "remercier", ["merci", "le bus"])
    for text in ["le la les", "azertyuiop", "🙂🙂🙂"]:
        msg = message(text, intent="remercier", confidence=0.99)
        loaded.process([msg])
        assert msg.get("intent")["name"] == "nlu_fallback", text


def test_the_classifier_confidence_is_read_under_the_fallback(tmp_path: Any) -> None:
    loaded = trained_guard(tmp_path, "remercier", ["merci"])
    msg = Message(data={"text": "merci"})
    msg.set("intent", {"name": "nlu_fallback", "confidence": 0.5})
    msg.set(
        "intent_ranking",
        [{"name": "nlu_fallback", "confidence": 0.5}, {"name": "remercier", "confidence": 0.85}],
    )
    loaded.process([msg])
    assert msg.get("intent") == {"name": "nlu_fallback", "confidence": 0.5}
    assert len(msg.get("intent_ranking")) == 2


def test_normalise_keeps_emoji_and_signs_as_words() -> None:
    assert normalise("Merci 🙏🏻 !") == "merci 🙏"
    assert normalise("à +") == normalise("À+") == "a +"
    assert normalise("DÉCHETS, st orens") == "dechets saint orens"


def test_a_commune_alone_is_understood(guard: NotUnderstoodGuard) -> None:
    msg = message("Balma", intent="donner_commune")
    CommuneExtractor().process([msg])
    guard.process([msg])
    assert msg.get("intent")["name"] == "donner_commune"


# --- Features and the linear classifier --------------------------------------------

TRAINING = {
    "collecte_dechets": [
        "quand passe la poubelle jaune",
        "jour de collecte des ordures ménagères",
        "le camion poubelle passe quel jour",
        "ramassage des déchets dans ma rue",
    ],
    "velo": [
        "où louer un vélo en libre service",
        "abonnement vélo toulouse",
        "piste cyclable pour aller au travail",
        "station de vélos la plus proche",
    ],
    "saluer": ["bonjour", "salut", "bonsoir à vous", "coucou"],
}


def _examples() -> list[Message]:
    return [
        Message(data={"text": text, "intent": intent})
        for intent, texts in TRAINING.items()
        for text in texts
    ]


def _storage(path: Path) -> Any:
    return cast(Any, _Storage(path))


def _trained_pipeline(tmp_path: Path) -> list[Any]:
    """The three components trained as Rasa's graph would, then reloaded from storage."""
    (tmp_path / "tfidf").mkdir()
    (tmp_path / "svm").mkdir()
    data = TrainingData(training_examples=_examples())
    tfidf = TfidfFeaturizer({}, _storage(tmp_path / "tfidf"), cast(Any, None))
    tfidf.train(data)
    tfidf.process_training_data(data)
    vectors = WordVectorsFeaturizer({})
    vectors.process_training_data(data)
    svm = LinearIntentClassifier({}, _storage(tmp_path / "svm"), cast(Any, None))
    svm.train(data)
    return [
        TfidfFeaturizer.load({}, _storage(tmp_path / "tfidf"), cast(Any, None), cast(Any, None)),
        vectors,
        LinearIntentClassifier.load(
            {}, _storage(tmp_path / "svm"), cast(Any, None), cast(Any, None)
        ),
    ]


def _parse(components: list[Any], text: str) -> Message:
    msg = Message(data={"text": text})
    for component in components:
        component.process([msg])
    return msg


def test_tfidf_ignores_case_and_accents(tmp_path: Path) -> None:
    tfidf = _trained_pipeline(tmp_path)[0]
    plain = _parse([tfidf], "dechets menageres").get_sparse_features("text")[1]
    accented = _parse([tfidf], "DÉCHETS Ménagères").get_sparse_features("text")[1]
    assert plain.features.nnz > 0
    assert (plain.features != accented.features).nnz == 0


def test_word_vectors_are_unit_length_and_zero_without_a_known_word() -> None:
    vectors = WordVectorsFeaturizer({})
    known = vectors.vector("la poubelle de la rue")
    assert np.isclose(np.linalg.norm(known), 1.0, atol=1e-5)
    assert not vectors.vector("!!! ???").any()
    # No tagger or parser is loaded; the entity recogniser (shared with the
    # personal-data masking) is there but the featurizer never runs it.
    assert vectors._nlp.pipe_names == ["ner"]


def test_word_vectors_of_content_words_leave_small_words_out_unless_there_is_nothing_else() -> None:
    vectors = WordVectorsFeaturizer({"content_words": True})
    assert np.allclose(vectors.vector("où est la poubelle"), vectors.vector("poubelle"))
    # Every word a stop word ("merci", "qui es tu"): the mean of all of them, not zeros.
    only_small = vectors.vector("qui es tu")
    assert np.isclose(np.linalg.norm(only_small), 1.0, atol=1e-5)
    assert not np.allclose(only_small, WordVectorsFeaturizer({}).vector("poubelle"))


def test_word_vectors_bring_words_never_seen_in_training_closer() -> None:
    vectors = WordVectorsFeaturizer({})
    bin_words = vectors.vector("poubelle")
    assert float(bin_words @ vectors.vector("ordures")) > float(
        bin_words @ vectors.vector("bicyclette")
    )


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("la poubelle jaune passe quand", "collecte_dechets"),
        ("VELO en libre-service ?", "velo"),
        ("bonjour !", "saluer"),
    ],
)
def test_classifier_ranks_intents_after_a_save_and_load(
    tmp_path: Path, text: str, intent: str
) -> None:
    msg = _parse(_trained_pipeline(tmp_path), text)
    ranking = msg.get("intent_ranking")
    assert msg.get("intent") == ranking[0]
    assert ranking[0]["name"] == intent
    assert [r["name"] for r in ranking] == sorted(
        TRAINING, key=lambda name: -next(r["confidence"] for r in ranking if r["name"] == name)
    )
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)
    assert ranking[0]["confidence"] > ranking[1]["confidence"]


def test_classifier_without_features_says_which_components_are_missing(tmp_path: Path) -> None:
    svm = LinearIntentClassifier({}, _storage(tmp_path), cast(Any, None))
    with pytest.raises(ValueError, match="TfidfFeaturizer"):
        svm.train(TrainingData(training_examples=_examples()))


def test_calibrated_confidences_are_scikit_learn_s_computed_at_once() -> None:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    from bot.rasa_plugins.nlu import _CalibratedLinear

    matrix = scipy.sparse.random(120, 400, density=0.05, random_state=1, format="csr")
    labels = np.array([f"intention_{i % 6}" for i in range(120)])
    fitted = CalibratedClassifierCV(LinearSVC(random_state=0), cv=5, ensemble=True)
    fitted.fit(matrix, labels)
    arrays = _CalibratedLinear.of(fitted)
    for row in range(20):
        expected = fitted.predict_proba(matrix[row])[0]
        assert np.allclose(arrays.probabilities(matrix[row]), expected, atol=1e-12)
