"""Telegram residents subscribed to a commune's alerts, and the loop that sends each alert once.

A resident subscribes with "/alertes Balma" (or the button under the list of
current alerts), sees the subscription with "/alertes", and ends it with
"/stop_alertes". What is kept, in the conversation database (SQLite by
default, PostgreSQL when configured; tables `telegram_abonnements_alertes`
and `telegram_alertes_envoyees`): the keyed hash the bridge already uses as
conversation id, the chat id (Telegram needs it to send), the commune, and
which alert was sent to which conversation. Unsubscribing deletes all of it.

Every `interval` seconds (and at once after a subscription), the sender
looks for alerts valid now (`bot.knowledge.alerts`) and sends each to every
subscriber of a concerned commune who has not had it yet, through the
application's bot, so within its flood limits (`ChatRateLimiter`: 30 a
second overall, one a second per chat). A send is recorded when Telegram
accepted it: a restart sends nothing twice and sends, while still valid,
what became valid while the bridge was down. A resident who blocked the bot
(403 Forbidden) is unsubscribed.

Nothing here logs a chat id, a conversation id or a commune.

Usage:
    subscriptions = Subscriptions(SubscriptionStore(url), board_for(knowledge_dir))
    await subscriptions.send_due(application.bot)      # one round; `run` loops
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    and_,
    create_engine,
    delete,
    exists,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from telegram import Bot
from telegram.error import Forbidden, TelegramError

from bot.channels.telegram.render import render_chunks
from bot.knowledge.alerts import Alert, AlertBoard, alert_message
from bot.knowledge.hours import PARIS
from bot.typography import french_spacing

__all__ = ["SEND_INTERVAL", "Subscriber", "SubscriptionStore", "Subscriptions"]

logger = logging.getLogger(__name__)

SEND_INTERVAL = 30.0  # seconds: "within a minute" with room for a slow round

_metadata = MetaData()
_subscriptions = Table(
    "telegram_abonnements_alertes",
    _metadata,
    Column("conversation", String(64), primary_key=True),
    Column("chat_id", BigInteger, nullable=False),
    Column("commune", String(64), nullable=False),
    Column("depuis", DateTime(timezone=True), nullable=False),
)
_sent = Table(
    "telegram_alertes_envoyees",
    _metadata,
    Column("alerte", String(100), primary_key=True),
    Column("conversation", String(64), primary_key=True),
    Column("envoyee_le", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Subscriber:
    """One subscription: the conversation's keyed hash, where to send, which commune."""

    conversation: str
    chat_id: int
    commune: str


class SubscriptionStore:
    """The subscriptions and the sent alerts, in an SQL database (SQLAlchemy URL); blocking calls."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            options: dict[str, Any] = {"future": True}
            if self.url.startswith("sqlite"):
                # Rasa writes to the same file: wait for its lock rather than fail.
                options["connect_args"] = {"timeout": 15}
            self._engine = create_engine(self.url, **options)
            _metadata.create_all(self._engine)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def subscribe(self, conversation: str, chat_id: int, commune: str) -> None:
        """Subscribes a conversation to a commune's alerts (replacing its earlier commune)."""
        with self.engine.begin() as connection:
            connection.execute(
                delete(_subscriptions).where(_subscriptions.c.conversation == conversation)
            )
            connection.execute(
                insert(_subscriptions).values(
                    conversation=conversation,
                    chat_id=chat_id,
                    commune=commune,
                    depuis=dt.datetime.now(dt.timezone.utc),
                )
            )

    def unsubscribe(self, conversation: str) -> bool:
        """Forgets a conversation: its subscription and what it was sent. False if it had none."""
        with self.engine.begin() as connection:
            removed = connection.execute(
                delete(_subscriptions).where(_subscriptions.c.conversation == conversation)
            ).rowcount
            connection.execute(delete(_sent).where(_sent.c.conversation == conversation))
        return bool(removed)

    def commune_of(self, conversation: str) -> str | None:
        """The commune a conversation is subscribed to, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(_subscriptions.c.commune).where(
                    _subscriptions.c.conversation == conversation
                )
            ).first()
        return None if row is None else str(row[0])

    def pending(self, alert: str, communes: frozenset[str] | None) -> list[Subscriber]:
        """The subscribers of `communes` (None: all) who have not been sent `alert`."""
        already = exists().where(
            and_(_sent.c.alerte == alert, _sent.c.conversation == _subscriptions.c.conversation)
        )
        query = select(
            _subscriptions.c.conversation, _subscriptions.c.chat_id, _subscriptions.c.commune
        ).where(~already)
        if communes is not None:
            query = query.where(_subscriptions.c.commune.in_(sorted(communes)))
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(_subscriptions.c.depuis)).all()
        return [Subscriber(str(r[0]), int(r[1]), str(r[2])) for r in rows]

    def mark_sent(self, alert: str, conversation: str) -> None:
        """Records that `alert` reached `conversation`."""
        with contextlib.suppress(IntegrityError), self.engine.begin() as connection:
            connection.execute(
                insert(_sent).values(
                    alerte=alert,
                    conversation=conversation,
                    envoyee_le=dt.datetime.now(dt.timezone.utc),
                )
            )


def _now() -> dt.datetime:
    return dt.datetime.now(PARIS)


class Subscriptions:
    """The store, the alerts, and the sending loop of one bridge.

    Args:
        store: where subscriptions and sent alerts are kept.
        board: the alerts file, reloaded when staff save it.
        clock: the current time (Europe/Paris); tests pass a fixed one.
    """

    def __init__(
        self, store: SubscriptionStore, board: AlertBoard, clock: Callable[[], dt.datetime] = _now
    ) -> None:
        self.store = store
        self.board = board
        self.clock = clock
        self._wake: asyncio.Event | None = None  # made by `run`, in its event loop

    async def subscribe(self, conversation: str, chat_id: int, commune: str) -> None:
        await asyncio.to_thread(self.store.subscribe, conversation, chat_id, commune)
        if self._wake is not None:
            self._wake.set()  # alerts already valid for this commune go out now, not in 30 s

    async def unsubscribe(self, conversation: str) -> bool:
        return await asyncio.to_thread(self.store.unsubscribe, conversation)

    async def commune_of(self, conversation: str) -> str | None:
        return await asyncio.to_thread(self.store.commune_of, conversation)

    async def _send(self, bot: Bot, alert: Alert, subscriber: Subscriber) -> bool:
        """One alert to one subscriber; False when it must be tried again at the next round."""
        try:
            for chunk in render_chunks(french_spacing(alert_message(alert))):
                await bot.send_message(subscriber.chat_id, chunk)
        except Forbidden:
            logger.info("Alerte non remise : l'habitant a bloqué le bot ; abonnement supprimé.")
            await asyncio.to_thread(self.store.unsubscribe, subscriber.conversation)
            return False
        except TelegramError as error:
            logger.warning(
                "Alerte non remise (%s) : nouvel essai au prochain tour.", type(error).__name__
            )
            return False
        await asyncio.to_thread(self.store.mark_sent, alert.key, subscriber.conversation)
        return True

    async def send_due(self, bot: Bot) -> int:
        """Sends every valid alert to the concerned subscribers who have not had it; returns how many."""
        sent = 0
        alerts = await asyncio.to_thread(self.board.current, self.clock())
        for alert in alerts:
            subscribers = await asyncio.to_thread(self.store.pending, alert.key, alert.communes)
            for subscriber in subscribers:
                sent += await self._send(bot, alert, subscriber)
        if sent:
            logger.info("Alertes envoyées aux abonnés Telegram : %d message(s).", sent)
        return sent

    async def run(self, bot: Bot, interval: float = SEND_INTERVAL) -> None:
        """Sends due alerts every `interval` seconds, and after each subscription, until cancelled."""
        wake = self._wake = asyncio.Event()
        while True:
            wake.clear()
            try:
                await self.send_due(bot)
            except Exception:  # the loop must outlive a database outage
                logger.exception(
                    "Envoi des alertes Telegram impossible : nouvel essai au prochain tour."
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), interval)

    def close(self) -> None:
        self.store.close()
