"""One turn of a conversation through Rasa, for the channels: the bot's replies, or None when it failed.

Whatever goes wrong inside Rasa (the conversation store cannot be read or
written, the action server is too slow or gone, the turn is cancelled) comes
out of here as one thing, None, so that every channel answers it the same
way: the French "service momentanément indisponible", never silence. A turn
in which the bot said nothing at all is a failure too: the bot answers every
message, so silence means that something broke on the way.

Nothing a citizen wrote reaches the logs: only a short id of the
conversation and the kind of error. Every turn is counted here, per channel,
for the operations team (`bot.ops.metrics`: turns, time, not understood,
failed), and the conversation's short id is set for the log lines written
while it runs (`bot.ops.logs.CONVERSATION`).

Usage:
    replies = await run_turn(on_new_message, sender, text, "rest")
    if replies is None:
        ...   # 503, texts.UNAVAILABLE
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot.ops import logs, metrics

__all__ = ["Handler", "log_id", "run_turn"]

logger = logging.getLogger(__name__)

Handler = Callable[[UserMessage], Awaitable[Any]]

# Ids the bot itself makes up (random or keyed hashes) can be logged as they are.
_OWN_PREFIXES = ("web-", "tg-")


def log_id(sender: str) -> str:
    """A short id for the logs: the start of an id the bot made, else a hash of the client's id.

    A REST client chooses its own ids, which may be an e-mail or a phone number.
    """
    if sender.startswith(_OWN_PREFIXES):
        return sender[:16]
    return "h-" + hashlib.sha256(sender.encode("utf-8", "replace")).hexdigest()[:12]


async def run_turn(
    on_new_message: Handler, sender: str, text: str, input_channel: str
) -> list[dict[str, Any]] | None:
    """The bot's messages in reply to `text` in conversation `sender`; None when Rasa failed or was silent.

    Client metadata is never passed on: Rasa would store it with the message.
    """
    conversation = logs.CONVERSATION.set(log_id(sender))
    turn = metrics.start_turn(input_channel)
    failure: str | None = "error"
    try:
        replies, failure = await _run(on_new_message, sender, text, input_channel)
        return replies
    finally:
        turn.finish(failure)
        logs.CONVERSATION.reset(conversation)


async def _run(
    on_new_message: Handler, sender: str, text: str, input_channel: str
) -> tuple[list[dict[str, Any]] | None, str | None]:
    """`run_turn`'s work: the replies, or None and why (`bot.ops.metrics.ERROR_REASONS`)."""
    collector = CollectingOutputChannel()
    message = UserMessage(text, collector, sender, input_channel=input_channel, metadata=None)
    try:
        await on_new_message(message)
    except asyncio.CancelledError:
        # Rasa's own REST channel answers a cancelled turn too; so do we, in French.
        logger.error(
            "%s channel: conversation %s: turn cancelled (CancelledError)",
            input_channel,
            log_id(sender),
        )
        return None, "cancelled"
    except Exception as error:
        # An outage its source already logged once (the conversation store
        # says when it fails and when it is back) is not repeated per message.
        log = logger.debug if getattr(error, "already_logged", False) else logger.error
        log(
            "%s channel: conversation %s: the bot failed (%s)",
            input_channel,
            log_id(sender),
            type(error).__name__,
        )
        return None, "error"
    if not collector.messages:
        logger.error(
            "%s channel: conversation %s: no reply from the bot", input_channel, log_id(sender)
        )
        return None, "no_reply"
    return collector.messages, None
