"""Conversation stores built directly, for tests that need one without the servers."""

from __future__ import annotations

from pathlib import Path

from rasa.shared.core.domain import Domain

from bot.paths import PROJECT_ROOT
from bot.rasa_plugins.tracker_store import WindowedSQLTrackerStore

__all__ = ["DOMAIN", "store"]

DOMAIN = Domain.load(str(PROJECT_ROOT / "domain.yml"))


def store(db: Path, window: int = 30) -> WindowedSQLTrackerStore:
    """The project's tracker store on the SQLite file `db`."""
    return WindowedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(db), window=window)
