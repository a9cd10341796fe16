"""The scale-out on real parts: PostgreSQL, Redis, two Rasa instances behind nginx (`make cluster`).

One cluster for the module, on free loopback ports, in a temporary folder.
Skipped when PostgreSQL, Redis or nginx is not installed (`scripts/setup.sh
--tests` installs them as root).
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.channels.texts import UNAVAILABLE
from bot.processes.cluster import POSTGRES, REDIS, Cluster, system_programs
from tests.support import ARTIFACTS, Conversation, free_port

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(
        None in system_programs().values(),
        reason="PostgreSQL, Redis ou nginx absent (bash scripts/setup.sh --cluster)",
    ),
]


@pytest.fixture(scope="module")
def cluster(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    state = tmp_path_factory.mktemp("cluster")
    processes = Cluster(
        model=model,
        port=free_port(),
        postgres_port=free_port(),
        redis_port=free_port(),
        rasa_ports=[free_port(), free_port()],
        actions_ports=[free_port(), free_port()],
        state_dir=state,
        log_dir=ARTIFACTS / "logs" / "cluster",
    )
    processes.start()
    processes.watch_in_background()
    try:
        yield processes
    finally:
        processes.stop()


def _reply(conversation: Conversation, message: str) -> tuple[int, str]:
    """HTTP status and reply text of one message, a 503 included."""
    try:
        return 200, "\n".join(r.get("text", "") for r in conversation.send(message))
    except urllib.error.HTTPError as error:
        replies = json.loads(error.read())
        return error.code, "\n".join(r.get("text", "") for r in replies)


def _recovers(conversation: Conversation, message: str, timeout: float = 60.0) -> str:
    """The reply once the cluster answers again: the citizen simply tries again."""
    deadline = time.monotonic() + timeout
    while True:
        status, text = _reply(conversation, message)
        if status == 200 or time.monotonic() > deadline:
            assert status == 200, text
            return text
        time.sleep(1)


def _rest(cluster: Cluster, port: int, sender: str) -> Conversation:
    return Conversation(f"http://127.0.0.1:{port}/webhooks/rest/webhook", sender)


def test_a_conversation_goes_on_with_its_memory_on_the_other_instance(cluster: Cluster) -> None:
    sender = f"cluster-{os.getpid()}-{time.monotonic_ns()}"
    first, second = cluster.rasa_ports
    # Each instance directly, to be sure both take part: the commune given to the first...
    assert "commune" in _rest(cluster, first, sender).text("quand passe le camion poubelle ?")
    assert "Balma" in _rest(cluster, second, sender).text("Balma")
    # ...is remembered by the second, then through nginx once the first is killed.
    pid = cluster.pid(cluster.rasa_key(1))
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    through_nginx = Conversation(cluster.rest_url, sender)
    for _ in range(3):  # nginx skips the dead instance, whichever it tries first
        assert "Balma" in through_nginx.text("et la mairie elle ouvre quand ?")


@pytest.mark.parametrize("store", [POSTGRES, REDIS])
def test_a_stopped_store_is_said_in_french_and_the_bot_recovers(
    cluster: Cluster, store: str
) -> None:
    conversation = Conversation(cluster.rest_url, f"store-{store}-{time.monotonic_ns()}")
    assert "Colomiers" in _recovers(conversation, "horaires de la mairie de colomiers")
    pid = cluster.pid(store)
    assert pid is not None
    # A clean, fast stop (PostgreSQL's SIGINT); the supervisor starts it again 3 s after it ended.
    os.kill(pid, signal.SIGINT if store == POSTGRES else signal.SIGTERM)
    deadline = time.monotonic() + 10
    while cluster.pid(store) == pid and time.monotonic() < deadline:
        time.sleep(0.05)
    status, text = _reply(conversation, "et la collecte des déchets ?")
    assert status == 503 and UNAVAILABLE in text
    assert "Colomiers" in _recovers(conversation, "et la collecte des déchets ?")
