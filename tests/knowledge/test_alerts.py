"""Alerts (bot/knowledge/alerts.py): the staff checks of alertes.yml, and what citizens read on fixed dates."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from bot.answers import Turn, answer
from bot.knowledge import KnowledgeBase, check_directory
from bot.knowledge.alerts import ALERTS_FILE, MARKER, listed_commune, load_alerts
from bot.knowledge.hours import PARIS
from bot.paths import PROJECT_ROOT

DURING = dt.datetime(2026, 12, 2, 10, 0, tzinfo=PARIS)
BEFORE = dt.datetime(2026, 12, 1, 6, 59, tzinfo=PARIS)
AFTER = dt.datetime(2026, 12, 3, 19, 0, tzinfo=PARIS)

BALMA_STRIKE = """\
alertes:
  greve_collecte_balma:
    titre: Collecte des déchets perturbée
    texte: |
      Grève : les bacs ne sont pas ramassés. Ne sortez pas vos bacs.
    sujets: [collecte_dechets, encombrants]
    communes: [Balma]
    debut: 2026-12-01 07:00
    fin: 2026-12-03 19:00
    service: Direction des déchets
    lien: https://www.toulouse-metropole.fr
"""

WATER_EVERYWHERE = """\
  travaux_eau:
    titre: Travaux sur le réseau d'eau
    texte: Des coupures d'eau courtes sont possibles.
    sujets: [eau_assainissement]
    communes: toutes
    debut: 2026-12-01 00:00
    fin: 2026-12-10 00:00
    service: Eau de Toulouse Métropole
"""


def _write(directory: Path, text: str) -> Path:
    path = directory / ALERTS_FILE
    path.write_text(text, encoding="utf-8")
    return path


def _messages(problems: list, severity: str = "erreur") -> list[str]:
    return [f"{p.line}: {p.message}" for p in problems if p.severity == severity]


# -- staff checks ------------------------------------------------------------------------


def test_the_shipped_file_has_no_alert_and_no_problem(intents: frozenset[str]) -> None:
    alerts, problems = load_alerts(PROJECT_ROOT / "knowledge" / ALERTS_FILE, intents)
    assert alerts == []
    assert problems == []


def test_a_sound_alert_is_loaded_with_its_dates_in_paris_time(
    tmp_path: Path, intents: frozenset[str]
) -> None:
    alerts, problems = load_alerts(
        _write(tmp_path, BALMA_STRIKE + WATER_EVERYWHERE), intents, now=BEFORE
    )
    assert problems == []
    assert alerts is not None
    strike, water = alerts
    assert strike.start == dt.datetime(2026, 12, 1, 7, 0, tzinfo=PARIS)
    assert strike.communes == {"Balma"} and strike.topics == {"collecte_dechets", "encombrants"}
    assert water.communes is None and water.link is None


@pytest.mark.parametrize(
    ("change", "line", "expected"),
    [
        (
            ("collecte_dechets, encombrants", "collecte_dechet"),
            6,
            "sujet inconnu « collecte_dechet »",
        ),
        (("[Balma]", "[Balmaa]"), 7, "« Balmaa » n'est pas l'une des 37 communes"),
        (("fin: 2026-12-03 19:00", "fin: 2026-11-30 19:00"), 9, "la fin (30 novembre 2026 à 19 h)"),
        (
            ("fin: 2026-12-03 19:00", "fin: 3 décembre"),
            9,
            "« fin » doit être une date et une heure",
        ),
        (("lien: https://", "lien: http://"), 11, "« lien » doit être l'adresse"),
        (
            (
                "    texte: |\n      Grève : les bacs ne sont pas ramassés. Ne sortez pas vos bacs.\n",
                "",
            ),
            2,
            "n'a pas de champ « texte »",
        ),
        (
            (
                "    service: Direction des déchets\n",
                "    service: Direction des déchets\n    services: x\n",
            ),
            11,
            "champ inconnu « services »",
        ),
    ],
)
def test_check_refuses_with_file_and_line(
    tmp_path: Path, intents: frozenset[str], change: tuple[str, str], line: int, expected: str
) -> None:
    path = _write(tmp_path, BALMA_STRIKE.replace(*change))
    alerts, problems = load_alerts(path, intents, now=BEFORE)
    assert alerts is None
    errors = [p for p in problems if p.severity == "erreur"]
    assert [(p.path, p.line) for p in errors if expected in p.message] == [(path, line)], errors


def test_check_warns_about_ended_and_far_ahead_alerts(
    tmp_path: Path, intents: frozenset[str]
) -> None:
    path = _write(tmp_path, BALMA_STRIKE)
    alerts, problems = load_alerts(path, intents, now=AFTER)
    assert alerts is not None
    assert _messages(problems, "avertissement") == [
        "9: l'alerte « greve_collecte_balma » est terminée depuis le 3 décembre 2026 à 19 h : "
        "elle n'est plus montrée, retirez-la du fichier."
    ]
    far = dt.datetime(2026, 9, 1, tzinfo=PARIS)
    warnings = _messages(load_alerts(path, intents, now=far)[1], "avertissement")
    assert len(warnings) == 1 and "commence dans plus de 60 jours" in warnings[0]


def test_python_m_bot_check_reports_the_alerts_file(
    tmp_path: Path, intents: frozenset[str]
) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(PROJECT_ROOT / "knowledge", knowledge)
    path = _write(knowledge, BALMA_STRIKE.replace("[Balma]", "[Balmaa]"))
    problems = check_directory(knowledge, intents)
    assert [(p.path, p.line) for p in problems if p.severity == "erreur"] == [(path, 7)]


# -- what citizens read --------------------------------------------------------------------


@pytest.fixture
def knowledge(tmp_path: Path, intents: frozenset[str]) -> KnowledgeBase:
    directory = tmp_path / "knowledge"
    shutil.copytree(PROJECT_ROOT / "knowledge", directory)
    _write(directory, BALMA_STRIKE + WATER_EVERYWHERE)
    base = KnowledgeBase(directory, intents)
    base.refresh()
    return base


def _texts(
    knowledge: KnowledgeBase, intent: str, now: dt.datetime, commune: str | None = None
) -> list[str]:
    turn = Turn(intent, communes=(commune,) if commune else (), now=now)
    return [reply.text for reply in answer(knowledge, turn).replies]


def test_a_valid_alert_comes_first_for_its_topic_and_commune(knowledge: KnowledgeBase) -> None:
    texts = _texts(knowledge, "collecte_dechets", DURING, "Balma")
    assert texts[0].startswith(f"{MARKER} : Collecte des déchets perturbée")
    assert "Ne sortez pas vos bacs" in texts[0]
    assert "Jusqu'au 3 décembre 2026 à 19 h." in texts[0]
    assert "Balma" in texts[1] and MARKER not in texts[1]


@pytest.mark.parametrize(
    ("intent", "now", "commune"),
    [
        ("collecte_dechets", BEFORE, "Balma"),
        ("collecte_dechets", AFTER, "Balma"),
        ("collecte_dechets", DURING, "Blagnac"),
        ("horaires_mairie", DURING, "Balma"),
    ],
)
def test_no_alert_outside_its_dates_communes_or_topics(
    knowledge: KnowledgeBase, intent: str, now: dt.datetime, commune: str
) -> None:
    assert not any(MARKER in text for text in _texts(knowledge, intent, now, commune))


def test_a_metropole_wide_alert_reaches_a_citizen_of_unknown_commune(
    knowledge: KnowledgeBase,
) -> None:
    texts = _texts(knowledge, "eau_assainissement", DURING)
    assert texts[0].startswith(f"{MARKER} : Travaux sur le réseau d'eau")
    assert MARKER in _texts(knowledge, "eau_assainissement", DURING, "Blagnac")[0]


def test_the_list_of_current_alerts_for_the_commune(knowledge: KnowledgeBase) -> None:
    balma = _texts(knowledge, "demander_alertes", DURING, "Balma")
    assert balma[0].startswith("⚠️ Alertes en cours à Balma :")
    assert (
        "Collecte des déchets perturbée" in balma[0] and "Travaux sur le réseau d'eau" in balma[0]
    )
    assert listed_commune(balma[0]) == "Balma"
    blagnac = _texts(knowledge, "demander_alertes", AFTER + dt.timedelta(days=7), "Blagnac")
    assert blagnac[0].startswith("Aucune alerte en cours à Blagnac")
    assert listed_commune(blagnac[0]) == "Blagnac"


def test_the_list_asks_for_the_commune_when_unknown(knowledge: KnowledgeBase) -> None:
    outcome = answer(knowledge, Turn("demander_alertes", now=DURING))
    assert outcome.replies[0].text == knowledge.message("demander_commune")
    assert outcome.slots["sujet_en_attente"] == "demander_alertes"
    completed = answer(
        knowledge,
        Turn("donner_commune", communes=("Balma",), pending="demander_alertes", now=DURING),
    )
    assert completed.replies[0].text.startswith("⚠️ Alertes en cours à Balma :")


def test_a_saved_alert_is_served_at_the_next_answer_and_a_broken_one_keeps_the_last_good(
    knowledge: KnowledgeBase,
) -> None:
    path = knowledge.directory / ALERTS_FILE
    assert MARKER in _texts(knowledge, "collecte_dechets", DURING, "Balma")[0]
    _write(knowledge.directory, BALMA_STRIKE.replace("[Balma]", "[Balmaa]  "))
    assert MARKER in _texts(knowledge, "collecte_dechets", DURING, "Balma")[0]
    path.write_text("alertes: {}\n", encoding="utf-8")
    assert not any(MARKER in t for t in _texts(knowledge, "collecte_dechets", DURING, "Balma"))
