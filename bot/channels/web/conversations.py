"""Conversation ids for the web widget: issued by the server, signed, checked on every message.

The widget never chooses its conversation id. It asks the server for one and
gets a token `<id>.<signature>`, where the signature is an HMAC-SHA256 of the id
under a secret only the server knows. Every message carries the token back; a
token that was not issued by this server (a guessed id, an id of the REST
channel, an edited id, another server's token) or that is too old is refused,
so nobody can write into another citizen's conversation by guessing its id.

Pure Python, no Rasa import.

Usage:
    ids = SignedConversationIds(load_web_secret())
    token = ids.issue()          # "web-674f1c2a-Qx3….k9Fh…": kept by the widget
    sender = ids.verify(token)   # the Rasa sender id, or None when refused
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from pathlib import Path

from bot.paths import VAR_DIR, load_secret

__all__ = [
    "DEFAULT_MAX_AGE_SECONDS",
    "DEFAULT_SECRET_FILE",
    "SECRET_ENV",
    "SignedConversationIds",
    "load_web_secret",
]

SECRET_ENV = "BOT_WEB_SECRET"
DEFAULT_SECRET_FILE = VAR_DIR / "web-secret"
# A browser tab can stay open for days; past this age the widget silently
# starts a new conversation, so a leaked token stops working.
DEFAULT_MAX_AGE_SECONDS = 24 * 3600

_PREFIX = "web"
_MAX_TOKEN_CHARS = 200
_CLOCK_SKEW_SECONDS = 60


def load_web_secret(
    environ: Mapping[str, str] | None = None, path: Path = DEFAULT_SECRET_FILE
) -> bytes:
    """The signing secret: `BOT_WEB_SECRET`, else a random key kept in `var/web-secret` (mode 0600).

    When the file cannot be written, a key for this process only is used
    (`bot.paths.load_secret`): the widget keeps working, but conversations do
    not survive a restart.
    """
    return load_secret(
        SECRET_ENV,
        path,
        what="la clé de signature des conversations du widget web",
        environ=environ,
    )


class SignedConversationIds:
    """Issues signed conversation tokens and checks the ones that come back."""

    def __init__(self, secret: bytes, max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS) -> None:
        if not secret:
            raise ValueError("the signing secret is empty")
        self._secret = secret
        self.max_age_seconds = max_age_seconds

    def _signature(self, sender: str) -> str:
        digest = hmac.new(self._secret, sender.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, now: float | None = None) -> str:
        """A new conversation token: a fresh random id and its signature."""
        issued = int(time.time() if now is None else now)
        sender = f"{_PREFIX}-{issued:x}-{secrets.token_urlsafe(16)}"
        return f"{sender}.{self._signature(sender)}"

    def verify(self, token: object, now: float | None = None) -> str | None:
        """The conversation's sender id if this server issued the token and it is still valid, else None."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS or "." not in token:
            return None
        sender, signature = token.rsplit(".", 1)
        if not hmac.compare_digest(signature.encode(), self._signature(sender).encode()):
            return None
        prefix, _, rest = sender.partition("-")
        issued_hex, _, _ = rest.partition("-")
        try:
            issued = int(issued_hex, 16)
        except ValueError:
            return None
        current = time.time() if now is None else now
        if prefix != _PREFIX or not (
            current - self.max_age_seconds <= issued <= current + _CLOCK_SKEW_SECONDS
        ):
            return None
        return sender
