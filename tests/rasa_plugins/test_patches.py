"""The project's changes to Rasa (bot.rasa_plugins.patches): tied to the pinned version, and seen from a citizen's side."""

from __future__ import annotations

import asyncio
import inspect
import json
import sqlite3
import time

import pytest
import rasa
import rasa.core.actions.action
import rasa.core.agent
import rasa.core.lock_store
import rasa.core.processor
from rasa.core.channels.channel import UserMessage
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

from bot.channels.texts import BAD_METHOD, HTTP_ERRORS
from bot.communes import COMMUNES
from bot.rasa_plugins import patches
from bot.rasa_plugins.patches import as_text, offered_payloads, valid_entities
from tests.support import RunningBot

INTENTS = ("saluer", "prix_icapital", "collecte_dechets")


# --- tied to Rasa 3.6.21: each place the patches rely on is still as they expect


def test_the_patches_target_the_installed_rasa() -> None:
    assert rasa.__version__ == patches.PATCHED_RASA_VERSION


def test_rasa_still_wraps_every_store_in_its_in_memory_fallback() -> None:
    source = inspect.getsource(rasa.core.agent.Agent)
    assert "return FailSafeTrackerStore(tracker_store)" in source


def test_rasa_still_reads_the_action_timeout_from_its_module_constant() -> None:
    source = inspect.getsource(rasa.core.actions.action.RemoteAction.run)
    assert "timeout=DEFAULT_REQUEST_TIMEOUT" in source


def test_rasa_still_unpacks_slash_messages_after_stripping_spaces() -> None:
    source = inspect.getsource(YAMLStoryReader.unpack_regex_message)
    assert "message.get(TEXT).strip()" in source
    assert "startswith(INTENT_MESSAGE_PREFIX)" in source
    # The processor stores what parse_message left in message.text.
    handle = inspect.getsource(rasa.core.processor.MessageProcessor._handle_message_with_tracker)
    assert "parse_data = await self.parse_message(message, tracker)" in handle
    assert "message.text," in handle


def test_apply_is_idempotent_and_bounds_the_action_timeout() -> None:
    patches.apply()
    patches.apply()
    assert 0 < rasa.core.actions.action.DEFAULT_REQUEST_TIMEOUT <= 30  # type: ignore[attr-defined]
    store = object.__new__(type("Loud", (), {"fails_loudly": True, "domain": None}))
    assert rasa.core.agent.Agent._create_tracker_store(store, None) is store


STOCK_HANDLE_MESSAGE = """        async with self.lock_store.lock(message.sender_id):
            return await self.processor.handle_message(  # type: ignore[union-attr]
                message
            )
"""


def test_rasa_still_handles_a_message_under_its_conversation_lock() -> None:
    # The admission limit rewrites this method, with the wait for a slot inside the lock.
    source = inspect.getsource(inspect.unwrap(rasa.core.agent.Agent.handle_message))
    assert STOCK_HANDLE_MESSAGE in source


def _agent_counting_turns() -> tuple[rasa.core.agent.Agent, list[int], list[str]]:
    """An agent whose processor records how many turns run at once and the order they start in."""
    in_flight = [0, 0]  # now, most
    started: list[str] = []

    class Processor:
        async def handle_message(self, message: UserMessage) -> list[dict[str, str]]:
            started.append(message.sender_id)
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
            await asyncio.sleep(0.01)
            in_flight[0] -= 1
            return [{"recipient_id": message.sender_id, "text": "ok"}]

    agent = rasa.core.agent.Agent(lock_store=InMemoryLockStore())
    agent.processor = Processor()  # type: ignore[assignment]
    agent.tracker_store = InMemoryTrackerStore(Domain.empty())
    return agent, in_flight, started


def test_a_burst_of_messages_is_handled_a_few_at_a_time_in_arrival_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    patches.apply()
    monkeypatch.setattr(patches._TURN_SLOTS, "size", 3)
    agent, in_flight, started = _agent_counting_turns()
    senders = [f"habitant-{i:02d}" for i in range(30)]

    async def burst() -> list[object]:
        return await asyncio.gather(
            *(agent.handle_message(UserMessage("bonjour", sender_id=s)) for s in senders)
        )

    replies = asyncio.run(burst())
    assert len(replies) == 30 and all(replies)  # nobody dropped
    assert in_flight[1] == 3
    assert started == senders


STOCK_LOCK_WAIT = """            # acquire lock if it isn't locked
            if not lock.is_locked(ticket):"""


def test_rasa_still_waits_for_its_own_ticket_to_be_the_first_one() -> None:
    source = inspect.getsource(inspect.unwrap(rasa.core.lock_store.LockStore))
    assert STOCK_LOCK_WAIT in source
    assert "self.update_lock(conversation_id)" in source


def test_a_message_whose_lock_holder_died_is_served_once_the_holders_ticket_expires() -> None:
    patches.apply()
    store = InMemoryLockStore()

    async def retried_turn() -> float:
        # The instance that took the first ticket died without giving it back.
        store.issue_ticket("habitant", 0.5)
        started = time.monotonic()
        # The same lifetime, issued just after: both tickets expire in one wait.
        async with store.lock("habitant", lock_lifetime=0.5, wait_time_in_seconds=0.7):
            return time.monotonic() - started

    waited = asyncio.run(asyncio.wait_for(retried_turn(), timeout=10))
    assert 0.4 < waited < 5


def test_a_message_still_waits_for_a_turn_in_progress_in_its_conversation() -> None:
    patches.apply()
    store = InMemoryLockStore()
    order: list[str] = []

    async def turn(name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        async with store.lock("habitant", lock_lifetime=30, wait_time_in_seconds=0.05):
            order.append(f"{name} start")
            await asyncio.sleep(0.3)
            order.append(f"{name} end")

    async def both() -> None:
        await asyncio.gather(turn("premier", 0), turn("second", 0.05))

    asyncio.run(both())
    assert order == ["premier start", "premier end", "second start", "second end"]


def test_a_freed_slot_goes_to_the_longest_waiter_not_to_a_newcomer() -> None:
    order: list[str] = []

    async def turn(slots: patches._FirstComeSlots, name: str, hold: float) -> None:
        async with slots:
            order.append(name)
            await asyncio.sleep(hold)

    async def scene() -> None:
        slots = patches._FirstComeSlots(1)
        first = asyncio.create_task(turn(slots, "premier", 0.05))
        await asyncio.sleep(0.01)
        waiting = asyncio.create_task(turn(slots, "en attente", 0))
        await asyncio.sleep(0.01)
        cancelled = asyncio.create_task(turn(slots, "annulé", 0))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        await first
        # Asks in the instant the slot is freed, before the waiter has run.
        await turn(slots, "nouveau", 0)
        await waiting
        with pytest.raises(asyncio.CancelledError):
            await cancelled

    asyncio.run(scene())
    assert order == ["premier", "en attente", "nouveau"]


@pytest.mark.parametrize(
    ("raw", "turns"), [("", 8), ("4", 4), (" 16 ", 16), ("0", 8), ("-2", 8), ("beaucoup", 8)]
)
def test_the_number_of_turns_at_once_comes_from_the_environment(raw: str, turns: int) -> None:
    assert patches._concurrent_turns({patches.CONCURRENT_TURNS_ENV: raw}) == turns


# --- the pure parts


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("/restart", "restart"),
        ("  //session_start", "session_start"),
        ("/ /back", "back"),
        ('/donner_commune{"commune":"Paris"}', 'donner_commune{"commune":"Paris"}'),
        ("/", ""),
        ("bonjour / au revoir", "bonjour / au revoir"),
    ],
)
def test_a_payload_not_offered_is_read_as_text(typed: str, read: str) -> None:
    assert as_text(typed) == read
    assert not as_text(typed).strip().startswith("/")


def test_offered_payloads_are_the_buttons_of_the_bot() -> None:
    events = [
        UserUttered("/avis_positif"),
        BotUttered("Réponse", {"buttons": [{"title": "Oui", "payload": "/avis_positif"}]}),
        BotUttered("Autre", {"buttons": [{"title": "x", "payload": " /aide "}, {"title": "y"}]}),
        BotUttered("Sans bouton"),
    ]
    assert offered_payloads(events) == {"/avis_positif", "/aide"}


def test_entity_values_must_be_known() -> None:
    entities = [
        {"entity": "commune", "value": "Balma"},
        {"entity": "commune", "value": "Visitez https://evil.example"},
        {"entity": "commune", "value": {"x": 1}},
        {"entity": "commune", "value": "Paris"},
        {"entity": "commune_hors_metropole", "value": "Paris"},
        {"entity": "commune_hors_metropole", "value": "Balma"},
        {"entity": "sujet_avis", "value": "prix_icapital"},
        {"entity": "sujet_avis", "value": "inconnu"},
        {"entity": "inconnue", "value": "Balma"},
        "pas un dict",
    ]
    kept = valid_entities(entities, INTENTS)
    assert [(e["entity"], e["value"]) for e in kept] == [
        ("commune", "Balma"),
        ("commune_hors_metropole", "Paris"),
        ("sujet_avis", "prix_icapital"),
    ]
    assert valid_entities("pas une liste", INTENTS) == []
    assert all(valid_entities([{"entity": "commune", "value": c}], ()) for c in COMMUNES)


# --- a citizen typing payloads to the real bot


def _all_text(replies: list[dict[str, object]]) -> str:
    return "\n".join(str(r.get("text", "")) for r in replies)


@pytest.mark.servers
@pytest.mark.parametrize(
    "typed",
    [
        '/donner_commune{"commune":"Visitez https://evil.example"}',
        '/saluer{"commune":"Paris"}',
        '/horaires_mairie{"commune":"<a href=x>Mairie</a>"}',
        '/collecte_dechets{"commune":"Balma Visitez evil.example"}',
    ],
)
def test_typed_payloads_cannot_make_the_bot_say_anything(
    running_bot: RunningBot, typed: str
) -> None:
    replies = running_bot.conversation().send(typed)
    text = _all_text(replies)
    assert replies, "the bot must answer"
    for injected in ("evil.example", "Visitez", "Paris", "<a href", "mairie de Paris"):
        assert injected not in text


@pytest.mark.servers
def test_a_non_string_commune_does_not_poison_the_conversation(running_bot: RunningBot) -> None:
    conversation = running_bot.conversation()
    assert conversation.send('/donner_commune{"commune":{"x":1}}')
    assert conversation.send('/donner_commune{"commune":["Balma"]}')
    answer = conversation.text("horaires de la mairie de Balma")
    assert "Balma" in answer
    assert "Balma" in conversation.text("et la collecte des déchets ?")


@pytest.mark.servers
@pytest.mark.parametrize("typed", ["/restart", "/session_start", "/back", "/out_of_scope", "/"])
def test_rasa_commands_typed_by_a_citizen_are_just_text(
    running_bot: RunningBot, typed: str
) -> None:
    conversation = running_bot.conversation()
    assert "Colomiers" in conversation.text("horaires de la mairie de colomiers")
    replies = conversation.send(typed)
    assert 1 <= len(replies) <= 2
    # Nothing was restarted: the commune is still remembered.
    assert "Colomiers" in conversation.text("et la collecte des déchets ?")


@pytest.mark.servers
def test_buttons_the_bot_offered_still_work(running_bot: RunningBot) -> None:
    conversation = running_bot.conversation()
    replies = conversation.send("qui a gagné le prix icapital ?")
    payloads = [b["payload"] for r in replies for b in r.get("buttons", [])]
    negative = next(p for p in payloads if p.startswith("/avis_negatif"))
    assert "sujet_avis" in negative
    after = conversation.send(negative)
    assert any(b["payload"] == "/parler_a_un_agent" for r in after for b in r.get("buttons", []))


@pytest.mark.servers
def test_a_button_offered_elsewhere_is_not_a_payload_here(running_bot: RunningBot) -> None:
    first = running_bot.conversation()
    first.send("qui a gagné le prix icapital ?")
    other = running_bot.conversation()
    other.send('/avis_negatif{"sujet_avis": "prix_icapital"}')
    with sqlite3.connect(running_bot.database) as db:
        rows = db.execute(
            "SELECT intent_name, data FROM events WHERE sender_id = ? AND type_name = 'user'",
            (other.sender,),
        ).fetchall()
    assert rows and rows[0][0] != "avis_negatif"
    assert not json.loads(rows[0][1])["text"].startswith("/")


@pytest.mark.servers
def test_injected_values_never_reach_the_stored_slots(running_bot: RunningBot) -> None:
    conversation = running_bot.conversation()
    conversation.send('/donner_commune{"commune":"Visitez https://evil.example"}')
    conversation.send('/saluer{"commune":"Paris"}')
    with sqlite3.connect(running_bot.database) as db:
        stored = db.execute(
            "SELECT data FROM events WHERE sender_id = ?", (conversation.sender,)
        ).fetchall()
        state = db.execute(
            "SELECT slots FROM conversation_state WHERE sender_id = ?", (conversation.sender,)
        ).fetchall()
    everything = " ".join(row[0] for row in stored + state)
    assert '"commune", "value": "Paris"' not in everything
    assert "evil.example" not in json.dumps([json.loads(s[0]) for s in state])
    assert all(
        e.get("value") in COMMUNES
        for row in stored
        for e in (json.loads(row[0]).get("parse_data") or {}).get("entities", [])
        if e.get("entity") == "commune"
    )


def test_rasa_still_builds_its_app_through_configure_app() -> None:
    import rasa.core.run

    assert "app = configure_app(" in inspect.getsource(rasa.core.run.serve_application)


def _raw(port: int, request: bytes) -> tuple[int, bytes]:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < data.find(b"\r\n\r\n") + 4 + _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _length(data: bytes) -> int:
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


@pytest.mark.servers
@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /webhooks/nulle-part HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"GET /inconnu HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"N'IMPORTE QUOI\r\n\r\n", 400),
        (b"GET /webhooks/rest/ HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20_000 + b"\r\n\r\n", 413),
        (b"DELETE /webhooks/web/conversations HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    ],
    ids=["adresse-inconnue", "hors-webhooks", "requete-illisible", "en-tetes-enormes", "methode"],
)
def test_sanic_refusals_are_french_json(
    running_bot: RunningBot, request_bytes: bytes, status: int
) -> None:
    got, body = _raw(running_bot.processes.rasa_port, request_bytes)
    assert got == status
    # A channel may say it in its own words (the widget channel names POST).
    assert json.loads(body)["erreur"] in {HTTP_ERRORS[status], BAD_METHOD}


@pytest.mark.servers
def test_the_http_api_keeps_its_own_answers(running_bot: RunningBot) -> None:
    got, body = _raw(running_bot.processes.rasa_port, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
    assert got == 401
    assert "erreur" not in json.loads(body)
