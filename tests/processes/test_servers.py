"""Starting the bot: the model is named by its inputs; the running bot survives a dying process and keeps its token private."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
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

from bot.knowledge import PROJECT_ROOT
from bot.servers import (
    MODEL_INPUTS,
    BotProcesses,
    ProcessSpec,
    RestartPolicy,
    model_fingerprint,
)
from tests.support import free_port

LOGS = PROJECT_ROOT / "tests" / "artifacts" / "logs" / "supervision"
CHANNEL_GIVEN_UP = (
    "Le canal d'essai s'est arrêté 6 fois en 5 min (dernier : code 3) : "
    "il n'est plus relancé, le reste du bot continue."
)


def test_fingerprint_changes_with_the_training_data_only(tmp_path: Path) -> None:
    for name in MODEL_INPUTS:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, tmp_path / name)
    before = model_fingerprint(tmp_path)
    (tmp_path / "knowledge").mkdir()
    (tmp_path / "knowledge" / "velo.yml").write_text("theme: x\n", encoding="utf-8")
    assert model_fingerprint(tmp_path) == before  # answers change without retraining
    with (tmp_path / "data" / "nlu.yml").open("a", encoding="utf-8") as handle:
        handle.write("    - une formulation de plus\n")
    assert model_fingerprint(tmp_path) != before


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
        extras=[channel],
    )
    log = _Messages()
    logging.getLogger("bot.servers").addHandler(log)
    try:
        processes.start(supervise=True)
        yield SupervisedBot(processes, state, log)
    finally:
        processes.stop()
        logging.getLogger("bot.servers").removeHandler(log)


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
