"""The windowed SQL tracker store: every event stored, a bounded window loaded, slots intact."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa_plugins import tracker_store as tracker_store_module
from bot.rasa_plugins.tracker_store import ConversationStoreUnavailable, WindowedSQLTrackerStore
from tests.support.stores import DOMAIN, store


def one_turn(tracker: DialogueStateTracker, n: int) -> None:
    tracker.update(UserUttered(f"message {n}", {"name": "collecte_dechets", "confidence": 0.9}))
    tracker.update(ActionExecuted("action_repondre_question"))
    if n == 3:
        tracker.update(SlotSet("commune", "Balma"))
    if n % 10 == 0:
        tracker.update(SlotSet("dernier_sujet_commune", f"sujet {n}"))
    tracker.update(ActionExecuted("action_listen"))


async def converse(db: Path, turns: int, window: int = 30) -> None:
    tracker_store = store(db, window)
    for n in range(turns):
        tracker = await tracker_store.get_or_create_tracker("citoyen")
        one_turn(tracker, n)
        await tracker_store.save(tracker)


def stored_texts(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT data FROM events WHERE type_name = 'user' ORDER BY id"
        ).fetchall()
    return [json.loads(data)["text"] for (data,) in rows]


def test_every_event_is_stored_once_in_order(tmp_path: Path) -> None:
    db = tmp_path / "conversations.db"
    asyncio.run(converse(db, 80))
    assert stored_texts(db) == [f"message {n}" for n in range(80)]
    with sqlite3.connect(db) as connection:
        (sessions,) = connection.execute(
            "SELECT count(*) FROM events WHERE type_name = 'session_started'"
        ).fetchone()
    assert sessions == 0  # the window's synthetic session start is never written


def test_retrieve_loads_a_bounded_window_with_the_current_slots(tmp_path: Path) -> None:
    db = tmp_path / "conversations.db"
    asyncio.run(converse(db, 120, window=30))
    tracker = asyncio.run(store(db, window=30).retrieve("citoyen"))
    assert tracker is not None
    assert len(tracker.events) <= 30 + len(DOMAIN.slots) + 3
    # "Balma" was set at turn 3, long before the window: still known.
    assert tracker.get_slot("commune") == "Balma"
    assert tracker.get_slot("dernier_sujet_commune") == "sujet 110"
    assert tracker.latest_message is not None and tracker.latest_message.text == "message 119"


def test_window_cost_does_not_grow_with_the_conversation(tmp_path: Path) -> None:
    short, long_ = tmp_path / "short.db", tmp_path / "long.db"
    asyncio.run(converse(short, 20))
    asyncio.run(converse(long_, 200))
    loaded_short = asyncio.run(store(short).retrieve("citoyen"))
    loaded_long = asyncio.run(store(long_).retrieve("citoyen"))
    assert loaded_short is not None and loaded_long is not None
    assert len(loaded_long.events) <= len(loaded_short.events) + len(DOMAIN.slots) + 3


def test_conversation_survives_a_restart_and_full_history_stays_readable(tmp_path: Path) -> None:
    db = tmp_path / "conversations.db"
    asyncio.run(converse(db, 50))
    restarted = store(db)
    full = asyncio.run(restarted.retrieve_full_tracker("citoyen"))
    assert full is not None
    assert [e.text for e in full.events if isinstance(e, UserUttered)] == [
        f"message {n}" for n in range(50)
    ]
    assert asyncio.run(restarted.retrieve("citoyen")).get_slot("commune") == "Balma"  # type: ignore[union-attr]


def test_stock_sql_store_reads_the_same_table(tmp_path: Path) -> None:
    db = tmp_path / "conversations.db"
    asyncio.run(converse(db, 15))
    stock = SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(db))
    tracker = asyncio.run(stock.retrieve("citoyen"))
    assert tracker is not None
    assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == [
        f"message {n}" for n in range(15)
    ]


# --- citizens' data at rest, and a database that fails


def test_the_database_and_its_folder_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "var"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    store(folder / "conversations.db")
    assert (folder / "conversations.db").stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700


def test_personal_data_is_masked_before_it_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "conversations.db"
    personal = "écrivez à jean.dupont@example.fr ou au 06 12 34 56 78, iban FR76 3000 6000 0112 3456 7890 189"

    async def talk() -> None:
        tracker_store = store(db)
        tracker = await tracker_store.get_or_create_tracker("citoyen")
        tracker.update(
            UserUttered(
                personal,
                {"name": "contact_metropole", "confidence": 0.9},
                parse_data={"text": personal, "intent": {"name": "contact_metropole"}},
            )
        )
        await tracker_store.save(tracker)

    asyncio.run(talk())
    with sqlite3.connect(db) as connection:
        stored = " ".join(
            json.dumps(json.loads(row[0]), ensure_ascii=False)
            for row in connection.execute("SELECT data FROM events")
        )
    for secret in ("jean.dupont@example.fr", "06 12 34 56 78", "FR76 3000"):
        assert secret not in stored
    assert "[e-mail]" in stored and "[téléphone]" in stored


def test_a_locked_database_raises_instead_of_forgetting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "conversations.db"
    asyncio.run(converse(db, 5))
    tracker_store = WindowedSQLTrackerStore(
        domain=DOMAIN, dialect="sqlite", db=str(db), window=30, query={"timeout": "0.2"}
    )
    tracker = asyncio.run(tracker_store.retrieve("citoyen"))
    assert tracker is not None
    one_turn(tracker, 5)
    # In write-ahead-log mode a writer blocks writers, never readers.
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        for _ in range(3):
            with pytest.raises(ConversationStoreUnavailable):
                asyncio.run(tracker_store.save(tracker))
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    outage = [r for r in caplog.records if "indisponible" in r.getMessage()]
    assert len(outage) == 1, "the outage is logged once, not at every message"
    asyncio.run(tracker_store.save(tracker))
    assert stored_texts(db) == [f"message {n}" for n in range(6)]
    assert any("de nouveau disponible" in r.getMessage() for r in caplog.records)


def stored_events(db: Path) -> list[tuple[str, dict[str, object]]]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT type_name, data FROM events ORDER BY id").fetchall()
    return [(type_name, json.loads(data)) for type_name, data in rows]


def test_write_ahead_log_stores_the_same_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, default = tmp_path / "wal.db", tmp_path / "default.db"
    asyncio.run(converse(fast, 40))
    with sqlite3.connect(fast) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    monkeypatch.setattr(tracker_store_module, "_write_ahead_log", lambda *_: None)
    asyncio.run(converse(default, 40))
    with sqlite3.connect(default) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)

    def without_timestamps(db: Path) -> list[tuple[str, dict[str, object]]]:
        return [(kind, {**data, "timestamp": None}) for kind, data in stored_events(db)]

    assert stored_texts(fast) == [f"message {n}" for n in range(40)]
    assert without_timestamps(fast) == without_timestamps(default)


def test_a_sender_id_sqlite_cannot_encode_is_an_error_not_the_end_of_the_server(
    tmp_path: Path,
) -> None:
    tracker_store = store(tmp_path / "conversations.db")

    async def talk() -> None:
        tracker = await tracker_store.get_or_create_tracker("citoyen-\ud800")
        tracker.update(UserUttered("bonjour", {"name": "saluer", "confidence": 0.9}))
        await tracker_store.save(tracker)

    # Rasa's own session scope calls sys.exit(1) here (SystemExit is not an Exception).
    with pytest.raises(Exception, match="surrogate"):
        asyncio.run(talk())
    asyncio.run(converse(tmp_path / "conversations.db", 2))
