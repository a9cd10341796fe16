"""The operations team's routes on the session's real servers (bot/ops/channel.py): readiness and metrics."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import RunningBot, frozen

pytestmark = pytest.mark.servers


def _get(running_bot: RunningBot, path: str) -> tuple[int, str, str]:
    url = f"http://127.0.0.1:{running_bot.processes.rasa_port}/webhooks/ops/{path}"
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return reply.status, reply.headers.get("Content-Type", ""), reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read().decode()


def _ready(running_bot: RunningBot) -> tuple[int, dict[str, Any]]:
    status, _, body = _get(running_bot, "ready")
    return status, json.loads(body)


def _metrics(running_bot: RunningBot) -> dict[tuple[str, str], float]:
    status, content_type, body = _get(running_bot, "metrics")
    assert status == 200 and content_type.startswith("text/plain")
    return {
        (sample.name, sample.labels.get("channel", "")): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if not sample.labels.get("le")
    }


def test_ready_when_every_part_answers(running_bot: RunningBot) -> None:
    status, body = _ready(running_bot)
    assert status == 200, body
    assert body == {
        "status": "ok",
        "checks": {
            "model": "ok",
            "actions": "ok",
            "conversation_store": "ok",
            "lock_store": "ok",
        },
    }


def test_not_ready_while_the_action_server_is_frozen(running_bot: RunningBot) -> None:
    pid = running_bot.processes.pid("actions")
    assert pid is not None
    with frozen(pid):
        status, body = _ready(running_bot)
    assert status == 503, body
    assert body["status"] == "indisponible"
    assert body["checks"]["actions"] == "TimeoutError"
    assert body["checks"]["model"] == "ok" and body["checks"]["conversation_store"] == "ok"
    assert _ready(running_bot)[0] == 200


def test_metrics_count_rest_turns_and_a_message_not_understood(running_bot: RunningBot) -> None:
    before = _metrics(running_bot)
    conversation = running_bot.conversation()
    conversation.send("bonjour")
    conversation.send("quand passe la collecte des déchets à Blagnac ?")
    conversation.send("xqzw vbnkj plouf")
    after = _metrics(running_bot)

    def grew(name: str) -> float:
        return after.get((name, "rest"), 0.0) - before.get((name, "rest"), 0.0)

    assert grew("bot_turns_total") == 3
    assert grew("bot_turn_duration_seconds_count") == 3
    assert grew("bot_turn_duration_seconds_sum") > 0
    assert grew("bot_turns_not_understood_total") == 1
    assert grew("bot_turn_errors_total") == 0
    assert after[("process_resident_memory_bytes", "")] > 0
    _, _, text = _get(running_bot, "metrics")
    assert conversation.sender not in text and "Blagnac" not in text
