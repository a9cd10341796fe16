"""Deleting conversations older than the retention period, on a store the bot's tracker store wrote."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.cli import main
from bot.staff.retention import purge
from tests.support.stores import DOMAIN, store

NOW = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.timezone.utc)


async def _conversation(db: Path, sender: str, days_ago: list[int]) -> None:
    """A conversation whose messages were sent the given numbers of days before NOW."""
    events = []
    for days in days_ago:
        when = (NOW - dt.timedelta(days=days)).timestamp()
        events += [
            UserUttered(f"message de {sender}", timestamp=when),
            SlotSet("commune", "Balma", timestamp=when),
            ActionExecuted("action_listen", timestamp=when),
        ]
    await store(db).save(DialogueStateTracker.from_events(sender, events, slots=DOMAIN.slots))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "conversations.db"

    async def fill() -> None:
        await _conversation(path, "ancienne", [400, 390])
        await _conversation(path, "reprise", [400, 10])  # old start, recent end: kept whole
        await _conversation(path, "recente", [3])

    asyncio.run(fill())
    return path


def _senders(db: Path, table: str) -> set[str]:
    with sqlite3.connect(db) as connection:
        return {row[0] for row in connection.execute(f"SELECT sender_id FROM {table}")}


def test_only_conversations_whose_last_message_is_too_old_are_deleted(db: Path) -> None:
    assert _senders(db, "conversation_state") == {"ancienne", "reprise", "recente"}
    result = purge(f"sqlite:///{db}", 365, now=NOW)
    assert (result.conversations, result.events) == (1, 6)
    assert _senders(db, "events") == {"reprise", "recente"}
    assert _senders(db, "conversation_state") == {"reprise", "recente"}
    with sqlite3.connect(db) as connection:
        (kept,) = connection.execute(
            "SELECT count(*) FROM events WHERE sender_id = 'reprise'"
        ).fetchone()
    assert kept == 6


def test_a_trial_counts_without_deleting(db: Path) -> None:
    result = purge(f"sqlite:///{db}", 5, now=NOW, trial=True)
    assert (result.conversations, result.events) == (2, 12)
    assert _senders(db, "events") == {"ancienne", "reprise", "recente"}


def test_an_empty_or_new_store_is_fine(tmp_path: Path) -> None:
    result = purge(f"sqlite:///{tmp_path / 'vide.db'}", 30, now=NOW)
    assert (result.conversations, result.events) == (0, 0)


def test_command_reports_counts_only(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["purger", "--jours", "100000", "--base", f"sqlite:///{db}"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("0 conversation(s) (0 événement(s))")
    assert main(["purger", "--jours", "1", "--essai", "--base", f"sqlite:///{db}"]) == 0
    out = capsys.readouterr().out
    assert "seraient supprimés" in out and "message de" not in out and "ancienne" not in out
    with pytest.raises(SystemExit):
        main(["purger", "--jours", "0", "--base", f"sqlite:///{db}"])
    assert "nombre de jours attendu" in capsys.readouterr().err
