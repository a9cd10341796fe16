"""Recorded conversations: the bot gives the same replies, buttons included, as when they were recorded.

A guard for changes that must not change behaviour (a refactoring, a Rasa
patch, a faster store): each conversation of `CONVERSATIONS` is replayed on
the real servers and compared, turn by turn, with
`tests/data/recorded_conversations.json`. The only part that may differ is
whether a place is open right now, which depends on the clock.

When behaviour changes on purpose (new training data, an edited answer),
record again and review the diff like any other change:

    BOT_RECORD_CONVERSATIONS=1 .venv/bin/python -m pytest tests/e2e/test_recorded_conversations.py
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from bot.paths import PROJECT_ROOT
from tests.support import RunningBot

pytestmark = pytest.mark.servers

RECORDING = PROJECT_ROOT / "tests" / "data" / "recorded_conversations.json"
_PRESS = "bouton: "

# What citizens say, several turns each: commune follow-ups, buttons the bot
# offered ("bouton: <title>" presses the button of that title in the last
# replies), small talk, feedback, not understood, places outside.
CONVERSATIONS: list[list[str]] = [
    ["bonjour", "qui a gagné le prix icapital ?", "bouton: Non, pas vraiment", "merci"],
    ["quand passe la collecte des déchets ?", "Balma", "et la mairie elle ouvre quand ?"],
    ["horaires de la mairie de colomiers", "et à Blagnac ?", "et la collecte ?"],
    ["aide", "bouton: Transports en commun", "bouton: Oui, merci", "au revoir"],
    ["collecte des poubelles a Muret", "ok et a tournefeuille ?"],
    ["sdfkjh zerlkj", "je veux parler à quelqu'un"],
    ["tu es un robot ?", "c'est quoi la smart city ?", "combien ça coûte ?"],
    ["ou jeter un vieux canapé", "st orens", "et la déchèterie la plus proche ?"],
    ["j'ai perdu ma carte d'identité", "et pour un acte de naissance ?"],
    ["il y a un nid de poule dans ma rue", "merci bcp"],
    ["la navette autonome", "et aniti c'est quoi ?", "l'éclairage intelligent ?"],
    ["tu connais une bonne recette de tiramisu ?", "bon tant pis"],
    ["/restart", '/donner_commune{"commune":"Paris"}', "horaires mairie l union"],
    ["velo toulouse", "stationnement", "eau potable coupure"],
]

_OPEN_NOW = re.compile(r"(Ouvert|Fermé) en ce moment[^\n]*")


def _normalised(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "text": _OPEN_NOW.sub("<ouvert ou fermé>", str(reply.get("text", ""))),
            "buttons": [
                {"title": b.get("title"), "payload": b.get("payload")}
                for b in reply.get("buttons") or []
            ],
        }
        for reply in replies
    ]


def _replay(bot: RunningBot, messages: list[str]) -> list[dict[str, Any]]:
    conversation = bot.conversation()
    turns: list[dict[str, Any]] = []
    last: list[dict[str, Any]] = []
    for message in messages:
        sent = message
        if message.startswith(_PRESS):
            title = message.removeprefix(_PRESS)
            sent = next(
                b["payload"]
                for reply in last
                for b in reply.get("buttons") or []
                if b.get("title") == title
            )
        last = conversation.send(sent)
        turns.append({"message": message, "replies": _normalised(last)})
    return turns


def test_recorded_conversations_get_the_same_replies(running_bot: RunningBot) -> None:
    replayed = [_replay(running_bot, messages) for messages in CONVERSATIONS]
    if os.environ.get("BOT_RECORD_CONVERSATIONS"):
        RECORDING.parent.mkdir(parents=True, exist_ok=True)
        RECORDING.write_text(
            json.dumps(replayed, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
        pytest.skip(f"enregistré : {RECORDING}")
    recorded = json.loads(RECORDING.read_text(encoding="utf-8"))
    assert len(recorded) == len(CONVERSATIONS), "record again: the conversation list changed"
    for number, (expected, actual) in enumerate(zip(recorded, replayed, strict=True), 1):
        for turn, (want, got) in enumerate(zip(expected, actual, strict=True), 1):
            assert got == want, f"conversation {number}, tour {turn} ({got['message']!r})"
