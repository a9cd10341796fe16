"""How often the web widget's routes may be called (bot/channels/ratelimit.py), pure, on a clock moved by hand."""

from __future__ import annotations

import logging

import pytest

from bot.channels.ratelimit import (
    RateLimits,
    TokenBuckets,
    WebRateLimiter,
    address_key,
    retry_after_seconds,
)
from tests.support.clocks import ManualClock


def test_token_bucket_allows_a_burst_then_one_call_per_interval() -> None:
    clock = ManualClock()
    buckets = TokenBuckets(per_minute=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = buckets.take("a")
    assert wait == pytest.approx(20.0)
    assert retry_after_seconds(wait) == 20
    assert buckets.take("b") == 0.0  # another key is not affected
    clock.now += 19.0
    assert buckets.take("a") == pytest.approx(1.0)
    clock.now += 1.0
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0.0


def test_idle_buckets_are_forgotten_and_memory_is_bounded() -> None:
    clock = ManualClock()
    buckets = TokenBuckets(per_minute=60, clock=clock, max_keys=100)
    for n in range(1000):
        buckets.take(f"conversation-{n}")
    assert len(buckets) == 100
    clock.now += 61.0
    buckets.take("new")
    assert len(buckets) == 1


def test_a_limit_of_zero_is_off() -> None:
    buckets = TokenBuckets(per_minute=0, clock=ManualClock())
    assert all(buckets.take("a") == 0.0 for _ in range(1000))
    assert len(buckets) == 0


def test_retry_after_is_a_whole_number_of_seconds_at_least_one() -> None:
    assert [retry_after_seconds(w) for w in (0.01, 1.0, 1.2, 59.9)] == [1, 1, 2, 60]


def test_an_ipv6_client_is_one_address_for_its_whole_network() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("[2001:db8::1]") == "2001:db8::/64"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("inconnue") == "inconnue"


def test_web_limits_per_conversation_and_per_address() -> None:
    clock = ManualClock()
    limits = RateLimits(
        messages_per_minute=2,
        conversations_per_minute_per_address=1,
        requests_per_minute_per_address=5,
    )
    limiter = WebRateLimiter(limits, clock=clock)
    assert limiter.new_conversation("192.0.2.1") == 0.0
    assert limiter.new_conversation("192.0.2.1") > 0.0
    assert limiter.new_conversation("192.0.2.2") == 0.0
    assert [limiter.message("web-a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.message("web-a") == pytest.approx(30.0)
    assert limiter.message("web-b") == 0.0
    assert [limiter.request("192.0.2.1") for _ in range(5)] == [0.0] * 5
    assert limiter.request("192.0.2.1") > 0.0
    assert limiter.request("192.0.2.3") == 0.0


def test_limits_come_from_credentials_then_the_environment(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert RateLimits.from_config(None, {}) == RateLimits()
    configured = {"messages_per_minute": 5, "requests_per_minute_per_address": 0}
    limits = RateLimits.from_config(configured, {"BOT_WEB_MESSAGES_PER_MINUTE": "7"})
    assert limits == RateLimits(messages_per_minute=7, requests_per_minute_per_address=0)

    caplog.set_level(logging.WARNING)
    bad = {"messages_per_minute": "beaucoup", "conversation_per_minute": 3}
    limits = RateLimits.from_config(bad, {"BOT_WEB_REQUESTS_PER_MINUTE_PER_ADDRESS": "-1"})
    assert limits == RateLimits()
    assert (
        "rate_limits.messages_per_minute : « beaucoup » n'est pas un nombre entier" in caplog.text
    )
    assert "« conversation_per_minute » n'est pas une limite connue" in caplog.text
    assert "BOT_WEB_REQUESTS_PER_MINUTE_PER_ADDRESS : « -1 »" in caplog.text
    assert RateLimits.from_config(["messages_per_minute"], {}) == RateLimits()
