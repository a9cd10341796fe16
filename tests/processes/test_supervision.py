"""Supervising the bot's processes: one that stops is started again, one that keeps stopping is given up.

Small stand-in processes (`sleep`, a Python that exits at once) and short
delays: what is checked is the behaviour and the French messages, not the
production delays (those are `RestartPolicy`'s defaults, checked on their own).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.processes import ProcessSpec, RestartPolicy, ServerDied, Supervisor

FAST = RestartPolicy(first_delay=0.05, max_delay=0.2)
SLEEPER = ProcessSpec("dormeur", "processus dormeur", ("sleep", "600"))
FAILING = ProcessSpec(
    "essai", "processus d'essai", (sys.executable, "-c", "import sys; sys.exit(3)")
)


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    supervisor = Supervisor(cwd=tmp_path, env=os.environ, log_dir=tmp_path / "logs", policy=FAST)
    try:
        yield supervisor
    finally:
        supervisor.stop(timeout=5)


def _until(condition: Callable[[], bool], supervisor: Supervisor | None = None) -> None:
    """Runs supervision rounds (if given a supervisor) until `condition` holds; fails after 30 s."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "condition not reached within 30 s"
        if supervisor is not None:
            supervisor.check()
        time.sleep(0.02)


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not alive: its parent has not collected it yet.
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_default_delays_double_from_one_second_up_to_thirty() -> None:
    policy = RestartPolicy()
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert (policy.max_restarts, policy.window) == (5, 300)


def test_a_killed_process_is_started_again_and_the_log_says_so(
    supervisor: Supervisor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.processes.supervision")
    supervisor.launch(SLEEPER)
    first = supervisor.pid("dormeur")
    assert first is not None
    os.kill(first, signal.SIGKILL)
    _until(lambda: supervisor.pid("dormeur") not in (None, first), supervisor)
    assert _alive(supervisor.pid("dormeur"))
    assert (
        "Le processus dormeur s'est arrêté (code -9) : redémarrage dans 0,05 s (1re fois)."
        in caplog.messages
    )


def test_a_server_that_keeps_stopping_stops_the_bot_and_is_named(
    supervisor: Supervisor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.processes.supervision")
    supervisor.launch(SLEEPER)
    survivor = supervisor.pid("dormeur")
    supervisor.launch(FAILING)
    deadline = time.monotonic() + 30
    with pytest.raises(ServerDied) as raised:
        while time.monotonic() < deadline:
            supervisor.check()
            time.sleep(0.02)
    assert str(raised.value) == (
        "Le processus d'essai s'est arrêté 6 fois en 5 min (dernier : code 3) : arrêt du bot."
    )
    # Five restarts, each after a longer wait, up to the cap.
    assert [m for m in caplog.messages if "processus d'essai" in m] == [
        f"Le processus d'essai s'est arrêté (code 3) : redémarrage dans {delay} s ({nth} fois)."
        for delay, nth in [
            ("0,05", "1re"),
            ("0,1", "2e"),
            ("0,2", "3e"),
            ("0,2", "4e"),
            ("0,2", "5e"),
        ]
    ]
    assert not _alive(survivor)


def test_a_program_gone_before_its_restart_counts_as_a_stop(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    program = tmp_path / "serveur.sh"
    program.write_text("#!/bin/sh\nexec sleep 600\n", encoding="ascii")
    program.chmod(0o755)
    supervisor.launch(ProcessSpec("disparu", "serveur disparu", (str(program),)))
    first = supervisor.pid("disparu")
    assert first is not None
    program.unlink()
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    with pytest.raises(
        ServerDied,
        match=r"^Le serveur disparu s'est arrêté 6 fois en 5 min "
        r"\(dernier : lancement impossible : .*serveur\.sh.*\) : arrêt du bot\.$",
    ):
        while time.monotonic() < deadline:
            supervisor.check()
            time.sleep(0.02)


def test_a_channel_that_keeps_stopping_is_given_up_and_the_rest_runs_on(
    supervisor: Supervisor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.processes.supervision")
    supervisor.launch(SLEEPER)
    survivor = supervisor.pid("dormeur")
    channel = ProcessSpec("canal", "canal d'essai", FAILING.command, essential=False)
    supervisor.launch(channel)
    given_up = (
        "Le canal d'essai s'est arrêté 6 fois en 5 min (dernier : code 3) : "
        "il n'est plus relancé, le reste du bot continue."
    )
    _until(lambda: given_up in caplog.messages, supervisor)
    for _ in range(10):  # no more restarts
        supervisor.check()
        time.sleep(0.05)
    assert supervisor.pid("canal") is None
    assert supervisor.pid("dormeur") == survivor and _alive(survivor)


def test_a_process_restarted_is_logged_to_its_own_file(supervisor: Supervisor) -> None:
    spec = ProcessSpec("bavard", "processus bavard", ("sh", "-c", "echo bonjour; exec sleep 600"))
    supervisor.launch(spec)
    log = supervisor.log_path("bavard")
    assert log.name == "bavard.log"
    _until(lambda: log.exists() and log.read_text() == "bonjour\n")
    first = supervisor.pid("bavard")
    assert first is not None
    os.kill(first, signal.SIGKILL)
    _until(lambda: log.read_text() == "bonjour\nbonjour\n", supervisor)


def test_background_supervision_restarts_until_stopped(tmp_path: Path) -> None:
    supervisor = Supervisor(cwd=tmp_path, env=os.environ, policy=FAST)
    supervisor.launch(SLEEPER)
    try:
        supervisor.watch_in_background(interval=0.05)
        first = supervisor.pid("dormeur")
        assert first is not None
        os.kill(first, signal.SIGKILL)
        _until(lambda: supervisor.pid("dormeur") not in (None, first))
        second = supervisor.pid("dormeur")
    finally:
        supervisor.stop(timeout=5)
    assert not _alive(second)
    time.sleep(0.3)  # longer than a restart's delay: nothing comes back after stop()
    assert supervisor.pid("dormeur") is None


def test_background_supervision_keeps_why_it_stopped_the_bot(tmp_path: Path) -> None:
    supervisor = Supervisor(cwd=tmp_path, env=os.environ, policy=FAST)
    supervisor.launch(SLEEPER)
    survivor = supervisor.pid("dormeur")
    supervisor.launch(FAILING)
    try:
        supervisor.watch_in_background(interval=0.02)
        _until(lambda: supervisor.failure is not None)
    finally:
        supervisor.stop(timeout=5)
    assert "Le processus d'essai s'est arrêté 6 fois" in str(supervisor.failure)
    assert not _alive(survivor)
