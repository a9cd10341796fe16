"""Keeps the bridge's outgoing requests within Telegram's flood limits.

A python-telegram-bot rate limiter (`BaseRateLimiter`), given to the
`Application` by `ApplicationBuilder.rate_limiter`. Telegram's published
limits: about 30 messages a second overall, one a second in a private chat
(short bursts tolerated), 20 a minute in a group.

PTB's own `AIORateLimiter` needs the `aiolimiter` package and, on a
`RetryAfter`, pauses every request of the bot. Here a `RetryAfter` pauses
only its chat: the other residents keep getting their answers.

Usage:
    ApplicationBuilder().token(token).rate_limiter(ChatRateLimiter()).build()
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

__all__ = ["ChatRateLimiter", "TokenBucket"]

logger = logging.getLogger(__name__)

Result = bool | dict[str, Any] | list[dict[str, Any]]
ChatKey = int | str


class TokenBucket:
    """A token bucket that reserves: each call takes a token and says how long to wait for it."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._updated = now

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def reserve(self, now: float) -> float:
        """Takes a token; returns the seconds to wait before using it (0 when one was ready)."""
        self._refill(now)
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def idle(self, now: float) -> bool:
        """Full again: forgetting this bucket changes nothing."""
        self._refill(now)
        return self._tokens >= self.burst


def _chat_key(data: dict[str, Any]) -> ChatKey | None:
    chat_id = data.get("chat_id")
    if chat_id is None:
        return None
    try:
        return int(chat_id)
    except (TypeError, ValueError):
        return str(chat_id)


def _is_group(chat: ChatKey) -> bool:
    # Private chats have positive ids; groups, supergroups and "@channel" names do not.
    return isinstance(chat, str) or chat < 0


def _seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 warns that `retry_after` will become a timedelta; both are handled.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class ChatRateLimiter(BaseRateLimiter[int]):
    """Spaces requests per chat and overall; on `RetryAfter`, waits and retries in that chat only.

    Args:
        overall_per_second: requests a second for the whole bot.
        private_per_second: messages a second in one private chat.
        group_per_minute: messages a minute in one group.
        burst: messages sent at once in one chat before spacing starts.
        max_retries: retries after `RetryAfter` before giving up (the error is raised).
        clock, sleep: injected by tests; `time.monotonic` and `asyncio.sleep` otherwise.
    """

    def __init__(
        self,
        overall_per_second: float = 30.0,
        private_per_second: float = 1.0,
        group_per_minute: float = 20.0,
        burst: float = 3.0,
        max_retries: int = 3,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._private_rate = private_per_second
        self._group_rate = group_per_minute / 60.0
        self._burst = burst
        self._max_retries = max_retries
        self._clock = clock
        self._sleep = sleep
        self._overall = TokenBucket(overall_per_second, overall_per_second, clock())
        self._chats: dict[ChatKey, TokenBucket] = {}
        self._paused_until: dict[ChatKey, float] = {}

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Forgets every chat."""
        self._chats.clear()
        self._paused_until.clear()

    def _bucket(self, chat: ChatKey, now: float) -> TokenBucket:
        bucket = self._chats.get(chat)
        if bucket is None:
            if len(self._chats) >= 10_000:
                self._chats = {k: b for k, b in self._chats.items() if not b.idle(now)}
            rate = self._group_rate if _is_group(chat) else self._private_rate
            bucket = self._chats[chat] = TokenBucket(rate, self._burst, now)
        return bucket

    async def _wait_turn(self, chat: ChatKey | None) -> None:
        if chat is not None:
            while (pause := self._paused_until.get(chat, 0.0) - self._clock()) > 0:
                await self._sleep(pause)
            self._paused_until.pop(chat, None)
            delay = self._bucket(chat, self._clock()).reserve(self._clock())
            if delay > 0:
                await self._sleep(delay)
        delay = self._overall.reserve(self._clock())
        if delay > 0:
            await self._sleep(delay)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        """Sends the request when its chat and the bot may; retries after `RetryAfter`."""
        chat = _chat_key(data)
        max_retries = self._max_retries if rate_limit_args is None else rate_limit_args
        attempt = 0
        while True:
            await self._wait_turn(chat)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                if attempt >= max_retries:
                    raise
                attempt += 1
                delay = _seconds(error)
                logger.warning(
                    "Limite de débit de Telegram (%s) : nouvel essai dans %.0f s.", endpoint, delay
                )
                if chat is None:
                    await self._sleep(delay)
                else:
                    until = self._clock() + delay
                    self._paused_until[chat] = max(self._paused_until.get(chat, 0.0), until)
