"""Shared fixtures: the project's knowledge, one trained model and one pair of real servers per session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# SQLAlchemy 1.4 (pinned by Rasa) announces 2.0 on every import of Rasa's tracker store.
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

from bot.knowledge import KnowledgeBase, domain_intents
from bot.paths import PROJECT_ROOT
from bot.processes import BotProcesses, train_if_needed
from tests.support import ARTIFACTS, RunningBot, free_port


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
        rasa_port=free_port(),
        actions_port=free_port(),
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
