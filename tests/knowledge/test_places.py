"""`knowledge/communes.yml`: staff-edited spellings and places outside, French checks, live reload."""

from __future__ import annotations

import json
import logging
import os
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.communes import COMMUNES_FILE, find_communes, normalise, places_outside
from bot.knowledge import check_directory
from bot.knowledge.places import load_places
from bot.paths import PROJECT_ROOT
from tests.support import RunningBot

VALID = """\
communes:
  Tournefeuille:
    - tournefeuil
  Quint-Fonsegrives:
    - quint
hors_metropole:
  Muret:
  Portet-sur-Garonne:
    - portet
"""


def write(directory: Path, text: str) -> Path:
    path = directory / COMMUNES_FILE
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    _, found = load_places(path)
    return [f"{p.line}: {p.severity}: {p.message}" for p in found]


@pytest.fixture
def knowledge_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty knowledge folder that `bot.communes` reads from (BOT_KNOWLEDGE_DIR)."""
    monkeypatch.setenv("BOT_KNOWLEDGE_DIR", str(tmp_path))
    yield tmp_path


def test_the_project_file_is_valid_and_keeps_the_usual_spellings() -> None:
    places, found = load_places(PROJECT_ROOT / "knowledge" / COMMUNES_FILE)
    assert places is not None, [str(p) for p in found]
    assert [str(p) for p in found] == []
    assert places.variants["st orens"] == "Saint-Orens-de-Gameville"
    assert "Muret" in places.outside and "Paris" in places.outside


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("    - portet\n", "    - portet\n    - quint\n"),
            "10: erreur: « quint » est déjà l'écriture de Quint-Fonsegrives (ligne 5)",
        ),
        (
            ("    - portet\n", "    - portet\n    - Balma\n"),
            "10: erreur: « Balma » est déjà l'écriture de Balma (c'est son nom officiel)",
        ),
        (
            ("    - quint\n", "    - quint\n    - pour\n"),
            "6: erreur: l'écriture « pour » de Quint-Fonsegrives est un mot courant du français",
        ),
        (
            ("    - quint\n", "    - quint\n    - la mairie\n"),
            "6: erreur: l'écriture « la mairie » de Quint-Fonsegrives est un mot courant",
        ),
        (
            ("    - quint\n", "    - quint\n    - qfg\n"),
            "6: erreur: l'écriture « qfg » de Quint-Fonsegrives est trop courte",
        ),
        (
            ("  Tournefeuille:", "  Tournefeuile:"),
            "2: erreur: « Tournefeuile » n'est pas l'une des 37 communes de Toulouse Métropole",
        ),
        (
            ("  Muret:\n", "  Muret:\n  Balma:\n"),
            "8: erreur: Balma est une commune de la Métropole : ses écritures vont sous « communes: ».",
        ),
        (
            ("    - portet\n", "    - portet\nBalma:\n  - balmaa\n"),
            "10: erreur: champ inconnu « Balma ». « Balma » semble mal indenté",
        ),
        (
            ("    - tournefeuil\n", "    - tournefeuil\n    - Tournefeuille\n"),
            "4: avertissement: « Tournefeuille » est déjà reconnu : c'est le nom officiel",
        ),
    ],
    ids=[
        "deux-lieux",
        "nom-officiel-d-un-autre",
        "mot-courant",
        "mots-courants",
        "trop-court",
        "commune-inconnue",
        "commune-hors-metropole",
        "indentation",
        "inutile",
    ],
)
def test_each_mistake_is_said_in_french_with_its_line(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in VALID
    said = problems(write(tmp_path, VALID.replace(old, new, 1)))
    assert any(p.startswith(expected) for p in said), said


def test_a_spelling_is_found_once_saved_without_restart(knowledge_dir: Path) -> None:
    path = write(knowledge_dir, VALID)
    assert normalise("collecte a tourne feuille") is None
    write(
        knowledge_dir,
        VALID.replace("    - tournefeuil\n", "    - tournefeuil\n    - tourne feuille\n"),
    )
    assert path.read_text(encoding="utf-8").count("tourne feuille") == 1
    assert normalise("collecte a tourne feuille") == "Tournefeuille"
    assert normalise("collecte a Tourne-Feuille") == "Tournefeuille"


def test_a_place_outside_added_by_staff_is_recognised_as_outside(knowledge_dir: Path) -> None:
    write(knowledge_dir, VALID)
    assert find_communes("et a Villefranche de Lauragais ?") == []
    write(knowledge_dir, VALID + "  Villefranche-de-Lauragais:\n    - villefranche\n")
    (match,) = find_communes("et a villefranche ?")
    assert (match.name, match.in_metropole) == ("Villefranche-de-Lauragais", False)
    assert "Villefranche-de-Lauragais" in places_outside()


def test_a_broken_file_keeps_the_last_good_version_with_a_french_error(
    knowledge_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(knowledge_dir, VALID)
    assert normalise("quint") == "Quint-Fonsegrives"
    with caplog.at_level(logging.ERROR, logger="bot.communes"):
        write(knowledge_dir, VALID.replace("    - quint\n", "    - quint\n\t- qfs\n"))
        os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
        assert normalise("quint") == "Quint-Fonsegrives"
    assert f"Fichier des communes refusé : {path}:6" in caplog.text
    assert "tabulation" in caplog.text
    assert "la dernière version valide reste en service" in caplog.text


def test_check_reads_the_communes_file_and_no_theme_file_takes_it_for_topics(
    tmp_path: Path, intents: frozenset[str]
) -> None:
    write(tmp_path, VALID.replace("    - quint\n", "    - quint\n    - pour\n"))
    said = [str(p) for p in check_directory(tmp_path, intents) if p.path.name == COMMUNES_FILE]
    assert len(said) == 1 and "mot courant" in said[0], said


def _parse(bot: RunningBot, text: str) -> list[tuple[str, str]]:
    """What the running Rasa server's NLU finds in `text`: (entity, value) pairs."""
    processes = bot.processes
    request = urllib.request.Request(
        f"http://127.0.0.1:{processes.rasa_port}/model/parse?token={processes.token}",
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        parsed = json.loads(response.read())
    return [(e["entity"], e["value"]) for e in parsed["entities"]]


@pytest.mark.servers
def test_staff_add_tourne_feuille_and_the_running_bot_recognises_it_at_once(
    running_bot: RunningBot,
) -> None:
    """The guide's scenario: no retraining, no restart; the next message already knows it."""
    path = running_bot.knowledge_dir / COMMUNES_FILE
    original = path.read_text(encoding="utf-8")
    without = original.replace("    - tourne feuille\n", "")
    assert without != original
    try:
        path.write_text(without, encoding="utf-8")
        assert ("commune", "Tournefeuille") not in _parse(running_bot, "collecte a tourne feuille")

        path.write_text(original, encoding="utf-8")
        assert ("commune", "Tournefeuille") in _parse(running_bot, "collecte a tourne feuille")
        assert ("commune", "Tournefeuille") in _parse(running_bot, "collecte a tourne-feuille")
        reply = running_bot.conversation().text(
            "quand passe la collecte des déchets à tourne feuille"
        )
        assert "Tournefeuille" in reply

        path.write_text(original.replace("    - tourne feuille\n", "    - tourne feuille\n\t-x\n"))
        assert ("commune", "Tournefeuille") in _parse(running_bot, "collecte a tourne feuille")
    finally:
        path.write_text(original, encoding="utf-8")
