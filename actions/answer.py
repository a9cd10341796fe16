"""The two custom actions: answer a knowledge topic, and reply when not understood.

Thin on purpose: read the tracker into a `Turn`, let `bot.answers` decide,
write the `Outcome` back as messages and slot events.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.answers import (
    SLOT_COMMUNE,
    SLOT_LAST_TOPIC,
    SLOT_PENDING,
    Outcome,
    Turn,
    answer,
    not_understood,
)
from bot.knowledge import KnowledgeBase

__all__ = ["ActionRepondreIncompris", "ActionRepondreQuestion", "knowledge_base"]

logger = logging.getLogger(__name__)

_knowledge: KnowledgeBase | None = None


def knowledge_base() -> KnowledgeBase:
    """The action server's knowledge, loaded on first use, watched for saves, refreshed at every call."""
    global _knowledge
    if _knowledge is None:
        _knowledge = KnowledgeBase()
        _knowledge.refresh()
        _knowledge.watch()
    _knowledge.refresh()
    return _knowledge


def _turn(tracker: Tracker) -> Turn:
    latest: dict[str, Any] = tracker.latest_message or {}
    entities = latest.get("entities") or []
    ranking = latest.get("intent_ranking") or []
    return Turn(
        intent=(latest.get("intent") or {}).get("name") or "",
        communes=tuple(e["value"] for e in entities if e.get("entity") == "commune"),
        outside_communes=tuple(
            e["value"] for e in entities if e.get("entity") == "commune_hors_metropole"
        ),
        ranking=tuple((r.get("name", ""), float(r.get("confidence") or 0.0)) for r in ranking),
        commune=tracker.get_slot(SLOT_COMMUNE),
        pending=tracker.get_slot(SLOT_PENDING),
        last_topic=tracker.get_slot(SLOT_LAST_TOPIC),
    )


def _apply(
    outcome: Outcome, dispatcher: CollectingDispatcher, tracker: Tracker
) -> list[dict[str, Any]]:
    for reply in outcome.replies:
        buttons = [{"title": b.titre, "payload": b.payload} for b in reply.buttons]
        dispatcher.utter_message(text=reply.text, buttons=buttons)
    return [
        SlotSet(name, value)
        for name, value in outcome.slots.items()
        if tracker.get_slot(name) != value
    ]


class ActionRepondreQuestion(Action):
    """Answers any knowledge topic, for the citizen's commune when the topic depends on one."""

    def __init__(self) -> None:
        # The action server builds its actions once at start-up: load the
        # knowledge then, so that the first citizen does not wait for it and a
        # broken file is reported at once.
        super().__init__()
        knowledge_base()

    def name(self) -> str:
        return "action_repondre_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return _apply(answer(knowledge_base(), _turn(tracker)), dispatcher, tracker)


class ActionRepondreIncompris(Action):
    """Says the message was not understood and offers the closest topics and a human contact."""

    def name(self) -> str:
        return "action_repondre_incompris"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return _apply(not_understood(knowledge_base(), _turn(tracker)), dispatcher, tracker)
