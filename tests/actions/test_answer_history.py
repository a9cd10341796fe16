"""The action reads the conversation's events: position of "bonne journée", feedback frequency, typography."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionRepondreQuestion
from bot.answers import MORE_SUFFIX
from bot.knowledge import KnowledgeBase
from bot.typography import NBSP


class Chat:
    """A conversation replayed as Rasa would send it: every user and bot event kept in order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = [{"event": "session_started"}]

    def say(
        self, text: str, intent: str, entities: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        latest = {
            "text": text,
            "intent": {"name": intent, "confidence": 0.9},
            "entities": entities or [],
            "intent_ranking": [],
        }
        self.events.append({"event": "user", "text": text, "parse_data": latest})
        tracker = Tracker(
            sender_id="test",
            slots={"commune": None, "sujet_en_attente": None, "dernier_sujet_commune": None},
            latest_message=latest,
            events=list(self.events),
            paused=False,
            followup_action=None,
            active_loop={},
            latest_action_name="action_listen",
        )
        dispatcher = CollectingDispatcher()
        asyncio.run(ActionRepondreQuestion().run(dispatcher, tracker, {}))
        for message in dispatcher.messages:
            self.events.append(
                {"event": "bot", "text": message["text"], "data": {"buttons": message["buttons"]}}
            )
        return dispatcher.messages


def asks_feedback(messages: list[dict[str, Any]]) -> bool:
    return any(b["payload"].startswith("/avis_positif") for m in messages for b in m["buttons"])


@pytest.fixture(autouse=True)
def _project_knowledge(knowledge: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("actions.answer._knowledge", knowledge)


def test_bonne_journee_greets_first_and_closes_after_an_answer(knowledge: KnowledgeBase) -> None:
    chat = Chat()
    hello = chat.say("bonne journée", "dire_au_revoir")
    assert hello[0]["text"].startswith("Bonjour")
    chat.say("qui a gagné le prix icapital ?", "prix_icapital")
    goodbye = chat.say("bonne journée", "dire_au_revoir")
    assert goodbye[0]["text"].startswith("Au revoir")


def test_after_a_new_session_bonne_journee_greets_again() -> None:
    chat = Chat()
    chat.say("horaires de la mairie de balma", "velo")
    chat.events.append({"event": "session_started"})
    assert chat.say("bonne soirée", "dire_au_revoir")[0]["text"].startswith("Bonjour")


def test_at_most_one_feedback_question_in_five_questions() -> None:
    chat = Chat()
    questions = [
        ("qui a gagné le prix icapital ?", "prix_icapital"),
        ("et le budget ?", "smart_city_budget"),
        ("je veux parler à quelqu'un", "parler_a_un_agent"),
        ("louer un vélo", "velo"),
        ("les transports", "transports_en_commun"),
    ]
    asked = [asks_feedback(chat.say(text, intent)) for text, intent in questions]
    assert asked == [True, False, False, False, False]
    # Five messages later, a new answer may be rated again.
    assert asks_feedback(chat.say("stationnement", "stationnement"))


def test_typed_no_after_the_feedback_question_is_a_rating_and_not_before() -> None:
    chat = Chat()
    first = chat.say("non", "avis_negatif")
    assert "avis" not in first[0]["text"]
    chat.say("louer un vélo", "velo")
    rating = chat.say("non", "avis_negatif")
    assert "avis" in rating[0]["text"]


def test_every_text_and_button_label_has_french_spacing() -> None:
    chat = Chat()
    messages = chat.say("qui a gagné le prix icapital ?", "prix_icapital")
    texts = [m["text"] for m in messages] + [b["title"] for m in messages for b in m["buttons"]]
    assert any("?" in text for text in texts)
    for text in texts:
        assert not re.search(r"[^\S\u00a0][:;!?](\s|$)", text), text
    assert f"finaliste{NBSP}?" in " ".join(texts)


def test_more_presses_and_small_talk_do_not_count_as_questions() -> None:
    chat = Chat()
    assert asks_feedback(chat.say("qui a gagné le prix icapital ?", "prix_icapital"))
    chat.say("/prix_icapital" + MORE_SUFFIX, "prix_icapital")
    chat.say("merci", "remercier")
    for text, intent in [("budget", "smart_city_budget"), ("vélo", "velo"), ("bus", "velo")]:
        assert not asks_feedback(chat.say(text, intent))
    assert not asks_feedback(chat.say("stationnement", "stationnement"))
    assert asks_feedback(chat.say("passeport", "papiers_identite"))
