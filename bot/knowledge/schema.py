"""What a knowledge file contains: topics, buttons, links, and the problems found in it.

Staff write the files with French field names (`titre:`, `reponse:`,
`boutons:`…); `bot.knowledge.loader` reads those names and builds these
classes, whose attributes are the code's English names. Nothing past the
loader knows the YAML's field names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bot.domain import INTENT_FEEDBACK_NO, INTENT_FEEDBACK_YES, INTENT_GIVE_COMMUNE
from bot.knowledge.hours import OpeningHours
from bot.knowledge.precisions import Precision

__all__ = [
    "BOT_MESSAGES",
    "INTENTS_WITHOUT_TOPIC",
    "LEAD_MAX_CHARS",
    "PRECISION_MAX_CHARS",
    "TELEGRAM_MAX_CHARS",
    "Button",
    "Link",
    "Precision",
    "Problem",
    "ThemeFile",
    "Topic",
]

# The bot's own sentences, kept with the answers so staff can reword them.
BOT_MESSAGES: dict[str, str] = {
    "demander_commune": "asks which commune a commune-dependent question is about",
    "commune_hors_metropole": "says a named commune ({commune}) is not in the metropole",
    "incompris": "says the message was not understood (closest topics follow as buttons)",
    "erreur_connaissances": "apologises that an answer is temporarily unavailable",
    "commune_notee": "acknowledges a commune ({commune}) given with no pending question",
    "demander_avis": "asks, after an answer, whether it helped (two buttons follow)",
    "avis_merci": "thanks the citizen for saying the answer helped",
    "avis_negatif": "thanks for saying the answer did not help, offers to rephrase or reach a person",
    "reponse_non": 'answers a typed "non" when no question of the bot is waiting for it',
    "en_savoir_plus": "label of the button that shows the rest of a long answer",
}

# Intents the dialogue handles itself rather than with a staff-written answer.
INTENTS_WITHOUT_TOPIC = frozenset({INTENT_GIVE_COMMUNE, INTENT_FEEDBACK_YES, INTENT_FEEDBACK_NO})

# One Telegram message holds at most this many characters.
TELEGRAM_MAX_CHARS = 4096

# What a phone shows without scrolling twice (a 375 px wide screen holds about
# 40 characters a line): the answer's lead, shown before "En savoir plus", and
# the precision shown above it. Longer is allowed, with a warning from `check`.
LEAD_MAX_CHARS = 450
PRECISION_MAX_CHARS = 200

Severity = Literal["erreur", "avertissement"]


@dataclass(frozen=True)
class Problem:
    """Something wrong in a knowledge file, said in French for the staff member."""

    path: Path
    line: int
    message: str
    severity: Severity = "erreur"

    def __str__(self) -> str:
        return f"{self.path}:{self.line} : {self.severity} : {self.message}"


@dataclass(frozen=True)
class Button:
    """A quick reply: its label, and the intent it sends when pressed."""

    title: str
    intent: str
    entities: str = ""  # JSON object of entities sent with the intent, e.g. {"sujet_avis": "velo"}

    @property
    def payload(self) -> str:
        return f"/{self.intent}{self.entities}"


@dataclass(frozen=True)
class Link:
    """An official page offered with an answer."""

    title: str
    url: str


@dataclass(frozen=True)
class Topic:
    """One answer, keyed by the intent that asks for it.

    Attributes:
        name: the intent, which is also the topic's key in the file.
        title: a short label, for buttons that lead to this topic.
        answer: the text citizens read; with `per_commune`, `{commune}` in
            it stands for the citizen's commune.
        source: the official page (or the article) the answer comes from.
        service: the service responsible for the answer.
        checked_on: when staff last checked the answer.
        path, line: where the topic is written.
        per_commune: the answer depends on the citizen's commune (the bot asks for it).
        commune_variants: a whole answer for some communes, by official name.
        buttons: quick replies offered with the answer.
        links: official pages listed under the answer.
        hours: opening hours, when the answer is about a place.
        to_fill: what staff must still fill in (never shown to citizens).
        precisions: short answers to precise questions, shown before the answer.
        commune_links: official pages of one commune, shown only to its residents.
    """

    name: str
    title: str
    answer: str
    source: str
    service: str
    checked_on: dt.date
    path: Path
    line: int
    per_commune: bool = False
    commune_variants: dict[str, str] = field(default_factory=dict)
    buttons: tuple[Button, ...] = ()
    links: tuple[Link, ...] = ()
    hours: OpeningHours | None = None
    to_fill: tuple[str, ...] = ()
    precisions: tuple[Precision, ...] = ()
    commune_links: dict[str, tuple[Link, ...]] = field(default_factory=dict)

    def links_for(self, commune: str | None) -> tuple[Link, ...]:
        """The links shown with the answer: the topic's own, then the commune's when it has some."""
        if commune is None:
            return self.links
        return self.links + self.commune_links.get(commune, ())

    def text_for(self, commune: str | None) -> str:
        """The answer's text, for a commune when the topic depends on one."""
        if commune is not None and commune in self.commune_variants:
            return self.commune_variants[commune].strip()
        text = self.answer.strip()
        if self.per_commune:
            text = text.replace("{commune}", commune or "votre commune")
        return text


@dataclass
class ThemeFile:
    """One knowledge file as loaded: its topics and, for conversation.yml, the bot's messages."""

    path: Path
    theme: str
    topics: dict[str, Topic] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
