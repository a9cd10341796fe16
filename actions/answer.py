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

from bot.answers import Outcome, Turn, answer, not_understood
from bot.communes import COMMUNES, COMMUNES_HORS_METROPOLE
from bot.domain import (
    ACTION_ANSWER,
    ACTION_NOT_UNDERSTOOD,
    ENTITY_COMMUNE,
    ENTITY_OUTSIDE,
    SLOT_COMMUNE,
    SLOT_LAST_TOPIC,
    SLOT_PENDING,
)
from bot.knowledge import KnowledgeBase

__all__ = ["ActionRepondreIncompris", "ActionRepondreQuestion", "knowledge_base"]

logger = logging.getLogger(__name__)

_knowledge: KnowledgeBase | None = None
_COMMUNES = frozenset(COMMUNES)
_OUTSIDE = frozenset(COMMUNES_HORS_METROPOLE)


def knowledge_base() -> KnowledgeBase:
    """The action server's knowledge, loaded on first use, watched for saves, refreshed at every call."""
    global _knowledge
    if _knowledge is None:
        _knowledge = KnowledgeBase()
        _knowledge.refresh()
        _knowledge.watch()
    _knowledge.refresh()
    return _knowledge


def _entity_values(entities: list[Any], name: str, known: frozenset[str]) -> tuple[str, ...]:
    """The values of the entities called `name` that are among `known`, in message order."""
    return tuple(
        entity["value"]
        for entity in entities
        if isinstance(entity, dict)
        and entity.get("entity") == name
        and entity.get("value") in known
    )


def _text_slot(tracker: Tracker, name: str, known: frozenset[str]) -> str | None:
    """A slot's value if it is one the bot could have set; anything else is forgotten."""
    value = tracker.get_slot(name)
    return value if isinstance(value, str) and value in known else None


def _turn(tracker: Tracker, knowledge: KnowledgeBase) -> Turn:
    # Rasa validates entities as they enter (bot.rasa_plugins.patches); the action
    # server checks again, so no conversation is ever stuck on a bad value.
    latest: dict[str, Any] = tracker.latest_message or {}
    entities = latest.get("entities") or []
    ranking = latest.get("intent_ranking") or []
    topics = frozenset(knowledge.topics())
    return Turn(
        intent=(latest.get("intent") or {}).get("name") or "",
        communes=_entity_values(entities, ENTITY_COMMUNE, _COMMUNES),
        outside_communes=_entity_values(entities, ENTITY_OUTSIDE, _OUTSIDE),
        ranking=tuple(
            (str(r.get("name", "")), float(r.get("confidence") or 0.0))
            for r in ranking
            if isinstance(r, dict)
        ),
        commune=_text_slot(tracker, SLOT_COMMUNE, _COMMUNES),
        pending=_text_slot(tracker, SLOT_PENDING, topics),
        last_topic=_text_slot(tracker, SLOT_LAST_TOPIC, topics),
    )


def _apply(
    outcome: Outcome, dispatcher: CollectingDispatcher, tracker: Tracker
) -> list[dict[str, Any]]:
    for reply in outcome.replies:
        buttons = [{"title": button.title, "payload": button.payload} for button in reply.buttons]
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
        return ACTION_ANSWER

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        knowledge = knowledge_base()
        return _apply(answer(knowledge, _turn(tracker, knowledge)), dispatcher, tracker)


class ActionRepondreIncompris(Action):
    """Says the message was not understood and offers the closest topics and a human contact."""

    def name(self) -> str:
        return ACTION_NOT_UNDERSTOOD

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        knowledge = knowledge_base()
        return _apply(not_understood(knowledge, _turn(tracker, knowledge)), dispatcher, tracker)
