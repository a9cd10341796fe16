"""The web widget's Rasa input channel: signed conversations, allowed origins, the widget's own files.

Registered in credentials.yml (Rasa then serves it under /webhooks/web/):

    bot.channels.web.WebChannel:
      allowed_origins:                       # sites that may embed the widget
        - https://www.toulouse-metropole.fr
      conversation_max_age_hours: 24         # optional

`BOT_WEB_ORIGINS` (comma separated) adds origins, `BOT_WEB_SECRET` sets the
signing key (else a random one is kept in var/web-secret, mode 0600).

Routes:
    GET  /webhooks/web/                  health
    POST /webhooks/web/conversations     -> {"conversation": "<signed token>"}
    POST /webhooks/web/messages          {"conversation": token, "text": "..."}
                                         -> {"messages": [{"text", "buttons": [{"title", "payload"}]}]}
    GET  /webhooks/web/widget.js, widget.css        the widget (one script tag embeds it)
    GET  /webhooks/web/demo, demo/demarches, demo/donnees   demo pages of a metropole site

The widget sends its JSON as text/plain, a "simple" cross-origin request:
browsers send no preflight (which Rasa's own CORS layer would answer before
this channel sees it), and this channel checks the Origin itself, refusing a
site that is not allowed before anything reaches Rasa.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.conversations import DEFAULT_MAX_AGE_SECONDS, ConversationIds, load_secret
from bot.channels.origins import ORIGINS_ENV, OriginPolicy

__all__ = ["MAX_MESSAGE_CHARS", "WEB_DIR", "WebChannel", "public_messages"]

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
MAX_MESSAGE_CHARS = 1000
_MAX_BODY_BYTES = 16 * 1024

# Tells Rasa's CORS layer (sanic-cors) that this channel already set its own
# headers, so `rasa run --cors` never adds a second Access-Control-Allow-Origin.
_SANIC_CORS_EVALUATED = "_sanic_cors_e"

_STATIC = {
    "widget.js": ("widget.js", "text/javascript; charset=utf-8"),
    "widget.css": ("widget.css", "text/css; charset=utf-8"),
    "demo.css": ("demo.css", "text/css; charset=utf-8"),
    "demo": ("demo.html", "text/html; charset=utf-8"),
    "demo/demarches": ("demo-demarches.html", "text/html; charset=utf-8"),
    "demo/donnees": ("demo-donnees.html", "text/html; charset=utf-8"),
}
# The demo pages load nothing from anywhere but the bot itself: a third-party
# request would be blocked, and the browser tests would see it.
_DEMO_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# Everything a citizen reads is French.
ERROR_ORIGIN = "Ce site n'est pas autorisé à utiliser l'assistant."
ERROR_CONVERSATION = "Conversation inconnue ou expirée : une nouvelle conversation est nécessaire."
ERROR_REQUEST = "Requête invalide : un texte et une conversation sont attendus."
ERROR_TOO_LONG = f"Message trop long : {MAX_MESSAGE_CHARS} caractères au plus."
ERROR_BOT = "L'assistant n'a pas pu répondre. Réessayez dans un instant."

Handler = Callable[[UserMessage], Awaitable[Any]]


def public_messages(collected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bot's messages as the widget shows them: text and quick-reply buttons, nothing else."""
    messages: list[dict[str, Any]] = []
    for message in collected:
        text = message.get("text") or ""
        buttons = [
            {"title": str(b["title"]), "payload": str(b["payload"])}
            for b in message.get("buttons") or []
            if b.get("title") and b.get("payload")
        ]
        if text or buttons:
            messages.append({"text": str(text), "buttons": buttons})
    return messages


def _short(sender: str) -> str:
    """Enough of a conversation id to follow it in the logs."""
    return sender[:16]


class WebChannel(InputChannel):
    """The accessible web widget's channel: the only way the widget talks to the bot."""

    @classmethod
    def name(cls) -> str:
        return "web"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WebChannel:
        credentials = credentials or {}
        policy = OriginPolicy.from_config(
            credentials.get("allowed_origins"), os.environ.get(ORIGINS_ENV, "")
        )
        hours = credentials.get("conversation_max_age_hours")
        max_age = int(float(hours) * 3600) if hours else DEFAULT_MAX_AGE_SECONDS
        return cls(policy, ConversationIds(load_secret(), max_age))

    def __init__(
        self, policy: OriginPolicy | None = None, ids: ConversationIds | None = None
    ) -> None:
        self.policy = policy or OriginPolicy(frozenset())
        self.ids = ids or ConversationIds(load_secret())
        logger.info(
            "web channel: widget at /webhooks/web/widget.js, %d allowed origin(s) besides its own",
            len(self.policy.allowed),
        )

    def _json(
        self, request: Request, body: dict[str, Any], status: int = 200, *, readable: bool = False
    ) -> HTTPResponse:
        """A JSON reply that allowed sites (and, if `readable`, any site) may read."""
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        origin = request.headers.get("origin")
        if origin is not None and (readable or self.policy.allows(origin, request.host)):
            headers["Access-Control-Allow-Origin"] = origin
            headers["Vary"] = "Origin"
        setattr(request.ctx, _SANIC_CORS_EVALUATED, "1")
        return response.json(body, status=status, headers=headers)

    def _refused_origin(self, request: Request) -> HTTPResponse | None:
        if self.policy.allows(request.headers.get("origin"), request.host):
            return None
        logger.info("web channel: request from a site that is not allowed refused")
        # The refusal itself is readable, so the widget can say why instead of "unreachable".
        return self._json(request, {"erreur": ERROR_ORIGIN}, status=403, readable=True)

    def _static(self, request: Request, name: str) -> HTTPResponse:
        filename, content_type = _STATIC[name]
        body = (WEB_DIR / filename).read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        headers = {
            # Revalidated at each page load, so a city sees a new widget at once.
            "Cache-Control": "no-cache",
            "ETag": etag,
            "X-Content-Type-Options": "nosniff",
            # City pages that isolate themselves (COEP) may still load the widget.
            "Cross-Origin-Resource-Policy": "cross-origin",
        }
        if content_type.startswith("text/html"):
            headers["Content-Security-Policy"] = _DEMO_POLICY
            headers["Referrer-Policy"] = "no-referrer"
        setattr(request.ctx, _SANIC_CORS_EVALUATED, "1")
        if request.headers.get("if-none-match") == etag:
            return response.empty(status=304, headers=headers)
        return response.raw(body, content_type=content_type, headers=headers)

    async def _start(self, request: Request) -> HTTPResponse:
        refused = self._refused_origin(request)
        if refused is not None:
            return refused
        token = self.ids.issue()
        logger.info("web channel: conversation %s started", _short(token))
        return self._json(request, {"conversation": token}, status=201)

    async def _message(self, request: Request, on_new_message: Handler) -> HTTPResponse:
        refused = self._refused_origin(request)
        if refused is not None:
            return refused
        body = request.body or b""
        if len(body) > _MAX_BODY_BYTES:
            return self._json(request, {"erreur": ERROR_TOO_LONG}, status=413)
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            return self._json(request, {"erreur": ERROR_REQUEST}, status=400)
        sender = self.ids.verify(data.get("conversation"))
        if sender is None:
            logger.info("web channel: message with an unknown or expired conversation refused")
            return self._json(request, {"erreur": ERROR_CONVERSATION}, status=401)
        text: str = data["text"]
        if len(text) > MAX_MESSAGE_CHARS:
            return self._json(request, {"erreur": ERROR_TOO_LONG}, status=413)
        collector = CollectingOutputChannel()
        try:
            await on_new_message(
                UserMessage(text, collector, sender, input_channel=self.name(), metadata=None)
            )
        except asyncio.CancelledError:
            logger.error("web channel: conversation %s: the bot took too long", _short(sender))
            return self._json(request, {"erreur": ERROR_BOT}, status=504)
        except Exception as error:
            # The message text stays out of the logs: it may hold personal data.
            logger.error("web channel: conversation %s: %s", _short(sender), type(error).__name__)
            return self._json(request, {"erreur": ERROR_BOT}, status=500)
        messages = public_messages(collector.messages)
        if not messages:
            # Rasa answers every message; silence means the action server failed.
            logger.error("web channel: conversation %s: no reply from the bot", _short(sender))
            return self._json(request, {"erreur": ERROR_BOT}, status=502)
        return self._json(request, {"messages": messages})

    def blueprint(self, on_new_message: Handler) -> Blueprint:
        """The channel's routes, mounted by Rasa under /webhooks/web/."""
        blueprint = Blueprint("web_widget_channel", __name__)

        async def health(request: Request) -> HTTPResponse:
            return self._json(request, {"status": "ok"})

        async def start(request: Request) -> HTTPResponse:
            return await self._start(request)

        async def message(request: Request) -> HTTPResponse:
            return await self._message(request, on_new_message)

        blueprint.add_route(health, "/", methods=["GET"], name="health")
        blueprint.add_route(start, "/conversations", methods=["POST"], name="start")
        blueprint.add_route(message, "/messages", methods=["POST"], name="message")
        for path in _STATIC:
            blueprint.add_route(
                self._static_route(path),
                f"/{path}",
                methods=["GET", "HEAD"],
                name=f"static_{path.replace('/', '_').replace('.', '_')}",
            )
        return blueprint

    def _static_route(self, path: str) -> Callable[[Request], Coroutine[Any, Any, HTTPResponse]]:
        async def static(request: Request) -> HTTPResponse:
            return self._static(request, path)

        return static
