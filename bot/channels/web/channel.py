"""The web widget's Rasa input channel: signed conversations, allowed origins, the widget's own files.

Registered in credentials.yml (Rasa then serves it under /webhooks/web/):

    bot.channels.web.channel.WebChannel:
      allowed_origins:                       # sites that may embed the widget
        - https://www.toulouse-metropole.fr
      conversation_max_age_hours: 24         # optional
      rate_limits:                           # optional, 0 turns a limit off
        messages_per_minute: 20              # per conversation
        conversations_per_minute_per_address: 20
        requests_per_minute_per_address: 120

`BOT_WEB_ORIGINS` (comma separated) adds origins, `BOT_WEB_SECRET` sets the
signing key (else a random one is kept in var/web-secret, mode 0600), and
`BOT_WEB_MESSAGES_PER_MINUTE`, `BOT_WEB_CONVERSATIONS_PER_MINUTE_PER_ADDRESS`,
`BOT_WEB_REQUESTS_PER_MINUTE_PER_ADDRESS` override the limits
(bot/channels/ratelimit.py).

Routes:
    GET  /webhooks/web/                  health
    POST /webhooks/web/conversations     -> {"conversation": "<signed token>"}
    POST /webhooks/web/messages          {"conversation": token, "text": "..."}
                                         -> {"messages": [{"text", "buttons": [{"title", "payload"}]}]}
         a feedback button ("did it help?") also has "feedback": "yes" or "no",
         so the widget shows it as a compact row under the answer
         errors: {"erreur": "<French sentence the widget shows>"} with 400 (unreadable),
         401 (unknown or expired conversation), 403 (site not allowed), 413 (too long),
         429 (too many requests, with Retry-After), 503 (the bot failed or said nothing)
    GET  /webhooks/web/widget.js, widget.css        the widget (one script tag embeds it)
    GET  /webhooks/web/demo, demo/demarches, demo/donnees   demo pages of a metropole site

The widget sends its JSON as text/plain, a "simple" cross-origin request:
browsers send no preflight (which Rasa's own CORS layer would answer before
this channel sees it), and this channel checks the Origin itself, refusing a
site that is not allowed before anything reaches Rasa.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import InputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.http import NO_STORE, read_body
from bot.channels.ratelimit import RateLimits, WebRateLimiter, retry_after_seconds
from bot.channels.texts import BAD_METHOD, RATE_LIMITED, UNAVAILABLE
from bot.channels.turns import Handler, run_turn
from bot.channels.validation import MAX_BODY_BYTES, Refused, read_web_request
from bot.channels.web.conversations import (
    DEFAULT_MAX_AGE_SECONDS,
    SignedConversationIds,
    load_web_secret,
)
from bot.channels.web.origins import ORIGINS_ENV, OriginPolicy
from bot.domain import INTENT_FEEDBACK_NO, INTENT_FEEDBACK_YES

__all__ = ["WEB_DIR", "WebChannel", "public_messages"]

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "static"

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


_FEEDBACK = {INTENT_FEEDBACK_YES: "yes", INTENT_FEEDBACK_NO: "no"}


def _feedback(payload: str) -> str | None:
    """ "yes" or "no" for the payload of a feedback button, None for any other button."""
    if not payload.startswith("/"):
        return None
    return _FEEDBACK.get(payload[1:].split("{", 1)[0])


def _public_button(button: dict[str, Any]) -> dict[str, str]:
    public = {"title": str(button["title"]), "payload": str(button["payload"])}
    feedback = _feedback(public["payload"])
    if feedback is not None:
        public["feedback"] = feedback
    return public


def public_messages(collected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bot's messages as the widget shows them: text and quick-reply buttons, nothing else."""
    messages: list[dict[str, Any]] = []
    for message in collected:
        text = message.get("text") or ""
        buttons = [
            _public_button(b)
            for b in message.get("buttons") or []
            if b.get("title") and b.get("payload")
        ]
        if text or buttons:
            messages.append({"text": str(text), "buttons": buttons})
    return messages


def _short(sender: str) -> str:
    """Enough of a conversation id to follow it in the logs."""
    return sender[:16]


def _is_proxy_like(address: str) -> bool:
    """Whether a peer address is one a reverse proxy typically has (loopback, private network)."""
    try:
        return ipaddress.ip_address(address.strip("[]")).is_private
    except ValueError:
        return False


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
        limits = RateLimits.from_config(credentials.get("rate_limits"), os.environ)
        return cls(
            policy, SignedConversationIds(load_web_secret(), max_age), WebRateLimiter(limits)
        )

    def __init__(
        self,
        policy: OriginPolicy | None = None,
        ids: SignedConversationIds | None = None,
        limiter: WebRateLimiter | None = None,
    ) -> None:
        self.policy = policy or OriginPolicy(frozenset())
        self.ids = ids or SignedConversationIds(load_web_secret())
        self.limiter = limiter or WebRateLimiter(RateLimits())
        self._warned_proxy = False
        limits = self.limiter.limits
        logger.info(
            "web channel: widget at /webhooks/web/widget.js, %d allowed origin(s) besides its own; "
            "at most %d messages a minute per conversation, %d new conversations and %d requests "
            "a minute per address (0: no limit)",
            len(self.policy.allowed),
            limits.messages_per_minute,
            limits.conversations_per_minute_per_address,
            limits.requests_per_minute_per_address,
        )

    def _json(
        self,
        request: Request,
        body: dict[str, Any],
        status: int = 200,
        *,
        readable: bool = False,
        headers: dict[str, str] | None = None,
    ) -> HTTPResponse:
        """A JSON reply that allowed sites (and, if `readable`, any site) may read."""
        headers = {**NO_STORE, **(headers or {})}
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

    def _address(self, request: Request) -> str:
        """The client's address, for the per-address limits (never logged: it is personal data).

        Sanic takes it from X-Forwarded-For / Forwarded / X-Real-IP only when told
        which proxy to trust, through the environment: SANIC_PROXIES_COUNT=1 (one
        proxy in front), or SANIC_REAL_IP_HEADER, or SANIC_FORWARDED_SECRET. Without
        that, behind a proxy, every citizen has the proxy's address and shares its
        per-address limits.
        """
        if request.remote_addr:
            return request.remote_addr
        address = request.ip or "inconnue"
        forwarded = "x-forwarded-for" in request.headers or "forwarded" in request.headers
        if forwarded and not self._warned_proxy and _is_proxy_like(address):
            self._warned_proxy = True
            logger.warning(
                "web channel: requests come through a proxy that is not trusted for the client's "
                "address: all citizens share the per-address limits. Set SANIC_PROXIES_COUNT=1 "
                "(or SANIC_REAL_IP_HEADER) in the bot's environment."
            )
        return address

    def _too_many(self, request: Request, wait: float) -> HTTPResponse | None:
        if not wait:
            return None
        return self._json(
            request,
            {"erreur": RATE_LIMITED},
            status=429,
            headers={
                "Retry-After": str(retry_after_seconds(wait)),
                "Access-Control-Expose-Headers": "Retry-After",
            },
        )

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
        address = self._address(request)
        limited = self._too_many(request, self.limiter.request(address))
        limited = limited or self._too_many(request, self.limiter.new_conversation(address))
        if limited is not None:
            logger.info("web channel: new conversation refused, too many from one address")
            return limited
        try:
            await read_body(request, MAX_BODY_BYTES)  # nothing in it is used
        except Refused as error:
            return self._json(request, {"erreur": error.text}, status=error.status)
        token = self.ids.issue()
        logger.info("web channel: conversation %s started", _short(token))
        return self._json(request, {"conversation": token}, status=201)

    async def _message(self, request: Request, on_new_message: Handler) -> HTTPResponse:
        refused = self._refused_origin(request)
        if refused is not None:
            return refused
        limited = self._too_many(request, self.limiter.request(self._address(request)))
        if limited is not None:
            logger.info("web channel: message refused, too many requests from one address")
            return limited
        try:
            message = read_web_request(await read_body(request, MAX_BODY_BYTES))
        except Refused as error:
            logger.info("web channel: message refused (%d)", error.status)
            return self._json(request, {"erreur": error.text}, status=error.status)
        sender = self.ids.verify(message.conversation)
        if sender is None:
            logger.info("web channel: message with an unknown or expired conversation refused")
            return self._json(request, {"erreur": ERROR_CONVERSATION}, status=401)
        limited = self._too_many(request, self.limiter.message(sender))
        if limited is not None:
            logger.info("web channel: conversation %s: too many messages", _short(sender))
            return limited
        replies = await run_turn(on_new_message, sender, message.text, self.name())
        messages = public_messages(replies or [])
        if not messages:
            if replies is not None:
                logger.error("web channel: conversation %s: nothing to show", _short(sender))
            # Nothing the widget can show is no answer at all.
            return self._json(request, {"erreur": UNAVAILABLE}, status=503)
        return self._json(request, {"messages": messages})

    def _wrong_method(self, request: Request) -> HTTPResponse:
        # Sanic's own refusal would be an English page.
        return self._json(request, {"erreur": BAD_METHOD}, status=405, headers={"Allow": "POST"})

    def blueprint(self, on_new_message: Handler) -> Blueprint:
        """The channel's routes, mounted by Rasa under /webhooks/web/."""
        blueprint = Blueprint("web_widget_channel", __name__)

        async def health(request: Request) -> HTTPResponse:
            return self._json(request, {"status": "ok"})

        async def start(request: Request) -> HTTPResponse:
            if request.method != "POST":
                return self._wrong_method(request)
            return await self._start(request)

        async def message(request: Request) -> HTTPResponse:
            if request.method != "POST":
                return self._wrong_method(request)
            return await self._message(request, on_new_message)

        # Streaming routes: the body is read here, up to its limit, not buffered whole by Sanic.
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        blueprint.add_route(health, "/", methods=["GET"], name="health")
        blueprint.add_route(start, "/conversations", methods=methods, name="start", stream=True)
        blueprint.add_route(message, "/messages", methods=methods, name="message", stream=True)
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
