"""The webhook endpoint Telegram posts updates to, in webhook mode.

Telegram sends the `secret_token` given to `setWebhook` in the
`X-Telegram-Bot-Api-Secret-Token` header of every update. A request without
it, or with another one, is refused (403) before its body is even read.

Usage:
    app = webhook_app(application, secret_token, "/telegram")
    runner = web.AppRunner(app, access_log=None)   # then a TCPSite on 127.0.0.1
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

__all__ = ["SECRET_HEADER", "webhook_app"]

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_MAX_BODY = 1024 * 1024


def webhook_app(
    application: Application[Any, Any, Any, Any, Any, Any], secret_token: str, path: str
) -> web.Application:
    """An aiohttp app that queues every authentic update for `application`."""
    expected = secret_token.encode()

    async def receive(request: web.Request) -> web.Response:
        """One update from Telegram, accepted only with the right secret token."""
        given = request.headers.get(SECRET_HEADER)
        if given is None or not hmac.compare_digest(given.encode(), expected):
            logger.warning(
                "Webhook : requête refusée (jeton secret %s).",
                "absent" if given is None else "faux",
            )
            raise web.HTTPForbidden()
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("an update is a JSON object")
            update = Update.de_json(data, application.bot)
        except (ValueError, TypeError, KeyError) as error:
            logger.warning("Webhook : mise à jour illisible refusée (%s).", type(error).__name__)
            raise web.HTTPBadRequest() from error
        await application.update_queue.put(update)
        return web.Response(text="ok")

    app = web.Application(client_max_size=_MAX_BODY)
    app.router.add_post(path, receive)
    return app
