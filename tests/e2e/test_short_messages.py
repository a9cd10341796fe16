"""The short messages people really send reach the right conversation intent on the real Rasa server.

Each message is parsed by the running server's `/model/parse` (with the HTTP
API token), so the whole trained pipeline decides: classifier, the
FallbackClassifier threshold of `config.yml` and the not-understood guard.

"oui", "ok" and "👍" are positive feedback (`avis_positif`) and "non" negative
feedback (`avis_negatif`): after "Cette réponse vous a-t-elle aidé ?" that is
what they mean; with no feedback question pending, the answers decide what to
say (`bot/answers.py`). Polite formulas ("bonne journée") are `dire_au_revoir`
and the answers turn them into a greeting when they open the conversation;
with a greeting word ("coucou bonne matinée") they are `saluer`.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest

from bot.domain import (
    INTENT_FALLBACK,
    INTENT_FEEDBACK_NO,
    INTENT_FEEDBACK_YES,
    INTENT_GOODBYE,
    INTENT_GREET,
    INTENT_THANKS,
)
from tests.support import RunningBot

SHORT_MESSAGES = {
    INTENT_GREET: [
        "bonjour",
        "Bonjour !",
        "bonsoir",
        "bon soir",
        "salut",
        "slt",
        "bjr",
        "cc",
        "coucou",
        "hello",
        "hey",
        "hé",
        "resalut",
        "rebonjour",
        "hallo",
        "soir à toi",
        "coucou bonne matinée",
        "salut bonne soirée",
        "bonjour madame",
        "yo",
    ],
    INTENT_GOODBYE: [
        "au revoir",
        "Au revoir !",
        "bye",
        "à +",
        "a+",
        "à plus",
        "a bientôt",
        "ciao",
        "bonne journée",
        "bonne soirée",
        "bonne nuit",
        "bonne matinée",
        "bonne fin de journée",
        "bon week-end",
        "à demain",
    ],
    INTENT_THANKS: [
        "merci",
        "Merci !",
        "Merci.",
        "merci toi aussi",
        "merci beaucoup",
        "mrc",
        "thx",
        "merci bcp",
        "🙏",
        "merci 🙏",
        "je vous remercie",
        "ok merci",
        "c'est gentil",
    ],
    INTENT_FEEDBACK_YES: ["oui", "Oui.", "ok", "OK", "d'accord", "👍", "ouais", "parfait", "super"],
    INTENT_FEEDBACK_NO: ["non", "Non.", "nan", "pas vraiment", "bof", "👎"],
}

STILL_NOT_UNDERSTOOD = ["le la les", "azertyuiop", "🙂🙂🙂", "?!?"]


def parse(running_bot: RunningBot, text: str) -> dict[str, object]:
    """The real Rasa server's understanding of one message."""
    port = running_bot.processes.rasa_port
    token = urllib.parse.quote(running_bot.processes.token)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/model/parse?token={token}",
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        result: dict[str, object] = json.loads(response.read())
    return result


def test_at_least_sixty_short_messages_are_listed() -> None:
    assert sum(len(texts) for texts in SHORT_MESSAGES.values()) >= 60


def test_short_messages_reach_their_intent(running_bot: RunningBot) -> None:
    wrong = {}
    for intent, texts in SHORT_MESSAGES.items():
        for text in texts:
            got = parse(running_bot, text)["intent"]
            assert isinstance(got, dict)
            if got["name"] != intent:
                wrong[text] = (intent, got["name"], round(float(got["confidence"]), 2))
    assert wrong == {}


@pytest.mark.parametrize("text", STILL_NOT_UNDERSTOOD)
def test_words_without_meaning_still_fall_back(running_bot: RunningBot, text: str) -> None:
    got = parse(running_bot, text)["intent"]
    assert isinstance(got, dict)
    assert got["name"] == INTENT_FALLBACK


@pytest.mark.parametrize(
    ("text", "intent", "commune"),
    [
        ("collecte a balma", "collecte_dechets", "Balma"),
        ("mairie de colomiers", "horaires_mairie", "Colomiers"),
    ],
)
def test_questions_naming_a_commune_keep_topic_and_commune(
    running_bot: RunningBot, text: str, intent: str, commune: str
) -> None:
    result = parse(running_bot, text)
    assert result["intent"]["name"] == intent  # type: ignore[index]
    entities = result["entities"]
    assert isinstance(entities, list)
    assert [e["value"] for e in entities if e["entity"] == "commune"] == [commune]
