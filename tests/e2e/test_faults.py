"""Faults and citizens' data on the real servers: a locked database, a frozen action server, personal data at rest.

Each fault must give the citizen the French "service momentanément
indisponible" (never silence, never a 5xx other than 503 with that text),
lose nothing that was answered, and heal by itself.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from bot.processes import RASA
from tests.support import ARTIFACTS, RunningBot, frozen

pytestmark = pytest.mark.servers

UNAVAILABLE = "momentanément indisponible"


def _post(url: str, sender: str, text: str) -> tuple[int, list[dict[str, Any]]]:
    body = json.dumps({"sender": sender, "message": text}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=90) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _texts(replies: list[dict[str, Any]]) -> str:
    return "\n".join(str(r.get("text", "")) for r in replies or [])


def _stored_texts(bot: RunningBot, sender: str) -> list[str]:
    with sqlite3.connect(bot.database) as db:
        rows = db.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id",
            (sender,),
        ).fetchall()
    return [json.loads(row[0])["text"] for row in rows]


def test_a_locked_database_says_unavailable_then_recovers_with_its_memory(
    running_bot: RunningBot,
) -> None:
    url = running_bot.processes.rest_url
    sender = f"test-verrou-{uuid.uuid4().hex[:8]}"
    status, replies = _post(url, sender, "horaires de la mairie de Balma")
    assert status == 200 and "Balma" in _texts(replies)

    log = running_bot.processes.log_path(RASA)
    logged_before = log.stat().st_size
    locker = sqlite3.connect(running_bot.database, isolation_level=None, timeout=30)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        during = [_post(url, sender, "et la collecte des déchets ?") for _ in range(2)]
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    for status, replies in during:
        assert status == 503
        assert UNAVAILABLE in _texts(replies)

    # The database is back: the same question is answered, for the commune remembered before.
    status, replies = _post(url, sender, "et la collecte des déchets ?")
    assert status == 200
    assert "Balma" in _texts(replies)
    stored = _stored_texts(running_bot, sender)
    assert stored == ["horaires de la mairie de Balma", "et la collecte des déchets ?"]
    with log.open("rb") as handle:
        handle.seek(logged_before)
        written = handle.read().decode("utf-8", "replace")
    assert written.count("Base des conversations indisponible") == 1
    assert written.count("Base des conversations de nouveau disponible") == 1
    assert "the bot failed" not in written


def test_personal_data_is_neither_stored_nor_logged_in_clear(running_bot: RunningBot) -> None:
    url = running_bot.processes.rest_url
    sender = f"test-donnees-{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:6]
    personal = {
        "e-mail": f"claire.{tag}@example.fr",
        "téléphone": "+33 (0)6 12 34 56 78",
        "téléphone court": "0612345678",
        "sécurité sociale": "2 85 05 2A 006 084 36",
        "IBAN": "DE89 3704 0044 0532 0130 00",
        "IBAN français": "FR76 3000 6000 0112 3456 7890 189",
        "nom": "Hélène Vasseur",
    }
    messages = [
        f"Bonjour, je suis {personal['nom']}, mon mail est {personal['e-mail']}",
        f"rappelez moi au {personal['téléphone']} ou au {personal['téléphone court']}",
        f"mon numéro de sécu est {personal['sécurité sociale']}",
        f"remboursez moi sur {personal['IBAN']} ou {personal['IBAN français']}",
        "quand passe la collecte à Blagnac ?",
    ]
    for message in messages:
        status, replies = _post(url, sender, message)
        assert status == 200 and replies

    with sqlite3.connect(running_bot.database) as db:
        stored = " ".join(
            json.dumps(json.loads(row[0]), ensure_ascii=False)
            for row in db.execute("SELECT data FROM events WHERE sender_id = ?", (sender,))
        )
        stored += " ".join(
            row[0]
            for row in db.execute(
                "SELECT slots FROM conversation_state WHERE sender_id = ?", (sender,)
            )
        )
    logs = " ".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in (ARTIFACTS / "logs").glob("*.log")
    )
    for kind, value in personal.items():
        assert value not in stored, f"{kind} stored in clear"
        assert value not in logs, f"{kind} written to a log"
    assert "Blagnac" in stored, "what the service needs is kept"
    assert (running_bot.database.stat().st_mode & 0o777) == 0o600


def test_a_frozen_action_server_gets_a_french_answer_in_seconds_then_recovers(
    running_bot: RunningBot,
) -> None:
    url = running_bot.processes.rest_url
    sender = f"test-fige-{uuid.uuid4().hex[:8]}"
    pid = running_bot.processes.pid("actions")
    assert pid is not None
    with frozen(pid):
        # Rasa's own wait is five minutes: the client here gives up long before.
        status, replies = _post(url, sender, "qui a gagné le prix icapital ?")
    assert status == 503 and UNAVAILABLE in _texts(replies)
    status, replies = _post(url, sender, "qui a gagné le prix icapital ?")
    assert status == 200 and "Athènes" in _texts(replies)
