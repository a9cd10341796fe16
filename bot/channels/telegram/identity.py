"""Conversation ids for Rasa that name a Telegram chat without revealing its id.

Usage:
    ids = ChatConversationIds(key)
    ids.for_chat(123456789)   # "tg-3f1c…": same chat, same conversation; no user id inside
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["PREFIX", "ChatConversationIds"]

PREFIX = "tg-"


class ChatConversationIds:
    """Keyed hashes of chat ids: stable for one key, unguessable without it."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the conversation id key must not be empty")
        self._key = key

    def for_chat(self, chat_id: int) -> str:
        """The Rasa conversation id of a Telegram chat."""
        digest = hmac.new(self._key, str(chat_id).encode(), hashlib.sha256).hexdigest()
        return f"{PREFIX}{digest[:32]}"
