"""The REST channel, hardened: Rasa's `rest` channel with its requests checked and its failures answered.

Registered in credentials.yml in place of Rasa's own `rest:`, under the same
name, so the URL stays the same (the Telegram bridge and the tests use it):

    GET  /webhooks/rest/           health: {"status": "ok"}
    POST /webhooks/rest/webhook    {"sender": "<conversation id>", "message": "<text>"}
         200  [{"recipient_id", "text", "buttons": [...]}, ...]   the bot's replies
         400  {"erreur": "..."}    not JSON, not an object, bad sender or message (French)
         413  {"erreur": "..."}    body over 16 KB or message over 1,000 characters
         503  [{"recipient_id": sender, "text": UNAVAILABLE}]     Rasa failed or said nothing

What changes from Rasa's `RestInput`: the body is limited and parsed here
(arrays, strings, empty or deeply nested bodies are a 400, not a 500 with a
traceback); `sender` is required (no shared "default" conversation); the
client's `metadata` and `input_channel` are ignored (they would be stored);
a failure is a 503 in French instead of an empty reply; the message text is
never logged. Rasa's streaming mode (`?stream=true`) is not offered.

This channel has no authentication: whoever reaches it may write into any
conversation whose id they know. Expose it to trusted clients only (the
Telegram bridge, on loopback); citizens' browsers use the web channel.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.channels.channel import InputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.http import NO_STORE, read_body
from bot.channels.texts import BAD_METHOD, UNAVAILABLE
from bot.channels.turns import Handler, log_id, run_turn
from bot.channels.validation import MAX_BODY_BYTES, Refused, read_rest_request

__all__ = ["RestChannel"]

logger = logging.getLogger(__name__)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    return response.json(body, status=status, headers={**NO_STORE, **(headers or {})})


class RestChannel(InputChannel):
    """Rasa's REST channel with its input checked and every failure answered in French."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    async def _receive(self, request: Request, on_new_message: Handler) -> HTTPResponse:
        try:
            body = await read_body(request, MAX_BODY_BYTES)
            message = read_rest_request(body, request.headers.get("content-type"))
        except Refused as refused:
            logger.info("rest channel: request refused (%d)", refused.status)
            return _json({"erreur": refused.text}, status=refused.status)
        replies = await run_turn(on_new_message, message.sender, message.text, self.name())
        if replies is None:
            return _json([{"recipient_id": message.sender, "text": UNAVAILABLE}], status=503)
        logger.debug("rest channel: conversation %s answered", log_id(message.sender))
        return _json(replies)

    def blueprint(self, on_new_message: Handler) -> Blueprint:
        """The channel's routes, mounted by Rasa under /webhooks/rest/."""
        blueprint = Blueprint("hardened_rest_channel", __name__)

        async def health(request: Request) -> HTTPResponse:
            return _json({"status": "ok"})

        async def receive(request: Request) -> HTTPResponse:
            if request.method != "POST":
                # Sanic's own refusal would be an English page.
                return _json({"erreur": BAD_METHOD}, status=405, headers={"Allow": "POST"})
            return await self._receive(request, on_new_message)

        blueprint.add_route(health, "/", methods=["GET"], name="health")
        blueprint.add_route(
            receive,
            "/webhook",
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            name="receive",
            stream=True,
        )
        return blueprint
