"""Per-turn latency over one long conversation: the project's tracker store against Rasa's stock one.

Trains (or reuses) the project's model, then serves it twice, one server after
the other so they never compete for the CPU:

1. "stock": Rasa's own `SQLTrackerStore` on SQLite, which rebuilds and replays
   the whole conversation at every message;
2. "projet": the project's `endpoints.yml` (`WindowedSQLTrackerStore`).

Only the tracker store differs: same model, same action server, a fresh SQLite
database each. Each server answers 3 warm-up messages on one conversation, then
`--turns` messages on another over the REST channel. The report gives the
latency of turn 10 and of the last turn (medians of 10-turn windows, with the
raw single-turn values), their ratio, the Rasa server's resident memory, and
checks that both setups stored the same events and sent the same replies.

Usage (from the project root):
    .venv/bin/python bench/conversation_latency.py
    .venv/bin/python bench/conversation_latency.py --turns 100 --out /tmp/latency.md
    make bench
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import requests
import yaml

from bot.paths import PROJECT_ROOT
from bot.processes import RASA, BotProcesses, ServerDied, model_fingerprint, train_if_needed

logger = logging.getLogger("bench.conversation_latency")

DEFAULT_OUT = PROJECT_ROOT / "bench" / "results" / "conversation_latency.md"

TARGET_RATIO = 1.5
EARLY_TURN = 10
WINDOW = 10
WARM_UP_TURNS = 3
MIN_TURNS = EARLY_TURN + 5 + WINDOW  # the two windows must not overlap

# One citizen's rotation: greetings, Smart City questions, services, a commune
# follow-up. Its length equals WINDOW, so both measured windows hold each
# message exactly once and compare like with like.
MESSAGES = (
    "bonjour",
    "combien la metropole investit dans la smart city",
    "qui a gagne le prix icapital",
    "quand passe la collecte a Blagnac",
    "Balma",
    "c'est quoi la navette autonome",
    "comment prendre le bus ou le metro",
    "quels sont les horaires de la mairie de Colomiers",
    "ou deposer mes encombrants",
    "merci",
)
WARM_UP_MESSAGES = ("bonjour", "qui a gagne le prix icapital", "merci")


@dataclass(frozen=True)
class Setup:
    """One way of serving the model; only the tracker store changes."""

    name: str
    store: str
    endpoints: Path


@dataclass
class Result:
    """What one setup measured over its conversation."""

    setup: Setup
    latencies: list[float]
    replies: list[list[str]]
    rss_after_warm_up_kib: int | None
    rss_after_turns_kib: int | None
    events_stored: int
    load_average: float

    @property
    def turns(self) -> int:
        return len(self.latencies)

    def turn(self, number: int) -> float:
        """Latency in seconds of one turn, numbered from 1."""
        return self.latencies[number - 1]

    def window_median(self, number: int) -> float:
        """Median latency of the WINDOW turns around turn `number`."""
        first, last = window(number, self.turns)
        return statistics.median(self.latencies[first - 1 : last])


def window(number: int, turns: int) -> tuple[int, int]:
    """First and last turn of the window measuring turn `number` (turns 6-15 for turn 10)."""
    first = max(1, min(number - WINDOW // 2 + 1, turns - WINDOW + 1))
    return first, first + WINDOW - 1


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int | None) -> int | None:
    """Resident memory of a process in KiB (VmRSS), None if unknown."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def stock_endpoints(directory: Path) -> Path:
    """The project's endpoints with Rasa's stock SQL tracker store instead of ours."""
    with (PROJECT_ROOT / "endpoints.yml").open(encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    # BotProcesses points `db` at the run's own database file.
    config["tracker_store"] = {"type": "SQL", "dialect": "sqlite", "db": "conversations.db"}
    path = directory / "endpoints-stock.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def project_store(endpoints: Path) -> str:
    """How the project's endpoints name their tracker store, for the report."""
    with endpoints.open(encoding="utf-8") as handle:
        store = (yaml.safe_load(handle) or {}).get("tracker_store") or {}
    name = str(store.get("type", "?")).rsplit(".", 1)[-1]
    return f"{name} (window {store['window']})" if "window" in store else name


def send(session: requests.Session, url: str, sender: str, message: str) -> tuple[float, list[str]]:
    """Sends one message; returns the turn's latency in seconds and the bot's texts."""
    start = time.perf_counter()
    response = session.post(url, json={"sender": sender, "message": message}, timeout=120)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    messages: list[dict[str, Any]] = response.json()
    return elapsed, [str(m.get("text", "")) for m in messages]


def count_events(database: Path, sender: str) -> int:
    """Number of events stored for one conversation, by either store."""
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            "SELECT COUNT(*) FROM events WHERE sender_id = ?", (sender,)
        ).fetchone()
    return int(row[0])


def log_tail(log_dir: Path, lines: int = 30) -> str:
    """The last lines of each server log, to explain a failure."""
    parts = []
    for log in sorted(log_dir.glob("*.log")):
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        parts.append(f"--- {log.name} ---\n" + "\n".join(tail))
    return "\n".join(parts)


def measure(model: Path, setup: Setup, turns: int) -> Result:
    """Starts the bot with one setup, talks to it for `turns` turns, then stops it."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{setup.name}-") as tmp:
        directory = Path(tmp)
        database = directory / "conversations.db"
        bot = BotProcesses(
            model=model,
            rasa_port=free_port(),
            actions_port=free_port(),
            endpoints=setup.endpoints,
            log_dir=directory / "logs",
            extra_env={"RASA_TELEMETRY_ENABLED": "false"},
            state_dir=directory / "state",
            database=database,
        )
        sender = f"bench-{setup.name}-{uuid.uuid4().hex[:8]}"
        latencies: list[float] = []
        replies: list[list[str]] = []
        logger.info("%s: starting the action server and Rasa server…", setup.name)
        try:
            bot.start()
            with requests.Session() as session:
                warm_up = f"{sender}-warm-up"
                for message in WARM_UP_MESSAGES[:WARM_UP_TURNS]:
                    send(session, bot.rest_url, warm_up, message)
                rss_warm = rss_kib(bot.pid(RASA))
                logger.info("%s: %d turns on conversation %s", setup.name, turns, sender)
                for number in range(1, turns + 1):
                    elapsed, texts = send(
                        session, bot.rest_url, sender, MESSAGES[(number - 1) % len(MESSAGES)]
                    )
                    latencies.append(elapsed)
                    replies.append(texts)
                    if number % 50 == 0:
                        logger.info("%s: turn %d, %.0f ms", setup.name, number, elapsed * 1000)
                rss_end = rss_kib(bot.pid(RASA))
                # Other work on the machine skews the timings: the report shows it.
                load_average = os.getloadavg()[0]
        except (ServerDied, requests.RequestException):
            logger.error("%s failed; server logs:\n%s", setup.name, log_tail(directory / "logs"))
            raise
        finally:
            bot.stop()
        return Result(
            setup,
            latencies,
            replies,
            rss_warm,
            rss_end,
            count_events(database, sender),
            load_average,
        )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _mib(kib: int | None) -> str:
    return "?" if kib is None else f"{kib / 1024:.0f}"


def report(results: list[Result], model: Path, turns: int) -> str:
    """The Markdown report: context, one table, and the comparison lines."""
    late = turns
    early_first, early_last = window(EARLY_TURN, turns)
    late_first, late_last = window(late, turns)
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Conversation latency: windowed tracker store against Rasa's stock one",
        "",
        f"- Date: {now}",
        f"- Machine: {os.cpu_count()} CPU cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}",
        f"- Rasa {version('rasa')}, model `{model.name}`",
        f"- Turns: {turns} in one conversation per setup, over the REST channel, after "
        f"{WARM_UP_TURNS} warm-up turns on another conversation; setups run one after the "
        f"other, each with a fresh SQLite database.",
        f"- Turn {EARLY_TURN} is the median latency of turns {early_first}-{early_last}, "
        f"turn {late} the median of turns {late_first}-{late_last}; the raw single-turn "
        f"latencies are given too. Messages rotate every {len(MESSAGES)} turns, so each window "
        "holds every message once.",
        "",
        f"| Setup | Tracker store | Turn {EARLY_TURN} (ms) | Turn {late} (ms) "
        f"| Ratio {late}/{EARLY_TURN} | Turn {EARLY_TURN} raw (ms) | Turn {late} raw (ms) "
        f"| Rasa RSS after warm-up (MiB) | Rasa RSS after {turns} turns (MiB) | Events stored |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for result in results:
        early_ms = result.window_median(EARLY_TURN)
        late_ms = result.window_median(late)
        lines.append(
            f"| {result.setup.name} | {result.setup.store} | {_ms(early_ms)} | {_ms(late_ms)} "
            f"| {late_ms / early_ms:.2f} | {_ms(result.turn(EARLY_TURN))} "
            f"| {_ms(result.turn(late))} | {_mib(result.rss_after_warm_up_kib)} "
            f"| {_mib(result.rss_after_turns_kib)} | {result.events_stored} |"
        )
    stock, projet = results
    projet_ratio = projet.window_median(late) / projet.window_median(EARLY_TURN)
    verdict = "met" if projet_ratio < TARGET_RATIO else "NOT met"
    same = sum(a == b for a, b in zip(stock.replies, projet.replies, strict=True))
    lines += [
        "",
        f"- projet / stock latency at turn {late}: "
        f"{projet.window_median(late) / stock.window_median(late):.2f}",
        f"- Target (projet ratio {late}/{EARLY_TURN} under {TARGET_RATIO}): {verdict} "
        f"({projet_ratio:.2f})",
        "- Load average (1 min) at the end of each conversation: "
        + ", ".join(f"{r.setup.name} {r.load_average:.2f}" for r in results),
        f"- Replies: projet's identical to stock's in {same}/{turns} turns; "
        f"events stored: {projet.events_stored} (projet), {stock.events_stored} (stock)",
    ]
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Per-turn latency over one long conversation, project setup against stock Rasa."
    )
    parser.add_argument(
        "--turns", type=int, default=200, help="turns in the measured conversation (200)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="Markdown report to write (bench/results/conversation_latency.md)",
    )
    parser.add_argument(
        "--keep-models",
        action="store_true",
        help="keep the model in models/ if this run trained it (by default it is removed, "
        "leaving models/ as it was found)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs both setups one after the other, prints the table and writes it to --out."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = _parser().parse_args(argv)
    if args.turns < MIN_TURNS:
        print(f"--turns must be at least {MIN_TURNS}.", file=sys.stderr)
        return 2
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    models_dir = PROJECT_ROOT / "models"
    expected = models_dir / f"bot-{model_fingerprint()}.tar.gz"
    trained_here = not expected.exists()
    model = train_if_needed(models_dir=models_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-endpoints-") as tmp:
            project_endpoints = PROJECT_ROOT / "endpoints.yml"
            setups = [
                Setup("stock", "SQLTrackerStore", stock_endpoints(Path(tmp))),
                Setup("projet", project_store(project_endpoints), project_endpoints),
            ]
            results = [measure(model, setup, args.turns) for setup in setups]
    except (ServerDied, requests.RequestException) as error:
        print(f"Benchmark failed: {error}", file=sys.stderr)
        return 1
    finally:
        if trained_here and not args.keep_models:
            model.unlink(missing_ok=True)
    text = report(results, model, args.turns)
    print("\n" + text)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    logger.info("Report written to %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
