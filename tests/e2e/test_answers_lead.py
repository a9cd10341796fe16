"""On the real servers: the precision asked for comes first, "bonne journée" by position, "En savoir plus", feedback."""

from __future__ import annotations

import re

import pytest

from tests.support import RunningBot

pytestmark = pytest.mark.servers


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?;])\s", text.strip(), maxsplit=1)[0]


def test_who_won_icapital_is_answered_in_the_first_sentence(running_bot: RunningBot) -> None:
    replies = running_bot.conversation().send("qui a gagné le prix icapital ?")
    assert "Athènes" in first_sentence(replies[0]["text"])


def test_bonne_journee_greets_first_and_closes_after_an_answer(running_bot: RunningBot) -> None:
    conversation = running_bot.conversation()
    assert conversation.send("bonne journée")[0]["text"].startswith("Bonjour")
    conversation.send("qui a gagné le prix icapital ?")
    assert conversation.send("bonne journée")[0]["text"].startswith("Au revoir")


def test_more_button_gives_the_rest_then_five_questions_ask_feedback_once(
    running_bot: RunningBot,
) -> None:
    conversation = running_bot.conversation()
    first = conversation.send("qui a gagné le prix icapital ?")
    more = next(b for b in first[0]["buttons"] if b["title"] == "En savoir plus")
    rest = conversation.send(more["payload"])
    assert "Horizon 2020" in rest[0]["text"] and "Horizon 2020" not in first[0]["text"]
    for question in [
        "combien la métropole investit dans la smart city ?",
        "je préfère parler à quelqu'un",
        "comment refaire mon passeport",
        "où a roulé la navette autonome ?",
    ]:
        conversation.send(question)
    feedback = [
        reply
        for _, replies in conversation.history
        for reply in replies
        if any(b["payload"].startswith("/avis_positif") for b in reply.get("buttons", []))
    ]
    assert len(feedback) == 1, [
        (q, [r.get("text", "")[:60] for r in rs]) for q, rs in conversation.history
    ]
