"""Time the tests move by hand, so that no test waits or measures real time.

Usage:
    clock = ManualClock();  limiter = WebRateLimiter(limits, clock=clock);  clock.now += 30
    time_ = VirtualTime();  ChatRateLimiter(clock=time_.clock, sleep=time_.sleep)
"""

from __future__ import annotations

import asyncio

__all__ = ["ManualClock", "VirtualTime"]


class ManualClock:
    """A clock that stands still until the test moves `now`."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class VirtualTime:
    """A clock and an asyncio sleep: sleeping moves the clock at once, and is remembered.

    With `gate` set, a sleep waits for the gate to open before time moves, so a
    test can look at what happens while a request is held back.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self.gate: asyncio.Event | None = None

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.gate is not None:
            await self.gate.wait()
        self.now += seconds
