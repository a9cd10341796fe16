"""The bot's processes, which `make run`, the tests and the benchmarks start the same way.

    bot = BotProcesses(model=train_if_needed())
    bot.channels.append(telegram_bridge(bot.rest_url))    # optional
    bot.start()                  # servers first, channel processes once they answer
    ...
    bot.check_alive()            # in the caller's loop, or start(supervise=True)
    bot.stop()

Each process has an identifier that names its log file: `ACTIONS` (the
action server), `RASA` (the Rasa server), `TELEGRAM` (the Telegram bridge).
Adding a process is adding its `ProcessSpec` to `BotProcesses.specs`.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.paths import PROJECT_ROOT, VAR_DIR, write_private
from bot.processes.endpoints import runtime_endpoints
from bot.processes.quiet import QUIET_ENV, python_command
from bot.processes.supervision import ProcessSpec, RestartPolicy, ServerDied, Supervisor, answers
from bot.rasa_plugins.server import TOKEN_ENV

__all__ = [
    "ACTIONS",
    "RASA",
    "TELEGRAM",
    "BotProcesses",
    "action_server",
    "rasa_server",
    "telegram_bridge",
]

# Identifiers of the bot's processes: they name the log files (`actions.log`).
ACTIONS = "actions"
RASA = "rasa"
TELEGRAM = "telegram"


def telegram_bridge(rest_url: str, *, verbose: bool = False) -> ProcessSpec:
    """The Telegram bridge (`python -m bot telegram`) relaying to Rasa's REST channel at `rest_url`.

    Not essential: if it keeps stopping (a revoked token), it is given up and the servers run on.
    """
    command = (
        "-m",
        "bot",
        "telegram",
        "--rasa-url",
        rest_url,
        *(("--verbose",) if verbose else ()),
    )
    return ProcessSpec(TELEGRAM, "pont Telegram", (sys.executable, *command), essential=False)


def action_server(key: str, label: str, port: int, *, verbose: bool = False) -> ProcessSpec:
    """An action server (`rasa_sdk`) on loopback `port`, ready when its `/health` answers."""
    return ProcessSpec(
        key,
        label,
        python_command("rasa_sdk", "--actions", "actions", "--port", str(port), verbose=verbose),
        ready_url=f"http://127.0.0.1:{port}/health",
    )


def rasa_server(
    key: str,
    label: str,
    port: int,
    *,
    model: Path,
    endpoints: Path,
    credentials: Path,
    env: dict[str, str],
    verbose: bool = False,
) -> ProcessSpec:
    """A Rasa server with the project's changes (`bot.rasa_plugins.server`) on loopback `port`.

    The HTTP API is on and answers only with the token `env` carries, never on
    the command line.
    """
    return ProcessSpec(
        key,
        label,
        python_command(
            "bot.rasa_plugins.server",
            "run",
            "--model",
            str(model),
            "--endpoints",
            str(endpoints),
            "--credentials",
            str(credentials),
            "--interface",
            "127.0.0.1",
            "--port",
            str(port),
            "--enable-api",
            verbose=verbose,
        ),
        ready_url=f"http://127.0.0.1:{port}/",
        env=env,
    )


@dataclass
class BotProcesses:
    """The bot's processes: action server, Rasa server and channel processes, supervised together.

    The Rasa HTTP API token reaches the Rasa server through its environment
    (`BOT_RASA_TOKEN`, read by `bot.rasa_plugins.server`), never its command line, and
    is kept in `token_file` (0600) for the staff who call the API.

    Unless `verbose`, the processes run without other packages' deprecation
    notices (`bot.processes.quiet`), in the terminal as in `log_dir`.
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
    channels: list[ProcessSpec] = field(default_factory=list)
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    verbose: bool = False
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
        """The bot's processes, in start order; adding a process is adding a line here or to `channels`."""
        return [
            action_server(ACTIONS, "serveur d'actions", self.actions_port, verbose=self.verbose),
            rasa_server(
                RASA,
                "serveur Rasa",
                self.rasa_port,
                model=self.model,
                endpoints=self._endpoints_file,
                credentials=self.credentials,
                env={TOKEN_ENV: self.token},
                verbose=self.verbose,
            ),
            *self.channels,
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
        return runtime_endpoints(
            self.endpoints,
            self._endpoints_file,
            actions_url=f"http://127.0.0.1:{self.actions_port}/webhook",
            database=self.database,
            cwd=self.cwd,
        )

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
        env.update({"SANIC_HOST": "127.0.0.1", **({} if self.verbose else QUIET_ENV)})
        env.update(self.extra_env)
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
                if answers(url):
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
