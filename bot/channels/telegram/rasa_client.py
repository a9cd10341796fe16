"""Talks to Rasa's REST channel on behalf of a Telegram chat.

Usage:
    client = RasaClient("http://127.0.0.1:5005/webhooks/rest/webhook")
    await client.start()
    replies = await client.send("tg-3f1c…", "quand passe la collecte ?")   # [RasaReply, …]
    await client.close()

Every failure to get an answer (connection refused, timeout, HTTP error such
as the REST channel's 503 when the bot failed, unreadable body, no reply at
all) is one `RasaUnavailable`, so the caller has one thing to tell the resident.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = ["RasaButton", "RasaClient", "RasaReply", "RasaUnavailable"]


class RasaUnavailable(RuntimeError):
    """Rasa did not answer usably; the message says why (no conversation content)."""


@dataclass(frozen=True)
class RasaButton:
    """A quick reply: what it shows, and the message it sends back."""

    title: str
    payload: str


@dataclass(frozen=True)
class RasaReply:
    """One message of the bot as Rasa's REST channel returns it."""

    text: str
    buttons: tuple[RasaButton, ...] = ()


def _replies(body: Any) -> list[RasaReply]:
    if not isinstance(body, list):
        raise RasaUnavailable("réponse de Rasa illisible (une liste de messages est attendue)")
    replies: list[RasaReply] = []
    for message in body:
        if not isinstance(message, dict):
            continue
        buttons = tuple(
            RasaButton(str(button.get("title") or button["payload"]), str(button["payload"]))
            for button in message.get("buttons") or []
            if isinstance(button, dict) and button.get("payload")
        )
        text = message.get("text")
        if (isinstance(text, str) and text.strip()) or buttons:
            replies.append(RasaReply(text if isinstance(text, str) else "", buttons))
    return replies


class RasaClient:
    """An HTTP client of Rasa's REST webhook, one request per message."""

    def __init__(self, url: str, timeout: float = 60.0, connect_timeout: float = 5.0) -> None:
        self.url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Opens the HTTP session (call from the running event loop)."""
        if self._session is None:
            # A fresh connection per message: after Rasa restarts, no stale
            # kept-alive connection can fail the first message.
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, connector=aiohttp.TCPConnector(force_close=True)
            )

    async def close(self) -> None:
        """Closes the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, sender: str, message: str) -> list[RasaReply]:
        """The bot's replies to one message of conversation `sender`, at least one.

        Raises:
            RasaUnavailable: Rasa could not be reached or did not answer usably.
        """
        if self._session is None:
            await self.start()
        assert self._session is not None
        try:
            async with self._session.post(
                self.url, json={"sender": sender, "message": message}
            ) as response:
                if response.status != 200:
                    raise RasaUnavailable(f"Rasa a répondu HTTP {response.status}")
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise RasaUnavailable(f"Rasa injoignable ({type(error).__name__})") from error
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RasaUnavailable("réponse de Rasa illisible") from error
        replies = _replies(body)
        if not replies:
            # The bot answers every message: silence means it failed on the way.
            raise RasaUnavailable("Rasa n'a rien répondu")
        return replies
