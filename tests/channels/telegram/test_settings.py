"""The bridge's configuration from BOT_TELEGRAM_* (bot/channels/telegram/settings.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.channels.telegram.settings import SettingsError, TelegramSettings

SECRET = "secret-de-test_0123456789"


def test_settings_from_the_environment(tmp_path: Path) -> None:
    assert TelegramSettings.from_env({}, state_dir=tmp_path) is None
    polling = TelegramSettings.from_env({"BOT_TELEGRAM_TOKEN": "1:abc"}, state_dir=tmp_path)
    assert polling is not None and polling.mode == "polling"
    key_file = tmp_path / "telegram-hash-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = TelegramSettings.from_env({"BOT_TELEGRAM_TOKEN": "1:abc"}, state_dir=tmp_path)
    assert again is not None and again.hash_key == polling.hash_key
    webhook = TelegramSettings.from_env(
        {
            "BOT_TELEGRAM_TOKEN": "1:abc",
            "BOT_TELEGRAM_WEBHOOK_URL": "https://bot.toulouse-metropole.fr/telegram",
            "BOT_TELEGRAM_SECRET": SECRET,
            "BOT_TELEGRAM_HASH_KEY": "cle",
        },
        state_dir=tmp_path,
    )
    assert webhook is not None and webhook.mode == "webhook"
    assert webhook.webhook_path == "/telegram" and webhook.secret_token == SECRET
    assert webhook.hash_key == b"cle"
    with pytest.raises(SettingsError, match="https"):
        TelegramSettings(token="1:abc", hash_key=b"k", webhook_url="http://bot.example.fr/t")
    with pytest.raises(SettingsError, match="BOT_TELEGRAM_SECRET"):
        TelegramSettings(token="1:abc", hash_key=b"k", secret_token="pas de secret !")
