"""The webhook endpoint (bot/channels/telegram/webhook.py), through aiohttp's test client.

The bridge's `Application` is the in-process one (tests/support/telegram.py):
what a request queues can be answered without any network.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient, TestServer
from telegram import Update

from bot.channels.telegram.webhook import SECRET_HEADER, webhook_app
from tests.support.telegram import InProcessBridge, bridge_in_process

T = TypeVar("T")

SECRET = "secret-de-test_0123456789"
PATH = "/telegram"
CHAT = 606


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, 60))


@asynccontextmanager
async def webhook_served() -> AsyncIterator[tuple[InProcessBridge, TestClient]]:
    """The in-process bridge behind its webhook app, and a test client of that app."""
    async with bridge_in_process() as bridge:
        app = webhook_app(bridge.application, SECRET, PATH)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield bridge, client


async def _post(client: TestClient, data: bytes, secret: str | None = SECRET) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    response = await client.post(PATH, data=data, headers=headers)
    return response.status, await response.text()


def _json(update: Update) -> bytes:
    return json.dumps(update.to_dict()).encode()


def _queued(bridge: InProcessBridge) -> list[object]:
    queue = bridge.application.update_queue
    updates: list[object] = []
    while not queue.empty():
        updates.append(queue.get_nowait())
    return updates


def test_a_request_without_the_secret_is_refused_before_its_body_is_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)

    async def scenario() -> tuple[list[int], list[object]]:
        async with webhook_served() as (bridge, client):
            update = _json(bridge.updates.text(CHAT, "bonjour"))
            statuses = [
                (await _post(client, update, secret=None))[0],
                (await _post(client, update, secret="mauvais"))[0],
                (await _post(client, update, secret=SECRET[:-1]))[0],
                # Read, these would be a 413 and a 400: a 403 says they were not.
                (await _post(client, b"x" * 2_000_000, secret=None))[0],
                (await _post(client, b"{pas du json", secret="mauvais"))[0],
            ]
            return statuses, _queued(bridge)

    statuses, queued = run(scenario())
    assert statuses == [403] * 5
    assert queued == []
    assert "requête refusée (jeton secret absent)" in caplog.text
    assert "requête refusée (jeton secret faux)" in caplog.text


def test_an_authentic_update_is_queued_for_the_bridge() -> None:
    async def scenario() -> tuple[tuple[int, str], list[object], InProcessBridge]:
        async with webhook_served() as (bridge, client):
            sent = bridge.updates.text(CHAT, "qui a gagné le prix icapital ?")
            answer = await _post(client, _json(sent))
            return answer, _queued(bridge), bridge

    answer, queued, bridge = run(scenario())
    assert answer == (200, "ok")
    [update] = queued
    assert isinstance(update, Update)
    assert update.effective_message is not None and update.effective_chat is not None
    assert update.effective_message.text == "qui a gagné le prix icapital ?"
    assert update.effective_chat.id == CHAT
    assert update.get_bot() is bridge.application.bot


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{pas du json", 400),
        (b"[]", 400),
        (b'"une mise a jour"', 400),
        (b'{"message": {"text": "sans update_id"}}', 400),
        (b"{" + b" " * 1_100_000 + b"}", 413),
    ],
    ids=["not JSON", "array", "string", "not an update", "over 1 MB"],
)
def test_an_unreadable_update_is_refused_with_the_secret(body: bytes, status: int) -> None:
    async def scenario() -> tuple[int, list[object]]:
        async with webhook_served() as (bridge, client):
            return (await _post(client, body))[0], _queued(bridge)

    assert run(scenario()) == (status, [])


def test_updates_posted_to_the_webhook_are_answered_once_even_if_delivered_twice() -> None:
    async def wait_until(done: Callable[[], bool]) -> None:
        while not done():
            await asyncio.sleep(0.01)

    async def scenario() -> tuple[list[int], InProcessBridge]:
        async with webhook_served() as (bridge, client):
            await bridge.application.start()  # consumes the queue, as in production
            try:
                question = _json(bridge.updates.text(CHAT, "qui a gagné le prix icapital ?"))
                statuses = [
                    (await _post(client, question))[0],
                    (await _post(client, question))[0],  # Telegram retrying
                    (await _post(client, _json(bridge.updates.text(CHAT, "merci"))))[0],
                ]
                await wait_until(lambda: len(bridge.api.sent) >= 2)
                await bridge.application.update_queue.join()
            finally:
                await bridge.application.stop()
            return statuses, bridge

    statuses, bridge = run(scenario())
    assert statuses == [200, 200, 200]
    assert bridge.rasa.texts == ["qui a gagné le prix icapital ?", "merci"]
    assert bridge.api.visible(CHAT) == ["reçu : qui a gagné le prix icapital ?", "reçu : merci"]
