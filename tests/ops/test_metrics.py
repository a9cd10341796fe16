"""Per-channel metrics of turns (bot/ops/metrics.py, counted in bot/channels/turns.py), in-process."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families
from rasa.core.channels.channel import UserMessage

from bot.channels.turns import run_turn
from bot.domain import INTENT_FALLBACK
from bot.ops import metrics
from tests.support.channels import FAULTS, says

CHANNEL = "test-metrics"


def samples(text: str | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, by name and sorted labels."""
    text = text if text is not None else metrics.exposition().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(name: str, channel: str = CHANNEL, **labels: str) -> float:
    key = (name, tuple(sorted({"channel": channel, **labels}.items())))
    return samples().get(key, 0.0)


def test_turns_failures_and_not_understood_are_counted_per_channel() -> None:
    async def not_understood(message: UserMessage) -> None:
        # What Rasa's processor does through observe_parsed_intents' wrapper.
        record = metrics.current_turn()
        assert record is not None and record.channel == CHANNEL
        record.intent = INTENT_FALLBACK
        await says(message)

    before = {
        name: value(name)
        for name in (
            "bot_turns_total",
            "bot_turns_not_understood_total",
            "bot_turn_duration_seconds_count",
        )
    }
    errors_before = {
        reason: value("bot_turn_errors_total", reason=reason) for reason in metrics.ERROR_REASONS
    }

    async def turns() -> None:
        assert await run_turn(says, "web-1", "bonjour", CHANNEL)
        assert await run_turn(not_understood, "web-1", "zzzz", CHANNEL)
        for fault in FAULTS.values():
            assert await run_turn(fault, "web-1", "bonjour", CHANNEL) is None

    asyncio.run(turns())
    assert metrics.current_turn() is None
    total = 2 + len(FAULTS)
    assert value("bot_turns_total") == before["bot_turns_total"] + total
    assert (
        value("bot_turn_duration_seconds_count")
        == before["bot_turn_duration_seconds_count"] + total
    )
    assert value("bot_turns_not_understood_total") == before["bot_turns_not_understood_total"] + 1
    # exception and timeout are errors; one cancelled, one silent.
    assert value("bot_turn_errors_total", reason="error") == errors_before["error"] + 2
    assert value("bot_turn_errors_total", reason="cancelled") == errors_before["cancelled"] + 1
    assert value("bot_turn_errors_total", reason="no_reply") == errors_before["no_reply"] + 1


def test_no_label_carries_a_conversation_or_a_text() -> None:
    asyncio.run(run_turn(says, "jeanne.dupont@example.fr", "Jeanne Dupont", CHANNEL))
    exposition = metrics.exposition().decode()
    assert "jeanne" not in exposition.lower() and "h-" not in exposition
    label_names = {name for (_, labels) in samples(exposition) for name, _ in labels} - {
        "le",
        "version",
        "implementation",
        "major",
        "minor",
        "patchlevel",
    }
    assert label_names <= {"channel", "reason"}


def test_the_intent_observer_notes_the_parsed_intent_and_changes_nothing() -> None:
    parsed = {"intent": {"name": INTENT_FALLBACK, "confidence": 1.0}, "entities": []}

    class Processor:
        async def parse_message(self, message: object, tracker: object = None) -> object:
            return parsed

    metrics.observe_parsed_intents(Processor)
    metrics.observe_parsed_intents(Processor)  # once only

    async def turn() -> tuple[object, str | None, object]:
        outside = await Processor().parse_message("m")  # no turn running: nothing noted
        record = metrics.start_turn(CHANNEL)
        try:
            result = await Processor().parse_message("m", tracker=None)
        finally:
            record.finish()
        return result, record.intent, outside

    result, intent, outside = asyncio.run(turn())
    assert result is parsed and outside is parsed and intent == INTENT_FALLBACK


def test_rasa_s_parse_message_is_the_one_observed() -> None:
    import inspect

    from rasa.core.processor import MessageProcessor

    metrics.observe_parsed_intents()
    assert getattr(MessageProcessor.parse_message, "_bot_observed", False)
    # Rasa 3.6.21's signature, which the wrapper passes through unchanged.
    parameters = list(inspect.signature(MessageProcessor.parse_message).parameters)
    assert parameters == ["self", "message", "tracker", "only_output_properties"]
