"""Deleting conversations older than the city's retention period.

The widget tells citizens how long their messages are kept (`data-retention`);
this is what makes it true. A conversation is deleted whole, once its last
message is older than the period: its events (Rasa's `events` table) and the
slots the windowed tracker store keeps beside them (`conversation_state`).
Nothing of what is deleted is logged: only counts.

    python -m bot purger --jours 365            # deletes
    python -m bot purger --jours 365 --essai    # only counts

Run it every night (cron, systemd timer) with the period the widget states.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

__all__ = ["Purge", "purge"]

_BATCH = 500


@dataclass(frozen=True)
class Purge:
    """What a purge deleted (or would delete, in a trial run)."""

    conversations: int
    events: int
    before: dt.datetime


def purge(
    database_url: str, older_than_days: int, *, now: dt.datetime | None = None, trial: bool = False
) -> Purge:
    """Deletes the conversations whose last event is older than `older_than_days` days."""
    if older_than_days < 1:
        raise ValueError("La durée de conservation doit être d'au moins un jour.")
    now = now or dt.datetime.now(dt.timezone.utc)
    before = now - dt.timedelta(days=older_than_days)
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        if "events" not in tables:
            return Purge(0, 0, before)
        senders = [
            row[0]
            for row in connection.execute(
                sa.text(
                    "SELECT sender_id FROM events GROUP BY sender_id "
                    "HAVING MAX(timestamp) < :before"
                ),
                {"before": before.timestamp()},
            )
        ]
        events = 0
        for start in range(0, len(senders), _BATCH):
            batch = {"senders": senders[start : start + _BATCH]}
            count = sa.text("SELECT COUNT(*) FROM events WHERE sender_id IN :senders")
            count = count.bindparams(sa.bindparam("senders", expanding=True))
            events += connection.execute(count, batch).scalar_one()
            if trial:
                continue
            for table in ("events", "conversation_state"):
                if table in tables:
                    delete = sa.text(f"DELETE FROM {table} WHERE sender_id IN :senders")
                    connection.execute(
                        delete.bindparams(sa.bindparam("senders", expanding=True)), batch
                    )
    engine.dispose()
    return Purge(len(senders), events, before)
