"""A SQL tracker store whose cost per turn does not grow with the conversation.

Rasa's `SQLTrackerStore` rebuilds the whole conversation session from the
database at every message, then replays every event (and sends them all to
the action server), so a turn late in a long conversation costs several times
an early one. This store keeps the same `events` table, so every event is
still stored and readable by Rasa's tools and our reports, but hands Rasa only
the recent part of the conversation:

- a small `conversation_state` table holds, per conversation, the current
  slot values;
- `retrieve` reads the last `window` events, starts them at a user message,
  and puts in front of them a session start that sets the current slots, so
  the tracker Rasa sees has exactly the slots it would have had;
- `save` writes only the events added since `retrieve`.

The dialogue never looks further back than a few turns (rules and
memoization with a short `max_history`), which is what makes the window
safe; `retrieve_full_tracker` still returns everything, for the HTTP API.

SQLite runs in write-ahead-log mode (`_write_ahead_log`): a commit no longer
waits for the disk, which cost more per turn than the rest of the store, and
a killed server still loses nothing. Its connection is kept open between
turns instead of reopened for every read and write.

Two duties come with holding citizens' words:

- Nothing is kept in clear that the service does not need: the text of each
  user message (and its copy in the parse data) is masked with
  `bot.privacy.mask` before it is written (e-mails, phone, social-security
  and bank numbers, names…). The NLU has already read the message by then,
  so understanding is unchanged. A SQLite database is created private
  (file 0600, folder 0700).
- A database that cannot be read or written is never papered over: the
  store raises `ConversationStoreUnavailable` (Rasa's in-memory fallback is
  bypassed, see `bot.rasa_plugins.patches`), the channels answer "service
  momentanément indisponible", the outage is logged once and its end once,
  and the next message simply tries again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc
from rasa.core.constants import POSTGRESQL_SCHEMA
from rasa.core.tracker_store import SQLTrackerStore, ensure_schema_exists
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.cli import print_error_and_exit
from sqlalchemy.orm import Session

from bot.privacy import mask
from bot.rasa_plugins import patches

__all__ = ["ConversationStoreUnavailable", "WindowedSQLTrackerStore"]

logger = logging.getLogger(__name__)

# Masking may run the name finder (a few ms, tens for a long message): one
# worker thread keeps it off the event loop and never runs it twice at once.
_MASKING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="masquage")

# Attribute set on trackers this store built: how many of their events are already stored.
_LOADED = "_bot_stored_event_count"

_STATE = sa.Table(
    "conversation_state",
    SQLTrackerStore.Base.metadata,
    sa.Column("sender_id", sa.String(255), primary_key=True),
    sa.Column("slots", sa.Text, nullable=False),
)


class ConversationStoreUnavailable(RuntimeError):
    """The conversation database could not be read or written; the turn must not go on without it."""

    # The store logs the outage once and its end once; channels need not repeat it.
    already_logged = True


def _private_sqlite_file(db: str | None) -> None:
    """Creates the SQLite file and its folder readable by their owner only, before SQLite does."""
    if not db or db == ":memory:":
        return
    path = Path(db)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.parent.stat().st_mode & 0o077:
        path.parent.chmod(0o700)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(descriptor)
    if path.stat().st_mode & 0o077:
        logger.warning("%s était lisible par d'autres comptes : droits ramenés à 0600.", path)
        path.chmod(0o600)


def _write_ahead_log(connection: Any, _record: Any) -> None:
    """Sets a new SQLite connection to write-ahead logging, synced at checkpoints rather than at each commit.

    In SQLite's default mode every commit waits for the disk twice (about 15 ms
    here), with the server's event loop blocked, and a reader waits for a
    writer. With the write-ahead log a commit is an append: a stopped or killed
    server loses nothing, only a power cut or an OS crash can lose the last
    turns (never corrupt the file), and readers (staff reports) never block
    the bot.
    """
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _masked(data: dict[str, Any]) -> dict[str, Any]:
    """A user event as it may be stored: its text and the parse data's copy of it masked."""
    if data.get("event") != UserUttered.type_name:
        return data
    text = data.get("text")
    if isinstance(text, str):
        data["text"] = mask(text)
    parse = data.get("parse_data")
    if isinstance(parse, dict) and isinstance(parse.get("text"), str):
        parse["text"] = mask(parse["text"])
    return data


class WindowedSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` that loads a bounded window of recent events, masks what it stores, and fails loudly."""

    # Read by bot.rasa_plugins.patches: Rasa must not wrap this store in its in-memory fallback.
    fails_loudly = True

    def __init__(self, domain: Domain | None = None, window: int = 60, **kwargs: Any) -> None:
        patches.apply()
        if kwargs.get("dialect", "sqlite") == "sqlite":
            _private_sqlite_file(kwargs.get("db"))
        super().__init__(domain=domain, **kwargs)
        rasa_engine: sa.engine.Engine = self.engine  # type: ignore[has-type]
        if rasa_engine.dialect.name == "sqlite":
            # Rasa's engine opens a new SQLite connection for every session
            # (three a turn, half of the store's cost); the store is used from
            # the server's event loop, so one connection per thread is kept.
            rasa_engine.dispose()
            engine = sa.create_engine(rasa_engine.url, poolclass=sa.pool.SingletonThreadPool)
            sa.event.listen(engine, "connect", _write_ahead_log)
            self.engine = engine
            self.sessionmaker = sa.orm.sessionmaker(bind=engine)
        self.window = int(window)
        # Built once: the statements of every turn, as SQLAlchemy Core (the
        # ORM's query building and unit of work cost more than the database).
        events = self.SQLEvent.__table__
        self._read_state = sa.select(_STATE.c.slots).where(
            _STATE.c.sender_id == sa.bindparam("sender_id")
        )
        self._read_window = (
            sa.select(events.c.data)
            .where(events.c.sender_id == sa.bindparam("sender_id"))
            .order_by(events.c.id.desc())
            .limit(sa.bindparam("window", type_=sa.Integer))
        )
        self._write_events = events.insert()
        self._write_state = _state_upsert(self.engine.dialect.name)
        # The operations ("lecture", "écriture") failing now: an outage
        # ends when each of them has worked again (in WAL mode a locked
        # database still reads, so a read alone proves nothing).
        self._failing: set[str] = set()

    @contextmanager
    def _database(self, operation: str) -> Iterator[None]:
        """Turns a database failure into `ConversationStoreUnavailable`, logged once per outage."""
        try:
            yield
        except sqlalchemy.exc.SQLAlchemyError as error:
            if not self._failing:
                logger.error(
                    "Base des conversations indisponible (%s en %s) : les habitants lisent « service "
                    "momentanément indisponible » jusqu'à son retour.",
                    type(error).__name__,
                    operation,
                )
            self._failing.add(operation)
            raise ConversationStoreUnavailable(type(error).__name__) from None
        if operation in self._failing:
            self._failing.discard(operation)
            if not self._failing:
                logger.warning("Base des conversations de nouveau disponible.")

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """A database session; unlike Rasa's, a `ValueError` inside it does not exit the server.

        Rasa's `session_scope` turns any `ValueError` raised while the session
        is open into `sys.exit(1)` (it means a missing PostgreSQL schema); a
        sender id with half an emoji raises one from SQLite, and would stop
        the server for everyone. Only the schema check keeps that meaning here.
        """
        session = self.sessionmaker()
        try:
            try:
                ensure_schema_exists(session)
            except ValueError as schema:
                print_error_and_exit(
                    f"Schéma PostgreSQL « {schema} » introuvable : créez-le ou retirez "
                    f"{POSTGRESQL_SCHEMA} de l'environnement."
                )
            yield session
        finally:
            session.close()

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        with self._database("lecture"):
            return await self._retrieve_window(sender_id)

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        with self._database("lecture"):
            tracker = await super().retrieve_full_tracker(conversation_id)
        if tracker is not None:
            setattr(tracker, _LOADED, len(tracker.events))
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        with self._database("écriture"):
            await self._save_new_events(tracker)

    async def _retrieve_window(self, sender_id: str) -> DialogueStateTracker | None:
        with self.session_scope() as session:
            state = session.execute(self._read_state, {"sender_id": sender_id}).first()
            rows = session.execute(
                self._read_window, {"sender_id": sender_id, "window": self.window}
            ).all()
        if not rows:
            return None
        events = [json.loads(data) for (data,) in reversed(rows)]
        if state is None:
            # Conversation written by the stock store: fall back to its behaviour.
            return await super().retrieve(sender_id)
        slots: dict[str, Any] = json.loads(state.slots)
        tracker = DialogueStateTracker.from_dict(
            sender_id, self._window_events(events, slots), self.domain.slots
        )
        setattr(tracker, _LOADED, len(tracker.events))
        return tracker

    def _window_events(
        self, events: list[dict[str, Any]], slots: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Recent events, starting at the session start or a user message, with the slots in front."""
        for index in range(len(events) - 1, -1, -1):
            if events[index].get("event") == SessionStarted.type_name:
                start = (
                    index - 1
                    if index > 0 and events[index - 1].get("name") == ACTION_SESSION_START_NAME
                    else index
                )
                return events[start:]
        first_user = next(
            (i for i, event in enumerate(events) if event.get("event") == UserUttered.type_name),
            None,
        )
        if first_user is None:
            return events
        tail = events[first_user:]
        timestamp = tail[0].get("timestamp")
        prefix: list[Event] = [
            ActionExecuted(ACTION_SESSION_START_NAME, timestamp=timestamp),
            SessionStarted(timestamp=timestamp),
            *(SlotSet(name, value, timestamp=timestamp) for name, value in slots.items()),
            ActionExecuted(ACTION_LISTEN_NAME, timestamp=timestamp),
        ]
        return [event.as_dict() for event in prefix] + tail

    @staticmethod
    def _write_state_portably(session: Session, sender_id: str, slots: str) -> None:
        """The slots row written in two statements, for databases without an upsert here."""
        known = session.execute(
            sa.select(_STATE.c.sender_id).where(_STATE.c.sender_id == sender_id)
        ).first()
        if known is None:
            session.execute(_STATE.insert().values(sender_id=sender_id, slots=slots))
        else:
            session.execute(
                _STATE.update().where(_STATE.c.sender_id == sender_id).values(slots=slots)
            )

    async def _save_new_events(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        loaded = getattr(tracker, _LOADED, None)
        if loaded is None:
            # A tracker this store did not build (a new conversation, or one
            # rebuilt in full by the HTTP API): its events start at the
            # conversation's first session, like the stock store assumes.
            with self.session_scope() as session:
                new_events = list(self._additional_events(session, tracker))
        else:
            new_events = list(tracker.events)[loaded:]
        stored = await asyncio.get_running_loop().run_in_executor(
            _MASKING, lambda: [_masked(event.as_dict()) for event in new_events]
        )
        rows = [
            {
                "sender_id": tracker.sender_id,
                "type_name": event.type_name,
                "timestamp": data.get("timestamp"),
                "intent_name": data.get("parse_data", {}).get("intent", {}).get("name"),
                "action_name": data.get("name"),
                "data": json.dumps(data),
            }
            for event, data in zip(new_events, stored, strict=True)
        ]
        slots = json.dumps(_changed_slots(tracker))
        with self.session_scope() as session:
            if rows:
                session.execute(self._write_events, rows)
            if self._write_state is not None:
                session.execute(self._write_state, {"sender_id": tracker.sender_id, "slots": slots})
            else:
                self._write_state_portably(session, tracker.sender_id, slots)
            session.commit()
        setattr(tracker, _LOADED, len(tracker.events))


def _state_upsert(dialect: str) -> Any:
    """One statement writing a conversation's slots whether or not it has a row yet (None: no such statement)."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        return None
    statement = insert(_STATE).values(
        sender_id=sa.bindparam("sender_id"), slots=sa.bindparam("slots")
    )
    return statement.on_conflict_do_update(
        index_elements=[_STATE.c.sender_id], set_={"slots": statement.excluded.slots}
    )


def _changed_slots(tracker: DialogueStateTracker) -> dict[str, Any]:
    """The slots whose value differs from their initial one."""
    return {
        name: slot.value for name, slot in tracker.slots.items() if slot.value != slot.initial_value
    }
