"""The two custom actions: answer a knowledge topic, and reply when not understood.

Thin on purpose: read the tracker into a `Turn`, let `bot.answers` decide,
write the `Outcome` back as messages and slot events, with French
typography (`bot.typography`) applied to every text and button label, for
every channel.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.answers import MORE_SUFFIX, Outcome, Turn, answer, not_understood
from bot.communes import COMMUNES, places_outside
from bot.domain import (
    ACTION_ANSWER,
    ACTION_NOT_UNDERSTOOD,
    CONVERSATION_INTENTS,
    ENTITY_COMMUNE,
    ENTITY_FEEDBACK_TOPIC,
    ENTITY_OUTSIDE,
    INTENT_FALLBACK,
    INTENT_FEEDBACK_NO,
    INTENT_FEEDBACK_YES,
    INTENT_GIVE_COMMUNE,
    INTENT_GREET,
    INTENT_HELP,
    SLOT_COMMUNE,
    SLOT_LAST_TOPIC,
    SLOT_PENDING,
)
from bot.knowledge import KnowledgeBase
from bot.typography import french_spacing

__all__ = ["ActionRepondreIncompris", "ActionRepondreQuestion", "knowledge_base"]

logger = logging.getLogger(__name__)

_knowledge: KnowledgeBase | None = None
_COMMUNES = frozenset(COMMUNES)
# What the citizen may say before "bonne journée" still greets: hello, the help menu, gibberish.
_OPENING_INTENTS = frozenset({INTENT_GREET, INTENT_HELP, INTENT_FALLBACK})
_FEEDBACK_PREFIX = f"/{INTENT_FEEDBACK_YES}"
_NOT_QUESTIONS = CONVERSATION_INTENTS | {
    INTENT_FALLBACK,
    INTENT_FEEDBACK_YES,
    INTENT_FEEDBACK_NO,
    INTENT_GIVE_COMMUNE,
}


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


def _feedback_topic(event: dict[str, Any]) -> str | None:
    """The topic a bot message asks "did it help?" about, or None if it does not ask."""
    data = event.get("data")
    buttons = data.get("buttons") if isinstance(data, dict) else None
    for button in buttons if isinstance(buttons, list) else ():
        payload = button.get("payload") if isinstance(button, dict) else None
        if isinstance(payload, str) and payload.startswith(_FEEDBACK_PREFIX):
            try:
                entities = json.loads(payload[len(_FEEDBACK_PREFIX) :])
            except ValueError:
                return ""
            topic = entities.get(ENTITY_FEEDBACK_TOPIC) if isinstance(entities, dict) else None
            return topic if isinstance(topic, str) else ""
    return None


def _is_question(event: dict[str, Any]) -> bool:
    """A question to a topic: not small talk, a commune, a rating or an "En savoir plus" press."""
    intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
    text = event.get("text")
    return (
        isinstance(intent, str)
        and intent not in _NOT_QUESTIONS
        and not (isinstance(text, str) and text.strip().endswith(MORE_SUFFIX))
    )


def _history(events: Iterable[Any]) -> tuple[bool, int | None, str | None]:
    """What this session's events say: answered before, questions since "did it help?", pending feedback.

    The last user event is the message being answered.
    """
    session: list[dict[str, Any]] = []
    for event in events:
        if not isinstance(event, dict):
            continue
        if event.get("event") == "session_started":
            session = []
        elif event.get("event") in ("user", "bot"):
            session.append(event)
    answered = False
    since_feedback: int | None = None
    # The topic the bot's last message asked about; the last user event is the message answered now.
    asked: str | None = None
    pending: str | None = None
    users = [i for i, event in enumerate(session) if event["event"] == "user"]
    current = users[-1] if users else -1
    for index, event in enumerate(session):
        if event["event"] == "bot":
            topic = _feedback_topic(event)
            since_feedback = 0 if topic is not None else since_feedback
            asked = topic
            continue
        if since_feedback is not None and _is_question(event):
            since_feedback += 1
        if index == current:
            pending = asked
        else:
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            answered = answered or intent not in _OPENING_INTENTS
        asked = None
    return answered, since_feedback, pending


def _turn(tracker: Tracker, knowledge: KnowledgeBase) -> Turn:
    # Rasa validates entities as they enter (bot.rasa_plugins.patches); the action
    # server checks again, so no conversation is ever stuck on a bad value.
    latest: dict[str, Any] = tracker.latest_message or {}
    entities = latest.get("entities") or []
    ranking = latest.get("intent_ranking") or []
    topics = frozenset(knowledge.topics())
    rated = _entity_values(entities, ENTITY_FEEDBACK_TOPIC, topics)
    answered, since_feedback, feedback_pending = _history(tracker.events or [])
    text = latest.get("text")
    return Turn(
        intent=(latest.get("intent") or {}).get("name") or "",
        communes=_entity_values(entities, ENTITY_COMMUNE, _COMMUNES),
        outside_communes=_entity_values(entities, ENTITY_OUTSIDE, places_outside()),
        ranking=tuple(
            (str(r.get("name", "")), float(r.get("confidence") or 0.0))
            for r in ranking
            if isinstance(r, dict)
        ),
        commune=_text_slot(tracker, SLOT_COMMUNE, _COMMUNES),
        pending=_text_slot(tracker, SLOT_PENDING, topics),
        last_topic=_text_slot(tracker, SLOT_LAST_TOPIC, topics),
        text=text if isinstance(text, str) else "",
        rated_topic=rated[0] if rated else None,
        answered=answered,
        since_feedback=since_feedback,
        feedback_pending=feedback_pending,
    )


def _apply(
    outcome: Outcome, dispatcher: CollectingDispatcher, tracker: Tracker
) -> list[dict[str, Any]]:
    for reply in outcome.replies:
        buttons = [
            {"title": french_spacing(button.title), "payload": button.payload}
            for button in reply.buttons
        ]
        dispatcher.utter_message(text=french_spacing(reply.text), buttons=buttons)
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
