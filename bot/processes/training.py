"""The model, trained only when what it learns from changed: models are named by a hash of their inputs.

    model = train_if_needed()   # models/bot-<hash>.tar.gz, trained if missing

Rasa's training prints pages of English progress bars: unless `verbose`,
they go to a log file (`var/logs/train.log`) and the terminal shows one
French line, or, if training fails, the end of that log and where the rest is.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from bot.paths import PROJECT_ROOT, VAR_DIR, private_dir
from bot.processes.quiet import QUIET_ENV, python_command

__all__ = ["MODEL_INPUTS", "TrainingFailed", "model_fingerprint", "train_if_needed"]

# Everything a trained model depends on: change one and the model is retrained.
MODEL_INPUTS = ("config.yml", "domain.yml", "data", "bot/rasa_plugins/nlu.py", "constraints.txt")

TRAIN_LOG = VAR_DIR / "logs" / "train.log"
_SHOWN_LINES = 30  # of the training log, when it fails


class TrainingFailed(RuntimeError):
    """Rasa's training stopped with an error; the message says so in French and where the log is."""


def _files(root: Path, inputs: Iterable[str]) -> list[Path]:
    files: list[Path] = []
    for name in inputs:
        path = root / name
        files.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    return files


def model_fingerprint(root: Path = PROJECT_ROOT) -> str:
    """A short hash of the model's inputs, used as the model's file name."""
    digest = hashlib.sha256()
    for path in _files(root, MODEL_INPUTS):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _shown(path: Path) -> str:
    """`path` relative to the project when inside it (shorter to read), else whole."""
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def train_if_needed(
    root: Path = PROJECT_ROOT,
    models_dir: Path | None = None,
    *,
    verbose: bool = False,
    log_file: Path = TRAIN_LOG,
) -> Path:
    """The model for the current inputs, trained only when no such model exists yet.

    Concurrent callers (two test runs, a benchmark) wait for one training
    instead of training the same model twice into the same file.

    Args:
        root: the project whose `MODEL_INPUTS` are read.
        models_dir: where models are kept (`root/models`).
        verbose: Rasa's whole output on the terminal instead of `log_file`.
        log_file: where Rasa's output goes otherwise, replaced at each training.

    Raises:
        TrainingFailed: Rasa's training stopped with an error.
    """
    models_dir = models_dir or root / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    name = f"bot-{model_fingerprint(root)}"
    model = models_dir / f"{name}.tar.gz"
    with (models_dir / ".train.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if model.exists():
            print(f"Modèle à jour, réutilisé : {model}")
            return model
        command = python_command(
            "rasa",
            "train",
            "--config",
            str(root / "config.yml"),
            "--domain",
            str(root / "domain.yml"),
            "--data",
            str(root / "data"),
            "--out",
            str(models_dir),
            "--fixed-model-name",
            name,
            verbose=verbose,
        )
        if verbose:
            print(
                "Entraînement du modèle (données, domaine ou configuration modifiés)…", flush=True
            )
            code = subprocess.run(command, cwd=root).returncode
        else:
            print(
                "Entraînement du modèle (données, domaine ou configuration modifiés), "
                f"une à deux minutes… Détail : {_shown(log_file)}",
                flush=True,
            )
            if log_file.is_relative_to(VAR_DIR):
                private_dir(VAR_DIR)  # before its subfolder: mkdir's parents would not be private
            private_dir(log_file.parent)
            with log_file.open("wb") as output:
                code = subprocess.run(
                    command,
                    cwd=root,
                    env={**os.environ, **QUIET_ENV},
                    stdout=output,
                    stderr=subprocess.STDOUT,
                ).returncode
        if code != 0:
            if not verbose:
                lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
                print("\n".join(lines[-_SHOWN_LINES:]), file=sys.stderr)
            where = "" if verbose else f" ; journal complet : {_shown(log_file)}"
            raise TrainingFailed(f"L'entraînement du modèle a échoué (code {code}){where}.")
    print(f"Modèle entraîné : {model}", flush=True)
    return model
