"""The Telegram bridge's configuration, read from the environment with safe defaults.

Variables (all optional but the token):
    BOT_TELEGRAM_TOKEN        the token BotFather gave; unset: Telegram is off
    BOT_TELEGRAM_WEBHOOK_URL  public https:// URL: webhook mode (else long polling)
    BOT_TELEGRAM_SECRET       the webhook's secret token (random at each start if unset)
    BOT_TELEGRAM_LISTEN       webhook server address (127.0.0.1)
    BOT_TELEGRAM_PORT         webhook server port (8443)
    BOT_TELEGRAM_HASH_KEY     key of the conversation ids (else var/telegram-hash-key)
    BOT_TELEGRAM_RASA_URL     Rasa's REST webhook (http://127.0.0.1:5005/webhooks/rest/webhook)
    BOT_TELEGRAM_API_URL      Bot API base URL, for a self-hosted Bot API server
    BOT_TELEGRAM_DATABASE_URL SQLAlchemy URL of the alert subscriptions (else the conversation
                              database of endpoints.yml; "off" turns subscriptions off)

Usage:
    settings = TelegramSettings.from_env()   # None: no token, Telegram is off
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.paths import VAR_DIR, load_secret

__all__ = [
    "DATABASE_VARIABLE",
    "DEFAULT_RASA_URL",
    "HASH_KEY_VARIABLE",
    "TOKEN_VARIABLE",
    "SettingsError",
    "TelegramSettings",
    "load_hash_key",
]

TOKEN_VARIABLE = "BOT_TELEGRAM_TOKEN"
HASH_KEY_VARIABLE = "BOT_TELEGRAM_HASH_KEY"
DATABASE_VARIABLE = "BOT_TELEGRAM_DATABASE_URL"
DEFAULT_RASA_URL = "http://127.0.0.1:5005/webhooks/rest/webhook"
DEFAULT_API_URL = "https://api.telegram.org/bot"
HASH_KEY_FILE = "telegram-hash-key"

# What Telegram accepts as a webhook's secret_token.
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class SettingsError(ValueError):
    """A Telegram setting that cannot work; the message says which variable, in French."""


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_hash_key(environ: Mapping[str, str], state_dir: Path) -> bytes:
    """The key of the conversation ids: `BOT_TELEGRAM_HASH_KEY`, else one kept in `state_dir`.

    The kept key is created once, readable by its owner only, so conversations
    survive restarts without anyone configuring anything (`bot.paths.load_secret`).
    """
    return load_secret(
        HASH_KEY_VARIABLE,
        state_dir / HASH_KEY_FILE,
        what="la clé des identifiants de conversation Telegram",
        environ=environ,
    )


@dataclass(frozen=True)
class TelegramSettings:
    """How the bridge reaches Telegram and Rasa.

    Polling unless `webhook_url` is set. In webhook mode the bridge listens on
    `listen_host:listen_port` (behind the city's HTTPS reverse proxy) and
    accepts only requests carrying `secret_token`.
    """

    token: str
    hash_key: bytes
    rasa_url: str = DEFAULT_RASA_URL
    webhook_url: str | None = None
    secret_token: str = field(default_factory=_new_secret, repr=False)
    listen_host: str = "127.0.0.1"
    listen_port: int = 8443
    api_url: str = DEFAULT_API_URL
    poll_timeout: float = 30.0
    # Alert subscriptions (subscriptions.py): None turns them off; the command fills it in.
    database_url: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not _SECRET.fullmatch(self.secret_token):
            raise SettingsError(
                "BOT_TELEGRAM_SECRET : de 1 à 256 caractères parmi A-Z, a-z, 0-9, _ et - "
                "(exigence de Telegram)."
            )
        if self.webhook_url is not None:
            parts = urlsplit(self.webhook_url)
            if parts.scheme != "https" and not (
                parts.scheme == "http" and _is_loopback(parts.hostname)
            ):
                raise SettingsError(
                    "BOT_TELEGRAM_WEBHOOK_URL doit être une adresse publique en https:// "
                    "(Telegram refuse les webhooks en http)."
                )
        if not 0 < self.listen_port < 65536:
            raise SettingsError("BOT_TELEGRAM_PORT doit être un numéro de port (1 à 65535).")

    @property
    def mode(self) -> str:
        """`"webhook"` when a public URL is configured, else `"polling"`."""
        return "webhook" if self.webhook_url else "polling"

    @property
    def webhook_path(self) -> str:
        """The path the webhook server answers on: the public URL's path."""
        return urlsplit(self.webhook_url or "").path or "/"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        state_dir: Path = VAR_DIR,
        rasa_url: str | None = None,
    ) -> TelegramSettings | None:
        """The settings from `BOT_TELEGRAM_*` variables; None when no token is set (Telegram off).

        Raises:
            SettingsError: a variable is set to something that cannot work.
        """
        env = os.environ if environ is None else environ
        token = env.get(TOKEN_VARIABLE, "").strip()
        if not token:
            return None
        port = env.get("BOT_TELEGRAM_PORT", "8443").strip()
        if not port.isdigit():
            raise SettingsError(f"BOT_TELEGRAM_PORT={port!r} : un numéro de port est attendu.")
        secret = env.get("BOT_TELEGRAM_SECRET", "").strip()
        return cls(
            token=token,
            hash_key=load_hash_key(env, state_dir),
            rasa_url=rasa_url or env.get("BOT_TELEGRAM_RASA_URL", "").strip() or DEFAULT_RASA_URL,
            webhook_url=env.get("BOT_TELEGRAM_WEBHOOK_URL", "").strip() or None,
            secret_token=secret or _new_secret(),
            listen_host=env.get("BOT_TELEGRAM_LISTEN", "").strip() or "127.0.0.1",
            listen_port=int(port),
            api_url=env.get("BOT_TELEGRAM_API_URL", "").strip() or DEFAULT_API_URL,
            database_url=env.get(DATABASE_VARIABLE, "").strip() or None,
        )
