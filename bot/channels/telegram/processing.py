"""In what order, and how many times, the bridge processes Telegram's updates.

Different chats are answered concurrently (one resident waiting for Rasa, or
for a flood-limit pause, never holds up the others); the messages of one
chat are answered in the order they arrived, since they are one Rasa
conversation. An update delivered twice (a webhook retried by Telegram, a
poll repeated after a restart) is answered once.

Usage:
    ApplicationBuilder().concurrent_updates(ChatOrderedUpdateProcessor())
    recent = RecentUpdates();  recent.first_time(update.update_id)
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

__all__ = ["ChatOrderedUpdateProcessor", "RecentUpdates"]


class ChatOrderedUpdateProcessor(BaseUpdateProcessor):
    """Runs updates concurrently, but one at a time and in arrival order within a chat.

    Order holds because each update's task takes its chat's lock before its
    first await, and asyncio locks serve waiters first come, first served.
    """

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._holders: Counter[int] = Counter()

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free: locks go with their last update."""

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Awaits `coroutine` once the earlier updates of the same chat are done."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._holders[chat.id] += 1
        try:
            async with lock:
                await coroutine
        finally:
            self._holders[chat.id] -= 1
            if not self._holders[chat.id]:
                del self._holders[chat.id]
                del self._locks[chat.id]


class RecentUpdates:
    """The ids of the most recent updates, to recognise one delivered again."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._seen: OrderedDict[int, None] = OrderedDict()

    def first_time(self, update_id: int) -> bool:
        """True the first time an update id is seen, False after."""
        if update_id in self._seen:
            return False
        self._seen[update_id] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True
