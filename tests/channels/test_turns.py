"""One turn through Rasa for the channels (bot/channels/turns.py): every failure is None, and no text is logged."""

from __future__ import annotations

import asyncio
import logging

import pytest
from rasa.core.channels.channel import UserMessage

from bot.channels.turns import log_id, run_turn
from tests.support.channels import FAULTS, says

SECRET_WORDS = "Jeanne Dupont 06 12 34 56 78"


@pytest.mark.parametrize("fault", FAULTS)
def test_a_failed_turn_is_none_and_logs_no_text(
    fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sender = "jeanne.dupont@example.fr"
    replies = asyncio.run(run_turn(FAULTS[fault], sender, SECRET_WORDS, "rest"))
    assert replies is None
    assert SECRET_WORDS not in caplog.text and sender not in caplog.text
    assert log_id(sender) in caplog.text


def test_a_turn_passes_no_client_metadata() -> None:
    seen: list[UserMessage] = []

    async def handler(message: UserMessage) -> None:
        seen.append(message)
        await says(message)

    replies = asyncio.run(run_turn(handler, "web-1", "bonjour", "web"))
    assert replies == [{"recipient_id": "web-1", "text": "reçu : bonjour"}]
    assert seen[0].metadata is None and seen[0].input_channel == "web"


def test_log_ids_hide_what_a_client_chose() -> None:
    assert log_id("web-674f1c2a-Qx3abcdefghij") == "web-674f1c2a-Qx3"
    assert log_id("tg-0123456789abcdef0123") == "tg-0123456789abc"
    assert "0612" not in log_id("0612345678") and log_id("0612345678").startswith("h-")
