"""Where the bot keeps its files, how it writes the private ones, and where its secrets come from.

`VAR_DIR` holds what the bot creates while it runs (conversations, secrets,
runtime configuration, reports): a folder only its owner can enter. A secret
file is private from its first byte, never written and then narrowed.

Usage:
    write_private(VAR_DIR / "rasa-token", token)
    key = load_secret("BOT_WEB_SECRET", VAR_DIR / "web-secret", what="la clé du widget web")
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "MIN_SECRET_CHARS",
    "PROJECT_ROOT",
    "VAR_DIR",
    "load_secret",
    "private_dir",
    "write_private",
]

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
VAR_DIR = PROJECT_ROOT / "var"

# A secret shorter than this is too easy to guess; the bot's own are 64 characters.
MIN_SECRET_CHARS = 32


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner can enter (0700), created with its parents if missing.

    A folder that already exists with wider rights is narrowed, with a log line.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning(
            "%s était accessible à d'autres utilisateurs (%o) : droits ramenés à 0700.", path, mode
        )
        path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Writes `text` (UTF-8) to `path`, readable and writable by its owner only (0600).

    The text goes to a new file, private from its creation, which then
    replaces `path` in one step: an older copy with wider rights, or a reader
    who opened it before, never sees the new text, and no reader sees half of it.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, 0o600)  # mkstemp's mode already; said here because it matters
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def load_secret(
    variable: str, path: Path, *, what: str, environ: Mapping[str, str] | None = None
) -> bytes:
    """A secret nobody has to configure: from the environment, else kept in a private file.

    Args:
        variable: the environment variable that sets the secret; it wins when set.
        path: the file that keeps a random secret across restarts, created
            0600 the first time. A file with wider rights is narrowed (with a
            log line); an empty or too short one is replaced.
        what: what the secret is for, in French, for the log (e.g. "la clé
            du widget web").
        environ: the environment to read (the process's by default).

    When the file cannot be read or written, a key for this process only is
    used, with a French warning: the bot keeps working, but what the key
    protects (signed conversation ids…) does not survive a restart.
    """
    configured = (os.environ if environ is None else environ).get(variable, "").strip()
    if configured:
        if len(configured) < MIN_SECRET_CHARS:
            logger.warning(
                "%s fait moins de %d caractères : choisissez une valeur aléatoire plus longue.",
                variable,
                MIN_SECRET_CHARS,
            )
        return configured.encode()
    try:
        return _kept_secret(path)
    except OSError as error:
        logger.warning(
            "Impossible de garder %s dans %s (%s) : une clé valable pour ce processus seulement "
            "la remplace, elle changera au prochain démarrage.",
            what,
            path,
            error.strerror or error,
        )
        return _new_secret()


def _new_secret() -> bytes:
    return secrets.token_hex(32).encode()


def _kept_secret(path: Path) -> bytes:
    """The secret kept in `path`, created the first time."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = _new_secret()
    if _create_exclusively(path, secret + b"\n"):
        return secret
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning(
            "%s était lisible par d'autres utilisateurs (%o) : droits ramenés à 0600.", path, mode
        )
        path.chmod(0o600)
    kept = path.read_bytes().strip()
    if len(kept) >= MIN_SECRET_CHARS:
        return kept
    # Written by hand, or cut short by an older version of this code: replaced.
    logger.warning("%s était vide ou trop court : une nouvelle clé le remplace.", path)
    write_private(path, secret.decode() + "\n")
    return secret


def _create_exclusively(path: Path, content: bytes) -> bool:
    """Writes `content` to `path` (0600) unless `path` exists; False when it does.

    As with O_EXCL, two processes starting together never overwrite each
    other's file: the one that comes second reads the first one's. The file
    is written aside and linked into place, so it appears whole: nobody ever
    reads it empty and takes it for a file to replace.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        os.link(temporary, path)  # fails if `path` exists, as O_EXCL does
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
    return True
