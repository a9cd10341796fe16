"""Load benchmark: many concurrent citizen conversations, the project's bot against stock Rasa.

Drives realistic conversations (`bench/locustfile.py`: a question that needs a
commune, the commune, a follow-up on another topic with the commune remembered,
a pressed button taken from the previous reply, thanks and goodbye) through the
web widget's channel (signed conversation ids, as the widget obtains them) and
the REST channel, with Locust, headless, at several numbers of concurrent
conversations. Each conversation is a closed-loop client: it sends its next
message as soon as it has the reply.

Setups, started by this script one after the other so they never share the CPU:

- "projet": the project's `config.yml` and `endpoints.yml` (`train_if_needed`);
- "stock": the same data, domain, actions and channels with the pipeline and
  policies `rasa init` trains (Rasa's `default_config.yml`, language fr) and
  Rasa's own `SQLTrackerStore`; its model is cached under `models/stock/` by
  a hash of its inputs, like the project's.

Each gets free loopback ports, a fresh SQLite database and the web channel's
rate limits turned off (0). With `--target URL` the script starts nothing and
measures the bot already answering at URL (a running bot, later the cluster
behind nginx).

Locust runs in its own virtual environment (`.venv-load/`, created on first
use with this machine's Python 3.10 and `locust==LOCUST_VERSION`), because its
dependencies clash with Rasa's pins; the project's `.venv` never gets it.

Usage (from the project root):
    .venv/bin/python bench/load_benchmark.py
    .venv/bin/python bench/load_benchmark.py --setups projet --levels 1 20 --duration 30
    .venv/bin/python bench/load_benchmark.py --target http://127.0.0.1:5005
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import evaluation
import requests
from conversation_latency import free_port, log_tail, rss_kib, stock_endpoints

from bot.paths import PROJECT_ROOT, VAR_DIR
from bot.processes import ACTIONS, RASA, BotProcesses, ServerDied, train_if_needed
from bot.processes.cluster import DB_NAME, DB_PASSWORD_ENV, DB_USER, Cluster, ClusterError

logger = logging.getLogger("bench.load_benchmark")

LOCUST_VERSION = "2.46.0"  # the last release for Python 3.10, Rasa 3.6's ceiling
LOAD_VENV = PROJECT_ROOT / ".venv-load"
LOCUSTFILE = PROJECT_ROOT / "bench" / "locustfile.py"
DEFAULT_OUT = PROJECT_ROOT / "bench" / "results" / "load_benchmark.md"
STOCK_MODELS = PROJECT_ROOT / "models" / "stock"

DEFAULT_LEVELS = (1, 20, 50, 200)
LONG_LEVEL = 200  # the level held for 2 minutes
SPAWN_RATE = 50.0  # conversations started per second while a level ramps up
STOP_TIMEOUT = 60  # seconds a conversation may take to finish its current turn at the end
TURN_TIMEOUT = 60  # the locustfile's timeout: a turn longer than this is lost

# The web channel's per-conversation and per-address limits would throttle a
# load test coming from one address: 0 turns each off, for the bot started here.
UNLIMITED_WEB = {
    "BOT_WEB_MESSAGES_PER_MINUTE": "0",
    "BOT_WEB_CONVERSATIONS_PER_MINUTE_PER_ADDRESS": "0",
    "BOT_WEB_REQUESTS_PER_MINUTE_PER_ADDRESS": "0",
}

# Files the stock model learns from besides its config, as for the project's model
# (whose hash also covers the project's pipeline module, which stock does not run).
STOCK_INPUTS = ("domain.yml", "data", "constraints.txt")


# --- The stock model ------------------------------------------------------------


def stock_model() -> Path:
    """The stock model for the current data, trained (a few minutes of DIET and TED) only if missing.

    `train_if_needed` on a project root holding the stock config and links to
    the project's domain, data and pins: the model is named by the hash of
    those, so a rerun on the same data reuses it.
    """
    with tempfile.TemporaryDirectory(prefix="bench-stock-root-") as tmp:
        root = Path(tmp)
        (root / "config.yml").write_text(
            evaluation.stock_config("load_benchmark_stock", policies=True), encoding="utf-8"
        )
        # Training runs in `root`: `bot` must be the project's package there too.
        for name in (*STOCK_INPUTS, "bot"):
            (root / name).symlink_to(PROJECT_ROOT / name)
        return train_if_needed(root, STOCK_MODELS, log_file=VAR_DIR / "logs" / "train-stock.log")


# --- Locust's environment --------------------------------------------------------


def base_python() -> Path:
    """A Python 3.10 for Locust's environment: the one `.venv` was made from."""
    for candidate in (
        Path(sys.base_prefix) / "bin" / "python3.10",
        Path(sys.base_prefix) / "bin" / "python3",
    ):
        if candidate.exists():
            return candidate
    found = shutil.which("python3.10")
    if found is None:
        raise RuntimeError("Python 3.10 introuvable pour l'environnement de Locust.")
    return Path(found)


def locust_command() -> Path:
    """`.venv-load/bin/locust`, creating the environment with the pinned Locust on first use."""
    locust = LOAD_VENV / "bin" / "locust"
    python = LOAD_VENV / "bin" / "python"
    if locust.exists():
        installed = subprocess.run(
            [str(python), "-c", "import locust; print(locust.__version__)"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if installed == LOCUST_VERSION:
            return locust
    logger.info("Installing locust==%s into %s (first use)…", LOCUST_VERSION, LOAD_VENV)
    subprocess.run([str(base_python()), "-m", "venv", str(LOAD_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"locust=={LOCUST_VERSION}"], check=True
    )
    return locust


# --- Measuring -------------------------------------------------------------------


@dataclass
class Level:
    """What one number of concurrent conversations measured on one setup."""

    users: int
    seconds: float  # the measured window, warm-up excluded
    latencies: list[float]  # seconds, answered turns (ok or error) started in the window
    turns_by_channel: dict[str, int]
    errors: int
    lost: int
    load_average: float
    rasa_rss_kib: int | None = None  # peak during the level
    actions_rss_kib: int | None = None
    openings: int = 0  # web conversations opened (signed id), not counted as turns
    openings_failed: int = 0
    # Failed turns and openings of the ramp-up and warm-up, outside the window (None: not counted).
    failed_outside: int | None = None
    forgotten: int = 0  # answered without the commune the citizen gave (in the window)
    ok_total: int = 0  # turns answered, the ramp-up and warm-up included
    # An instance killed in the middle of the level (the cluster): when, and the
    # turns that failed from the kill's moment (minus a turn's timeout) to 30 s after it.
    killed_at: float | None = None
    failed_at_kill: int | None = None

    @property
    def turns(self) -> int:
        return len(self.latencies) + self.lost

    @property
    def rate(self) -> float:
        return self.turns / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float | None:
        """The q-th percentile of the turn latency, in seconds."""
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else None
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[round(q) - 1]


@dataclass
class SetupResult:
    """One setup's run: how it was served and what each level measured."""

    name: str
    description: str
    ready_seconds: float | None = None
    run_seconds: float | None = None  # the whole setup: start, warm-up and every level
    date: str = ""
    levels: list[Level] = field(default_factory=list)
    # The cluster: citizen messages found in PostgreSQL after the run, and turns answered.
    stored_user_messages: int | None = None
    answered_turns: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SetupResult:
        levels = [Level(**level) for level in data.pop("levels")]
        return cls(**data, levels=levels)


class PeakMemory:
    """Samples the resident memory of some processes every second, keeping the peak."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self.peak: dict[str, int | None] = dict.fromkeys(pids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        for name, pid in self.pids.items():
            rss = rss_kib(pid)
            if rss is not None and (self.peak[name] is None or rss > (self.peak[name] or 0)):
                self.peak[name] = rss

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._sample()


def run_level(
    host: str,
    users: int,
    duration: float,
    warm_up: float,
    out_prefix: Path,
    pids: dict[str, int | None],
    kill: Callable[[], None] | None = None,
) -> Level:
    """One Locust run at `users` concurrent conversations; CSV and HTML written at `out_prefix`.

    `kill`, if given, is called once in the middle of the measured window (an
    instance of the cluster killed under load).
    """
    spawn_rate = min(float(users), SPAWN_RATE)
    run_time = math.ceil(users / spawn_rate + warm_up + duration)
    killed: list[float] = []

    def kill_now() -> None:
        assert kill is not None
        killed.append(time.time())
        kill()

    timer = threading.Timer(users / spawn_rate + warm_up + duration / 2, kill_now)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        turns_file = Path(tmp) / "turns.json"
        command = [
            str(locust_command()),
            "--locustfile",
            str(LOCUSTFILE),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(spawn_rate),
            "--run-time",
            f"{run_time}s",
            "--stop-timeout",
            str(STOP_TIMEOUT),
            "--host",
            host,
            "--csv",
            str(out_prefix),
            "--html",
            f"{out_prefix}.html",
            "--only-summary",
            "--loglevel",
            "WARNING",
        ]
        logger.info("%d conversations for %d s (%s)…", users, run_time, host)
        env = {**os.environ, "LOAD_TURNS_FILE": str(turns_file)}
        with PeakMemory(pids) as memory:
            if kill is not None:
                timer.start()
            # Locust exits 1 when some requests failed: the turns file says which.
            try:
                subprocess.run(command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL)
            finally:
                timer.cancel()
        load_average = os.getloadavg()[0]
        if not turns_file.exists():
            raise RuntimeError(f"Locust n'a rien écrit ({users} conversations).")
        recorded = json.loads(turns_file.read_text(encoding="utf-8"))
    turns = recorded["turns"]
    spawned = recorded["spawned_at"] or (min(t[1] for t in turns) if turns else time.time())
    begin = spawned + warm_up
    # Locust's run time counts from its start, the ramp-up included; turns started
    # before the stop are counted even when they finish after it (--stop-timeout).
    end = spawned + run_time - users / spawn_rate
    window = [t for t in turns if begin <= t[1] < end]
    measured = [t for t in window if t[0] != "ouverture"]
    openings = [t for t in window if t[0] == "ouverture"]
    by_channel: dict[str, int] = {}
    for channel, *_ in measured:
        by_channel[channel] = by_channel.get(channel, 0) + 1
    failed_at_kill = None
    if killed:
        moment = killed[0]
        failed_at_kill = sum(
            t[3] in ("erreur", "perdu")
            for t in turns
            if moment - TURN_TIMEOUT <= t[1] < moment + 30
        )
    return Level(
        users=users,
        seconds=end - begin,
        latencies=[t[2] for t in measured if t[3] != "perdu"],
        turns_by_channel=by_channel,
        errors=sum(t[3] == "erreur" for t in measured),
        lost=sum(t[3] == "perdu" for t in measured),
        openings=len(openings),
        openings_failed=sum(t[3] != "ok" for t in openings),
        failed_outside=sum(t[3] != "ok" for t in turns if not begin <= t[1] < end),
        forgotten=sum(t[3] == "oubli" for t in measured),
        ok_total=sum(t[3] in ("ok", "oubli") for t in turns if t[0] != "ouverture"),
        killed_at=killed[0] if killed else None,
        failed_at_kill=failed_at_kill,
        load_average=load_average,
        rasa_rss_kib=memory.peak.get(RASA),
        actions_rss_kib=memory.peak.get(ACTIONS),
    )


WARM_UP_MESSAGES = ("bonjour", "quand passe la collecte des déchets ?", "Balma", "merci")


def warm(host: str) -> None:
    """A few turns on one conversation so the first measured turns do not pay for lazy loading."""
    with requests.Session() as session:
        for message in WARM_UP_MESSAGES:
            session.post(
                f"{host}/webhooks/rest/webhook",
                json={"sender": "charge-echauffement", "message": message},
                timeout=120,
            ).raise_for_status()


def run_levels(
    result: SetupResult,
    host: str,
    args: argparse.Namespace,
    pids: dict[str, int | None],
    kill: Callable[[], None] | None = None,
) -> None:
    """Every level, one after the other, against the bot at `host`; `kill` at level --kill-at."""
    warm(host)
    for users in args.levels:
        duration = args.long_duration if users >= LONG_LEVEL else args.duration
        prefix = args.out.with_suffix("") / f"{result.name}-{users}"
        level_kill = kill if users == args.kill_at else None
        level = run_level(host, users, duration, args.warm_up, prefix, pids, level_kill)
        logger.info(
            "%s, %d conversations: %.1f turns/s, p95 %s ms, %d errors, %d lost",
            result.name,
            users,
            level.rate,
            _ms(level.percentile(95)),
            level.errors,
            level.lost,
        )
        result.levels.append(level)


def measure_cluster(args: argparse.Namespace) -> SetupResult:
    """`make cluster`'s topology on free ports: every level through nginx, one instance killed once.

    At level --kill-at, the first Rasa instance is killed (SIGKILL) in the
    middle of the measured window; its supervisor starts it again. At the end
    the user messages stored in PostgreSQL are counted against the turns that
    were answered: a turn answered but not stored would be a lost message.
    """
    model = train_if_needed()
    result = SetupResult(
        "cluster",
        f"`make cluster` ({args.instances} Rasa instances and action servers, "
        "PostgreSQL, Redis locks, nginx)",
        date=_now(),
    )
    setup_started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-load-cluster-") as tmp:
        directory = Path(tmp)
        cluster = Cluster(
            model=model,
            instances=args.instances,
            port=free_port(),
            postgres_port=free_port(),
            redis_port=free_port(),
            rasa_ports=[free_port() for _ in range(args.instances)],
            actions_ports=[free_port() for _ in range(args.instances)],
            state_dir=directory / "cluster",
            extra_env={"RASA_TELEMETRY_ENABLED": "false", **UNLIMITED_WEB},
        )
        logger.info("cluster: starting PostgreSQL, Redis, %d instances, nginx…", args.instances)
        victim = cluster.rasa_key(1)

        def kill() -> None:
            pid = cluster.pid(victim)
            logger.info("cluster: killing %s (pid %s) under load", victim, pid)
            if pid is not None:
                os.killpg(pid, signal.SIGKILL)

        try:
            started = time.monotonic()
            cluster.start()
            result.ready_seconds = time.monotonic() - started
            cluster.watch_in_background()
            pids = {RASA: cluster.pid(victim), ACTIONS: cluster.pid(cluster.actions_key(1))}
            run_levels(result, cluster.url, args, pids, kill)
            result.stored_user_messages = _stored_user_messages(cluster)
            result.answered_turns = len(WARM_UP_MESSAGES) + sum(
                level.ok_total for level in result.levels
            )
            if cluster.failure is not None:
                raise cluster.failure
            result.run_seconds = time.monotonic() - setup_started
        except (ServerDied, requests.RequestException, ClusterError):
            logger.error("cluster failed; logs:\n%s", log_tail(directory / "cluster" / "logs"))
            raise
        finally:
            cluster.stop()
            if args.keep_logs is not None:
                shutil.copytree(directory / "cluster" / "logs", args.keep_logs, dirs_exist_ok=True)
                logger.info("cluster: logs copied to %s", args.keep_logs)
    return result


def _stored_user_messages(cluster: Cluster) -> int:
    """How many citizen messages the cluster's PostgreSQL holds."""
    import psycopg2

    connection = psycopg2.connect(
        host="127.0.0.1",
        port=cluster.postgres_port,
        user=DB_USER,
        password=cluster.secrets()[DB_PASSWORD_ENV],
        dbname=DB_NAME,
        connect_timeout=5,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM events WHERE type_name = 'user'")
            row = cursor.fetchone()
    finally:
        connection.close()
    return int(row[0]) if row else 0


def measure_setup(name: str, args: argparse.Namespace) -> SetupResult:
    """Starts one setup's bot, runs every level against it, and stops it."""
    if name == "cluster":
        return measure_cluster(args)
    if name == "projet":
        model = train_if_needed()
        endpoints = PROJECT_ROOT / "endpoints.yml"
        description = "`config.yml`, `endpoints.yml` (WindowedSQLTrackerStore)"
    else:
        model = stock_model()
        endpoints = None
        description = f"Rasa {version('rasa')} `default_config.yml` (fr), SQLTrackerStore"
    result = SetupResult(name, description, date=_now())
    setup_started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"bench-load-{name}-") as tmp:
        directory = Path(tmp)
        bot = BotProcesses(
            model=model,
            rasa_port=free_port(),
            actions_port=free_port(),
            endpoints=endpoints or stock_endpoints(directory),
            log_dir=directory / "logs",
            extra_env={"RASA_TELEMETRY_ENABLED": "false", **UNLIMITED_WEB},
            state_dir=directory / "state",
            database=directory / "conversations.db",
        )
        logger.info("%s: starting the action server and the Rasa server…", name)
        try:
            started = time.monotonic()
            bot.start()
            result.ready_seconds = time.monotonic() - started
            host = f"http://127.0.0.1:{bot.rasa_port}"
            run_levels(result, host, args, {RASA: bot.pid(RASA), ACTIONS: bot.pid(ACTIONS)})
            bot.check_alive()
            result.run_seconds = time.monotonic() - setup_started
            if any(level.errors or level.lost for level in result.levels):
                logger.warning("%s: errors; why, from the servers' logs:\n%s", name, _why(bot))
        except (ServerDied, requests.RequestException):
            logger.error("%s failed; server logs:\n%s", name, log_tail(directory / "logs"))
            raise
        finally:
            bot.stop()
    return result


def _why(bot: BotProcesses, shown: int = 20) -> str:
    """The servers' last warning and error lines (the temporary logs go with the setup)."""
    lines: list[str] = []
    for name in (RASA, ACTIONS):
        path = bot.log_path(name)
        if path.exists():
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()
            marked = [f"{name}: {line}" for line in text if "ERROR" in line or "WARNING" in line]
            lines += marked[-shown:]
    return "\n".join(lines) or "(nothing in the logs)"


# --- Report ----------------------------------------------------------------------


def _ms(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds * 1000:,.0f}"


def _mib(kib: int | None) -> str:
    return "?" if kib is None else f"{kib / 1024:,.0f}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    return "?" if not ours or not theirs else f"{ours / theirs:.2f}"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def merged(results: list[SetupResult], kept: Path) -> list[SetupResult]:
    """This run's setups plus those an earlier run kept in `kept` and this one did not measure.

    So `--setups stock` run after `--setups projet` gives the side-by-side table.
    """
    earlier: list[SetupResult] = []
    if kept.exists():
        data = json.loads(kept.read_text(encoding="utf-8"))
        earlier = [SetupResult.from_dict(item) for item in data]
    names = {r.name for r in results}
    together = [r for r in earlier if r.name not in names] + results
    order = {"projet": 0, "stock": 1, "cluster": 2}
    together.sort(key=lambda r: order.get(r.name, 2))
    kept.write_text(json.dumps([asdict(r) for r in together]), encoding="utf-8")
    return together


def report(results: list[SetupResult], args: argparse.Namespace) -> str:
    """The Markdown report: context, one row per setup and level, then projet against stock."""
    folder = args.out.with_suffix("").name
    lines = [
        "# Load benchmark: concurrent conversations, projet against stock Rasa",
        "",
        "- Date and duration of each setup's run (start, warm-up, every level): "
        + "; ".join(f"{r.name} {r.date}, {_minutes(r.run_seconds)}" for r in results),
        f"- Machine: {os.cpu_count()} CPU cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}; Rasa {version('rasa')}, Locust {LOCUST_VERSION}",
        "- Conversations (`bench/locustfile.py`): a question needing a commune, the commune, a "
        "follow-up on another topic (commune remembered), a button from the previous reply, "
        "thanks, goodbye; half of the users on the web widget's channel (signed id, text/plain), "
        "half on REST (at 1 conversation, one channel only; see the web/REST column); closed loop, no pause between turns.",
        f"- Each level: ramp-up at {SPAWN_RATE:.0f} conversations/s, {args.warm_up:.0f} s of "
        f"warm-up not measured, then {args.duration:.0f} s ({args.long_duration:.0f} s at "
        f"{LONG_LEVEL} and more). Latency: time to the bot's whole reply. Error: a status other "
        "than 200 or an empty reply; lost: no HTTP answer (refused, reset, "
        "60 s timeout). Failed in ramp-up: turns and web openings sent during the ramp-up "
        "and warm-up that failed or got no answer (Locust's `_failures.csv` counts the whole "
        "run).",
        "- Setups run one after the other, each with a fresh SQLite database and the web "
        "channel's rate limits off: "
        + "; ".join(f"**{r.name}**: {r.description}" for r in results),
        f"- Locust's own statistics (CSV, HTML) per setup and level: `{folder}/`.",
        "",
        "| Setup | Conversations | Turns/s | p50 (ms) | p95 (ms) | p99 (ms) | Turns (web/REST) "
        "| Errors | Lost | Commune forgotten | Web openings failed | Failed in ramp-up "
        "| Load avg (1 min) | Rasa RSS peak (MiB) | Actions RSS peak (MiB) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for result in results:
        for level in result.levels:
            channels = level.turns_by_channel
            lines.append(
                f"| {result.name} | {level.users} | {level.rate:.1f} "
                f"| {_ms(level.percentile(50))} | {_ms(level.percentile(95))} "
                f"| {_ms(level.percentile(99))} | {level.turns} "
                f"({channels.get('web', 0)}/{channels.get('rest', 0)}) | {level.errors} "
                f"| {level.lost} | {level.forgotten} | {level.openings_failed}/{level.openings} "
                f"| {'?' if level.failed_outside is None else level.failed_outside} "
                f"| {level.load_average:.2f} | {_mib(level.rasa_rss_kib)} "
                f"| {_mib(level.actions_rss_kib)} |"
            )
    lines += ["", "Start to ready (every server answering): " + _ready(results)]
    lines += _cluster_lines(results)
    by_name = {r.name: r for r in results}
    if "projet" in by_name and "stock" in by_name:
        lines += [
            "",
            "## projet / stock",
            "",
            "| Conversations | Turns/s | p50 | p95 | p99 |",
            "|--:|--:|--:|--:|--:|",
        ]
        stock_levels = {level.users: level for level in by_name["stock"].levels}
        for ours in by_name["projet"].levels:
            theirs = stock_levels.get(ours.users)
            if theirs is None:
                continue
            cells = [_ratio(ours.rate, theirs.rate)] + [
                _ratio(ours.percentile(q), theirs.percentile(q)) for q in (50, 95, 99)
            ]
            lines.append(f"| {ours.users} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cluster_lines(results: list[SetupResult]) -> list[str]:
    """What the cluster's instance kill cost, and whether every answered message was stored."""
    lines: list[str] = []
    for result in results:
        if result.name != "cluster":
            continue
        lines += ["", "## Cluster: one Rasa instance killed under load", ""]
        for level in result.levels:
            if level.killed_at is not None:
                lines.append(
                    f"- At {level.users} conversations, `rasa-1` killed (SIGKILL) in the middle "
                    f"of the measured window: **{level.failed_at_kill} turns failed** (error or "
                    f"no answer) from {TURN_TIMEOUT} s before the kill to 30 s after it; "
                    f"{level.forgotten} answers without the citizen's commune in the window."
                )
        if result.stored_user_messages is not None and result.answered_turns is not None:
            lines.append(
                f"- Citizen messages stored in PostgreSQL after the run: "
                f"{result.stored_user_messages}, for {result.answered_turns} turns answered "
                "(warm-up, ramp-ups and windows included; a message answered but not stored "
                "would make the first number smaller; a turn retried by nginx after the kill "
                "may be stored twice)."
            )
    return lines


def _minutes(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds / 60:.1f} min"


def _ready(results: list[SetupResult]) -> str:
    shown = [f"{r.name} {r.ready_seconds:.0f} s" for r in results if r.ready_seconds is not None]
    return ", ".join(shown) if shown else "not measured (`--target`: the bot was already running)."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Load benchmark with Locust: concurrent conversations, projet against stock."
    )
    parser.add_argument(
        "--levels",
        type=int,
        nargs="+",
        default=list(DEFAULT_LEVELS),
        help="numbers of concurrent conversations (1 20 50 200)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=45.0,
        help="measured seconds per level (45)",
    )
    parser.add_argument(
        "--long-duration",
        type=float,
        default=120.0,
        help=f"measured seconds at {LONG_LEVEL} conversations and more (120)",
    )
    parser.add_argument(
        "--warm-up",
        type=float,
        default=10.0,
        help="seconds after ramp-up not measured, per level (10)",
    )
    parser.add_argument(
        "--setups",
        nargs="+",
        choices=("projet", "stock", "cluster"),
        default=["projet", "stock"],
        help="setups started and measured, in this order (projet stock); cluster: "
        "`make cluster`'s topology through nginx (PostgreSQL, Redis, nginx installed)",
    )
    parser.add_argument(
        "--instances",
        type=int,
        default=2,
        help="Rasa instances of the cluster setup (2)",
    )
    parser.add_argument(
        "--kill-at",
        type=int,
        default=20,
        help="level at which the cluster setup kills its first Rasa instance mid-window (20; 0: never)",
    )
    parser.add_argument(
        "--keep-logs",
        type=Path,
        help="folder where the cluster's process logs are copied when it stops (to read after a failure)",
    )
    parser.add_argument(
        "--target",
        help="URL of a bot already running (e.g. http://127.0.0.1:5005): nothing is started",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="Markdown report (bench/results/load_benchmark.md); Locust's files go to the "
        "folder of the same name",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs every setup and level, prints the report and writes it to --out."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = _parser().parse_args(argv)
    args.out = args.out.resolve()
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    locust_command()  # installs Locust before anything is measured
    try:
        if args.target:
            result = SetupResult("cible", f"the bot at {args.target}", date=_now())
            started = time.monotonic()
            run_levels(result, args.target.rstrip("/"), args, {})
            result.run_seconds = time.monotonic() - started
            results = [result]
        else:
            results = [measure_setup(name, args) for name in args.setups]
    except (ServerDied, requests.RequestException, RuntimeError) as error:
        print(f"Benchmark failed: {error}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results = merged(results, args.out.with_suffix(".json.tmp"))
    text = report(results, args)
    print("\n" + text)
    args.out.write_text(text, encoding="utf-8")
    logger.info("Report written to %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
