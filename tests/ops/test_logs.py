"""JSON log lines off a terminal (bot/ops/logs.py): one object per line, the conversation's short id, no text."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest

from bot.channels.turns import log_id
from bot.ops.logs import CONVERSATION, JsonFormatter, install, use_json_format
from bot.paths import PROJECT_ROOT
from tests.support import RunningBot


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("base verrouillée")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord("bot.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_a_record_is_one_json_line_with_the_conversation_while_a_turn_runs() -> None:
    formatter = JsonFormatter()
    token = CONVERSATION.set("h-0123456789ab")
    try:
        line = formatter.format(_record("Base des conversations « %s » indisponible", "events"))
    finally:
        CONVERSATION.reset(token)
    assert "\n" not in line
    logged = json.loads(line)
    assert logged["level"] == "WARNING" and logged["logger"] == "bot.test"
    assert logged["message"] == "Base des conversations « events » indisponible"
    assert logged["conversation"] == "h-0123456789ab"
    assert logged["time"].endswith("Z") and logged["time"][:2] == "20"
    # French stays readable in the file: the log tests search it as text.
    assert "« events »" in line

    outside = json.loads(formatter.format(_record("démarrage")))
    assert "conversation" not in outside


def test_a_traceback_stays_on_the_line_and_structlog_events_keep_only_their_name() -> None:
    formatter = JsonFormatter()
    failed = json.loads(formatter.format(_record("échec", exc=True)))
    assert "RuntimeError: base verrouillée" in failed["exception"]
    event = json.dumps({"event": "processor.message.parse", "parse_data_text": "Jeanne Dupont"})
    line = formatter.format(_record(event))
    assert json.loads(line)["message"] == "processor.message.parse"
    assert "Jeanne" not in line


def test_on_a_terminal_nothing_changes_and_off_it_handlers_get_the_json_format(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert install(Terminal()) is False

    logger = logging.getLogger("tests.ops.json")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    monkeypatch.setattr(logger, "propagate", False)
    try:
        use_json_format(logger)
        logger.warning("conversation %s : aucune réponse", log_id("jeanne@example.fr"))
    finally:
        logger.removeHandler(handler)
    logged = json.loads(stream.getvalue())
    assert logged["message"].startswith("conversation h-")
    assert "jeanne" not in stream.getvalue()


# A process as the servers and our command line set up their logging, after install().
SETUPS = {
    "coloredlogs (Rasa, rasa_sdk)": "import coloredlogs; coloredlogs.install(level='INFO')",
    "basicConfig (python -m bot)": "logging.basicConfig(level=logging.INFO, format='%(message)s')",
}


@pytest.mark.parametrize("setup", SETUPS)
def test_a_process_off_a_terminal_logs_json_lines_however_it_sets_up_logging(setup: str) -> None:
    program = (
        "import logging\n"
        "from bot.ops.logs import install\n"
        "assert install()\n"
        f"{SETUPS[setup]}\n"
        "logging.getLogger('bot.knowledge.base').info('Fichier de connaissances rechargé : a.yml')\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", program],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    logged = json.loads(ran.stderr.strip().splitlines()[-1])
    assert logged["logger"] == "bot.knowledge.base" and logged["level"] == "INFO"
    assert logged["message"] == "Fichier de connaissances rechargé : a.yml"


# The line each server logs when it starts: the session's lines follow the last one.
STARTED = {"actions": "Starting action endpoint server", "rasa": "Starting Rasa server on"}


@pytest.mark.servers
def test_the_real_servers_write_json_lines(running_bot: RunningBot) -> None:
    running_bot.conversation().send("bonjour")
    for name, marker in STARTED.items():
        lines = running_bot.processes.log_path(name).read_text(encoding="utf-8").splitlines()
        # The files keep earlier sessions' lines; this session's start is the last JSON marker.
        start = max(
            index
            for index, line in enumerate(lines)
            if line.startswith("{") and marker in json.loads(line)["message"]
        )
        logged = [json.loads(line) for line in lines[start:] if line.strip()]
        assert all({"time", "level", "logger", "message"} <= set(line) for line in logged)
        assert len({line["logger"] for line in logged}) > 1, name
