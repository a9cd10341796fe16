"""The custom actions, run as the action server runs them: a built Tracker and a CollectingDispatcher."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionRepondreIncompris, ActionRepondreQuestion
from bot.knowledge import KnowledgeBase
from bot.typography import french_spacing


def tracker(
    intent: str,
    text: str = "",
    *,
    entities: list[dict[str, Any]] | None = None,
    ranking: list[tuple[str, float]] | None = None,
    slots: dict[str, Any] | None = None,
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities or [],
        "intent_ranking": [{"name": n, "confidence": c} for n, c in (ranking or [])],
    }
    return Tracker(
        sender_id="test",
        slots={
            "commune": None,
            "sujet_en_attente": None,
            "dernier_sujet_commune": None,
            **(slots or {}),
        },
        latest_message=latest,
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def commune(value: str, entity: str = "commune") -> dict[str, Any]:
    return {"entity": entity, "value": value}


def run(action: Any, tracker_: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker_, {}))
    return dispatcher.messages, events


def slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


@pytest.fixture(autouse=True)
def _project_knowledge(knowledge: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("actions.answer._knowledge", knowledge)


def test_action_names_match_the_domain() -> None:
    assert ActionRepondreQuestion().name() == "action_repondre_question"
    assert ActionRepondreIncompris().name() == "action_repondre_incompris"


def test_budget_answer_has_public_and_private_figures_and_the_period() -> None:
    messages, events = run(ActionRepondreQuestion(), tracker("smart_city_budget"))
    text = messages[0]["text"]
    assert "500 millions" in text and "200 millions" in text
    assert "2015" in text and "2020" in text
    assert events == []


def test_icapital_answer_names_the_winner_and_toulouse_result() -> None:
    messages, _ = run(ActionRepondreQuestion(), tracker("prix_icapital"))
    text = messages[0]["text"]
    assert "Athènes" in text
    assert "10\u00a0000 euros" in text  # a number stays whole on a phone (bot.typography)


def test_commune_topic_without_commune_asks_for_it_and_remembers_the_question(
    knowledge: KnowledgeBase,
) -> None:
    messages, events = run(ActionRepondreQuestion(), tracker("collecte_dechets"))
    assert messages[0]["text"] == french_spacing(knowledge.message("demander_commune"))
    assert slot_events(events) == {"sujet_en_attente": "collecte_dechets"}


def test_commune_in_the_message_answers_for_it() -> None:
    messages, events = run(
        ActionRepondreQuestion(), tracker("collecte_dechets", entities=[commune("Blagnac")])
    )
    assert "Blagnac" in messages[0]["text"]
    assert slot_events(events) == {
        "dernier_sujet_commune": "collecte_dechets",
        "commune": "Blagnac",
    }


def test_given_commune_completes_the_pending_question() -> None:
    messages, events = run(
        ActionRepondreQuestion(),
        tracker(
            "donner_commune",
            "Balma",
            entities=[commune("Balma")],
            slots={"sujet_en_attente": "encombrants"},
        ),
    )
    assert "Balma" in messages[0]["text"]
    assert slot_events(events)["sujet_en_attente"] is None
    assert slot_events(events)["dernier_sujet_commune"] == "encombrants"


def test_remembered_commune_answers_the_next_commune_topic() -> None:
    messages, _ = run(
        ActionRepondreQuestion(), tracker("horaires_mairie", slots={"commune": "Colomiers"})
    )
    assert "Colomiers" in messages[0]["text"]


def test_commune_outside_the_metropole_is_told_it_is_not_served(knowledge: KnowledgeBase) -> None:
    messages, events = run(
        ActionRepondreQuestion(),
        tracker("collecte_dechets", entities=[commune("Muret", "commune_hors_metropole")]),
    )
    assert messages[0]["text"] == french_spacing(
        knowledge.message("commune_hors_metropole", commune="Muret")
    )
    assert "Muret" in messages[0]["text"]
    assert events == []


def test_buttons_carry_intent_payloads() -> None:
    messages, _ = run(ActionRepondreQuestion(), tracker("demander_aide"))
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert "/collecte_dechets" in payloads
    assert all(p.startswith("/") for p in payloads)


def test_links_are_shown_with_the_answer() -> None:
    messages, _ = run(ActionRepondreQuestion(), tracker("papiers_identite"))
    assert "https://ants.gouv.fr" in messages[0]["text"]


def test_not_understood_offers_closest_topics_and_a_human(knowledge: KnowledgeBase) -> None:
    messages, _ = run(
        ActionRepondreIncompris(),
        tracker(
            "nlu_fallback",
            "euh le truc des poubelles",
            ranking=[
                ("nlu_fallback", 0.5),
                ("collecte_dechets", 0.4),
                ("encombrants", 0.3),
                ("saluer", 0.1),
            ],
        ),
    )
    assert messages[0]["text"] == french_spacing(knowledge.message("incompris"))
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert payloads == ["/collecte_dechets", "/encombrants", "/parler_a_un_agent"]


def test_not_understood_with_no_ranking_offers_the_help_themes() -> None:
    messages, _ = run(
        ActionRepondreIncompris(), tracker("nlu_fallback", "zzzz", ranking=[("nlu_fallback", 1.0)])
    )
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert "/collecte_dechets" in payloads and payloads[-1] == "/parler_a_un_agent"


def test_not_understood_commune_after_a_question_still_completes_it() -> None:
    messages, _ = run(
        ActionRepondreIncompris(),
        tracker(
            "nlu_fallback",
            "euh bah a balma",
            entities=[commune("Balma")],
            slots={"sujet_en_attente": "collecte_dechets"},
        ),
    )
    assert "Balma" in messages[0]["text"]


def test_unavailable_topic_apologises(
    knowledge: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(knowledge, "topic", lambda name: None)
    messages, _ = run(ActionRepondreQuestion(), tracker("velo"))
    assert messages[0]["text"] == french_spacing(knowledge.message("erreur_connaissances"))


def test_answer_is_followed_by_a_feedback_question_carrying_the_topic(
    knowledge: KnowledgeBase,
) -> None:
    messages, _ = run(ActionRepondreQuestion(), tracker("velo"))
    assert len(messages) == 2
    assert messages[1]["text"] == french_spacing(knowledge.message("demander_avis"))
    assert [b["payload"] for b in messages[1]["buttons"]] == [
        '/avis_positif{"sujet_avis": "velo"}',
        '/avis_negatif{"sujet_avis": "velo"}',
    ]


def test_small_talk_is_not_followed_by_a_feedback_question() -> None:
    messages, _ = run(ActionRepondreQuestion(), tracker("saluer"))
    assert len(messages) == 1


def test_negative_feedback_thanks_and_offers_a_person(knowledge: KnowledgeBase) -> None:
    messages, _ = run(
        ActionRepondreQuestion(),
        tracker("avis_negatif", entities=[{"entity": "sujet_avis", "value": "velo"}]),
    )
    assert messages[0]["text"] == french_spacing(knowledge.message("avis_negatif"))
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/parler_a_un_agent"]
