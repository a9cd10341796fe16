"""Alerts and disruptions staff publish in `knowledge/alertes.yml`: checks, live reload, what citizens read.

    alertes:
      greve_collecte_balma:          # the alert's identifier: never reuse it for another alert
        titre: Collecte des déchets perturbée
        texte: |
          Grève du service de collecte : les bacs ne sont pas ramassés.
        sujets: [collecte_dechets]   # the topics (intents) whose answers start with the alert
        communes: [Balma]            # official names, or « toutes »
        debut: 2026-12-01 07:00      # Europe/Paris
        fin: 2026-12-03 19:00
        service: Direction des déchets
        lien: https://…              # optional

Like the theme files, the file is accepted whole or refused whole; a refused
file leaves the last good version serving. Refused: an unknown topic or
commune, an end before the start, a missing text, title, service or date.
Warned: an alert already ended (to be removed), one starting more than
`FAR_AHEAD_DAYS` days ahead.

While an alert is valid, every answer on one of its topics, for one of its
communes (or for a citizen whose commune is unknown when it concerns the
whole metropole), starts with it (`alert_texts`, called by `bot.answers`);
the topic `demander_alertes` lists the alerts of the citizen's commune. The
Telegram bridge sends each alert to its subscribers once
(`bot.channels.telegram.subscriptions`).

Pure Python, no Rasa import.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.communes import COMMUNES
from bot.domain import INTENT_ALERTS
from bot.knowledge.hours import PARIS
from bot.knowledge.loader import _closest, _Located, not_a_commune, read_document
from bot.knowledge.schema import INTENTS_WITHOUT_TOPIC, Problem

if TYPE_CHECKING:
    from bot.knowledge.base import KnowledgeBase

__all__ = [
    "ALERTS_FILE",
    "ALL_COMMUNES",
    "FAR_AHEAD_DAYS",
    "MARKER",
    "Alert",
    "AlertBoard",
    "alert_message",
    "alert_texts",
    "board_for",
    "listed_commune",
    "listing",
    "load_alerts",
]

logger = logging.getLogger(__name__)

ALERTS_FILE = "alertes.yml"
ALL_COMMUNES = "toutes"
FAR_AHEAD_DAYS = 60
# A word, not only a colour or an emoji: read aloud by screen readers, visible in any theme.
MARKER = "⚠️ Alerte en cours"

REQUIRED_FIELDS = ("titre", "texte", "sujets", "communes", "debut", "fin", "service")
OPTIONAL_FIELDS = ("lien",)
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
_MAX_KEY_CHARS = 100

_LISTING = "Alertes en cours à {commune}"
_NONE = "Aucune alerte en cours à {commune}"
_LISTED = re.compile(r"^(?:⚠️ )?(?:Alertes|Aucune alerte) en cours à (?P<commune>[^:.\n]+)")
_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


@dataclass(frozen=True)
class Alert:
    """One published notice.

    Attributes:
        key: the identifier staff gave it; the Telegram bridge remembers by it what it sent.
        communes: the official names concerned, or None for the whole metropole.
        start, end: aware date-times; the alert is valid from start (included) to end (excluded).
    """

    key: str
    title: str
    text: str
    topics: frozenset[str]
    communes: frozenset[str] | None
    start: dt.datetime
    end: dt.datetime
    service: str
    link: str | None
    path: Path
    line: int

    def valid_at(self, now: dt.datetime) -> bool:
        return self.start <= now < self.end

    def concerns(self, commune: str | None) -> bool:
        """Whether a citizen of `commune` (None: unknown) is concerned."""
        if self.communes is None:
            return True
        return commune is not None and commune in self.communes


def _french_date(moment: dt.datetime) -> str:
    local = moment.astimezone(PARIS)
    day = "1er" if local.day == 1 else str(local.day)
    hour = f"{local.hour} h" + (f" {local.minute:02d}" if local.minute else "")
    return f"{day} {_MONTHS[local.month - 1]} {local.year} à {hour}"


def alert_message(alert: Alert) -> str:
    """The alert as a citizen reads it, before the usual answer or as a Telegram message."""
    parts = [f"{MARKER} : {alert.title}", " ".join(alert.text.split())]
    parts.append(f"Jusqu'au {_french_date(alert.end)}.")
    if alert.link:
        parts.append(f"Pour en savoir plus : {alert.link}")
    # One paragraph: channels that show each paragraph as its own bubble keep the alert whole.
    return "\n".join(parts)


def listing(alerts: list[Alert], commune: str) -> str:
    """The answer to "y a-t-il des perturbations ?" for a commune: its current alerts, or none."""
    if not alerts:
        return f"{_NONE.format(commune=commune)} : aucune perturbation n'est signalée par les services."
    lines = [f"⚠️ {_LISTING.format(commune=commune)} :"]
    for alert in alerts:
        lines.append(
            f"- {alert.title} (jusqu'au {_french_date(alert.end)}) : {' '.join(alert.text.split())}"
        )
        if alert.link:
            lines.append(f"  Pour en savoir plus : {alert.link}")
    return "\n".join(lines)


def listed_commune(text: str) -> str | None:
    """The commune whose alerts a bot reply lists (`listing`), or None for any other reply."""
    match = _LISTED.match(text.strip())
    if match is None:
        return None
    commune = match["commune"].strip().replace("’", "'")
    return commune if commune in COMMUNES else None


# -- reading the file -----------------------------------------------------------------------


def _text(located: _Located | None) -> str | None:
    if located is None or not isinstance(located.value, str) or not located.value.strip():
        return None
    return located.value


def _moment(value: Any) -> dt.datetime | None:
    """A date-time in Europe/Paris from what YAML gives: a string, a datetime, a date (midnight)."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        for pattern in _DATE_FORMATS:
            try:
                moment = dt.datetime.strptime(value.strip(), pattern)
                break
            except ValueError:
                continue
        else:
            return None
    else:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=PARIS)
    return moment.astimezone(PARIS)


class _AlertChecker:
    """Validates one alert mapping and builds the `Alert` when it is sound."""

    def __init__(self, path: Path, topics: frozenset[str] | None, now: dt.datetime) -> None:
        self.path = path
        self.topics = topics
        self.now = now
        self.problems: list[Problem] = []

    def error(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, message))

    def warn(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, message, "avertissement"))

    def check(self, key: str, located: _Located) -> Alert | None:
        errors_before = sum(p.severity == "erreur" for p in self.problems)
        if len(key) > _MAX_KEY_CHARS:
            self.error(
                located.line,
                f"identifiant d'alerte trop long (plus de {_MAX_KEY_CHARS} caractères).",
            )
        if not isinstance(located.value, dict):
            self.error(
                located.line,
                f"l'alerte « {key} » doit contenir des champs (titre, texte, sujets, communes, "
                "debut, fin, service).",
            )
            return None
        fields: dict[str, _Located] = located.value
        allowed = REQUIRED_FIELDS + OPTIONAL_FIELDS
        for name, value in fields.items():
            if name not in allowed:
                self.error(value.line, f"champ inconnu « {name} ».{_closest(name, allowed)}")
        for name in REQUIRED_FIELDS:
            if name not in fields:
                self.error(located.line, f"l'alerte « {key} » n'a pas de champ « {name} ».")
        title = self._required_text(fields, "titre")
        text = self._required_text(fields, "texte")
        service = self._required_text(fields, "service")
        topics = self._topics(fields)
        communes = self._communes(fields)
        start = self._date(fields, "debut")
        end = self._date(fields, "fin")
        link = self._link(fields)
        if start is not None and end is not None:
            if end <= start:
                self.error(
                    fields["fin"].line,
                    f"la fin ({_french_date(end)}) n'est pas après le début ({_french_date(start)}) : "
                    "corrigez l'une des deux dates.",
                )
            elif end <= self.now:
                self.warn(
                    fields["fin"].line,
                    f"l'alerte « {key} » est terminée depuis le {_french_date(end)} : elle n'est "
                    "plus montrée, retirez-la du fichier.",
                )
            elif (start - self.now).days > FAR_AHEAD_DAYS:
                self.warn(
                    fields["debut"].line,
                    f"l'alerte « {key} » commence dans plus de {FAR_AHEAD_DAYS} jours "
                    f"({_french_date(start)}) : vérifiez l'année et le mois.",
                )
        if sum(p.severity == "erreur" for p in self.problems) > errors_before:
            return None
        assert title and text and service and topics and start and end
        return Alert(
            key=key,
            title=" ".join(title.split()),
            text=text.strip(),
            topics=topics,
            communes=communes,
            start=start,
            end=end,
            service=service.strip(),
            link=link,
            path=self.path,
            line=located.line,
        )

    def _required_text(self, fields: dict[str, _Located], name: str) -> str | None:
        if name not in fields:
            return None
        value = _text(fields[name])
        if value is None:
            self.error(fields[name].line, f"le champ « {name} » est vide : écrivez un texte.")
        return value

    def _names(self, located: _Located) -> list[tuple[str, int]]:
        items = located.value if isinstance(located.value, list) else [located]
        return [(str(item.value).strip(), item.line) for item in items if item.value is not None]

    def _topics(self, fields: dict[str, _Located]) -> frozenset[str] | None:
        if "sujets" not in fields:
            return None
        names = self._names(fields["sujets"])
        if not names:
            self.error(
                fields["sujets"].line,
                "« sujets » est vide : donnez au moins un sujet, par exemple [collecte_dechets].",
            )
            return None
        known = None if self.topics is None else self.topics - {INTENT_ALERTS}
        for name, line in names:
            if known is not None and name not in known:
                self.error(
                    line,
                    f"sujet inconnu « {name} » : les sujets sont les noms des réponses "
                    f"(collecte_dechets, transports_en_commun…).{_closest(name, known)}",
                )
        return frozenset(name for name, _ in names)

    def _communes(self, fields: dict[str, _Located]) -> frozenset[str] | None:
        if "communes" not in fields:
            return None
        located = fields["communes"]
        if isinstance(located.value, str) and located.value.strip().lower() == ALL_COMMUNES:
            return None
        names = self._names(located)
        if not names:
            self.error(
                located.line,
                f"« communes » est vide : donnez une liste de communes, ou « {ALL_COMMUNES} ».",
            )
            return frozenset()
        for name, line in names:
            if name not in COMMUNES:
                hint = (
                    f" Pour toute la métropole, écrivez « communes: {ALL_COMMUNES} » (sans liste)."
                    if name.lower() == ALL_COMMUNES
                    else _closest(name, COMMUNES)
                )
                self.error(line, not_a_commune(name, hint))
        return frozenset(name for name, _ in names)

    def _date(self, fields: dict[str, _Located], name: str) -> dt.datetime | None:
        if name not in fields:
            return None
        moment = _moment(fields[name].value)
        if moment is None:
            self.error(
                fields[name].line,
                f"« {name} » doit être une date et une heure au format AAAA-MM-JJ HH:MM "
                "(heure de Paris), par exemple 2026-12-01 07:00.",
            )
        return moment

    def _link(self, fields: dict[str, _Located]) -> str | None:
        if "lien" not in fields:
            return None
        value = _text(fields["lien"])
        if value is None or not value.strip().startswith("https://") or " " in value.strip():
            self.error(
                fields["lien"].line,
                "« lien » doit être l'adresse d'une page officielle en https://.",
            )
            return None
        return value.strip()


def load_alerts(
    path: Path, known_intents: frozenset[str] | None = None, *, now: dt.datetime | None = None
) -> tuple[list[Alert] | None, list[Problem]]:
    """Reads an alerts file; returns its alerts (None if any error) and every problem found.

    Args:
        path: the YAML file.
        known_intents: the bot's intents; an alert's topics must be among their topics.
        now: the moment "already ended" and "far ahead" are measured from.
    """
    now = now or dt.datetime.now(PARIS)
    root, problems = read_document(path)
    if root is None:
        return None, problems
    if not isinstance(root.value, dict) or "alertes" not in root.value:
        return None, [
            *problems,
            Problem(path, root.line, "le fichier doit commencer par « alertes: »."),
        ]
    top: dict[str, _Located] = root.value
    for key, value in top.items():
        if key != "alertes":
            problems.append(
                Problem(
                    path,
                    value.line,
                    f"champ inconnu « {key} » : tout se range sous « alertes: », chaque alerte "
                    "décalée de deux espaces, ses champs de quatre.",
                )
            )
    entries = top["alertes"]
    alerts: list[Alert] = []
    if entries.value is None:
        pass  # "alertes:" with nothing under it: no alert published
    elif not isinstance(entries.value, dict):
        problems.append(
            Problem(
                path,
                entries.line,
                "« alertes » contient des alertes nommées par un identifiant, par exemple "
                "« greve_collecte_balma: ».",
            )
        )
    else:
        topics = None if known_intents is None else known_intents - INTENTS_WITHOUT_TOPIC
        checker = _AlertChecker(path, topics, now)
        for key, located in entries.value.items():
            alert = checker.check(key, located)
            if alert is not None:
                alerts.append(alert)
        problems.extend(checker.problems)
    if any(p.severity == "erreur" for p in problems):
        return None, problems
    return alerts, problems


# -- serving --------------------------------------------------------------------------------


class AlertBoard:
    """The alerts of one file, reloaded when staff save it, the last good version kept."""

    def __init__(self, path: Path, intents: frozenset[str] | None = None) -> None:
        self.path = path
        self._intents = intents
        self._stamp: tuple[float, int] | None = None
        self._alerts: list[Alert] = []
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Reloads the file if it changed since the last call."""
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                if self._stamp is not None:
                    logger.warning("Fichier des alertes supprimé : %s", self.path.name)
                self._stamp, self._alerts = None, []
                return
            stamp = (stat.st_mtime, stat.st_size)
            if stamp == self._stamp:
                return
            first = self._stamp is None
            self._stamp = stamp
            alerts, problems = load_alerts(self.path, self._intents)
            if alerts is None:
                for problem in problems:
                    if problem.severity == "erreur":
                        logger.error("Fichier des alertes refusé : %s", problem)
                logger.error(
                    "%s : %s",
                    self.path.name,
                    "la dernière version valide reste en service"
                    if not first
                    else "aucune version valide : aucune alerte n'est montrée",
                )
                return
            self._alerts = alerts
            if not first:
                logger.info("Fichier des alertes rechargé : %d alerte(s).", len(alerts))

    def alerts(self) -> list[Alert]:
        """Every alert of the serving version, valid or not."""
        self.refresh()
        return list(self._alerts)

    def current(self, now: dt.datetime) -> list[Alert]:
        """The alerts valid at `now`, earliest start first."""
        return sorted((a for a in self.alerts() if a.valid_at(now)), key=lambda a: (a.start, a.key))


_boards: dict[Path, AlertBoard] = {}
_boards_lock = threading.Lock()


def board_for(directory: Path, intents: frozenset[str] | None = None) -> AlertBoard:
    """The alert board of a knowledge folder, one per folder per process."""
    path = directory / ALERTS_FILE
    with _boards_lock:
        board = _boards.get(path)
        if board is None:
            board = _boards[path] = AlertBoard(path, intents)
        return board


def alert_texts(
    knowledge: KnowledgeBase, topic: str, commune: str | None, now: dt.datetime | None
) -> list[str]:
    """What comes before the answer to `topic`: its valid alerts, or for `demander_alertes` the list.

    Args:
        knowledge: the knowledge base whose folder holds `alertes.yml`.
        topic: the topic about to be answered.
        commune: the citizen's commune, None when unknown.
        now: the moment of the answer (now by default).
    """
    moment = now or dt.datetime.now(PARIS)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=PARIS)
    current = board_for(knowledge.directory, knowledge.intents).current(moment)
    if topic == INTENT_ALERTS:
        if commune is None:
            return [alert_message(a) for a in current if a.communes is None]
        return [listing([a for a in current if a.concerns(commune)], commune)]
    return [alert_message(a) for a in current if topic in a.topics and a.concerns(commune)]
