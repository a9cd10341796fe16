"""The hardened REST channel (bot/channels/rest.py): its routes in-process, then one conversation through the real Rasa.

In-process, the channel's Sanic routes run with a stand-in for Rasa
(tests/support/channels.py): every bad request gets its status and French
text and never reaches Rasa, a failing or silent Rasa is a French 503, the
client's metadata never passes. Then the session's real Rasa server, which
mounts this channel from credentials.yml: a conversation keeps its commune
through bad and odd requests, and stores nothing they carried.

Run alone: .venv/bin/python -m pytest tests/channels/test_rest.py -q
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from bot.channels.rest import RestChannel
from bot.channels.texts import BAD_METHOD, MAX_MESSAGE_CHARS, TOO_LONG, UNAVAILABLE
from bot.paths import PROJECT_ROOT
from tests.support import RunningBot
from tests.support.bad_requests import JSON, REST_REFUSED, body
from tests.support.channels import FAULTS, StandInRasa, channels_served

SECRET_WORDS = "Jeanne Dupont 06 12 34 56 78"
WEBHOOK = "/rest/webhook"


# -- in-process, with a stand-in for Rasa ----------------------------------------------


def test_every_bad_request_gets_its_status_and_french_text_and_never_reaches_rasa() -> None:
    async def scenario() -> tuple[dict[str, tuple[int, Any]], StandInRasa]:
        rasa = StandInRasa()
        seen: dict[str, tuple[int, Any]] = {}
        async with channels_served(rasa) as client:

            async def chunks() -> AsyncIterator[bytes]:
                yield b'{"sender": "a", "message": "'
                for _ in range(1000):  # 10 MB, sent without a Content-Length
                    yield b"a" * 10_000
                yield b'"}'

            async with client.session.post(client.base + WEBHOOK, data=chunks()) as response:
                seen["10 MB streamed"] = (response.status, await response.json())
            for case, (data, content_type, _, _) in REST_REFUSED.items():
                status, reply, _ = await client.post(WEBHOOK, data, content_type)
                seen[case] = (status, reply)
        return seen, rasa

    seen, rasa = asyncio.run(scenario())
    expected = {
        case: (status, {"erreur": text}) for case, (_, _, status, text) in REST_REFUSED.items()
    }
    assert seen == {"10 MB streamed": (413, {"erreur": TOO_LONG}), **expected}
    assert rasa.received == []


def test_odd_but_valid_messages_reach_rasa_cleaned_and_without_client_metadata() -> None:
    messages = ["bonjour\x00\x00", "x\ud800y", "   ", "bonjour " * 125]

    async def scenario() -> tuple[list[tuple[int, Any]], StandInRasa]:
        rasa = StandInRasa()
        async with channels_served(rasa) as client:
            seen = [
                (await client.post(WEBHOOK, body(sender="tg-42", message=message)))[:2]
                for message in messages
            ]
            extra = body(
                sender="tg-42",
                message="bonjour",
                metadata={"secret": SECRET_WORDS},
                input_channel="web",
            )
            seen.append((await client.post(WEBHOOK, extra))[:2])
        return seen, rasa

    seen, rasa = asyncio.run(scenario())
    assert all(len(m) <= MAX_MESSAGE_CHARS for m in messages)
    # Control characters cleaned by the channel; Rasa's UserMessage then strips the text.
    cleaned = ["bonjour", "x\ufffdy", "", ("bonjour " * 125).strip(), "bonjour"]
    assert rasa.texts == cleaned
    assert [status for status, _ in seen] == [200] * len(cleaned)
    assert [reply[0]["text"] for _, reply in seen] == [f"reçu : {t}".strip() for t in cleaned]
    assert {m.sender_id for m in rasa.received} == {"tg-42"}
    assert all(m.metadata is None and m.input_channel == "rest" for m in rasa.received)


def test_rasa_failing_or_silent_is_a_503_with_the_french_unavailable_text() -> None:
    async def scenario() -> list[tuple[int, Any]]:
        rasa = StandInRasa()
        seen = []
        async with channels_served(rasa) as client:
            for fault in [*FAULTS, None]:
                rasa.fault = fault
                status, reply, _ = await client.post(
                    WEBHOOK, body(sender="tg-42", message="bonjour")
                )
                seen.append((status, reply))
        return seen

    *faults, recovered = asyncio.run(scenario())
    unavailable = [{"recipient_id": "tg-42", "text": UNAVAILABLE}]
    assert faults == [(503, unavailable)] * len(FAULTS)
    assert recovered == (200, [{"recipient_id": "tg-42", "text": "reçu : bonjour"}])


def test_other_methods_get_a_french_405_and_health_answers() -> None:
    async def scenario() -> list[tuple[int, Any, str | None]]:
        seen = []
        async with channels_served(StandInRasa()) as client:
            for method in ("GET", "PUT", "DELETE"):
                status, raw, headers = await client.request(method, WEBHOOK)
                seen.append((status, json.loads(raw), headers.get("Allow")))
            status, raw, headers = await client.request("GET", "/rest/")
            seen.append((status, json.loads(raw), headers.get("Allow")))
        return seen

    *refused, health = asyncio.run(scenario())
    assert refused == [(405, {"erreur": BAD_METHOD}, "POST")] * 3
    assert health == (200, {"status": "ok"}, None)


def test_credentials_file_replaces_rasas_own_rest_channel() -> None:
    credentials = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8"))
    assert "rest" not in credentials  # Rasa's own REST channel is replaced, not doubled
    assert RestChannel.name() == "rest"
    assert "bot.channels.rest.RestChannel" in credentials


# -- the real Rasa server ------------------------------------------------------------------


def _rest(
    bot: RunningBot, data: bytes, content_type: str | None = JSON, method: str = "POST"
) -> tuple[int, Any]:
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(
        bot.processes.rest_url, data=data or None, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _events(bot: RunningBot, sender: str) -> list[str]:
    with sqlite3.connect(bot.database) as connection:
        rows = connection.execute(
            "SELECT data FROM events WHERE sender_id = ? ORDER BY id", (sender,)
        ).fetchall()
    return [str(data) for (data,) in rows]


@pytest.mark.servers
def test_a_conversation_keeps_its_commune_through_bad_and_odd_requests(
    running_bot: RunningBot,
) -> None:
    conversation = running_bot.conversation()
    sender = conversation.sender
    assert "Colomiers" in conversation.text("horaires de la mairie de colomiers")
    stored = len(_events(running_bot, sender))
    default_before = len(_events(running_bot, "default"))

    # One of each kind of refusal (the whole table runs in-process above).
    cases = ["empty body", "missing sender", "message an object", "1 MB message", "text/plain"]
    seen = {}
    for case in cases:
        data, content_type, _, _ = REST_REFUSED[case]
        data = data.replace(b'"sender": "a"', f'"sender": "{sender}"'.encode())
        seen[case] = _rest(running_bot, data, content_type)
    seen["GET on the webhook"] = _rest(running_bot, b"", None, method="GET")
    expected = {case: (REST_REFUSED[case][2], {"erreur": REST_REFUSED[case][3]}) for case in cases}
    assert seen == {**expected, "GET on the webhook": (405, {"erreur": BAD_METHOD})}
    # Nothing was stored, and no one shares a "default" conversation.
    assert len(_events(running_bot, sender)) == stored
    assert len(_events(running_bot, "default")) == default_before

    # Odd but valid messages: each gets a reply from the bot itself.
    for message in ("bonjour\x00\x00", "x\ud800y", "   ", "bonjour " * 125):
        status, replies = _rest(running_bot, body(sender=sender, message=message))
        assert status == 200, message
        assert replies and all(r["recipient_id"] == sender for r in replies), message
        assert any(r.get("text") for r in replies), message
    extra = body(
        sender=sender, message="bonjour", metadata={"secret": SECRET_WORDS}, input_channel="web"
    )
    status, replies = _rest(running_bot, extra)
    assert status == 200 and replies
    events = _events(running_bot, sender)
    assert not [e for e in events if SECRET_WORDS in e]
    assert not [e for e in events if '"input_channel": "web"' in e]
    assert all("\x00" not in e and "\\u0000" not in e for e in events)

    assert "Colomiers" in conversation.text("et la collecte des déchets ?")
    url = f"http://127.0.0.1:{running_bot.processes.rasa_port}/webhooks/rest/"
    with urllib.request.urlopen(url, timeout=30) as response:
        assert json.loads(response.read()) == {"status": "ok"}
