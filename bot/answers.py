"""Decides what the bot says from the understood message, the conversation's memory and the knowledge.

Pure Python, no Rasa import: the actions in `actions/` only translate a
`Turn` in and an `Outcome` out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from bot.domain import (
    CONVERSATION_INTENTS,
    ENTITY_FEEDBACK_TOPIC,
    INTENT_AGENT,
    INTENT_FALLBACK,
    INTENT_FEEDBACK_NO,
    INTENT_FEEDBACK_YES,
    INTENT_GIVE_COMMUNE,
    INTENT_HELP,
    SLOT_COMMUNE,
    SLOT_LAST_TOPIC,
    SLOT_PENDING,
)
from bot.knowledge import Button, KnowledgeBase, Topic
from bot.knowledge.hours import PARIS

__all__ = [
    "Outcome",
    "Reply",
    "Turn",
    "answer",
    "not_understood",
]

_NOT_SUGGESTED = CONVERSATION_INTENTS | {
    INTENT_GIVE_COMMUNE,
    INTENT_FEEDBACK_YES,
    INTENT_FEEDBACK_NO,
    INTENT_FALLBACK,
}
_MAX_SUGGESTIONS = 3
_MIN_SUGGESTION_CONFIDENCE = 0.05


@dataclass(frozen=True)
class Reply:
    """One message of the bot: text and quick replies."""

    text: str
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True)
class Turn:
    """What the bot knows when it answers: the message as understood, and the conversation's memory."""

    intent: str
    communes: tuple[str, ...] = ()
    outside_communes: tuple[str, ...] = ()
    ranking: tuple[tuple[str, float], ...] = ()
    commune: str | None = None
    pending: str | None = None
    last_topic: str | None = None
    now: dt.datetime | None = None

    @property
    def current_commune(self) -> str | None:
        """The commune named in this message, or else the one remembered."""
        return self.communes[-1] if self.communes else self.commune


@dataclass
class Outcome:
    """The bot's replies and the memory slots to set (None clears a slot)."""

    replies: list[Reply] = field(default_factory=list)
    slots: dict[str, str | None] = field(default_factory=dict)


def render(topic: Topic, commune: str | None = None, now: dt.datetime | None = None) -> Reply:
    """A topic's answer as the citizen reads it, with whether it is open now and its official links."""
    text = topic.text_for(commune)
    if topic.hours is not None:
        text = f"{text}\n\n{topic.hours.status(now or dt.datetime.now(PARIS))}"
    if topic.links:
        lines = "\n".join(f"- {link.title} : {link.url}" for link in topic.links)
        text = f"{text}\n\nPour en savoir plus :\n{lines}"
    return Reply(text, topic.buttons)


def _feedback_question(knowledge: KnowledgeBase, topic: Topic) -> Reply:
    """ "Did it help?" with two buttons that carry the topic, so the answer is stored with it."""
    entity = '{"' + ENTITY_FEEDBACK_TOPIC + '": "' + topic.name + '"}'
    return Reply(
        knowledge.message("demander_avis"),
        (
            Button("Oui, merci", INTENT_FEEDBACK_YES, entity),
            Button("Non, pas vraiment", INTENT_FEEDBACK_NO, entity),
        ),
    )


def _with_feedback(knowledge: KnowledgeBase, topic: Topic, reply: Reply) -> list[Reply]:
    if topic.name in CONVERSATION_INTENTS:
        return [reply]
    return [reply, _feedback_question(knowledge, topic)]


def _help_buttons(knowledge: KnowledgeBase) -> tuple[Button, ...]:
    help_topic = knowledge.topic(INTENT_HELP)
    return help_topic.buttons if help_topic else ()


def _outside(knowledge: KnowledgeBase, place: str) -> Outcome:
    return Outcome([Reply(knowledge.message("commune_hors_metropole", commune=place))])


def _for_commune(knowledge: KnowledgeBase, turn: Turn, topic_name: str, commune: str) -> Outcome:
    topic = knowledge.topic(topic_name)
    if topic is None:
        return Outcome([Reply(knowledge.message("erreur_connaissances"))])
    return Outcome(
        _with_feedback(knowledge, topic, render(topic, commune, turn.now)),
        {SLOT_PENDING: None, SLOT_LAST_TOPIC: topic_name, SLOT_COMMUNE: commune},
    )


def _commune_given(knowledge: KnowledgeBase, turn: Turn) -> Outcome:
    if turn.outside_communes and not turn.communes:
        return _outside(knowledge, turn.outside_communes[0])
    commune = turn.current_commune
    if commune is None:
        return Outcome([Reply(knowledge.message("demander_commune"))])
    topic_name = turn.pending or turn.last_topic
    if topic_name is not None:
        return _for_commune(knowledge, turn, topic_name, commune)
    return Outcome(
        [Reply(knowledge.message("commune_notee", commune=commune), _help_buttons(knowledge))],
        {SLOT_COMMUNE: commune},
    )


def answer(knowledge: KnowledgeBase, turn: Turn) -> Outcome:
    """The answer to an understood message."""
    if turn.intent == INTENT_GIVE_COMMUNE:
        return _commune_given(knowledge, turn)
    if turn.intent == INTENT_FEEDBACK_YES:
        return Outcome([Reply(knowledge.message("avis_merci"))])
    if turn.intent == INTENT_FEEDBACK_NO:
        agent = knowledge.topic(INTENT_AGENT)
        buttons = (Button(agent.title, INTENT_AGENT),) if agent else ()
        return Outcome([Reply(knowledge.message("avis_negatif"), buttons)])
    topic = knowledge.topic(turn.intent)
    if topic is None:
        return Outcome([Reply(knowledge.message("erreur_connaissances"))], {SLOT_PENDING: None})
    if not topic.per_commune:
        return Outcome(
            _with_feedback(knowledge, topic, render(topic, now=turn.now)), {SLOT_PENDING: None}
        )
    if turn.outside_communes and not turn.communes:
        return _outside(knowledge, turn.outside_communes[0])
    commune = turn.current_commune
    if commune is None:
        return Outcome([Reply(knowledge.message("demander_commune"))], {SLOT_PENDING: topic.name})
    return _for_commune(knowledge, turn, topic.name, commune)


def not_understood(knowledge: KnowledgeBase, turn: Turn) -> Outcome:
    """The reply to a message the bot did not understand well enough."""
    if turn.communes and (turn.pending or turn.last_topic):
        # "euh c'est a balma" right after "pour quelle commune ?": the commune is the answer.
        return _commune_given(knowledge, turn)
    if turn.outside_communes and not turn.communes and turn.pending:
        return _outside(knowledge, turn.outside_communes[0])
    topics = knowledge.topics()
    suggestions: list[Button] = []
    for intent, confidence in turn.ranking:
        if len(suggestions) == _MAX_SUGGESTIONS or confidence < _MIN_SUGGESTION_CONFIDENCE:
            break
        if intent in _NOT_SUGGESTED or intent == INTENT_AGENT or intent not in topics:
            continue
        suggestions.append(Button(topics[intent].title, intent))
    if not suggestions:
        suggestions = [
            button for button in _help_buttons(knowledge) if button.intent != INTENT_AGENT
        ]
    agent = topics.get(INTENT_AGENT)
    if agent is not None:
        suggestions.append(Button(agent.title, INTENT_AGENT))
    return Outcome([Reply(knowledge.message("incompris"), tuple(suggestions))])
