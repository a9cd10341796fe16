"""Trains the model when its inputs changed, and runs the action server and Rasa server together.

Used by the `run` command, the tests and the benchmarks, so all three start
the bot the same way.
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
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.knowledge import PROJECT_ROOT

__all__ = [
    "BotProcesses",
    "ExtraProcess",
    "ServerDied",
    "model_fingerprint",
    "train_if_needed",
]

logger = logging.getLogger(__name__)

# Everything a trained model depends on: change one and the model is retrained.
MODEL_INPUTS = ("config.yml", "domain.yml", "data", "bot/nlu.py", "constraints.txt")


class ServerDied(RuntimeError):
    """One of the bot's processes stopped; the message says which, in French."""


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


@dataclass(frozen=True)
class ExtraProcess:
    """A channel process started once both servers answer, such as the Telegram bridge.

    If it stops, the servers keep running: one channel failing must not take
    the others down.
    """

    label: str
    command: tuple[str, ...]


@dataclass
class BotProcesses:
    """The action server and the Rasa server, started together and stopped together."""

    model: Path
    rasa_port: int = 5005
    actions_port: int = 5055
    endpoints: Path = PROJECT_ROOT / "endpoints.yml"
    credentials: Path = PROJECT_ROOT / "credentials.yml"
    token: str = field(
        default_factory=lambda: os.environ.get("BOT_RASA_TOKEN") or secrets.token_urlsafe(24)
    )
    log_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    cwd: Path = PROJECT_ROOT
    state_dir: Path = PROJECT_ROOT / "var"
    database: Path | None = None
    extra: ExtraProcess | None = None
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, init=False)

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/webhook"

    def pid(self, label: str) -> int | None:
        """Process id of `"serveur Rasa"` or `"serveur d'actions"`, None before `start`."""
        process = self._processes.get(label)
        return process.pid if process is not None else None

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
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / f"endpoints-{self.rasa_port}.yml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        return path

    def start(self) -> None:
        """Starts both servers; returns once both answer, or raises `ServerDied`."""
        endpoints = self.runtime_endpoints()
        env = {**os.environ, "SANIC_HOST": "127.0.0.1", **self.extra_env}
        self._spawn(
            "serveur d'actions",
            [
                sys.executable,
                "-m",
                "rasa_sdk",
                "--actions",
                "actions",
                "--port",
                str(self.actions_port),
            ],
            env,
        )
        self._spawn(
            "serveur Rasa",
            [
                _rasa(),
                "run",
                "--model",
                str(self.model),
                "--endpoints",
                str(endpoints),
                "--credentials",
                str(self.credentials),
                "--interface",
                "127.0.0.1",
                "--port",
                str(self.rasa_port),
                # The HTTP API answers only with this token, and only on loopback.
                "--enable-api",
                "--auth-token",
                self.token,
            ],
            env,
        )
        self.wait_ready()
        if self.extra is not None:
            self._spawn(self.extra.label, list(self.extra.command), env)

    def log_path(self, label: str) -> Path:
        """Where a process's output goes when `log_dir` is set."""
        assert self.log_dir is not None
        return self.log_dir / ("actions.log" if "actions" in label else "rasa.log")

    def _spawn(self, label: str, command: list[str], env: dict[str, str]) -> None:
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = self.log_path(label).open("ab")
        self._processes[label] = subprocess.Popen(
            command,
            cwd=self.cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 300.0) -> None:
        checks = {
            "serveur d'actions": f"http://127.0.0.1:{self.actions_port}/health",
            "serveur Rasa": f"http://127.0.0.1:{self.rasa_port}/",
        }
        deadline = time.monotonic() + timeout
        waiting = dict(checks)
        while waiting:
            self.check_alive()
            for label, url in list(waiting.items()):
                if _ready(url):
                    del waiting[label]
            if time.monotonic() > deadline:
                self.stop()
                raise ServerDied(f"{', '.join(waiting)} : pas prêt après {timeout:.0f} s.")
            time.sleep(0.5)

    def check_alive(self) -> None:
        """Raises `ServerDied` (after stopping the other) if one process has stopped."""
        for label, process in list(self._processes.items()):
            code = process.poll()
            if code is not None and self.extra is not None and label == self.extra.label:
                logger.warning(
                    "Le %s s'est arrêté (code %s) ; le reste du bot continue.", label, code
                )
                del self._processes[label]
            elif code is not None:
                self.stop()
                raise ServerDied(f"Le {label} s'est arrêté (code {code}) : arrêt du bot.")

    def stop(self) -> None:
        """Stops both servers and the extra process (SIGTERM, then SIGKILL after 10 s)."""
        for process in self._processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self._processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
