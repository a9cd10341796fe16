"""The bot's real servers, supervised: they survive a dying process, keep their token private, and log without other packages' notices."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import stat
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.paths import PROJECT_ROOT
from bot.processes import ACTIONS, RASA, BotProcesses, ProcessSpec, RestartPolicy
from tests.support import free_port

LOGS = PROJECT_ROOT / "tests" / "artifacts" / "logs" / "supervision"
CHANNEL_GIVEN_UP = (
    "Le canal d'essai s'est arrêté 6 fois en 5 min (dernier : code 3) : "
    "il n'est plus relancé, le reste du bot continue."
)


class _Messages(logging.Handler):
    """The supervisor's log lines, from the whole module (caplog keeps one test's only)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@dataclass
class SupervisedBot:
    processes: BotProcesses
    state_dir: Path
    log: _Messages


def _servers_lines(messages: list[str]) -> list[str]:
    """Log lines about the servers (the failing channel of the fixture writes its own meanwhile)."""
    return [m for m in messages if "canal d'essai" not in m]


def _until(condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not reached within {timeout:.0f} s"
        time.sleep(0.2)


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _ready(bot: BotProcesses, key: str) -> bool:
    """Whether process `key`'s server answers its readiness address."""
    url = next(spec.ready_url for spec in bot.specs() if spec.key == key)
    try:
        with urllib.request.urlopen(url or "", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:  # URLError and refused connections
        return False


def _say(bot: BotProcesses, text: str) -> str:
    """A new citizen's message over the REST channel; the bot's reply texts, joined."""
    body = json.dumps({"sender": f"test-{uuid.uuid4().hex[:12]}", "message": text}).encode()
    request = urllib.request.Request(
        bot.rest_url, data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return "\n".join(r.get("text", "") for r in json.loads(response.read()))


def _status(bot: BotProcesses, query: str = "") -> int:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{bot.rasa_port}/status{query}", timeout=10
        ) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _command_lines() -> dict[int, bytes]:
    lines = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines[int(entry.name)] = (entry / "cmdline").read_bytes()
            except OSError:  # ended meanwhile, or not ours to read
                continue
    return lines


@pytest.fixture(scope="module")
def supervised_bot(
    model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SupervisedBot]:
    """Servers of their own (ports, state, database), supervised in the background.

    Beside them, a channel process that exits at once every time, with short
    delays, so that the supervisor gives up on it during the module.
    """
    shutil.rmtree(LOGS, ignore_errors=True)  # this module's logs: this run's only
    state = tmp_path_factory.mktemp("supervision") / "var"
    state.mkdir(mode=0o755)
    state.chmod(0o755)  # as a `var/` created before the bot kept it private
    channel = ProcessSpec(
        "essai",
        "canal d'essai",
        (sys.executable, "-c", "import sys; sys.exit(3)"),
        essential=False,
        policy=RestartPolicy(first_delay=0.1, max_delay=0.2),
    )
    processes = BotProcesses(
        model=model,
        rasa_port=free_port(),
        actions_port=free_port(),
        state_dir=state,
        database=state / "conversations.db",
        log_dir=LOGS,
        channels=[channel],
    )
    log = _Messages()
    logging.getLogger("bot.processes").addHandler(log)
    try:
        processes.start(supervise=True)
        yield SupervisedBot(processes, state, log)
    finally:
        processes.stop()
        logging.getLogger("bot.processes").removeHandler(log)


@pytest.mark.servers
def test_the_api_token_is_in_no_command_line_and_still_opens_the_api(
    supervised_bot: SupervisedBot,
) -> None:
    bot = supervised_bot.processes
    token = bot.token.encode()
    lines = _command_lines()
    assert b"bot.rasa_plugins.server" in lines[bot.pid("rasa") or 0]  # the Rasa server is seen
    assert [pid for pid, line in lines.items() if token in line] == []
    assert token not in bot.log_path("rasa").read_bytes()
    assert _status(bot, f"?token={bot.token}") == 200
    assert _status(bot) == 401
    assert _status(bot, "?token=faux") == 401


@pytest.mark.servers
def test_a_burst_of_connections_waits_for_a_busy_rasa_server_instead_of_being_dropped(
    supervised_bot: SupervisedBot,
) -> None:
    # A frozen event loop accepts nothing, like one busy with a burst: the
    # kernel must still queue the new connections (Rasa's default queue is
    # 100; past it the kernel drops them and nginx takes the instance for dead).
    bot = supervised_bot.processes
    pid = bot.pid("rasa")
    assert pid is not None
    connections: list[socket.socket] = []
    os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(300):
            connection = socket.socket()
            connection.settimeout(1.0)
            connections.append(connection)
            connection.connect(("127.0.0.1", bot.rasa_port))
    finally:
        os.kill(pid, signal.SIGCONT)
        for connection in connections:
            connection.close()
    assert len(connections) == 300
    assert _status(bot, f"?token={bot.token}") == 200  # and the server goes on


@pytest.mark.servers
def test_the_state_folder_and_the_token_file_are_private(supervised_bot: SupervisedBot) -> None:
    bot = supervised_bot.processes
    assert stat.S_IMODE(supervised_bot.state_dir.stat().st_mode) == 0o700
    assert bot.token_file.parent == supervised_bot.state_dir
    assert bot.token_file.read_text(encoding="utf-8") == bot.token + "\n"
    assert stat.S_IMODE(bot.token_file.stat().st_mode) == 0o600


@pytest.mark.servers
def test_a_killed_action_server_is_restarted_and_answers_again(
    supervised_bot: SupervisedBot,
) -> None:
    bot = supervised_bot.processes
    seen = len(supervised_bot.log.messages)
    rasa = bot.pid("rasa")
    first = bot.pid("actions")
    assert first is not None and _alive(rasa)
    os.kill(first, signal.SIGKILL)
    _until(lambda: bot.pid("actions") not in (None, first) and _ready(bot, "actions"))
    assert "Athènes" in _say(bot, "qui a gagné le prix icapital ?")
    assert bot.pid("rasa") == rasa and _alive(rasa)  # the Rasa server never stopped
    assert bot.failure is None
    assert _servers_lines(supervised_bot.log.messages[seen:]) == [
        "Le serveur d'actions s'est arrêté (code -9) : redémarrage dans 1 s (1re fois)."
    ]


@pytest.mark.servers
def test_a_killed_rasa_server_is_restarted_with_its_token(supervised_bot: SupervisedBot) -> None:
    bot = supervised_bot.processes
    seen = len(supervised_bot.log.messages)
    actions = bot.pid("actions")
    first = bot.pid("rasa")
    assert first is not None
    os.kill(first, signal.SIGKILL)
    _until(lambda: bot.pid("rasa") not in (None, first) and _ready(bot, "rasa"))
    assert _status(bot, f"?token={bot.token}") == 200
    assert _status(bot) == 401
    assert "Athènes" in _say(bot, "qui a gagné le prix icapital ?")
    assert bot.pid("actions") == actions and _alive(actions)
    assert bot.failure is None
    assert _servers_lines(supervised_bot.log.messages[seen:]) == [
        "Le serveur Rasa s'est arrêté (code -9) : redémarrage dans 1 s (1re fois)."
    ]


@pytest.mark.servers
def test_a_channel_that_keeps_stopping_is_given_up_while_the_bot_answers(
    supervised_bot: SupervisedBot,
) -> None:
    bot = supervised_bot.processes
    _until(lambda: CHANNEL_GIVEN_UP in supervised_bot.log.messages, timeout=60)
    assert bot.pid("essai") is None
    assert "Athènes" in _say(bot, "qui a gagné le prix icapital ?")
    assert bot.failure is None
    assert (LOGS / "essai.log").exists()


@pytest.mark.servers
def test_the_servers_logs_hold_the_bot_s_lines_without_other_packages_notices(
    supervised_bot: SupervisedBot,
) -> None:
    bot = supervised_bot.processes
    rasa = bot.log_path(RASA).read_text(encoding="utf-8")
    actions = bot.log_path(ACTIONS).read_text(encoding="utf-8")
    assert re.search(r"Modèle spaCy \S+ chargé", rasa)  # the project's own lines stay
    assert "Action endpoint is up and running" in actions
    for log in (rasa, actions):
        # Deprecation notices (SQLAlchemy, pkg_resources, pyparsing…) and TensorFlow's C++ log.
        assert "DeprecationWarning" not in log
        assert "Warning:" not in log
        assert "tensorflow/" not in log
