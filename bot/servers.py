"""Trains the model when its inputs changed, and runs the bot's processes together, restarting those that stop.

Used by the `run` command, the tests and the benchmarks, so all three start
the bot the same way.

Each process (the action server, the Rasa server, a channel process such as
the Telegram bridge) has an identifier (`"actions"`, `"rasa"`, `"telegram"`)
that names its log file, and a French label for messages. One that stops is
started again after a growing delay (`RestartPolicy`); one that keeps
stopping is given up: the bot stops if it was one of the servers, and runs
on without it if it was a channel process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.paths import PROJECT_ROOT, VAR_DIR, private_dir, write_private
from bot.rasa_plugins.server import TOKEN_ENV

__all__ = [
    "ACTIONS",
    "RASA",
    "TELEGRAM",
    "BotProcesses",
    "ProcessSpec",
    "RestartPolicy",
    "ServerDied",
    "Supervisor",
    "model_fingerprint",
    "train_if_needed",
]

logger = logging.getLogger(__name__)

# Everything a trained model depends on: change one and the model is retrained.
MODEL_INPUTS = ("config.yml", "domain.yml", "data", "bot/rasa_plugins/nlu.py", "constraints.txt")


# Identifiers of the bot's processes: they name the log files (`actions.log`).
ACTIONS = "actions"
RASA = "rasa"
TELEGRAM = "telegram"


class ServerDied(RuntimeError):
    """The bot stopped because one of its servers kept stopping; the message says which, in French."""


def _files(root: Path, inputs: Iterable[str]) -> list[Path]:
    files: list[Path] = []
    for name in inputs:
        path = root / name
        files.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    return files


def model_fingerprint(root: Path = PROJECT_ROOT) -> str:
    """A short hash of the model's inputs, used as the model's file name."""
    digest = hashlib.sha256()
    for path in _files(root, MODEL_INPUTS):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def train_if_needed(root: Path = PROJECT_ROOT, models_dir: Path | None = None) -> Path:
    """The model for the current inputs, trained only when no such model exists yet.

    Concurrent callers (two test runs, a benchmark) wait for one training
    instead of training the same model twice into the same file.
    """
    models_dir = models_dir or root / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    name = f"bot-{model_fingerprint(root)}"
    model = models_dir / f"{name}.tar.gz"
    with (models_dir / ".train.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if model.exists():
            print(f"Modèle à jour, réutilisé : {model}")
            return model
        print("Entraînement du modèle (données, domaine ou configuration modifiés)…", flush=True)
        subprocess.run(
            [
                _rasa(),
                "train",
                "--config",
                str(root / "config.yml"),
                "--domain",
                str(root / "domain.yml"),
                "--data",
                str(root / "data"),
                "--out",
                str(models_dir),
                "--fixed-model-name",
                name,
            ],
            cwd=root,
            check=True,
        )
    return model


def _rasa() -> str:
    return str(Path(sys.executable).with_name("rasa"))


def _ready(url: str) -> bool:
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
    """One of the bot's processes: what it runs, how to know it answers, what its stopping means.

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


@dataclass
class BotProcesses:
    """The bot's processes: action server, Rasa server and channel processes, supervised together.

    The Rasa HTTP API token reaches the Rasa server through its environment
    (`BOT_RASA_TOKEN`, read by `bot.rasa_plugins.server`), never its command line, and
    is kept in `token_file` (0600) for the staff who call the API.
    """

    model: Path
    rasa_port: int = 5005
    actions_port: int = 5055
    endpoints: Path = PROJECT_ROOT / "endpoints.yml"
    credentials: Path = PROJECT_ROOT / "credentials.yml"
    token: str = field(
        default_factory=lambda: os.environ.get(TOKEN_ENV, "").strip() or secrets.token_urlsafe(24),
        repr=False,
    )
    log_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    cwd: Path = PROJECT_ROOT
    state_dir: Path = VAR_DIR
    database: Path | None = None
    # Channel processes (the Telegram bridge), started once the servers answer.
    extras: list[ProcessSpec] = field(default_factory=list)
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    _supervisor: Supervisor | None = field(default=None, init=False, repr=False)

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/webhook"

    @property
    def token_file(self) -> Path:
        """Where the HTTP API token is kept for staff, readable by its owner only."""
        return self.state_dir / "rasa-token"

    @property
    def failure(self) -> ServerDied | None:
        """Why background supervision stopped the bot, if it did (`start(supervise=True)`)."""
        return self._supervisor.failure if self._supervisor is not None else None

    def specs(self) -> list[ProcessSpec]:
        """The bot's processes, in start order; adding a process is adding a line here or to `extras`."""
        return [
            ProcessSpec(
                ACTIONS,
                "serveur d'actions",
                (
                    sys.executable,
                    "-m",
                    "rasa_sdk",
                    "--actions",
                    "actions",
                    "--port",
                    str(self.actions_port),
                ),
                ready_url=f"http://127.0.0.1:{self.actions_port}/health",
            ),
            ProcessSpec(
                RASA,
                "serveur Rasa",
                (
                    sys.executable,
                    "-m",
                    "bot.rasa_plugins.server",
                    "run",
                    "--model",
                    str(self.model),
                    "--endpoints",
                    str(self._endpoints_file),
                    "--credentials",
                    str(self.credentials),
                    "--interface",
                    "127.0.0.1",
                    "--port",
                    str(self.rasa_port),
                    # The HTTP API answers only with the token (in env), only on loopback.
                    "--enable-api",
                ),
                ready_url=f"http://127.0.0.1:{self.rasa_port}/",
                env={TOKEN_ENV: self.token},
            ),
            *self.extras,
        ]

    def pid(self, name: str) -> int | None:
        """Process id of process `name` (`"rasa"`, `"actions"`…); None when it is not running."""
        if self._supervisor is None:
            return None
        return self._supervisor.pid(name)

    def log_path(self, name: str) -> Path:
        """Where the output of process `name` (`"actions"`…) goes when `log_dir` is set."""
        assert self.log_dir is not None
        return self.log_dir / f"{name}.log"

    @property
    def _endpoints_file(self) -> Path:
        return self.state_dir / f"endpoints-{self.rasa_port}.yml"

    def runtime_endpoints(self) -> Path:
        """`endpoints.yml` with this run's action server port and conversation database."""
        with self.endpoints.open(encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
        config["action_endpoint"]["url"] = f"http://127.0.0.1:{self.actions_port}/webhook"
        store = config.get("tracker_store") or {}
        if self.database is not None and store.get("dialect") == "sqlite":
            store["db"] = str(self.database)
        elif store.get("dialect") == "sqlite":
            store["db"] = str((self.cwd / store["db"]).resolve())
        private_dir(self.state_dir)
        # Private: a database's password may be in it.
        write_private(self._endpoints_file, yaml.safe_dump(config, allow_unicode=True))
        return self._endpoints_file

    def start(self, supervise: bool = False) -> None:
        """Starts the servers, then the channel processes once the servers answer.

        With `supervise`, a background thread restarts processes that stop
        until `stop`; otherwise the caller calls `check_alive` regularly.

        Raises:
            ServerDied: a server kept stopping, or did not answer in time.
        """
        self.runtime_endpoints()
        write_private(self.token_file, self.token + "\n")
        # The token goes to the Rasa server alone (ProcessSpec.env).
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
        env.update({"SANIC_HOST": "127.0.0.1", **self.extra_env})
        self._supervisor = Supervisor(
            cwd=self.cwd, env=env, log_dir=self.log_dir, policy=self.restart
        )
        specs = self.specs()
        for spec in specs:
            if spec.ready_url is not None:
                self._supervisor.launch(spec)
        self.wait_ready()
        for spec in specs:
            if spec.ready_url is None:
                self._supervisor.launch(spec)
        if supervise:
            self._supervisor.watch_in_background()

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Returns once every server answers (restarting those that stop meanwhile)."""
        supervisor = self._started()
        waiting = {s.label: s.ready_url for s in self.specs() if s.ready_url is not None}
        deadline = time.monotonic() + timeout
        while waiting:
            supervisor.check()
            for label, url in list(waiting.items()):
                if _ready(url):
                    del waiting[label]
            if not waiting:
                break
            if time.monotonic() > deadline:
                self.stop()
                raise ServerDied(f"{', '.join(waiting)} : pas prêt après {timeout:.0f} s.")
            time.sleep(0.5)

    def check_alive(self) -> None:
        """One supervision round: restarts what stopped, by the restart policy.

        Raises:
            ServerDied: a server kept stopping; every process is stopped by then.
        """
        self._started().check()

    def stop(self) -> None:
        """Stops supervision, then every process (SIGTERM, then SIGKILL after 10 s)."""
        if self._supervisor is not None:
            self._supervisor.stop()

    def _started(self) -> Supervisor:
        if self._supervisor is None:
            raise RuntimeError("BotProcesses.start() first")
        return self._supervisor
