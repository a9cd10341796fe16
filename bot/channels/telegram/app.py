"""Builds the bridge's `Application` and runs it, by long polling or behind a webhook.

Usage:
    python -m bot telegram                         # the standalone command (bot/cli.py)

    application = build_application(settings)
    async with serving(application, settings):     # answering until the block ends
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder, BaseRateLimiter, Defaults
from telegram.request import BaseRequest

from bot.channels.telegram.handlers import Bridge, add_handlers, bridge_of
from bot.channels.telegram.identity import ChatConversationIds
from bot.channels.telegram.processing import ChatOrderedUpdateProcessor
from bot.channels.telegram.rasa_client import RasaClient
from bot.channels.telegram.ratelimit import ChatRateLimiter
from bot.channels.telegram.settings import DATABASE_VARIABLE, TelegramSettings
from bot.channels.telegram.subscriptions import SEND_INTERVAL, Subscriptions, SubscriptionStore
from bot.channels.telegram.webhook import webhook_app

__all__ = ["ALLOWED_UPDATES", "BridgeStopped", "build_application", "run", "serving"]

logger = logging.getLogger(__name__)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]

# Only what the handlers use: Telegram then sends nothing else.
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
COMMANDS = [
    BotCommand("start", "Commencer : les thèmes"),
    BotCommand("aide", "Ce que je sais faire"),
]
ALERT_COMMANDS = [
    BotCommand("alertes", "Recevoir les alertes d'une commune (ex. /alertes Balma)"),
    BotCommand("stop_alertes", "Ne plus recevoir les alertes"),
]


class BridgeStopped(Exception):
    """Asked to stop before Telegram could be reached."""


def build_application(
    settings: TelegramSettings,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    rasa: RasaClient | None = None,
    rate_limiter: BaseRateLimiter[Any] | None = None,
    subscriptions: Subscriptions | None = None,
) -> AnyApplication:
    """The bridge's python-telegram-bot `Application`, with its handlers, not started yet.

    The keyword arguments replace what the bridge talks through (the Bot API's
    HTTP clients, Rasa's client, the flood limiter); the tests pass in-memory
    ones. By default: HTTP to `settings.api_url` and `settings.rasa_url`, and
    a `ChatRateLimiter`; alert subscriptions in `settings.database_url`
    (none without it), for the alerts of the knowledge folder.
    """
    builder = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.api_url)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .rate_limiter(rate_limiter or ChatRateLimiter())
        .concurrent_updates(ChatOrderedUpdateProcessor())
    )
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    if settings.webhook_url is not None:
        builder = builder.updater(None)
    application = builder.build()
    if subscriptions is None and settings.database_url is not None:
        from bot.knowledge import default_knowledge_dir, domain_intents
        from bot.knowledge.alerts import board_for

        board = board_for(default_knowledge_dir(), domain_intents())
        subscriptions = Subscriptions(SubscriptionStore(settings.database_url), board)
    bridge = Bridge(
        rasa or RasaClient(settings.rasa_url),
        ChatConversationIds(settings.hash_key),
        subscriptions=subscriptions,
    )
    add_handlers(application, bridge)
    return application


async def _initialize(application: AnyApplication, stop: asyncio.Event | None) -> None:
    """Reaches Telegram (getMe), retrying while the network is down; a bad token raises."""
    delay = 1.0
    while True:
        try:
            await application.initialize()
            return
        except InvalidToken:
            raise
        except NetworkError as error:
            logger.warning(
                "Telegram injoignable (%s) : nouvel essai dans %.0f s.", type(error).__name__, delay
            )
        if stop is None:
            await asyncio.sleep(delay)
        else:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                raise BridgeStopped
        delay = min(delay * 2, 60.0)


async def _set_commands(application: AnyApplication) -> None:
    alerts = bridge_of(application).subscriptions is not None
    try:
        await application.bot.set_my_commands(COMMANDS + (ALERT_COMMANDS if alerts else []))
    except TelegramError as error:
        logger.warning("Menu des commandes non enregistré (%s).", type(error).__name__)


@contextlib.asynccontextmanager
async def serving(
    application: AnyApplication,
    settings: TelegramSettings,
    stop: asyncio.Event | None = None,
    *,
    alert_interval: float = SEND_INTERVAL,
) -> AsyncIterator[None]:
    """Runs `application` for the duration of the block, then stops it cleanly.

    Polling (getUpdates) without `settings.webhook_url`; otherwise a webhook
    server on `listen_host:listen_port`, registered with `setWebhook` and the
    secret token. With subscriptions, valid alerts go to their subscribers
    every `alert_interval` seconds.
    """
    await _initialize(application, stop)
    rasa = bridge_of(application).rasa
    subscriptions = bridge_of(application).subscriptions
    runner: web.AppRunner | None = None
    sender: asyncio.Task[None] | None = None
    try:
        await rasa.start()
        await _set_commands(application)
        await application.start()
        if subscriptions is not None:
            sender = asyncio.create_task(subscriptions.run(application.bot, alert_interval))
        username = application.bot.username
        if settings.webhook_url is None:
            assert application.updater is not None
            await application.updater.start_polling(
                timeout=dt.timedelta(seconds=settings.poll_timeout),
                allowed_updates=ALLOWED_UPDATES,
                bootstrap_retries=-1,
            )
            logger.info("Telegram : @%s répond aux habitants (long polling).", username)
        else:
            app = webhook_app(application, settings.secret_token, settings.webhook_path)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, settings.listen_host, settings.listen_port).start()
            await application.bot.set_webhook(
                settings.webhook_url,
                secret_token=settings.secret_token,
                allowed_updates=ALLOWED_UPDATES,
            )
            logger.info(
                "Telegram : @%s répond aux habitants (webhook %s, écoute sur %s:%d).",
                username,
                settings.webhook_url,
                settings.listen_host,
                settings.listen_port,
            )
        yield
    finally:
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        if subscriptions is not None:
            subscriptions.close()
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if runner is not None:
            await runner.cleanup()
        if application.running:
            await application.stop()
        await rasa.close()
        await application.shutdown()


async def _serve_until_signal(settings: TelegramSettings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    application = build_application(settings)
    try:
        async with serving(application, settings, stop):
            await stop.wait()
    except BridgeStopped:
        return 0
    except InvalidToken:
        logger.error(
            "Telegram refuse le jeton BOT_TELEGRAM_TOKEN : vérifiez-le auprès de @BotFather (/token)."
        )
        return 2
    except TelegramError as error:
        logger.error("Le pont Telegram n'a pas pu démarrer : %s", error)
        return 1
    except OSError as error:
        logger.error(
            "Serveur du webhook impossible à ouvrir sur %s:%d (%s) : changez BOT_TELEGRAM_PORT.",
            settings.listen_host,
            settings.listen_port,
            error.strerror or type(error).__name__,
        )
        return 1
    logger.info("Pont Telegram arrêté.")
    return 0


def _with_database(settings: TelegramSettings) -> TelegramSettings:
    """The settings with the alert subscriptions' database: the variable's, else the conversations'."""
    if settings.database_url is not None:
        off = settings.database_url.lower() in ("off", "non", "aucune")
        return dataclasses.replace(settings, database_url=None) if off else settings
    from bot.processes.endpoints import EndpointsError, database_url

    try:
        return dataclasses.replace(settings, database_url=database_url())
    except EndpointsError as error:
        logger.warning(
            "Alertes Telegram désactivées : %s (ou définissez %s).", error, DATABASE_VARIABLE
        )
        return settings


def run(settings: TelegramSettings) -> int:
    """Runs the bridge until SIGINT or SIGTERM; returns the process's exit code."""
    # httpx logs every request's URL at INFO, and the URL holds the bot's token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return asyncio.run(_serve_until_signal(_with_database(settings)))
