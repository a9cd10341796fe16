"""How often the web widget's public routes may be called: per conversation and per client address.

A city's reverse proxy may not limit anything, and each message costs the
NLU and the action server real work; these limits keep one page, one script
or one address from taking the bot's time from everyone else. Token buckets,
in this process's memory: each key (a conversation, an address) may make
`per_minute` calls in a burst, then one every `60 / per_minute` seconds.
Other keys are never affected. A bucket unused long enough to be full again
is forgotten, so memory stays bounded by the traffic of the last minute (and
by `max_keys` whatever happens).

Pure Python (no Sanic, no Rasa); the clock is injected for the tests.

Configuration, under the channel in credentials.yml (0 turns a limit off),
each overridden by its environment variable:

    rate_limits:
      messages_per_minute: 20                    # BOT_WEB_MESSAGES_PER_MINUTE (per conversation)
      conversations_per_minute_per_address: 20   # BOT_WEB_CONVERSATIONS_PER_MINUTE_PER_ADDRESS
      requests_per_minute_per_address: 120       # BOT_WEB_REQUESTS_PER_MINUTE_PER_ADDRESS

Usage:
    limiter = WebRateLimiter(RateLimits.from_config(credentials.get("rate_limits"), os.environ))
    wait = limiter.request(address)          # 0.0: go ahead; else seconds before a retry
    wait = limiter.new_conversation(address)
    wait = limiter.message(conversation)
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

__all__ = [
    "ENV_VARIABLES",
    "RateLimits",
    "TokenBuckets",
    "WebRateLimiter",
    "address_key",
    "retry_after_seconds",
]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

ENV_VARIABLES = {
    "messages_per_minute": "BOT_WEB_MESSAGES_PER_MINUTE",
    "conversations_per_minute_per_address": "BOT_WEB_CONVERSATIONS_PER_MINUTE_PER_ADDRESS",
    "requests_per_minute_per_address": "BOT_WEB_REQUESTS_PER_MINUTE_PER_ADDRESS",
}
_WHERE = "credentials.yml, bot.channels.web.channel.WebChannel, rate_limits"


class TokenBuckets:
    """One token bucket per key, each refilled at `per_minute` tokens a minute up to `per_minute`.

    Kept as the time at which each bucket will be full again (the "generic cell
    rate algorithm", the same limits as a bucket of tokens): one number per
    key, and exact waits.
    """

    def __init__(
        self, per_minute: int, clock: Clock = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._max_keys = max_keys
        # key -> when its bucket is full again; least recently used first.
        self._full_at: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._full_at)

    def take(self, key: str) -> float:
        """Spends one of `key`'s tokens: 0.0 if it had one, else the seconds until it has one."""
        if self.per_minute <= 0:
            return 0.0
        now = self._clock()
        interval = 60.0 / self.per_minute  # one token comes back every `interval` seconds
        self._forget_idle(now)
        full_at = max(self._full_at.pop(key, now), now)
        # Spending a token pushes "full again" one interval later; it may not go
        # past a whole bucket (per_minute tokens) from now.
        wait = full_at + interval - (now + 60.0)
        if wait > 0:
            self._full_at[key] = full_at
            return wait
        self._full_at[key] = full_at + interval
        if len(self._full_at) > self._max_keys:
            # Past the cap, the oldest key starts afresh: more lenient, never stuck.
            self._full_at.popitem(last=False)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        # A full bucket is the same as no bucket. Keys are in order of last use,
        # and a key used a minute ago is full: what stays is the last minute's.
        while self._full_at:
            key, full_at = next(iter(self._full_at.items()))
            if full_at > now:
                return
            del self._full_at[key]


def retry_after_seconds(wait: float) -> int:
    """The `Retry-After` header's whole seconds for a wait (at least 1)."""
    return max(1, math.ceil(wait))


def address_key(address: str) -> str:
    """The key of a client address: the address itself, or its /64 network for IPv6.

    One IPv6 client commonly holds a whole /64, and could otherwise change its
    address at each request.
    """
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip.exploded.split("%", 1)[0], 64), strict=False))


@dataclass(frozen=True)
class RateLimits:
    """How many calls a minute each key may make; 0 turns that limit off."""

    messages_per_minute: int = 20
    conversations_per_minute_per_address: int = 20
    requests_per_minute_per_address: int = 120

    @classmethod
    def from_config(cls, configured: object, environ: Mapping[str, str] = os.environ) -> RateLimits:
        """The limits of credentials.yml's `rate_limits`, each overridden by its environment variable.

        A value that is not a whole number of 0 or more, or an unknown name, is
        reported (in French, for the staff who edit the file) and the default kept.
        """
        defaults = cls()
        values: dict[str, int] = {}
        if configured is None:
            configured = {}
        if not isinstance(configured, Mapping):
            logger.warning(
                "%s : une liste de limites est attendue (nom: nombre) ; valeurs par défaut utilisées.",
                _WHERE,
            )
            configured = {}
        for name in configured:
            if name not in ENV_VARIABLES:
                logger.warning(
                    "%s : « %s » n'est pas une limite connue (connues : %s) ; ignorée.",
                    _WHERE,
                    name,
                    ", ".join(ENV_VARIABLES),
                )
        for field in fields(cls):
            default = getattr(defaults, field.name)
            value: object = configured.get(field.name, default)
            where = f"{_WHERE}.{field.name}"
            variable = ENV_VARIABLES[field.name]
            if environ.get(variable, "").strip():
                value, where = environ[variable].strip(), variable
            values[field.name] = _whole_number(value, where, default)
        return cls(**values)


def _whole_number(value: object, where: str, default: int) -> int:
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        number = None
    if number is None or number < 0:
        logger.warning(
            "%s : « %s » n'est pas un nombre entier (0 pour désactiver) ; valeur par défaut %d utilisée.",
            where,
            value,
            default,
        )
        return default
    return number


class WebRateLimiter:
    """The web widget's three limits: requests and new conversations per address, messages per conversation."""

    def __init__(self, limits: RateLimits, clock: Clock = time.monotonic) -> None:
        self.limits = limits
        self._requests = TokenBuckets(limits.requests_per_minute_per_address, clock)
        self._conversations = TokenBuckets(limits.conversations_per_minute_per_address, clock)
        self._messages = TokenBuckets(limits.messages_per_minute, clock)

    def request(self, address: str) -> float:
        """Any call to a public route from `address`: 0.0, or the seconds to wait."""
        return self._requests.take(address_key(address))

    def new_conversation(self, address: str) -> float:
        """A new conversation asked from `address`: 0.0, or the seconds to wait."""
        return self._conversations.take(address_key(address))

    def message(self, conversation: str) -> float:
        """A message in `conversation` (a verified sender id): 0.0, or the seconds to wait."""
        return self._messages.take(conversation)
