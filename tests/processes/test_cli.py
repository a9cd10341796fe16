"""The command line as staff and newcomers meet it: `check` answers without loading the bot's heavy packages."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import _parser, main
from bot.paths import PROJECT_ROOT
from tests.support import RunningBot, free_port

HEAVY = {"spacy", "rasa", "sqlalchemy", "tensorflow", "sanic"}


def _imports(*arguments: str) -> tuple[str, set[str]]:
    """What `python -X importtime ARGUMENTS` prints, and the top-level packages it imported."""
    ran = subprocess.run(
        [sys.executable, "-X", "importtime", *arguments],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in ran.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "bot" in imported  # the measure itself works
    return ran.stdout, imported


def test_check_imports_neither_rasa_nor_spacy_nor_sqlalchemy() -> None:
    output, imported = _imports("-m", "bot", "check")
    assert re.search(r"\d+ erreurs?, \d+ avertissements?", output), output
    assert imported & HEAVY == set()


def test_the_processes_package_imports_none_of_them_either() -> None:
    _, imported = _imports("-c", "import bot.processes")
    assert imported & HEAVY == set()


def test_every_command_takes_verbose() -> None:
    parser = _parser()
    for command in (
        ["run"],
        ["train"],
        ["check"],
        ["demander", "bonjour"],
        ["rapport"],
        ["purger", "--jours", "30"],
    ):
        assert parser.parse_args([*command, "--verbose"]).verbose is True
        assert parser.parse_args(command).verbose is False


# --- What staff read (issue 15) ---


def _knowledge_with_one_error(tmp_path: Path) -> Path:
    """A copy of the project's knowledge with a commune indented at the wrong level."""
    directory = tmp_path / "knowledge"
    shutil.copytree(PROJECT_ROOT / "knowledge", directory)
    path = directory / "mairies.yml"
    text = path.read_text(encoding="utf-8")
    assert "    communes:\n      Toulouse: |" in text
    path.write_text(text.replace("      Toulouse: |", "    Toulouse: |", 1), encoding="utf-8")
    return directory


def test_check_shows_errors_first_then_a_french_summary_and_counts_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = _knowledge_with_one_error(tmp_path)
    assert main(["check", "--dossier", str(directory)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert " : erreur : " in lines[0]
    summary = lines[-1]
    found = re.match(r"(\d+) erreurs?, (\d+) avertissements?\. ", summary)
    assert found, summary
    errors, warnings = int(found[1]), int(found[2])
    assert errors >= 1 and warnings > 10
    # Only what keeps a topic from citizens (a model to retrain…) is shown unasked.
    shown = sum(" : avertissement : " in line for line in lines)
    assert shown < warnings
    hint = f"pour voir les {warnings - shown} autres" if shown else "pour les voir"
    assert f"{hint} : make check A=1" in summary
    assert sum(" : erreur : " in line for line in lines) == errors
    assert any(
        "champ inconnu « Toulouse »" in line and "erreur d'indentation" in line for line in lines
    )

    assert main(["check", "--dossier", str(directory), "--avertissements"]) == 1
    every = capsys.readouterr().out.splitlines()
    assert sum(" : avertissement : " in line for line in every) == warnings
    last_error = max(i for i, line in enumerate(every) if " : erreur : " in line)
    first_warning = min(i for i, line in enumerate(every) if " : avertissement : " in line)
    assert last_error < first_warning


def _make_check(directory: Path, interrupts: object) -> subprocess.CompletedProcess[str]:
    """`make check` on `directory`, with SIGINT handled as `interrupts` says (SIG_DFL or SIG_IGN)."""
    return subprocess.run(
        ["make", "--no-print-directory", "-o", "setup", "check"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "BOT_KNOWLEDGE_DIR": str(directory)},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: signal.signal(signal.SIGINT, interrupts),  # type: ignore[arg-type]
    )


def test_make_check_fails_without_an_english_error_line(tmp_path: Path) -> None:
    # As on a staff member's terminal, where make can be interrupted.
    ran = _make_check(_knowledge_with_one_error(tmp_path), signal.SIG_DFL)
    assert ran.returncode != 0
    assert re.search(r"^\d+ erreurs?, \d+ avertissements?\. ", ran.stdout, re.MULTILINE)
    assert "Error" not in ran.stdout + ran.stderr, ran.stderr


def test_make_check_still_fails_where_interrupts_are_ignored(tmp_path: Path) -> None:
    # A background job or a CI runner: SIGINT ignored, inherited by make.
    ran = _make_check(_knowledge_with_one_error(tmp_path), signal.SIG_IGN)
    assert ran.returncode != 0, ran.stdout


def test_demander_says_in_french_when_the_bot_is_not_running(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demander", "bonjour", "--port", str(free_port())]) == 1
    said = capsys.readouterr().err
    assert "Le bot ne répond pas" in said and "make run" in said


@pytest.mark.servers
def test_demander_prints_the_answer_a_citizen_reads_buttons_included(
    running_bot: RunningBot, capsys: pytest.CaptureFixture[str]
) -> None:
    port = str(running_bot.processes.rasa_port)
    question = "quand passe la collecte des déchets"
    assert main(["demander", question, "--commune", "Balma", "--port", port]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Question (commune déjà donnée : Balma) : {question}")
    assert "Balma" in out.split("Réponse du bot :", 1)[1]
    assert re.search(r"^  \[ .+ \]$", out, re.MULTILINE), out  # the buttons
    assert "/avis" not in out  # payloads are not what citizens see
