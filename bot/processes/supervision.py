"""Running processes together: one that stops is started again after a growing delay, one that keeps stopping is given up.

Nothing here knows the bot: a `ProcessSpec` says what to run and what its
stopping means, a `RestartPolicy` when to start it again, and a `Supervisor`
runs them. The bot's own processes are listed in `bot.processes.bot_processes`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ProcessSpec", "RestartPolicy", "ServerDied", "Supervisor", "answers"]

logger = logging.getLogger(__name__)


class ServerDied(RuntimeError):
    """The bot stopped because one of its servers kept stopping; the message says which, in French."""


def answers(url: str) -> bool:
    """Whether `url` answers 200 now (a server's readiness address)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _seconds(value: float) -> str:
    """A number of seconds as French text: "2", "0,5"."""
    return f"{value:g}".replace(".", ",")


def _duration(seconds: float) -> str:
    """A policy window as French text: "5 min", "2 s"."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{_seconds(seconds)} s"


def _ordinal(number: int) -> str:
    """French ordinal agreeing with "fois": "1re", "2e"."""
    return "1re" if number == 1 else f"{number}e"


@dataclass(frozen=True)
class RestartPolicy:
    """When a process that stopped is started again, and when the supervisor gives up on it.

    The n-th stop within `window` seconds is followed by a restart after
    `first_delay * 2 ** (n - 1)` seconds, at most `max_delay`: 1, 2, 4, 8,
    16 s by default. A process that stops more than `max_restarts` times
    within `window` seconds is given up. A process that ran longer than
    `window` since its earlier stops starts again from the first delay.
    """

    first_delay: float = 1.0
    max_delay: float = 30.0
    max_restarts: int = 5
    window: float = 300.0

    def delay(self, restart: int) -> float:
        """Seconds to wait before the `restart`-th restart within the window (1 for the first)."""
        return float(min(self.max_delay, self.first_delay * 2 ** (restart - 1)))


@dataclass(frozen=True)
class ProcessSpec:
    """One process to supervise: what it runs, how to know it answers, what its stopping means.

    Attributes:
        key: identifier (`"actions"`, `"rasa"`, `"telegram"`); names the log file `<key>.log`.
        label: French name for messages ("serveur d'actions"), used after "Le".
        command: the program and its arguments (never a secret: `ps` shows them to everyone).
        ready_url: answers 200 once the process serves; processes without one (channels)
            start once every process with one answers.
        env: variables for this process only (a secret goes here).
        essential: giving up on it stops the whole bot; otherwise the rest runs on.
        policy: its own restart policy, instead of the supervisor's.
    """

    key: str
    label: str
    command: tuple[str, ...]
    ready_url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    essential: bool = True
    policy: RestartPolicy | None = None


@dataclass
class _Slot:
    """A supervised process: its current run, its recent stops and its pending restart."""

    spec: ProcessSpec
    process: subprocess.Popen[bytes] | None = None
    stops: deque[float] = field(default_factory=deque)
    restart_at: float | None = None


def _signal_group(pid: int, signum: int) -> None:
    # Each process leads its own session: its children (and what survives a
    # killed leader, such as a socket-holding worker) go with it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


class Supervisor:
    """Runs processes, starts again each one that stops by its policy, and stops them all.

    `check` does one round and never sleeps: the `run` command calls it in its
    loop, `watch_in_background` calls it from a daemon thread (for the tests'
    servers, which have no loop of their own), and `stop` ends both.
    """

    def __init__(
        self,
        *,
        cwd: Path,
        env: Mapping[str, str],
        log_dir: Path | None = None,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.cwd = cwd
        self.env = dict(env)
        self.log_dir = log_dir
        self.policy = policy or RestartPolicy()
        self.failure: ServerDied | None = None
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def log_path(self, key: str) -> Path:
        """Where the output of process `key` goes when `log_dir` is set."""
        assert self.log_dir is not None
        return self.log_dir / f"{key}.log"

    def launch(self, spec: ProcessSpec) -> None:
        """Starts `spec`'s process and supervises it from now on."""
        with self._lock:
            slot = self._slots.setdefault(spec.key, _Slot(spec))
            self._spawn(slot)

    def pid(self, key: str) -> int | None:
        """Process id of process `key`; None while it waits for its restart or was given up."""
        with self._lock:
            slot = self._slots.get(key)
            return slot.process.pid if slot is not None and slot.process is not None else None

    def check(self) -> None:
        """One round: notes each process that stopped, restarts those whose delay is over.

        Raises:
            ServerDied: an essential process kept stopping; every process is stopped by then.
        """
        with self._lock:
            if self._stopping.is_set():
                return
            now = time.monotonic()
            for slot in list(self._slots.values()):
                if slot.process is not None:
                    code = slot.process.poll()
                    if code is not None:
                        _signal_group(slot.process.pid, signal.SIGKILL)
                        slot.process = None
                        self._stopped(slot, f"code {code}", now)
                elif slot.restart_at is not None and now >= slot.restart_at:
                    try:
                        self._spawn(slot)
                    except OSError as error:  # its program removed meanwhile: a stop too
                        self._stopped(slot, f"lancement impossible : {error}", now)

    def watch_in_background(self, interval: float = 0.5) -> None:
        """Runs `check` every `interval` seconds in a daemon thread until `stop`.

        If an essential process is given up, every process is stopped, the
        reason is logged and kept in `failure`.
        """
        self._thread = threading.Thread(
            target=self._watch, args=(interval,), name="bot-supervisor", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the watching thread, then every process (SIGTERM, SIGKILL after `timeout` s)."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._lock:
            self._stop_processes(timeout)

    def _watch(self, interval: float) -> None:
        while not self._stopping.wait(interval):
            try:
                self.check()
            except ServerDied as error:
                self.failure = error
                logger.error("%s", error)
                return

    def _spawn(self, slot: _Slot) -> None:
        spec = slot.spec
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = self.log_path(spec.key).open("ab")
        try:
            slot.process = subprocess.Popen(
                spec.command,
                cwd=self.cwd,
                env={**self.env, **spec.env},
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                start_new_session=True,
            )
        finally:
            if output is not None:
                output.close()  # the child has its own copy
        slot.restart_at = None

    def _stopped(self, slot: _Slot, why: str, now: float) -> None:
        """Schedules the restart of a process that stopped (`why`: "code 3"), or gives it up."""
        spec = slot.spec
        policy = spec.policy or self.policy
        slot.stops.append(now)
        while now - slot.stops[0] > policy.window:
            slot.stops.popleft()
        count = len(slot.stops)
        if count > policy.max_restarts:
            reason = (
                f"Le {spec.label} s'est arrêté {count} fois en {_duration(policy.window)} "
                f"(dernier : {why})"
            )
            if spec.essential:
                self._stop_processes()
                raise ServerDied(f"{reason} : arrêt du bot.")
            logger.error("%s : il n'est plus relancé, le reste du bot continue.", reason)
            del self._slots[spec.key]
            return
        delay = policy.delay(count)
        logger.warning(
            "Le %s s'est arrêté (%s) : redémarrage dans %s s (%s fois).",
            spec.label,
            why,
            _seconds(delay),
            _ordinal(count),
        )
        slot.restart_at = now + delay

    def _stop_processes(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        running = [s.process for s in self._slots.values() if s.process is not None]
        for process in running:
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        for slot in self._slots.values():
            slot.process = None
            slot.restart_at = None
