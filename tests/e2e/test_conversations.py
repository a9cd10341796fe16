"""The real bot on loopback: Rasa server and action server, spoken to over the REST channel."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import urllib.error
import urllib.request

import pytest

from bot.knowledge import KnowledgeBase
from bot.processes import ACTIONS
from bot.typography import french_spacing
from tests.support import RunningBot

pytestmark = pytest.mark.servers


def test_smart_city_budget(running_bot: RunningBot) -> None:
    text = running_bot.conversation().text("combien la métropole investit dans la smart city ?")
    assert "500 millions" in text and "200 millions" in text


def test_icapital_winner(running_bot: RunningBot) -> None:
    text = running_bot.conversation().text("qui a gagné le prix icapital ?")
    assert "Athènes" in text


def test_collection_in_blagnac(running_bot: RunningBot) -> None:
    text = running_bot.conversation().text("quand passe la collecte des déchets à Blagnac ?")
    assert "Blagnac" in text
    assert "collecte" in text.lower()


def test_missing_commune_is_asked_then_completed_and_remembered(running_bot: RunningBot) -> None:
    conversation = running_bot.conversation()
    question = conversation.text("quand est ce que passe le camion poubelle ?")
    assert "commune" in question.lower()
    answer = conversation.text("Balma")
    assert "Balma" in answer and "collecte" in answer.lower()
    mairie = conversation.text("et la mairie elle ouvre quand ?")
    assert "Balma" in mairie


def test_remembered_commune_carries_to_the_next_topic(running_bot: RunningBot) -> None:
    conversation = running_bot.conversation()
    assert "Colomiers" in conversation.text("horaires de la mairie de colomiers")
    assert "Colomiers" in conversation.text("et la collecte des déchets ?")


def test_commune_outside_the_metropole(running_bot: RunningBot) -> None:
    text = running_bot.conversation().text("collecte des poubelles a Muret")
    assert "Muret" in text and "Toulouse Métropole" in text


@pytest.mark.parametrize("message", ["sdfkjh zerlkj", "🙂👍", "?!", "xxxxxxxxxxxx", "", "   "])
def test_gibberish_gets_the_not_understood_reply_with_buttons(
    running_bot: RunningBot, knowledge: KnowledgeBase, message: str
) -> None:
    replies = running_bot.conversation().send(message)
    assert len(replies) == 1
    assert replies[0]["text"] == french_spacing(knowledge.message("incompris"))
    assert any(b["payload"] == "/parler_a_un_agent" for b in replies[0]["buttons"])


def test_off_topic_gets_a_polite_refusal(running_bot: RunningBot) -> None:
    replies = running_bot.conversation().send("tu connais une bonne recette de tiramisu ?")
    assert replies and replies[0].get("buttons")
    assert "500 millions" not in replies[0]["text"]


def test_button_payload_is_answered(running_bot: RunningBot) -> None:
    conversation = running_bot.conversation()
    buttons = conversation.send("aide")[0]["buttons"]
    payload = next(b["payload"] for b in buttons if b["payload"] == "/transports_en_commun")
    assert "Tisséo" in conversation.text(payload)


def test_knowledge_change_is_served_without_restart_and_broken_file_is_ignored(
    running_bot: RunningBot,
) -> None:
    path = running_bot.knowledge_dir / "mobilite.yml"
    log = running_bot.processes.log_path(ACTIONS)
    original = path.read_text(encoding="utf-8")
    marker = "Réponse modifiée par le service pour le test."
    try:
        changed = original.replace("    reponse: |\n", f"    reponse: |\n      {marker}\n", 1)
        path.write_text(changed, encoding="utf-8")
        bump = time.time() + 2
        os.utime(path, (bump, bump))
        conversation = running_bot.conversation()
        assert marker in conversation.text("/transports_en_commun")
        assert "Fichier de connaissances rechargé : mobilite.yml" in log.read_text(encoding="utf-8")

        broken = changed.replace("    titre: ", "    titre: [", 1)
        path.write_text(broken, encoding="utf-8")
        os.utime(path, (bump + 2, bump + 2))
        assert marker in conversation.text("/transports_en_commun")
        logged = log.read_text(encoding="utf-8")
        assert re.search(
            rf"Fichier de connaissances refusé : {re.escape(str(path))}:\d+ : erreur", logged
        )
        assert "mobilite.yml : la dernière version valide reste en service" in logged
    finally:
        path.write_text(original, encoding="utf-8")
        os.utime(path, (time.time() + 10, time.time() + 10))


def test_conversation_is_stored_in_sqlite(running_bot: RunningBot) -> None:
    conversation = running_bot.conversation()
    conversation.send("bonjour")
    with sqlite3.connect(running_bot.database) as connection:
        (count,) = connection.execute(
            "SELECT count(*) FROM events WHERE sender_id = ? AND type_name = 'user'",
            (conversation.sender,),
        ).fetchone()
    assert count == 1


def test_http_api_needs_the_token(running_bot: RunningBot) -> None:
    port = running_bot.processes.rasa_port
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10)
    assert refused.value.code == 401
    url = f"http://127.0.0.1:{port}/status?token={running_bot.processes.token}"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert "model_file" in json.loads(response.read())
