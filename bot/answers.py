"""Decides what the bot says from the understood message, the conversation's memory and the knowledge.

Pure Python, no Rasa import: the actions in `actions/` only translate a
`Turn` in and an `Outcome` out.

How an answer is laid out, so that it fits a phone screen:
- first, the topic's precision that the question asks for, if any ("qui a
  gagné ?" → "Athènes…", `bot.knowledge.precisions`);
- then the answer's lead: its first paragraph, and the next ones while the
  whole stays within `LEAD_MAX_CHARS`; then opening hours and official links;
- the other paragraphs behind an "En savoir plus" button, whose payload asks
  for the same topic in Rasa's `/intent@confidence` form (`MORE_SUFFIX`):
  Rasa reads the same intent, the action sees the payload and sends the rest.

When to ask "did it help?": after the answer to a question staff can improve
(not small talk, not the hand-off to a person, not a not-understood reply,
not "which commune?"), and at most once every `FEEDBACK_EVERY` questions of
the citizen (small talk, communes, ratings and "En savoir plus" presses do
not count): the first such answer of a conversation asks, the next four
questions do not. A five-question conversation sees it at most once, never
twice in a row.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from bot.communes import fold
from bot.domain import (
    CONVERSATION_INTENTS,
    ENTITY_FEEDBACK_TOPIC,
    INTENT_AGENT,
    INTENT_FALLBACK,
    INTENT_FEEDBACK_NO,
    INTENT_FEEDBACK_YES,
    INTENT_GIVE_COMMUNE,
    INTENT_GOODBYE,
    INTENT_GREET,
    INTENT_HELP,
    INTENT_THANKS,
    SLOT_COMMUNE,
    SLOT_LAST_TOPIC,
    SLOT_PENDING,
)
from bot.knowledge import Button, KnowledgeBase, Topic
from bot.knowledge.alerts import alert_texts
from bot.knowledge.hours import PARIS
from bot.knowledge.precisions import best_precision
from bot.knowledge.schema import LEAD_MAX_CHARS

__all__ = [
    "FEEDBACK_EVERY",
    "MORE_SUFFIX",
    "Outcome",
    "Reply",
    "Turn",
    "answer",
    "not_understood",
    "split_answer",
]

# "/prix_icapital@1" is, for Rasa, the intent prix_icapital at confidence 1,
# like "/prix_icapital"; the action tells the two apart by the text. Not
# "@1.0": the stored conversation would mask "prix_icapital@1.0" as an e-mail.
MORE_SUFFIX = "@1"
FEEDBACK_EVERY = 5

# "Bonne journée" is a wish: hello when it opens the conversation, goodbye after an answer.
_WISH = re.compile(r"\b(?:bonsoir|bon(?:ne)?s? (?:journee|soiree|nuit|matinee|apres midi|soir))\b")

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
    """What the bot knows when it answers: the message as understood, and the conversation's memory.

    Attributes (beyond the understood intent, entities and slots):
        text: the citizen's message as typed, or the payload of the pressed button.
        rated_topic: the topic a feedback button names (`sujet_avis`), if one was pressed.
        answered: the bot already answered something other than a greeting or
            the help menu in this session.
        since_feedback: the citizen's questions since the bot last asked "did it
            help?", this one included; None if it never asked in this session.
        feedback_pending: the topic the bot's previous turn asked "did it help?" about.
    """

    intent: str
    communes: tuple[str, ...] = ()
    outside_communes: tuple[str, ...] = ()
    ranking: tuple[tuple[str, float], ...] = ()
    commune: str | None = None
    pending: str | None = None
    last_topic: str | None = None
    now: dt.datetime | None = None
    text: str = ""
    rated_topic: str | None = None
    answered: bool = False
    since_feedback: int | None = None
    feedback_pending: str | None = None

    @property
    def current_commune(self) -> str | None:
        """The commune named in this message, or else the one remembered."""
        return self.communes[-1] if self.communes else self.commune


@dataclass
class Outcome:
    """The bot's replies and the memory slots to set (None clears a slot)."""

    replies: list[Reply] = field(default_factory=list)
    slots: dict[str, str | None] = field(default_factory=dict)


def split_answer(text: str) -> tuple[str, str]:
    """An answer's lead (first paragraph, and the next ones within `LEAD_MAX_CHARS`) and its rest."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    if not paragraphs:
        return "", ""
    lead = paragraphs[0]
    index = 1
    while index < len(paragraphs) and len(lead) + 2 + len(paragraphs[index]) <= LEAD_MAX_CHARS:
        lead = f"{lead}\n\n{paragraphs[index]}"
        index += 1
    return lead, "\n\n".join(paragraphs[index:])


def _more_button(knowledge: KnowledgeBase, topic: Topic) -> Button:
    return Button(knowledge.message("en_savoir_plus"), topic.name, MORE_SUFFIX)


def render(knowledge: KnowledgeBase, topic: Topic, turn: Turn, commune: str | None = None) -> Reply:
    """A topic's answer as the citizen first reads it: precision, lead, opening hours, official links."""
    lead, rest = split_answer(topic.text_for(commune))
    precision = best_precision(topic.precisions, turn.text) if turn.text else None
    text = f"{precision.text}\n\n{lead}" if precision else lead
    if topic.hours is not None:
        text = f"{text}\n\n{topic.hours.status(turn.now or dt.datetime.now(PARIS))}"
    links = topic.links_for(commune)
    if links:
        lines = "\n".join(f"- {link.title} : {link.url}" for link in links)
        text = f"{text}\n\nPour en savoir plus :\n{lines}"
    more = (_more_button(knowledge, topic),) if rest else ()
    return Reply(text, more + topic.buttons)


def _rest(knowledge: KnowledgeBase, topic: Topic, commune: str | None) -> Reply:
    """The part of an answer behind "En savoir plus" (all of it if it has no more)."""
    lead, rest = split_answer(topic.text_for(commune))
    return Reply(rest or lead, topic.buttons)


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


def _asks_feedback(topic: Topic, turn: Turn) -> bool:
    if topic.name in CONVERSATION_INTENTS or topic.name == INTENT_AGENT:
        return False
    return turn.since_feedback is None or turn.since_feedback >= FEEDBACK_EVERY


def _with_feedback(knowledge: KnowledgeBase, topic: Topic, reply: Reply, turn: Turn) -> list[Reply]:
    # A valid alert on this topic for the citizen's commune comes first (bot.knowledge.alerts).
    alerts = [
        Reply(text) for text in alert_texts(knowledge, topic.name, turn.current_commune, turn.now)
    ]
    if not _asks_feedback(topic, turn):
        return [*alerts, reply]
    return [*alerts, reply, _feedback_question(knowledge, topic)]


def _asks_more(turn: Turn) -> bool:
    return turn.text.strip() == f"/{turn.intent}{MORE_SUFFIX}"


def _help_buttons(knowledge: KnowledgeBase) -> tuple[Button, ...]:
    help_topic = knowledge.topic(INTENT_HELP)
    return help_topic.buttons if help_topic else ()


def _outside(knowledge: KnowledgeBase, place: str) -> Outcome:
    return Outcome([Reply(knowledge.message("commune_hors_metropole", commune=place))])


def _for_commune(knowledge: KnowledgeBase, turn: Turn, topic_name: str, commune: str) -> Outcome:
    topic = knowledge.topic(topic_name)
    if topic is None:
        return Outcome([Reply(knowledge.message("erreur_connaissances"))])
    slots: dict[str, str | None] = {
        SLOT_PENDING: None,
        SLOT_LAST_TOPIC: topic_name,
        SLOT_COMMUNE: commune,
    }
    if _asks_more(turn) and topic_name == turn.intent:
        return Outcome([_rest(knowledge, topic, commune)], slots)
    return Outcome(
        _with_feedback(knowledge, topic, render(knowledge, topic, turn, commune), turn), slots
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


def _feedback(knowledge: KnowledgeBase, turn: Turn) -> Outcome:
    """A "yes" or "no": feedback when the bot asked for it, otherwise an ordinary reply."""
    rating = turn.rated_topic is not None or turn.feedback_pending is not None
    if turn.intent == INTENT_FEEDBACK_YES:
        if rating:
            return Outcome([Reply(knowledge.message("avis_merci"))])
        # "oui", "ok", "parfait" with no question asked: taken as thanks.
        return answer(knowledge, Turn(INTENT_THANKS, text=turn.text, now=turn.now))
    if rating:
        agent = knowledge.topic(INTENT_AGENT)
        buttons = (Button(agent.title, INTENT_AGENT),) if agent else ()
        return Outcome([Reply(knowledge.message("avis_negatif"), buttons)])
    return Outcome([Reply(knowledge.message("reponse_non"), _help_buttons(knowledge))])


def _is_greeting_wish(turn: Turn) -> bool:
    return (
        turn.intent == INTENT_GOODBYE and not turn.answered and bool(_WISH.search(fold(turn.text)))
    )


def answer(knowledge: KnowledgeBase, turn: Turn) -> Outcome:
    """The answer to an understood message."""
    if turn.intent == INTENT_GIVE_COMMUNE:
        return _commune_given(knowledge, turn)
    if turn.intent in (INTENT_FEEDBACK_YES, INTENT_FEEDBACK_NO):
        return _feedback(knowledge, turn)
    if _is_greeting_wish(turn):
        return answer(knowledge, Turn(INTENT_GREET, now=turn.now))
    topic = knowledge.topic(turn.intent)
    if topic is None:
        return Outcome([Reply(knowledge.message("erreur_connaissances"))], {SLOT_PENDING: None})
    if not topic.per_commune:
        if _asks_more(turn):
            return Outcome([_rest(knowledge, topic, None)], {SLOT_PENDING: None})
        reply = render(knowledge, topic, turn)
        return Outcome(_with_feedback(knowledge, topic, reply, turn), {SLOT_PENDING: None})
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
