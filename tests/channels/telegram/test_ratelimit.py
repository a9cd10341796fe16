"""Telegram's flood limits (bot/channels/telegram/ratelimit.py), on virtual time: no test waits."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Coroutine
from typing import Any

import pytest
from telegram.error import RetryAfter

from bot.channels.telegram.ratelimit import ChatRateLimiter
from tests.support.clocks import VirtualTime


def test_rate_limiter_lets_a_short_burst_through_then_spaces_one_chat() -> None:
    async def scenario() -> list[float]:
        time_ = VirtualTime()
        limiter = ChatRateLimiter(clock=time_.clock, sleep=time_.sleep)

        async def send() -> bool:
            return True

        for _ in range(5):
            await limiter.process_request(send, (), {}, "sendMessage", {"chat_id": 42}, None)
        for chat in range(100, 110):
            await limiter.process_request(send, (), {}, "sendMessage", {"chat_id": chat}, None)
        return time_.slept

    assert asyncio.run(scenario()) == [pytest.approx(1.0), pytest.approx(1.0)]


def test_retry_after_delays_only_its_own_chat() -> None:
    async def scenario() -> tuple[list[int], list[float]]:
        time_ = VirtualTime()
        time_.gate = asyncio.Event()
        limiter = ChatRateLimiter(clock=time_.clock, sleep=time_.sleep)
        calls: list[int] = []

        async def send(chat: int) -> bool:
            calls.append(chat)
            if calls == [1]:
                raise RetryAfter(dt.timedelta(seconds=5))
            return True

        def request(chat: int) -> Coroutine[Any, Any, Any]:
            return limiter.process_request(
                send, (chat,), {}, "sendMessage", {"chat_id": chat}, None
            )

        flooded = asyncio.create_task(request(1))
        while not time_.slept:
            await asyncio.sleep(0)
        assert await request(2) is True
        assert not flooded.done()
        time_.gate.set()
        assert await flooded is True
        return calls, time_.slept

    calls, slept = asyncio.run(scenario())
    assert calls == [1, 2, 1]
    assert slept == [pytest.approx(5.0)]
