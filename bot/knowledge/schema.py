"""What a knowledge file contains: topics, buttons, links, and the problems found in it.

Field names are French because city staff write them; this module is the one
place that lists them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bot.knowledge.hours import OpeningHours

__all__ = [
    "BOT_MESSAGES",
    "INTENTS_WITHOUT_TOPIC",
    "OPTIONAL_TOPIC_FIELDS",
    "REQUIRED_TOPIC_FIELDS",
    "TELEGRAM_MAX_CHARS",
    "TOP_LEVEL_FIELDS",
    "Button",
    "Link",
    "Problem",
    "ThemeFile",
    "Topic",
]

REQUIRED_TOPIC_FIELDS = ("titre", "reponse", "source", "service", "verifie_le")
OPTIONAL_TOPIC_FIELDS = ("selon_commune", "communes", "boutons", "liens", "horaires", "a_completer")
TOP_LEVEL_FIELDS = ("theme", "sujets", "messages")

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
}

# Intents the dialogue handles itself rather than with a staff-written answer.
INTENTS_WITHOUT_TOPIC = frozenset({"donner_commune", "avis_positif", "avis_negatif"})

# One Telegram message holds at most this many characters.
TELEGRAM_MAX_CHARS = 4096

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
    """A quick reply: its label and the topic it asks about."""

    titre: str
    sujet: str
    entities: str = ""  # JSON object of entities sent with the intent, e.g. {"sujet_avis": "velo"}

    @property
    def payload(self) -> str:
        return f"/{self.sujet}{self.entities}"


@dataclass(frozen=True)
class Link:
    """An official page offered with an answer."""

    titre: str
    url: str


@dataclass(frozen=True)
class Topic:
    """One answer, keyed by the intent that asks for it."""

    name: str
    titre: str
    reponse: str
    source: str
    service: str
    verifie_le: dt.date
    path: Path
    line: int
    selon_commune: bool = False
    communes: dict[str, str] = field(default_factory=dict)
    boutons: tuple[Button, ...] = ()
    liens: tuple[Link, ...] = ()
    horaires: OpeningHours | None = None
    a_completer: tuple[str, ...] = ()

    def text_for(self, commune: str | None) -> str:
        """The answer's text, for a commune when the topic depends on one."""
        if commune is not None and commune in self.communes:
            return self.communes[commune].strip()
        text = self.reponse.strip()
        if self.selon_commune:
            text = text.replace("{commune}", commune or "votre commune")
        return text


@dataclass
class ThemeFile:
    """One knowledge file as loaded: its topics and, for conversation.yml, the bot's messages."""

    path: Path
    theme: str
    topics: dict[str, Topic] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
