"""Test helpers shared by the suite: talking to the real servers over REST, free ports, where artifacts go.

Fixtures live in `tests/conftest.py`; what tests import lives here and in:

    bad_requests       request bodies the channels refuse, with each status and French text
    channels           the REST and web channels served in-process, a stand-in for Rasa behind
    clocks             clocks and sleeps that tests move by hand
    fake_telegram_api  a fake Telegram Bot API over HTTP, for the real-server scenarios
    stores             conversation stores built directly, without the servers
    telegram           the Telegram bridge in-process: a recording Bot API, a stand-in Rasa, updates
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.paths import PROJECT_ROOT
from bot.processes import BotProcesses

__all__ = ["ARTIFACTS", "Conversation", "RunningBot", "free_port", "frozen"]

ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@dataclass
class RunningBot:
    """The real servers of the session, and where their knowledge and conversations live."""

    processes: BotProcesses
    knowledge_dir: Path
    database: Path

    def conversation(self) -> Conversation:
        return Conversation(self.processes.rest_url, f"test-{uuid.uuid4().hex[:12]}")


@contextmanager
def frozen(pid: int, longest: float = 60.0) -> Iterator[None]:
    """Process `pid` stopped (SIGSTOP) for the block, resumed after it, or after `longest` seconds whatever happens."""
    os.kill(pid, signal.SIGSTOP)
    resumed = threading.Timer(longest, os.kill, (pid, signal.SIGCONT))
    resumed.start()
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)
        resumed.cancel()
