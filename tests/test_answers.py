"""What the bot answers, decided from the understood message, the conversation's memory and the knowledge."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from bot.answers import Turn, answer
from bot.knowledge import KnowledgeBase
from bot.knowledge.hours import PARIS
from bot.paths import PROJECT_ROOT

CONTACT_HOURS = """
    horaires:
      lundi: 08:30-12:00, 13:30-17:00
      mardi: 08:30-12:00, 13:30-17:00
      mercredi: 08:30-12:00, 13:30-17:00
      jeudi: 08:30-12:00, 13:30-17:00
      vendredi: 08:30-12:00, 13:30-17:00
"""


def knowledge_with_contact_hours(tmp_path: Path, intents: frozenset[str]) -> KnowledgeBase:
    for path in (PROJECT_ROOT / "knowledge").glob("*.yml"):
        shutil.copy(path, tmp_path / path.name)
    conversation = tmp_path / "conversation.yml"
    text = conversation.read_text(encoding="utf-8")
    start = text.index("\n  parler_a_un_agent:")
    anchor = text.index("    source:", start)
    conversation.write_text(
        text[:anchor] + CONTACT_HOURS.lstrip("\n") + text[anchor:], encoding="utf-8"
    )
    base = KnowledgeBase(tmp_path, intents)
    base.refresh()
    return base


def test_human_contact_says_when_the_service_reopens(
    tmp_path: Path, intents: frozenset[str]
) -> None:
    base = knowledge_with_contact_hours(tmp_path, intents)
    saturday = dt.datetime(2026, 11, 28, 10, 0, tzinfo=PARIS)
    (reply,) = answer(base, Turn("parler_a_un_agent", now=saturday)).replies[:1]
    assert "Fermé en ce moment : réouverture lundi à 8 h 30." in reply.text
    tuesday = dt.datetime(2026, 12, 1, 9, 0, tzinfo=PARIS)
    (reply,) = answer(base, Turn("parler_a_un_agent", now=tuesday)).replies[:1]
    assert "Ouvert en ce moment, jusqu'à 12 h 00." in reply.text


def test_topic_without_hours_says_nothing_about_opening(knowledge: KnowledgeBase) -> None:
    (reply, *_) = answer(knowledge, Turn("velo")).replies
    assert "Ouvert en ce moment" not in reply.text and "Fermé en ce moment" not in reply.text


def test_positive_feedback_is_thanked(knowledge: KnowledgeBase) -> None:
    outcome = answer(knowledge, Turn("avis_positif", rated_topic="velo"))
    assert [r.text for r in outcome.replies] == [knowledge.message("avis_merci")]


def test_commune_given_after_an_answer_repeats_it_for_the_new_commune(
    knowledge: KnowledgeBase,
) -> None:
    outcome = answer(
        knowledge,
        Turn("donner_commune", communes=("Balma",), commune="Colomiers", last_topic="encombrants"),
    )
    assert "Balma" in outcome.replies[0].text
    assert outcome.slots["commune"] == "Balma"


def test_commune_given_with_no_question_is_acknowledged(knowledge: KnowledgeBase) -> None:
    outcome = answer(knowledge, Turn("donner_commune", communes=("Seilh",)))
    assert outcome.replies[0].text == knowledge.message("commune_notee", commune="Seilh")
    assert outcome.slots == {"commune": "Seilh"}
