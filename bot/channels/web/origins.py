"""Which web sites may talk to the bot from a browser: the origins the city lists, and the bot's own.

Pure Python, no Rasa import.

Usage:
    policy = OriginPolicy.from_config(["https://www.toulouse-metropole.fr"], env="")
    policy.allows("https://www.toulouse-metropole.fr", host="bot.example.fr")   # True
    policy.allows("https://ailleurs.example", host="bot.example.fr")            # False
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["ORIGINS_ENV", "OriginPolicy", "normalise_origin"]

logger = logging.getLogger(__name__)

ORIGINS_ENV = "BOT_WEB_ORIGINS"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(origin: str) -> str | None:
    """`scheme://host:port` in lower case with the port spelled out, or None if it is not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    return f"{scheme}://{parts.hostname.lower()}:{port or _DEFAULT_PORTS[scheme]}"


@dataclass(frozen=True)
class OriginPolicy:
    """The browser origins allowed to start conversations and send messages."""

    allowed: frozenset[str]

    @classmethod
    def from_config(cls, configured: Iterable[str] | None, env: str = "") -> OriginPolicy:
        """The origins of credentials.yml plus those of `BOT_WEB_ORIGINS` (comma separated).

        An entry that is not an origin is left out with a warning naming it.
        """
        entries = [str(e) for e in configured or ()] + [e for e in env.split(",") if e.strip()]
        allowed: set[str] = set()
        for entry in entries:
            origin = normalise_origin(entry)
            if origin is None:
                logger.warning(
                    "web channel: %r is not an origin (expected scheme://host[:port]); ignored.",
                    entry,
                )
            else:
                allowed.add(origin)
        return cls(frozenset(allowed))

    def allows(self, origin: str | None, host: str) -> bool:
        """Whether a request with this `Origin` header, received for this `Host`, may proceed.

        No `Origin` header: not a browser's cross-site request (curl, a server);
        refusing it would protect nothing since such a client can omit it.
        The bot's own pages (same host) are always allowed; the scheme is not
        compared there because behind a TLS proxy the bot sees plain http.
        """
        if origin is None:
            return True
        normalised = normalise_origin(origin)
        if normalised is None:
            return False  # "null" (sandboxed frame, file://) and malformed values
        if normalised in self.allowed:
            return True
        return bool(host) and urlsplit(origin).netloc.lower() == host.lower()
