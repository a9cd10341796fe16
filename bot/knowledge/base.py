"""The knowledge the bot answers from: all files of `knowledge/`, reloaded when staff save one.

Each file is reloaded on its own when its modification time or size changes.
A file that fails its check is refused and the last good version of that file
keeps serving; the problem is logged with file and line.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.communes import COMMUNES_FILE
from bot.knowledge.alerts import ALERTS_FILE, load_alerts
from bot.knowledge.loader import SET_ASIDE, load_file
from bot.knowledge.places import load_places
from bot.knowledge.schema import BOT_MESSAGES, INTENTS_WITHOUT_TOPIC, Problem, ThemeFile, Topic
from bot.paths import PROJECT_ROOT

__all__ = [
    "KnowledgeBase",
    "check_directory",
    "default_knowledge_dir",
    "domain_intents",
    "theme_paths",
    "topic_intents",
]

logger = logging.getLogger(__name__)


def default_knowledge_dir() -> Path:
    """`BOT_KNOWLEDGE_DIR`, or the project's `knowledge/` folder."""
    return Path(os.environ.get("BOT_KNOWLEDGE_DIR", PROJECT_ROOT / "knowledge"))


def domain_intents(domain_path: Path | None = None) -> frozenset[str]:
    """The intents declared in the Rasa domain (read as plain YAML, no Rasa import)."""
    path = domain_path or Path(os.environ.get("BOT_DOMAIN", PROJECT_ROOT / "domain.yml"))
    with path.open(encoding="utf-8") as handle:
        domain = yaml.safe_load(handle)
    names = set()
    for intent in domain.get("intents", []):
        names.add(next(iter(intent)) if isinstance(intent, dict) else str(intent))
    return frozenset(names)


def topic_intents(intents: frozenset[str]) -> frozenset[str]:
    """The intents that must each have a staff-written answer."""
    return intents - INTENTS_WITHOUT_TOPIC


@dataclass
class _Entry:
    """One file as last seen: its stamp, and the version serving citizens (the last valid one)."""

    stamp: tuple[float, int]
    serving: ThemeFile | None


def theme_paths(directory: Path) -> list[Path]:
    """The theme files of a knowledge folder (every `.yml` but the communes and alerts files)."""
    return sorted(p for p in directory.glob("*.yml") if p.name not in (COMMUNES_FILE, ALERTS_FILE))


def _stamp(path: Path) -> tuple[float, int]:
    stat = path.stat()
    return (stat.st_mtime, stat.st_size)


class KnowledgeBase:
    """All knowledge files of a folder, kept current, with the last good version of each."""

    def __init__(
        self, directory: Path | None = None, intents: frozenset[str] | None = None
    ) -> None:
        self.directory = directory or default_knowledge_dir()
        self._intents = intents
        self._entries: dict[Path, _Entry] = {}
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    @property
    def intents(self) -> frozenset[str]:
        if self._intents is None:
            self._intents = domain_intents()
        return self._intents

    def refresh(self) -> list[Path]:
        """Reloads every file saved since the last call; returns the files now serving anew."""
        reloaded: list[Path] = []
        with self._lock:
            present = set(theme_paths(self.directory))
            for path in sorted(present):
                try:
                    stamp = _stamp(path)
                except FileNotFoundError:
                    continue
                entry = self._entries.get(path)
                if entry is not None and entry.stamp == stamp:
                    continue
                theme_file, problems = load_file(path, self.intents)
                errors = [p for p in problems if p.severity == "erreur"]
                if theme_file is None:
                    still_serving = entry.serving if entry else None
                    for problem in errors:
                        logger.error("Fichier de connaissances refusé : %s", problem)
                    logger.error(
                        "%s : %s",
                        path.name,
                        "la dernière version valide reste en service"
                        if still_serving
                        else "aucune version valide : ses sujets sont indisponibles",
                    )
                    self._entries[path] = _Entry(stamp, still_serving)
                    continue
                for problem in problems:
                    if SET_ASIDE in problem.message:
                        logger.warning("%s", problem)
                if entry is not None:
                    logger.info("Fichier de connaissances rechargé : %s", path.name)
                self._entries[path] = _Entry(stamp, theme_file)
                reloaded.append(path)
            for path in set(self._entries) - present:
                logger.warning("Fichier de connaissances supprimé : %s", path.name)
                del self._entries[path]
        return reloaded

    def watch(self, interval: float = 1.0) -> None:
        """Reloads saved files every `interval` seconds in a background thread (idempotent).

        Answers also refresh before each use; the watcher makes a save take
        effect, and be logged, within a second even when nobody is asking.
        """
        if self._watcher is not None:
            return

        def loop() -> None:
            while True:
                time.sleep(interval)
                try:
                    self.refresh()
                except OSError:
                    logger.exception(
                        "Lecture du dossier de connaissances impossible : %s", self.directory
                    )

        self._watcher = threading.Thread(target=loop, name="knowledge-watcher", daemon=True)
        self._watcher.start()

    def _files(self) -> list[ThemeFile]:
        return [
            entry.serving for _, entry in sorted(self._entries.items()) if entry.serving is not None
        ]

    def topic(self, name: str) -> Topic | None:
        """The current answer for a topic, or None when no valid file has it."""
        for theme_file in self._files():
            if name in theme_file.topics:
                return theme_file.topics[name]
        return None

    def topics(self) -> dict[str, Topic]:
        """Every topic currently served."""
        result: dict[str, Topic] = {}
        for theme_file in self._files():
            result.update(theme_file.topics)
        return result

    def message(self, name: str, **values: str) -> str:
        """One of the bot's own sentences, with its placeholders filled."""
        if name not in BOT_MESSAGES:
            raise KeyError(name)
        for theme_file in self._files():
            if name in theme_file.messages:
                text = theme_file.messages[name]
                for key, value in values.items():
                    text = text.replace("{" + key + "}", value)
                return text
        # Only reached when conversation.yml has never loaded: stay polite and useful.
        return "Je ne peux pas répondre pour le moment. Consultez https://www.toulouse-metropole.fr"


def check_directory(
    directory: Path,
    intents: frozenset[str],
    *,
    today: dt.date | None = None,
    max_age_days: int | None = None,
) -> list[Problem]:
    """Every problem in a knowledge folder, including those across files."""
    problems: list[Problem] = []
    seen: dict[str, Topic] = {}
    messages: set[str] = set()
    communes = directory / COMMUNES_FILE
    if communes.exists():
        problems.extend(load_places(communes)[1])
    else:
        problems.append(
            Problem(
                communes,
                0,
                "fichier absent : seuls les noms officiels des communes seront reconnus.",
                "avertissement",
            )
        )
    if (directory / ALERTS_FILE).exists():
        problems.extend(load_alerts(directory / ALERTS_FILE, intents)[1])
    for path in theme_paths(directory):
        theme_file, file_problems = load_file(path, intents, today=today, max_age_days=max_age_days)
        problems.extend(file_problems)
        if theme_file is None:
            continue
        messages.update(theme_file.messages)
        for name, topic in theme_file.topics.items():
            if name in seen:
                earlier = seen[name]
                problems.append(
                    Problem(
                        path,
                        topic.line,
                        f"le sujet « {name} » existe déjà dans {earlier.path.name} (ligne {earlier.line}) : "
                        "un sujet ne doit apparaître qu'une fois.",
                    )
                )
            else:
                seen[name] = topic
    if any(p.severity == "erreur" for p in problems):
        return problems
    anchor = directory / "conversation.yml"
    for intent in sorted(topic_intents(intents) - set(seen)):
        problems.append(
            Problem(
                directory,
                0,
                f"l'intention « {intent} » n'a pas de réponse : ajoutez un sujet « {intent} » "
                "dans le fichier du thème qui convient.",
            )
        )
    for name in sorted(set(BOT_MESSAGES) - messages):
        problems.append(Problem(anchor, 0, f"le message « {name} » manque dans « messages: »."))
    return problems
