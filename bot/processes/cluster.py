"""The scale-out on one machine: PostgreSQL, Redis, several Rasa instances and action servers, nginx in front.

    cluster = Cluster(model=train_if_needed())
    cluster.start()              # stores first, then the servers, then nginx
    ...                          # http://127.0.0.1:5080/webhooks/rest/webhook
    cluster.check_alive()        # in the caller's loop
    cluster.stop()

Everything listens on loopback and lives in `var/cluster/` (0700): the
PostgreSQL data folder (`initdb` on first start, then `postgres` in the
foreground on its own port and socket folder, never the system's cluster),
Redis's configuration (no persistence: locks live seconds), nginx's generated
configuration, each instance's copy of `endpoints-cluster.yml`, and the
secrets `load_secret` keeps when the environment does not set them
(`BOT_CLUSTER_DB_PASSWORD`, `BOT_CLUSTER_REDIS_PASSWORD`, `BOT_WEB_SECRET`,
`BOT_RASA_TOKEN`). The web widget's key is the same on every instance, so a
conversation id one instance signed is accepted by the others.

PostgreSQL refuses to run as root. As root, it runs in a user namespace
(`unshare --user`) as the `postgres` account mapped onto root's files: it can
use the private folders of `var/` without opening them to another account.

The processes are supervised like `make run`'s (`bot.processes.supervision`);
PostgreSQL and Redis are started again after a few seconds when they stop,
and meanwhile citizens read "service momentanément indisponible".
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import yaml

from bot.channels.texts import UNAVAILABLE
from bot.paths import PROJECT_ROOT, VAR_DIR, load_secret, private_dir, write_private
from bot.processes.bot_processes import action_server, rasa_server
from bot.processes.quiet import QUIET_ENV
from bot.processes.supervision import ProcessSpec, RestartPolicy, ServerDied, Supervisor, answers
from bot.rasa_plugins.server import TOKEN_ENV

__all__ = ["CLUSTER_DIR", "CLUSTER_ENDPOINTS", "Cluster", "ClusterError", "system_programs"]

CLUSTER_DIR = VAR_DIR / "cluster"
CLUSTER_ENDPOINTS = PROJECT_ROOT / "endpoints-cluster.yml"
TEMPLATES = PROJECT_ROOT / "deploy"

DB_PASSWORD_ENV = "BOT_CLUSTER_DB_PASSWORD"
REDIS_PASSWORD_ENV = "BOT_CLUSTER_REDIS_PASSWORD"
WEB_SECRET_ENV = "BOT_WEB_SECRET"  # read by bot.channels.web.conversations
DB_USER = "bot"
DB_NAME = "conversations"

# Identifiers of the cluster's own processes (log files `<key>.log`).
POSTGRES = "postgres"
REDIS = "redis"
NGINX = "nginx"

# A store that stops is started again soon, and keeps being started again.
STORE_RESTARTS = RestartPolicy(first_delay=3.0, max_delay=10.0, max_restarts=20, window=300.0)


class ClusterError(RuntimeError):
    """The cluster cannot start (a missing program, a store that does not answer); French message."""


def system_programs() -> dict[str, Path | None]:
    """Where PostgreSQL's, Redis's and nginx's programs are on this machine (None when missing)."""
    found: dict[str, Path | None] = {}
    for name in ("initdb", "postgres"):
        on_path = shutil.which(name)
        candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
        found[name] = Path(on_path) if on_path else (candidates[0] if candidates else None)
    for name in ("redis-server", "nginx"):
        on_path = shutil.which(name) or next(
            (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
        )
        found[name] = Path(on_path) if on_path else None
    return found


def _programs() -> dict[str, Path]:
    found = system_programs()
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise ClusterError(
            f"Programmes introuvables : {', '.join(missing)}. Installez PostgreSQL, Redis et nginx "
            "(bash scripts/setup.sh --cluster, ou : sudo apt-get install -y postgresql "
            "redis-server nginx), puis relancez."
        )
    return {name: path for name, path in found.items() if path is not None}


def _template(name: str, **fields: str) -> str:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    for key, value in fields.items():
        text = text.replace(f"@{key}@", value)
    return text


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _as_postgres_account() -> tuple[str, ...]:
    """The prefix that runs a PostgreSQL program: nothing, or as root a user namespace (see the module)."""
    if os.geteuid() != 0:
        return ()
    try:
        account = pwd.getpwnam("postgres")
        uid, gid = account.pw_uid, account.pw_gid
    except KeyError:
        uid = gid = 65534  # nobody
    unshare = shutil.which("unshare") or "unshare"
    return (unshare, "--user", f"--map-user={uid}", f"--map-group={gid}")


@dataclass
class Cluster:
    """The cluster's processes on loopback, supervised together; `instances` Rasa servers behind nginx."""

    model: Path
    instances: int = 2
    port: int = 5080
    postgres_port: int = 55432
    redis_port: int = 56379
    rasa_ports: list[int] = field(default_factory=list)
    actions_ports: list[int] = field(default_factory=list)
    state_dir: Path = CLUSTER_DIR
    endpoints: Path = CLUSTER_ENDPOINTS
    credentials: Path = PROJECT_ROOT / "credentials.yml"
    log_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    verbose: bool = False
    _supervisor: Supervisor | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.rasa_ports = self.rasa_ports or [5281 + i for i in range(self.instances)]
        self.actions_ports = self.actions_ports or [5291 + i for i in range(self.instances)]
        if len(self.rasa_ports) != self.instances or len(self.actions_ports) != self.instances:
            raise ValueError("one Rasa port and one action server port per instance")
        if self.log_dir is None:
            self.log_dir = self.state_dir / "logs"

    @property
    def url(self) -> str:
        """nginx's address, where citizens' channels reach the cluster."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"{self.url}/webhooks/rest/webhook"

    def rasa_key(self, index: int) -> str:
        """Identifier of the `index`-th Rasa instance (1 for the first): `"rasa-1"`."""
        return f"rasa-{index}"

    def actions_key(self, index: int) -> str:
        return f"actions-{index}"

    def pid(self, key: str) -> int | None:
        """Process id of process `key` (`"rasa-1"`, `"postgres"`…); None when it is not running."""
        return self._supervisor.pid(key) if self._supervisor is not None else None

    def log_path(self, key: str) -> Path:
        assert self.log_dir is not None
        return self.log_dir / f"{key}.log"

    # Secrets: from the environment, else kept 0600 in the cluster's folder.

    def _secret(self, variable: str, name: str, what: str) -> str:
        return load_secret(variable, self.state_dir / name, what=what).decode()

    def secrets(self) -> dict[str, str]:
        """The cluster's secrets by environment variable (passwords, web key, HTTP API token)."""
        return {
            DB_PASSWORD_ENV: self._secret(
                DB_PASSWORD_ENV, "db-password", "le mot de passe de PostgreSQL"
            ),
            REDIS_PASSWORD_ENV: self._secret(
                REDIS_PASSWORD_ENV, "redis-password", "le mot de passe de Redis"
            ),
            WEB_SECRET_ENV: self._secret(WEB_SECRET_ENV, "web-secret", "la clé du widget web"),
            TOKEN_ENV: self._secret(TOKEN_ENV, "rasa-token", "le jeton de l'API HTTP de Rasa"),
        }

    # Configuration files, written at every start (ports may change).

    def _prepare_postgres(self, programs: dict[str, Path], password: str) -> Path:
        """The data folder, created by `initdb` the first time, including this run's settings."""
        home = private_dir(self.state_dir / "postgres")
        data = home / "data"
        run = private_dir(home / "run")
        if not (data / "PG_VERSION").is_file():
            if data.exists():
                shutil.rmtree(data)  # a first initdb cut short
            password_file = home / "initdb-password"
            write_private(password_file, password + "\n")
            try:
                result = subprocess.run(
                    (
                        *_as_postgres_account(),
                        str(programs["initdb"]),
                        "--pgdata",
                        str(data),
                        "--username",
                        DB_USER,
                        "--pwfile",
                        str(password_file),
                        "--auth",
                        "scram-sha-256",
                        "--encoding",
                        "UTF8",
                        "--locale",
                        "C.UTF-8",
                        "--no-instructions",
                    ),
                    capture_output=True,
                    text=True,
                    check=False,
                )
            finally:
                password_file.unlink(missing_ok=True)
            if result.returncode != 0:
                raise ClusterError(f"initdb a échoué :\n{result.stdout}{result.stderr}")
            with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
                conf.write(f"\ninclude '{home / 'cluster.conf'}'\n")
        write_private(
            home / "cluster.conf",
            _template("postgresql.conf", PORT=str(self.postgres_port), SOCKET_DIR=str(run)),
        )
        return data

    def _prepare_redis(self, password: str) -> Path:
        home = private_dir(self.state_dir / "redis")
        conf = home / "redis.conf"
        write_private(
            conf,
            _template("redis.conf", PORT=str(self.redis_port), PASSWORD=password, DIR=str(home)),
        )
        return conf

    def _prepare_nginx(self) -> Path:
        home = private_dir(self.state_dir / "nginx")
        for folder in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            private_dir(home / "tmp" / folder)
        upstreams = "\n".join(
            f"        server 127.0.0.1:{port} max_fails=3 fail_timeout=5s;"
            for port in self.rasa_ports
        )
        # As root, nginx's workers would run as "nobody", who cannot enter var/.
        user = "user root root;" if os.geteuid() == 0 else ""
        conf = home / "nginx.conf"
        write_private(
            conf,
            _template(
                "nginx.conf",
                USER=user,
                DIR=str(home),
                PORT=str(self.port),
                UPSTREAMS=upstreams,
                # JSON inside nginx's single quotes: no quote of either kind left bare.
                UNAVAILABLE=json.dumps(UNAVAILABLE).replace("'", "\\u0027"),
            ),
        )
        return conf

    def instance_endpoints(self, index: int) -> Path:
        """`endpoints-cluster.yml` for instance `index`: its action server, this run's store ports."""
        with self.endpoints.open(encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
        config["action_endpoint"]["url"] = (
            f"http://127.0.0.1:{self.actions_ports[index - 1]}/webhook"
        )
        config["tracker_store"]["port"] = self.postgres_port
        config["lock_store"]["port"] = self.redis_port
        target = self.state_dir / f"endpoints-{self.rasa_ports[index - 1]}.yml"
        write_private(target, yaml.safe_dump(config, allow_unicode=True))
        return target

    # Processes.

    def store_specs(
        self, programs: dict[str, Path], data: Path, redis_conf: Path
    ) -> list[ProcessSpec]:
        return [
            ProcessSpec(
                POSTGRES,
                "serveur PostgreSQL",
                (*_as_postgres_account(), str(programs["postgres"]), "-D", str(data)),
                policy=STORE_RESTARTS,
            ),
            ProcessSpec(
                REDIS,
                "serveur Redis",
                (str(programs["redis-server"]), str(redis_conf)),
                policy=STORE_RESTARTS,
            ),
        ]

    def server_specs(self, secrets: dict[str, str]) -> list[ProcessSpec]:
        specs: list[ProcessSpec] = []
        for index, (rasa, actions) in enumerate(
            zip(self.rasa_ports, self.actions_ports, strict=True), start=1
        ):
            specs.append(
                action_server(
                    self.actions_key(index),
                    f"serveur d'actions {index}",
                    actions,
                    verbose=self.verbose,
                )
            )
            specs.append(
                rasa_server(
                    self.rasa_key(index),
                    f"serveur Rasa {index}",
                    rasa,
                    model=self.model,
                    endpoints=self.instance_endpoints(index),
                    credentials=self.credentials,
                    env=secrets,
                    verbose=self.verbose,
                )
            )
        return specs

    def nginx_spec(self, programs: dict[str, Path], conf: Path) -> ProcessSpec:
        return ProcessSpec(
            NGINX,
            "serveur nginx",
            (
                str(programs["nginx"]),
                "-p",
                str(conf.parent),
                "-c",
                str(conf),
                "-e",
                "stderr",
            ),
            ready_url=f"{self.url}/",
        )

    def start(self, timeout: float = 300.0) -> None:
        """Writes the configuration, then starts the stores, the instances and nginx, each once ready.

        Raises:
            ClusterError: a program is missing, or PostgreSQL could not be prepared.
            ServerDied: a process kept stopping, or did not answer in time.
        """
        programs = _programs()
        private_dir(self.state_dir)
        secrets = self.secrets()
        data = self._prepare_postgres(programs, secrets[DB_PASSWORD_ENV])
        redis_conf = self._prepare_redis(secrets[REDIS_PASSWORD_ENV])
        nginx_conf = self._prepare_nginx()
        env = {k: v for k, v in os.environ.items() if k not in secrets}
        env.update(
            {
                "SANIC_HOST": "127.0.0.1",
                # Behind nginx: the citizen's address is the one nginx puts in X-Forwarded-For.
                "SANIC_PROXIES_COUNT": "1",
                "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
                # A conversation whose instance died mid-turn waits 20 s for its lock, not 60.
                "TICKET_LOCK_LIFETIME": "20",
                **({} if self.verbose else QUIET_ENV),
            }
        )
        env.update(self.extra_env)
        assert self.log_dir is not None
        self._supervisor = Supervisor(cwd=PROJECT_ROOT, env=env, log_dir=self.log_dir)
        deadline = time.monotonic() + timeout
        try:
            for spec in self.store_specs(programs, data, redis_conf):
                self._supervisor.launch(spec)
            self._wait(
                deadline,
                {
                    "PostgreSQL": lambda: self._database_ready(secrets[DB_PASSWORD_ENV]),
                    "Redis": lambda: _port_open(self.redis_port),
                },
            )
            servers = self.server_specs(secrets)
            for spec in servers:
                self._supervisor.launch(spec)
            self._wait(
                deadline, {s.label: partial(answers, s.ready_url) for s in servers if s.ready_url}
            )
            nginx = self.nginx_spec(programs, nginx_conf)
            self._supervisor.launch(nginx)
            self._wait(deadline, {nginx.label: partial(answers, f"{self.url}/")})
        except BaseException:
            self.stop()
            raise

    def _database_ready(self, password: str) -> bool:
        """Whether PostgreSQL answers; creates the conversations' database the first time."""
        import psycopg2

        try:
            connection = psycopg2.connect(
                host="127.0.0.1",
                port=self.postgres_port,
                user=DB_USER,
                password=password,
                dbname="postgres",
                connect_timeout=2,
            )
        except psycopg2.OperationalError:
            return False
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{DB_NAME}"')
        finally:
            connection.close()
        return True

    def _wait(self, deadline: float, checks: dict[str, object]) -> None:
        supervisor = self._started()
        waiting = dict(checks)
        while waiting:
            supervisor.check()
            for label, ready in list(waiting.items()):
                if callable(ready) and ready():
                    del waiting[label]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise ServerDied(
                    f"{', '.join(waiting)} : pas prêt à temps (journaux dans {self.log_dir})."
                )
            time.sleep(0.5)

    def check_alive(self) -> None:
        """One supervision round (see `Supervisor.check`)."""
        self._started().check()

    def watch_in_background(self) -> None:
        self._started().watch_in_background()

    @property
    def failure(self) -> ServerDied | None:
        return self._supervisor.failure if self._supervisor is not None else None

    def stop(self) -> None:
        """Stops every process (SIGTERM, then SIGKILL after 10 s)."""
        if self._supervisor is not None:
            self._supervisor.stop()

    def _started(self) -> Supervisor:
        if self._supervisor is None:
            raise RuntimeError("Cluster.start() first")
        return self._supervisor
