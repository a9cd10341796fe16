"""The widget's signed, server-issued conversation ids (bot/channels/web/conversations.py), pure."""

from __future__ import annotations

import stat
from pathlib import Path

from bot.channels.web.conversations import SignedConversationIds, load_web_secret


def test_issued_token_is_verified_and_any_change_is_refused() -> None:
    ids = SignedConversationIds(b"s" * 32)
    token = ids.issue(now=1_000_000)
    sender = ids.verify(token, now=1_000_100)
    assert sender is not None and sender.startswith("web-") and token.startswith(sender + ".")
    assert ids.issue(now=1_000_000) != token
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert ids.verify(flipped, now=1_000_100) is None
    assert SignedConversationIds(b"t" * 32).verify(token, now=1_000_100) is None
    for junk in (None, 42, "", "web-abc", "." * 10, token + "x" * 300):
        assert ids.verify(junk, now=1_000_100) is None


def test_token_expires_after_its_maximum_age() -> None:
    ids = SignedConversationIds(b"s" * 32, max_age_seconds=3600)
    token = ids.issue(now=1_000_000)
    assert ids.verify(token, now=1_000_000 + 3600) is not None
    assert ids.verify(token, now=1_000_000 + 3601) is None
    assert ids.verify(token, now=1_000_000 - 3600) is None


def test_secret_comes_from_the_environment_or_a_private_file(tmp_path: Path) -> None:
    assert load_web_secret({"BOT_WEB_SECRET": "e" * 40}, tmp_path / "unused") == b"e" * 40
    assert not (tmp_path / "unused").exists()

    path = tmp_path / "var" / "web-secret"
    first = load_web_secret({}, path)
    assert len(first) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_web_secret({}, path) == first  # kept across restarts

    path.chmod(0o644)
    assert load_web_secret({}, path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
