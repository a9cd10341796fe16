"""Shared fixtures: the project's knowledge, one trained model and one pair of real servers per session."""

from __future__ import annotations

import json
import os
import shutil
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# SQLAlchemy 1.4 (pinned by Rasa) announces 2.0 on every import of Rasa's tracker store.
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

from bot.knowledge import PROJECT_ROOT, KnowledgeBase, domain_intents
from bot.servers import BotProcesses, train_if_needed

ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # "No tests collected" must never look like a pass, even if someone
    # narrows the run: an empty run is a failure.
    if session.testscollected == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def intents() -> frozenset[str]:
    return domain_intents()


@pytest.fixture(scope="session")
def knowledge(intents: frozenset[str]) -> KnowledgeBase:
    base = KnowledgeBase(PROJECT_ROOT / "knowledge", intents)
    base.refresh()
    return base


@pytest.fixture(scope="session")
def model() -> Path:
    """The project's model, trained at most once per session (reused while its inputs are unchanged)."""
    return train_if_needed()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningBot:
    """The real servers of the session, and where their knowledge and conversations live."""

    processes: BotProcesses
    knowledge_dir: Path
    database: Path

    def conversation(self) -> Conversation:
        return Conversation(self.processes.rest_url, f"test-{uuid.uuid4().hex[:12]}")


@dataclass
class Conversation:
    """One citizen talking to the bot over the REST channel."""

    url: str
    sender: str
    history: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)

    def send(self, text: str) -> list[dict[str, Any]]:
        body = json.dumps({"sender": self.sender, "message": text}).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            replies: list[dict[str, Any]] = json.loads(response.read())
        self.history.append((text, replies))
        return replies

    def text(self, message: str) -> str:
        """The bot's reply texts to one message, joined."""
        return "\n".join(r.get("text", "") for r in self.send(message))


@pytest.fixture(scope="session")
def running_bot(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    """The action server and Rasa server on loopback, once for the whole session.

    The action server reads a copy of knowledge/, so tests may edit it.
    """
    state = tmp_path_factory.mktemp("bot")
    knowledge_dir = state / "knowledge"
    shutil.copytree(PROJECT_ROOT / "knowledge", knowledge_dir)
    database = state / "conversations.db"
    processes = BotProcesses(
        model=model,
        rasa_port=_free_port(),
        actions_port=_free_port(),
        state_dir=state,
        database=database,
        log_dir=ARTIFACTS / "logs",
        extra_env={"BOT_KNOWLEDGE_DIR": str(knowledge_dir)},
    )
    processes.start(supervise=True)
    try:
        yield RunningBot(processes, knowledge_dir, database)
    finally:
        processes.stop()
    assert processes.failure is None, processes.failure
