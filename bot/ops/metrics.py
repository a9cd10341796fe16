"""The bot's metrics for the operations team, in Prometheus's text format (prometheus-client).

    bot_turns_total{channel}                      turns answered or failed
    bot_turn_duration_seconds{channel}            histogram of a turn's time in Rasa (and the action server)
    bot_turns_not_understood_total{channel}       turns whose message Rasa's NLU did not understand
                                                  (intent `nlu_fallback`): the not-understood reply
    bot_turn_errors_total{channel, reason}        turns the citizen got "service momentanément
                                                  indisponible" for: reason error, no_reply, cancelled

plus the process's own (`process_resident_memory_bytes`, CPU, open files).
The not-understood rate is `rate(bot_turns_not_understood_total[5m]) /
rate(bot_turns_total[5m])`. Labels are the channel's name and a fixed
reason, never a conversation id or anything a citizen wrote.

`bot.channels.turns.run_turn` opens a `TurnRecord` for each turn
(`start_turn`) and closes it (`TurnRecord.finish`); `observe_parsed_intents`
makes Rasa's message processor note the intent it parsed into the running
turn's record. Importing this module imports prometheus-client, not Rasa.
"""

from __future__ import annotations

import contextvars
import functools
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.domain import INTENT_FALLBACK

__all__ = [
    "CONTENT_TYPE",
    "ERROR_REASONS",
    "REGISTRY",
    "TurnRecord",
    "current_turn",
    "exposition",
    "observe_parsed_intents",
    "start_turn",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
ERROR_REASONS = ("error", "no_reply", "cancelled")

# The bot's own registry: what the metrics route shows, and nothing a library registers by itself.
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

_TURNS = Counter(
    "bot_turns", "Turns of conversation received, per channel.", ["channel"], registry=REGISTRY
)
_DURATION = Histogram(
    "bot_turn_duration_seconds",
    "Time of one turn in Rasa, action server included, per channel.",
    ["channel"],
    buckets=(0.01, 0.02, 0.035, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3.0, 6.0, 12.0),
    registry=REGISTRY,
)
_NOT_UNDERSTOOD = Counter(
    "bot_turns_not_understood",
    f"Turns whose message the NLU did not understand (intent {INTENT_FALLBACK}), per channel.",
    ["channel"],
    registry=REGISTRY,
)
_ERRORS = Counter(
    "bot_turn_errors",
    "Turns answered 'service momentanément indisponible': Rasa raised (error), "
    "said nothing (no_reply) or the turn was cancelled, per channel.",
    ["channel", "reason"],
    registry=REGISTRY,
)

_CURRENT: contextvars.ContextVar[TurnRecord | None] = contextvars.ContextVar(
    "bot_turn", default=None
)


@dataclass
class TurnRecord:
    """What is measured of one turn while it runs: its channel, start, and the intent Rasa parsed."""

    channel: str
    started: float = field(default_factory=time.perf_counter)
    intent: str | None = None
    _token: contextvars.Token[TurnRecord | None] | None = field(default=None, repr=False)

    def finish(self, error: str | None = None) -> None:
        """Counts the turn: answered (`error` None) or failed for `error`, one of `ERROR_REASONS`."""
        if self._token is not None:
            _CURRENT.reset(self._token)
            self._token = None
        _TURNS.labels(self.channel).inc()
        _DURATION.labels(self.channel).observe(time.perf_counter() - self.started)
        if error is not None:
            _ERRORS.labels(self.channel, error if error in ERROR_REASONS else "error").inc()
        elif self.intent == INTENT_FALLBACK:
            _NOT_UNDERSTOOD.labels(self.channel).inc()


def start_turn(channel: str) -> TurnRecord:
    """A new turn on `channel`, current in this task (and what it starts) until `finish`."""
    record = TurnRecord(channel)
    record._token = _CURRENT.set(record)
    return record


def current_turn() -> TurnRecord | None:
    """The record of the turn running in this task, if any."""
    return _CURRENT.get()


def exposition() -> bytes:
    """Every metric in Prometheus's text format."""
    return generate_latest(REGISTRY)


def observe_parsed_intents(processor: Any = None) -> None:
    """Makes Rasa's `MessageProcessor.parse_message` note the parsed intent in the running turn's record.

    Observes only: the parse result is returned unchanged. Idempotent.
    `processor` replaces Rasa's `MessageProcessor` in tests.
    """
    if processor is None:
        from rasa.core.processor import MessageProcessor

        processor = MessageProcessor
    original = processor.parse_message
    if getattr(original, "_bot_observed", False):
        return

    @functools.wraps(original)
    async def parse_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        parse_data = await original(self, *args, **kwargs)
        record = _CURRENT.get()
        if record is not None and isinstance(parse_data, dict):
            intent = parse_data.get("intent") or {}
            record.intent = intent.get("name") if isinstance(intent, dict) else None
        return parse_data

    parse_message._bot_observed = True  # type: ignore[attr-defined]
    processor.parse_message = parse_message
