"""The bridge's client of Rasa's REST channel (bot/channels/telegram/rasa_client.py), against an aiohttp test server.

Every way of not getting a usable answer is one `RasaUnavailable`, so the
handlers have one thing to tell the resident (test_handlers.py checks they do).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.channels.telegram.rasa_client import RasaButton, RasaClient, RasaReply, RasaUnavailable
from bot.channels.texts import UNAVAILABLE
from tests.support import free_port
from tests.support.telegram import REST_PATH, rest_channel_answering


async def _send(url: str, timeout: float = 60.0) -> list[RasaReply]:
    client = RasaClient(url, timeout=timeout)
    try:
        return await client.send("tg-test", "bonjour")
    finally:
        await client.close()


def test_replies_and_their_buttons_are_read_and_the_conversation_is_named() -> None:
    body = """[
        {"recipient_id": "tg-test", "text": "Bonjour !"},
        {"recipient_id": "tg-test", "image": "https://exemple.fr/a.png"},
        "pas un message",
        {"recipient_id": "tg-test", "text": "", "buttons": [
            {"title": "Transports", "payload": "/transports_en_commun"},
            {"payload": "/velo"},
            {"title": "Sans payload"}
        ]}
    ]"""

    async def scenario() -> tuple[list[RasaReply], list[Any]]:
        async with rest_channel_answering(200, body) as (url, received):
            return await _send(url), received

    replies, received = asyncio.run(scenario())
    assert received == [{"sender": "tg-test", "message": "bonjour"}]
    assert replies == [
        RasaReply("Bonjour !"),
        RasaReply(
            "",
            (RasaButton("Transports", "/transports_en_commun"), RasaButton("/velo", "/velo")),
        ),
    ]


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (503, f'[{{"recipient_id": "x", "text": "{UNAVAILABLE}"}}]', "HTTP 503"),
        (400, '{"erreur": "Requête invalide"}', "HTTP 400"),
        (200, "[]", "rien répondu"),
        (200, '[{"recipient_id": "x", "image": "https://exemple.fr/a.png"}]', "rien répondu"),
        (200, '{"text": "pas une liste"}', "illisible"),
        (200, "<html>pas du JSON</html>", "illisible"),
    ],
    ids=[
        "REST channel 503",
        "REST channel 400",
        "no reply",
        "nothing to show",
        "not a list",
        "not JSON",
    ],
)
def test_every_unusable_answer_is_rasa_unavailable(status: int, body: str, reason: str) -> None:
    async def scenario() -> None:
        async with rest_channel_answering(status, body) as (url, _):
            with pytest.raises(RasaUnavailable, match=reason):
                await _send(url)

    asyncio.run(scenario())


def test_a_slow_rasa_is_unavailable_after_the_timeout() -> None:
    async def scenario() -> None:
        async with rest_channel_answering(200, '[{"text": "trop tard"}]', delay=5.0) as (url, _):
            with pytest.raises(RasaUnavailable, match="injoignable"):
                await _send(url, timeout=0.2)

    asyncio.run(scenario())


def test_an_unreachable_rasa_is_unavailable() -> None:
    async def scenario() -> None:
        with pytest.raises(RasaUnavailable, match="injoignable"):
            await _send(f"http://127.0.0.1:{free_port()}{REST_PATH}")

    asyncio.run(scenario())
