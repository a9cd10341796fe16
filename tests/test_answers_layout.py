"""How answers are laid out and when the bot asks for feedback: precision first, lead, "En savoir plus", position."""

from __future__ import annotations

import re

import pytest

from bot.answers import FEEDBACK_EVERY, MORE_SUFFIX, Turn, answer, not_understood, split_answer
from bot.knowledge import KnowledgeBase
from bot.knowledge.schema import LEAD_MAX_CHARS


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?;])\s", text.strip(), maxsplit=1)[0]


def feedback_asked(replies: list) -> bool:
    return any(b.payload.startswith("/avis_positif") for r in replies for b in r.buttons)


@pytest.mark.parametrize(
    ("question", "fact"),
    [
        ("qui a gagné le prix icapital ?", "Athènes"),
        ("qui a gagne le pris icapitale", "Athènes"),  # no accents, typos
        ("c'est qui le gagnant d'icapital", "Athènes"),
        ("combien toulouse a gagné avec icapital", "10 000 euros"),
        ("où était la finale ?", "Lisbonne"),
    ],
)
def test_the_precision_asked_for_comes_first(
    knowledge: KnowledgeBase, question: str, fact: str
) -> None:
    reply = answer(knowledge, Turn("prix_icapital", text=question)).replies[0]
    assert fact in first_sentence(reply.text)


@pytest.mark.parametrize(
    ("intent", "question", "fact"),
    [
        ("smart_city_budget", "combien d'investissement privé ?", "200 millions"),
        ("smart_city_budget", "quand le schéma directeur a été adopté", "décembre 2015"),
        ("smart_city_calendrier", "le plan a été adopté quand", "décembre 2015"),
        ("navette_autonome", "ou roulait la navette autonome", "Jules Guesde"),
        ("papiers_identite", "j'ai perdu ma carte d'identité", "perte"),
        ("collecte_dechets", "ou jeter les bouteilles en verre", "borne à verre"),
    ],
)
def test_precisions_of_smart_city_and_service_topics(
    knowledge: KnowledgeBase, intent: str, question: str, fact: str
) -> None:
    turn = Turn(intent, text=question, commune="Balma")
    assert fact in first_sentence(answer(knowledge, turn).replies[0].text)


def test_a_question_without_trigger_words_gets_the_general_answer(
    knowledge: KnowledgeBase,
) -> None:
    topic = knowledge.topic("prix_icapital")
    assert topic is not None
    lead, _ = split_answer(topic.answer)
    reply = answer(knowledge, Turn("prix_icapital", text="parle moi d'icapital")).replies[0]
    assert reply.text.startswith(lead)
    assert "Athènes" in first_sentence(reply.text)  # the lead's first sentence states the key fact


def test_a_long_answer_shows_its_lead_and_offers_the_rest(knowledge: KnowledgeBase) -> None:
    first = answer(knowledge, Turn("papiers_identite", text="carte d'identité")).replies[0]
    more = first.buttons[0]
    assert more.title == knowledge.message("en_savoir_plus")
    assert more.payload == "/papiers_identite" + MORE_SUFFIX
    prose = first.text.split("\n\nPour en savoir plus")[0]
    assert len(prose) <= LEAD_MAX_CHARS
    assert "Étape 3" not in first.text

    rest = answer(knowledge, Turn("papiers_identite", text=more.payload))
    assert len(rest.replies) == 1  # no second "did it help?"
    assert "Étape 3" in rest.replies[0].text
    assert prose not in rest.replies[0].text
    assert all(b.title != more.title for b in rest.replies[0].buttons)


def test_a_short_answer_has_no_more_button(knowledge: KnowledgeBase) -> None:
    reply = answer(knowledge, Turn("contact_metropole", text="contacter la métropole")).replies[0]
    assert not any(b.payload.endswith(MORE_SUFFIX) for b in reply.buttons)


def test_per_commune_answer_links_to_that_commune_only(knowledge: KnowledgeBase) -> None:
    colomiers = answer(knowledge, Turn("horaires_mairie", communes=("Colomiers",))).replies[0]
    assert "toulouse.fr" not in colomiers.text.replace("toulouse-metropole.fr", "")
    assert "https://www.toulouse-metropole.fr" in colomiers.text
    toulouse = answer(knowledge, Turn("horaires_mairie", communes=("Toulouse",))).replies[0]
    assert "https://www.toulouse.fr" in toulouse.text


# --- "Bonne journée": hello or goodbye, by position ---


def test_bonne_journee_as_the_first_message_greets(knowledge: KnowledgeBase) -> None:
    greeting = answer(knowledge, Turn("saluer", text="bonjour")).replies
    for wish in ("bonne journée", "Bonne soirée !", "bonne nuit", "coucou bonne matinée"):
        assert answer(knowledge, Turn("dire_au_revoir", text=wish)).replies == greeting


def test_bonne_journee_after_an_answer_closes(knowledge: KnowledgeBase) -> None:
    goodbye = answer(knowledge, Turn("dire_au_revoir", text="au revoir")).replies
    turn = Turn("dire_au_revoir", text="bonne journée", answered=True)
    assert answer(knowledge, turn).replies == goodbye


def test_a_plain_goodbye_is_a_goodbye_even_first(knowledge: KnowledgeBase) -> None:
    goodbye = knowledge.topic("dire_au_revoir")
    assert goodbye is not None
    reply = answer(knowledge, Turn("dire_au_revoir", text="au revoir")).replies[0]
    assert reply.text == goodbye.answer.strip()


def test_a_greeting_is_short_and_offers_the_help_topics(knowledge: KnowledgeBase) -> None:
    (reply,) = answer(knowledge, Turn("saluer", text="bonjour")).replies
    assert len(reply.text) <= 120 and "?" in reply.text
    assert "Je peux vous renseigner" not in reply.text  # the panel's welcome is not repeated
    assert "/demander_aide" in [b.payload for b in reply.buttons]


# --- "Did it help?" ---


def test_feedback_is_asked_on_the_first_answer_then_not_for_the_next_four(
    knowledge: KnowledgeBase,
) -> None:
    assert feedback_asked(answer(knowledge, Turn("velo")).replies)
    for since in range(1, FEEDBACK_EVERY):
        assert not feedback_asked(answer(knowledge, Turn("velo", since_feedback=since)).replies)
    assert feedback_asked(answer(knowledge, Turn("velo", since_feedback=FEEDBACK_EVERY)).replies)


@pytest.mark.parametrize(
    "intent", ["saluer", "remercier", "demander_aide", "hors_sujet", "parler_a_un_agent"]
)
def test_no_feedback_after_small_talk_or_hand_off(knowledge: KnowledgeBase, intent: str) -> None:
    assert not feedback_asked(answer(knowledge, Turn(intent)).replies)


def test_no_feedback_after_not_understood_commune_noted_or_commune_asked(
    knowledge: KnowledgeBase,
) -> None:
    assert not feedback_asked(not_understood(knowledge, Turn("nlu_fallback")).replies)
    assert not feedback_asked(
        answer(knowledge, Turn("donner_commune", communes=("Seilh",))).replies
    )
    assert not feedback_asked(answer(knowledge, Turn("collecte_dechets")).replies)


def test_typed_yes_or_no_with_no_feedback_question_pending(knowledge: KnowledgeBase) -> None:
    thanks = answer(knowledge, Turn("remercier")).replies
    assert answer(knowledge, Turn("avis_positif", text="oui")).replies == thanks
    (no,) = answer(knowledge, Turn("avis_negatif", text="non")).replies
    assert no.text == knowledge.message("reponse_non")
    assert "/collecte_dechets" in [b.payload for b in no.buttons]
    for reply in (*thanks, no):
        assert "avis" not in reply.text


def test_typed_yes_or_no_right_after_the_feedback_question_rates(
    knowledge: KnowledgeBase,
) -> None:
    yes = answer(knowledge, Turn("avis_positif", text="oui", feedback_pending="velo"))
    assert [r.text for r in yes.replies] == [knowledge.message("avis_merci")]
    no = answer(knowledge, Turn("avis_negatif", text="non", feedback_pending="velo"))
    assert [r.text for r in no.replies] == [knowledge.message("avis_negatif")]


def test_the_more_payload_survives_the_masking_of_stored_messages(knowledge: KnowledgeBase) -> None:
    from bot.privacy import mask

    for name in knowledge.topics():
        payload = f"/{name}{MORE_SUFFIX}"
        assert mask(payload) == payload
