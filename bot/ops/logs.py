"""The servers' log lines as JSON objects, one a line, when no person is reading them on a terminal.

Off a terminal (a file, journald, a container's log collector), each line is:

    {"time": "2026-11-30T08:01:02.345Z", "level": "INFO", "logger": "bot.channels.turns",
     "message": "…", "conversation": "h-1a2b3c4d5e6f"}

`conversation` is the conversation's short id (`bot.channels.turns.log_id`)
while a turn runs, set by `run_turn` through `CONVERSATION`; a failure adds
`exception` (its traceback). On a terminal the lines stay as Rasa and
rasa_sdk print them. The message is the log line itself: the project never
puts a citizen's text in one. Rasa's structlog events arrive already
rendered as JSON; only their event name and level are kept, since their
other fields (at debug level) may carry what a citizen typed.

Rasa and rasa_sdk both set up their logging with `coloredlogs.install` after
the process starts (our command line with `logging.basicConfig`);
`install()` (called where the processes are started,
`bot.processes.quiet.run_module`) puts this format on the handlers each time
that happens.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["CONVERSATION", "JsonFormatter", "install", "use_json_format"]

# The short id of the conversation whose turn is running (never the client's own id).
CONVERSATION: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "bot_conversation", default=None
)


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object on one line: time, level, logger, message, conversation."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        conversation = CONVERSATION.get()
        if conversation is not None:
            line["conversation"] = conversation
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        # ensure_ascii=False: French stays readable (and searchable) in the files.
        return json.dumps(line, ensure_ascii=False, default=str)


def _utc(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def _message(record: logging.LogRecord) -> str:
    message = record.getMessage()
    if message.startswith("{") and message.endswith("}"):
        try:
            event = json.loads(message)
        except ValueError:
            return message
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            # A structlog event rendered by Rasa: its name only, not its fields.
            return event["event"]
    return message


def use_json_format(logger: logging.Logger | None = None) -> None:
    """Puts `JsonFormatter` on every handler of `logger` (default: the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not isinstance(handler.formatter, JsonFormatter):
            handler.setFormatter(JsonFormatter())


def install(stream: TextIO | None = None) -> bool:
    """Makes this process log JSON lines from now on when `stream` (stderr) is not a terminal; True if so.

    The handlers set up so far get the format, and so do those set up later
    by `coloredlogs.install` (Rasa, rasa_sdk) or `logging.basicConfig` (our
    command line): each is followed by `use_json_format`.
    """
    stream = sys.stderr if stream is None else stream
    if stream.isatty():
        return False
    use_json_format()
    logging.basicConfig = _then_json(logging.basicConfig)
    try:
        import coloredlogs
    except ImportError:  # pragma: no cover - both servers depend on it
        return True
    coloredlogs.install = _then_json(coloredlogs.install)
    return True


def _then_json(setup: Callable[..., Any]) -> Callable[..., Any]:
    """`setup` (a function that sets up logging handlers), followed by `use_json_format`."""
    if getattr(setup, "_bot_json", False):
        return setup

    @functools.wraps(setup)
    def setup_then_json(*args: Any, **kwargs: Any) -> Any:
        result = setup(*args, **kwargs)
        logger = kwargs.get("logger")
        if isinstance(logger, logging.Logger):
            use_json_format(logger)
        use_json_format()
        return result

    setup_then_json._bot_json = True  # type: ignore[attr-defined]
    return setup_then_json
