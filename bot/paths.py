"""Where the bot keeps its files, and how it writes the private ones.

`VAR_DIR` holds what the bot creates while it runs (conversations, secrets,
runtime configuration, reports): a folder only its owner can enter. A secret
file is private from its first byte, never written and then narrowed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["PROJECT_ROOT", "VAR_DIR", "private_dir", "write_private"]

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
VAR_DIR = PROJECT_ROOT / "var"


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
