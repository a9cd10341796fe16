"""The Telegram channel: residents talk to the bot through a python-telegram-bot bridge.

A message travels Telegram → this bridge → Rasa's REST channel → action
server → knowledge; the replies come back as Telegram messages (HTML, inline
keyboards, split under 4,096 characters). The bridge is a separate process
that only needs Rasa's REST URL.

One concern per module:
    settings      configuration from the BOT_TELEGRAM_* variables
    identity      conversation ids: a keyed hash of the chat id
    rasa_client   Rasa's REST channel
    render        HTML escaping, clickable links, splitting, button callback data
    ratelimit     Telegram's flood limits (a PTB rate limiter)
    processing    per-chat order, duplicate updates
    handlers      what each kind of update gets, in French
    webhook       the webhook endpoint: secret token checked first
    app           the Application, polling or webhook, `run`

Usage:
    python -m bot telegram    # on its own; `python -m bot run` starts it when a token is set
"""

from bot.channels.telegram.app import (
    ALLOWED_UPDATES,
    BridgeStopped,
    build_application,
    run,
    serving,
)
from bot.channels.telegram.handlers import Bridge, add_handlers, bridge_of
from bot.channels.telegram.identity import ChatConversationIds
from bot.channels.telegram.rasa_client import RasaButton, RasaClient, RasaReply, RasaUnavailable
from bot.channels.telegram.settings import TOKEN_VARIABLE, SettingsError, TelegramSettings

__all__ = [
    "ALLOWED_UPDATES",
    "TOKEN_VARIABLE",
    "Bridge",
    "BridgeStopped",
    "ChatConversationIds",
    "RasaButton",
    "RasaClient",
    "RasaReply",
    "RasaUnavailable",
    "SettingsError",
    "TelegramSettings",
    "add_handlers",
    "bridge_of",
    "build_application",
    "run",
    "serving",
]
