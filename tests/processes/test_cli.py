"""The command line as staff and newcomers meet it: `check` answers without loading the bot's heavy packages."""

from __future__ import annotations

import subprocess
import sys

from bot.cli import _parser
from bot.paths import PROJECT_ROOT

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
    assert "Fichiers de connaissances valides" in output or "erreur(s)" in output
    assert imported & HEAVY == set()


def test_the_processes_package_imports_none_of_them_either() -> None:
    _, imported = _imports("-c", "import bot.processes")
    assert imported & HEAVY == set()


def test_every_command_takes_verbose() -> None:
    parser = _parser()
    for command in (["run"], ["train"], ["check"], ["rapport"], ["purger", "--jours", "30"]):
        assert parser.parse_args([*command, "--verbose"]).verbose is True
        assert parser.parse_args(command).verbose is False
