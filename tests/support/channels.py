"""The REST and web channels in-process: their Sanic routes on loopback, a stand-in for Rasa behind.

Rasa hands every message a channel receives to `on_new_message`; here that is
`StandInRasa`, which answers "reçu : <text>" or fails the way Rasa can fail
(`FAULTS`). The channels' blueprints are served by a small Sanic app of their
own, in the test's event loop, on a free loopback port: the same routes Rasa
mounts, without Rasa's server (Sanic 21.12 has no test client).

Usage:
    rasa = StandInRasa()
    async with channels_served(rasa) as client:
        status, body, headers = await client.post("/rest/webhook", b'{"sender": "a", "message": "x"}')
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels.rest import RestChannel
from bot.channels.web.channel import WebChannel
from bot.channels.web.conversations import SignedConversationIds
from tests.support import free_port

__all__ = ["FAULTS", "JSON", "ChannelsClient", "StandInRasa", "channels_served", "says"]

JSON = "application/json"


async def says(message: UserMessage) -> None:
    """What the stand-in answers: the text it received."""
    await message.output_channel.send_text_message(message.sender_id, f"reçu : {message.text}")


async def _raises(message: UserMessage) -> None:
    raise RuntimeError(f"database is locked while storing {message.text}")


async def _times_out(message: UserMessage) -> None:
    raise asyncio.TimeoutError


async def _cancelled(message: UserMessage) -> None:
    raise asyncio.CancelledError


async def _silent(message: UserMessage) -> None:
    return None


async def _image_only(message: UserMessage) -> None:
    await message.output_channel.send_image_url(message.sender_id, "https://exemple.fr/a.png")


# The ways a turn inside Rasa fails: the store or the action server raises, a
# timeout, a cancelled turn, and a turn in which the bot said nothing.
FAULTS: dict[str, Callable[[UserMessage], Awaitable[None]]] = {
    "exception": _raises,
    "timeout": _times_out,
    "cancelled": _cancelled,
    "no reply": _silent,
}


class StandInRasa:
    """What Rasa's `on_new_message` does for the channels, switchable to each fault."""

    def __init__(self) -> None:
        self.fault: str | None = None
        self.answer: Callable[[UserMessage], Awaitable[None]] = says
        self.received: list[UserMessage] = []

    @property
    def texts(self) -> list[str]:
        """The texts Rasa was given, in order."""
        return [str(m.text) for m in self.received]

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        if self.fault is not None:
            await FAULTS[self.fault](message)
        else:
            await self.answer(message)

    def answer_with_an_image_only(self) -> None:
        """From now on the bot answers with nothing a text client can show."""
        self.answer = _image_only


@dataclass
class ChannelsClient:
    """An HTTP client of the in-process channels: `base` ends with /webhooks."""

    base: str
    session: aiohttp.ClientSession

    @property
    def host(self) -> str:
        """What the server sees as its Host (the bot's own site, for the web channel)."""
        return self.base.split("/")[2]

    async def post(
        self,
        path: str,
        body: bytes,
        content_type: str | None = JSON,
        *,
        origin: str | None = None,
    ) -> tuple[int, Any, CIMultiDictProxy[str]]:
        """POSTs `body` to `path` (e.g. "/rest/webhook"); the status, the JSON body, the headers."""
        headers = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if origin is not None:
            headers["Origin"] = origin
        async with self.session.post(self.base + path, data=body, headers=headers) as response:
            return response.status, await response.json(content_type=None), response.headers

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, CIMultiDictProxy[str]]:
        """Any method without a body; the status, the raw body, the headers."""
        async with self.session.request(method, self.base + path, headers=headers) as response:
            return response.status, await response.read(), response.headers


@contextlib.asynccontextmanager
async def channels_served(
    rasa: StandInRasa, web: WebChannel | None = None
) -> AsyncIterator[ChannelsClient]:
    """The REST and web channels under /webhooks/rest and /webhooks/web, as Rasa mounts them."""
    # Test mode lets Sanic set up a second app in the same process (its code
    # rewriting at start, "touchup", otherwise fails the second time).
    Sanic.test_mode = True
    app = Sanic(f"channels-{uuid.uuid4().hex}")
    app.blueprint(RestChannel().blueprint(rasa), url_prefix="/webhooks/rest")
    # A key of the test's own: the default one would be kept in the project's var/.
    web = web or WebChannel(ids=SignedConversationIds(b"k" * 32))
    app.blueprint(web.blueprint(rasa), url_prefix="/webhooks/web")
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    assert server is not None
    await server.startup()
    try:
        async with aiohttp.ClientSession() as session:
            yield ChannelsClient(f"http://127.0.0.1:{port}/webhooks", session)
    finally:
        server.close()
        await server.wait_closed()
