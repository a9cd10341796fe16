"""Alert subscriptions on Telegram (bot/channels/telegram/subscriptions.py and the /alertes commands).

The real bridge over HTTP against the fake Bot API on 127.0.0.1
(tests/support/fake_telegram_api.py), a SQLite conversation database in the
test's folder, and an alerts file the test edits as staff would. The last
scenario runs the session's real Rasa and action servers: a staff member
publishes an alert for Balma's waste collection, and citizens read it first
over REST and on Telegram, and a subscriber receives it once.

Run alone: .venv/bin/python -m pytest tests/channels/telegram/test_subscriptions.py -q
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.channels.telegram import (
    ChatConversationIds,
    RasaReply,
    TelegramSettings,
    build_application,
    serving,
)
from bot.channels.telegram.handlers import ALERTS_BUTTON_PREFIX, ALERTS_OFF
from bot.channels.telegram.subscriptions import Subscriptions, SubscriptionStore
from bot.knowledge.alerts import ALERTS_FILE, MARKER, AlertBoard
from bot.knowledge.hours import PARIS
from bot.paths import PROJECT_ROOT
from tests.support import RunningBot
from tests.support.fake_telegram_api import FakeTelegram, SentMessage
from tests.support.telegram import RasaStandIn

T = TypeVar("T")

HASH_KEY = b"cle-de-test-des-conversations"
NOW = dt.datetime(2026, 12, 2, 10, 0, tzinfo=PARIS)
ROUND = 0.1  # seconds between two rounds of the sender in these tests


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs one scenario; a stuck scenario fails instead of hanging the suite."""
    return asyncio.run(asyncio.wait_for(coroutine, 240))


def _alert(key: str, title: str, topics: str, communes: str, start: str, end: str) -> str:
    return (
        f"  {key}:\n"
        f"    titre: {title}\n"
        f"    texte: Texte de l'alerte {key}.\n"
        f"    sujets: {topics}\n"
        f"    communes: {communes}\n"
        f"    debut: {start}\n"
        f"    fin: {end}\n"
        "    service: Service de test\n"
    )


STRIKE = _alert(
    "greve_balma",
    "Grève de la collecte",
    "[collecte_dechets]",
    "[Balma]",
    "2026-12-01 07:00",
    "2026-12-03 19:00",
)
WATER = _alert(
    "eau_partout",
    "Travaux sur le réseau d'eau",
    "[eau_assainissement]",
    "toutes",
    "2026-12-02 08:00",
    "2026-12-09 18:00",
)
TRAM = _alert(
    "tram_balma",
    "Tram interrompu",
    "[transports_en_commun]",
    "[Balma]",
    "2026-12-02 09:00",
    "2026-12-02 20:00",
)
LATER = _alert(
    "plus_tard",
    "Mairie fermée",
    "[horaires_mairie]",
    "[Balma]",
    "2026-12-05 08:00",
    "2026-12-05 18:00",
)


def _publish(directory: Path, *alerts: str) -> None:
    (directory / ALERTS_FILE).write_text("alertes:\n" + "".join(alerts), encoding="utf-8")


@pytest.fixture
def knowledge_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "knowledge"
    shutil.copytree(PROJECT_ROOT / "knowledge", directory)
    return directory


def _conversation(chat: int) -> str:
    return ChatConversationIds(HASH_KEY).for_chat(chat)


@contextlib.asynccontextmanager
async def bridge(
    telegram: FakeTelegram,
    database: str,
    alerts: Path,
    intents: frozenset[str],
    *,
    rasa: RasaStandIn | None = None,
    rasa_url: str = "http://127.0.0.1:9/webhooks/rest/webhook",
    clock: Callable[[], dt.datetime] = lambda: NOW,
) -> AsyncIterator[Subscriptions]:
    """The real bridge polling the fake API, with subscriptions in `database` and the alerts of `alerts`."""
    settings = TelegramSettings(
        token=telegram.token,
        hash_key=HASH_KEY,
        rasa_url=rasa_url,
        api_url=telegram.api_url,
        poll_timeout=1.0,
        database_url=database,
    )
    subscriptions = Subscriptions(SubscriptionStore(database), AlertBoard(alerts, intents), clock)
    application = build_application(settings, rasa=rasa, subscriptions=subscriptions)
    async with serving(application, settings, alert_interval=ROUND):
        yield subscriptions


def _containing(text: str, count: int = 1) -> Callable[[list[SentMessage]], bool]:
    return lambda sent: sum(text in message.visible for message in sent) >= count


def _alerts_received(telegram: FakeTelegram, chat: int) -> list[str]:
    return [
        m.visible.split("\n")[0] for m in telegram.messages(chat) if m.visible.startswith(MARKER)
    ]


async def _rounds(count: int = 5) -> None:
    """Lets the sender run a few rounds (what it must not do would have happened by then)."""
    await asyncio.sleep(ROUND * count)


async def _until(check: Callable[[], Coroutine[Any, Any, bool]]) -> None:
    while not await check():
        await asyncio.sleep(ROUND)


# -- the store -------------------------------------------------------------------------------


def test_the_store_keeps_only_the_hash_the_chat_id_and_the_commune(tmp_path: Path) -> None:
    store = SubscriptionStore(f"sqlite:///{tmp_path / 'conversations.db'}")
    store.subscribe("tg-a", 42, "Balma")
    store.subscribe("tg-b", 43, "Blagnac")
    store.subscribe("tg-a", 42, "L'Union")  # a new commune replaces the old one
    assert store.commune_of("tg-a") == "L'Union"
    assert [s.conversation for s in store.pending("x", frozenset({"Blagnac"}))] == ["tg-b"]
    store.mark_sent("x", "tg-b")
    store.mark_sent("x", "tg-b")  # recorded once, whatever happens
    assert [s.conversation for s in store.pending("x", None)] == ["tg-a"]
    assert store.unsubscribe("tg-a") is True
    assert store.unsubscribe("tg-a") is False
    assert store.commune_of("tg-a") is None
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql("select * from telegram_abonnements_alertes").all()
    assert [tuple(row)[:3] for row in rows] == [("tg-b", 43, "Blagnac")]
    store.close()


# -- the bridge, over HTTP ---------------------------------------------------------------------


def test_subscribe_receive_once_restart_unsubscribe_and_blocked(
    tmp_path: Path, knowledge_dir: Path, intents: frozenset[str]
) -> None:
    database = f"sqlite:///{tmp_path / 'conversations.db'}"
    alerts = knowledge_dir / ALERTS_FILE
    balma, blagnac, blocked, pressed = 101, 102, 103, 104
    listing = (
        "⚠️ Alertes en cours à Balma :\n- Grève de la collecte (jusqu'au 3 décembre 2026 à 19 h) : …"
    )

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with FakeTelegram() as telegram:
            async with bridge(
                telegram, database, alerts, intents, rasa=RasaStandIn([RasaReply(listing)])
            ) as subscriptions:
                await telegram.send_update(telegram.text_update(balma, "/alertes"))
                seen["none"] = (await telegram.wait_for(balma, _containing("aucune alerte")))[
                    -1
                ].visible
                for chat, commune in ((balma, "balma"), (blagnac, "Blagnac"), (blocked, "Balma")):
                    await telegram.send_update(telegram.text_update(chat, f"/alertes {commune}"))
                    await telegram.wait_for(chat, _containing("C'est noté"))
                seen["subscribed"] = telegram.messages(balma)[-1].visible
                await telegram.send_update(telegram.text_update(balma, "/alertes"))
                seen["current"] = (await telegram.wait_for(balma, _containing("Vous recevez ici")))[
                    -1
                ].visible
                # The button under the list of alerts (Rasa's answer to "y a-t-il des perturbations ?").
                await telegram.send_update(
                    telegram.text_update(pressed, "y a-t-il des perturbations ?")
                )
                listed = (await telegram.wait_for(pressed, _containing("Alertes en cours")))[-1]
                seen["buttons"] = listed.buttons
                await telegram.send_update(
                    telegram.callback_update(pressed, listed.buttons[0][1], listed)
                )
                await telegram.wait_for(pressed, _containing("C'est noté"))

                telegram.block(blocked)
                _publish(knowledge_dir, STRIKE, LATER)
                await telegram.wait_for(balma, _containing(MARKER))
                await telegram.wait_for(pressed, _containing(MARKER))
                await _until(lambda: _gone(subscriptions, blocked))
                await _rounds()
            # Restart; meanwhile a metropole-wide alert became valid.
            _publish(knowledge_dir, STRIKE, LATER, WATER)
            async with bridge(telegram, database, alerts, intents):
                await telegram.wait_for(blagnac, _containing("réseau d'eau"))
                await telegram.wait_for(balma, _containing("réseau d'eau"))
                await _rounds()
                await telegram.send_update(telegram.text_update(balma, "/stop_alertes"))
                seen["stopped"] = (await telegram.wait_for(balma, _containing(ALERTS_OFF)))[
                    -1
                ].visible
                _publish(knowledge_dir, STRIKE, LATER, WATER, TRAM)
                await telegram.wait_for(pressed, _containing("Tram interrompu"))
                await _rounds()
            seen["balma"] = _alerts_received(telegram, balma)
            seen["blagnac"] = _alerts_received(telegram, blagnac)
            seen["pressed"] = _alerts_received(telegram, pressed)
            seen["blocked_sent"] = telegram.messages(blocked)
            seen["refused"] = telegram.refused
        return seen

    seen = run(scenario())
    assert "Vous ne recevez aucune alerte" in seen["none"]
    assert (
        "je conserve le numéro de cette conversation Telegram et votre commune"
        in seen["subscribed"]
    )
    assert "/stop_alertes" in seen["subscribed"]
    assert "Vous recevez ici les alertes publiées pour Balma" in seen["current"]
    assert seen["buttons"][0] == (
        "Recevoir ici les alertes de Balma",
        f"{ALERTS_BUTTON_PREFIX}Balma",
    )
    strike = f"{MARKER}\u00a0: Grève de la collecte"
    water = f"{MARKER}\u00a0: Travaux sur le réseau d'eau"
    tram = f"{MARKER}\u00a0: Tram interrompu"
    # Each alert once, restart included; nothing before its start; nothing after unsubscribing.
    assert seen["balma"] == [strike, water]
    assert seen["blagnac"] == [water]
    assert seen["pressed"] == [strike, water, tram]
    assert "vous ne recevrez plus d'alertes" in seen["stopped"]
    # The blocked resident's subscription ended at the first refusal: no second try.
    assert len(seen["blocked_sent"]) == 1  # the "C'est noté" before blocking
    assert [r for r in seen["refused"] if r[0] == "sendMessage"] == [
        ("sendMessage", "Forbidden: bot was blocked by the user")
    ]


async def _gone(subscriptions: Subscriptions, chat: int) -> bool:
    return await subscriptions.commune_of(_conversation(chat)) is None


def test_without_a_database_the_commands_say_alerts_are_unavailable(
    knowledge_dir: Path, intents: frozenset[str]
) -> None:
    async def scenario() -> list[str]:
        async with FakeTelegram() as telegram:
            settings = TelegramSettings(
                token=telegram.token, hash_key=HASH_KEY, api_url=telegram.api_url, poll_timeout=1.0
            )
            application = build_application(settings, rasa=RasaStandIn())
            async with serving(application, settings):
                await telegram.send_update(telegram.text_update(7, "/alertes Balma"))
                sent = await telegram.wait_for(7, _containing("pas disponibles"))
            return [m.visible for m in sent] + [c["command"] for c in telegram.commands]

    assert run(scenario()) == [
        "Les alertes par Telegram ne sont pas disponibles pour le moment.",
        "start",
        "aide",
    ]


# -- the whole, with the real servers ---------------------------------------------------------


@pytest.mark.servers
def test_staff_publish_for_balma_citizens_read_it_first_and_subscribers_receive_it_once(
    running_bot: RunningBot, tmp_path: Path, intents: frozenset[str]
) -> None:
    alerts = running_bot.knowledge_dir / ALERTS_FILE
    shipped = alerts.read_text(encoding="utf-8")
    now = dt.datetime.now(PARIS).replace(second=0, microsecond=0)
    start = (now - dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    end = (now + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    strike = _alert(
        "greve_collecte_balma",
        "Collecte des déchets perturbée",
        "[collecte_dechets, encombrants]",
        "[Balma]",
        start,
        end,
    )
    question = "quand passe la collecte des déchets à Balma ?"
    database = f"sqlite:///{tmp_path / 'abonnements.db'}"
    subscriber, asker = 201, 202

    async def telegram_side() -> tuple[list[SentMessage], list[SentMessage]]:
        async with FakeTelegram() as telegram:
            async with bridge(
                telegram,
                database,
                alerts,
                intents,
                rasa_url=running_bot.processes.rest_url,
                clock=lambda: dt.datetime.now(PARIS),
            ):
                await telegram.send_update(telegram.text_update(subscriber, "/alertes Balma"))
                await telegram.wait_for(subscriber, _containing("C'est noté"))
                (running_bot.knowledge_dir / ALERTS_FILE).write_text(
                    "alertes:\n" + strike, encoding="utf-8"
                )
                await telegram.wait_for(subscriber, _containing(MARKER))
                await telegram.send_update(telegram.text_update(asker, question))
                answered = await telegram.wait_for(
                    asker, lambda sent: len(sent) >= 2 and "Balma" in sent[1].visible
                )
                await _rounds()
            return telegram.messages(subscriber), answered

    try:
        received, answered = run(telegram_side())
        conversation = running_bot.conversation()
        replies = conversation.send(question)
    finally:
        alerts.write_text(shipped, encoding="utf-8")
    assert [m.visible.split("\n")[0] for m in received if MARKER in m.visible] == [
        f"{MARKER}\u00a0: Collecte des déchets perturbée"
    ]
    assert answered[0].visible.startswith(f"{MARKER}\u00a0: Collecte des déchets perturbée")
    assert replies[0]["text"].startswith(f"{MARKER}\u00a0: Collecte des déchets perturbée")
    assert MARKER not in replies[1]["text"] and "Balma" in replies[1]["text"]
