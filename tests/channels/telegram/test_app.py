"""The assembled bridge (bot/channels/telegram/app.py): polling, webhook and the command, against the real Rasa.

A handful of real-server scenarios prove the whole: python-telegram-bot over
HTTP against a fake Bot API on 127.0.0.1 (tests/support/fake_telegram_api.py,
which refuses what Telegram refuses), and the session's real Rasa and action
servers behind. What each update gets is tested in-process in test_handlers.py
and test_webhook.py. No request leaves loopback: python-telegram-bot's HTTP
client is wrapped in `LoopbackOnly`, which refuses anything else.

Run alone: .venv/bin/python -m pytest tests/channels/telegram/test_app.py -q
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from telegram.request import HTTPXRequest

from bot.channels.telegram import (
    ALLOWED_UPDATES,
    ChatConversationIds,
    TelegramSettings,
    build_application,
    serving,
)
from bot.channels.telegram.handlers import WELCOME
from bot.channels.telegram.webhook import SECRET_HEADER
from bot.knowledge import KnowledgeBase
from bot.paths import PROJECT_ROOT
from bot.typography import french_spacing
from tests.support import RunningBot, free_port
from tests.support.fake_telegram_api import FakeTelegram, SentMessage, post_update

T = TypeVar("T")

SECRET = "secret-de-test_0123456789"
HASH_KEY = b"cle-de-test-des-conversations"
ICAPITAL = "qui a gagné le prix icapital ?"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs one test scenario; a stuck scenario fails instead of hanging the suite."""
    return asyncio.run(asyncio.wait_for(coroutine, 240))


# -- the command -------------------------------------------------------------------------


def test_run_command_starts_the_bridge_only_with_a_token(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.cli import _telegram_process

    caplog.set_level(logging.INFO)
    monkeypatch.delenv("BOT_TELEGRAM_TOKEN", raising=False)
    assert _telegram_process("http://127.0.0.1:5005/webhooks/rest/webhook") is None
    assert "Telegram désactivé" in caplog.text
    monkeypatch.setenv("BOT_TELEGRAM_TOKEN", "1:abc")
    extra = _telegram_process("http://127.0.0.1:5005/webhooks/rest/webhook")
    assert extra is not None
    assert extra.command[1:] == (
        "-m",
        "bot",
        "telegram",
        "--rasa-url",
        "http://127.0.0.1:5005/webhooks/rest/webhook",
    )


def test_standalone_command_without_token_says_telegram_is_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.delenv("BOT_TELEGRAM_TOKEN", raising=False)
    assert main(["telegram"]) == 2
    assert "Telegram désactivé : BOT_TELEGRAM_TOKEN n'est pas défini" in capsys.readouterr().err


# -- the real bridge, over HTTP, with the real Rasa ------------------------------------------


class LoopbackOnly(HTTPXRequest):
    """python-telegram-bot's HTTP client, refusing (and remembering) any request off loopback."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.off_loopback: list[str] = []

    async def do_request(
        self, url: str, method: str, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        if urlsplit(url).hostname != "127.0.0.1":
            self.off_loopback.append(url)
            raise AssertionError(f"request off loopback: {url}")
        return await super().do_request(url, method, *args, **kwargs)


@contextlib.asynccontextmanager
async def bridge(
    telegram: FakeTelegram, rasa_url: str, *, webhook: bool = False
) -> AsyncIterator[TelegramSettings]:
    """The real bridge, polling the fake API (or behind a webhook), talking to `rasa_url`."""
    port = free_port()
    settings = TelegramSettings(
        token=telegram.token,
        hash_key=HASH_KEY,
        rasa_url=rasa_url,
        api_url=telegram.api_url,
        poll_timeout=1.0,
        webhook_url=f"http://127.0.0.1:{port}/telegram" if webhook else None,
        secret_token=SECRET,
        listen_port=port,
    )
    requests = [LoopbackOnly(connection_pool_size=8), LoopbackOnly()]
    application = build_application(settings, request=requests[0], get_updates_request=requests[1])
    async with serving(application, settings):
        yield settings
    assert [r.off_loopback for r in requests] == [[], []]


def _containing(text: str) -> Callable[[list[SentMessage]], bool]:
    return lambda sent: any(text in message.visible for message in sent)


class SwitchableProxy:
    """A TCP proxy on loopback in front of the real Rasa server, switched off and on by the test."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self._target_port = target_port
        self._server: asyncio.AbstractServer | None = None

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/rest/webhook"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self._target_port
        )
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


@pytest.mark.servers
def test_the_command_polls_answers_with_the_knowledge_and_exposes_no_resident(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    chat = 555000111
    question = "combien la métropole investit dans la smart city ?"
    help_topic = knowledge.topic("demander_aide")
    transports = knowledge.topic("transports_en_commun")
    assert help_topic is not None and transports is not None
    themes = [(button.title, button.payload) for button in help_topic.buttons]
    # As the action server sends it: with French non-breaking spaces.
    first_line = french_spacing(transports.answer.strip().splitlines()[0])

    async def scenario() -> tuple[int, str, FakeTelegram, str]:
        async with FakeTelegram() as telegram:
            env = {
                **os.environ,
                "BOT_TELEGRAM_TOKEN": telegram.token,
                "BOT_TELEGRAM_API_URL": telegram.api_url,
                "BOT_TELEGRAM_RASA_URL": running_bot.processes.rest_url,
                "BOT_TELEGRAM_HASH_KEY": HASH_KEY.decode(),
                # Alert subscriptions in the session's conversation database, not the project's.
                "BOT_TELEGRAM_DATABASE_URL": f"sqlite:///{running_bot.database}",
            }
            env.pop("BOT_TELEGRAM_WEBHOOK_URL", None)
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "telegram",
                cwd=PROJECT_ROOT,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                await telegram.send_update(telegram.text_update(chat, "/start"))
                [welcome] = await telegram.wait_for(chat, lambda sent: any(m.buttons for m in sent))
                press = telegram.callback_update(chat, "/transports_en_commun", welcome)
                await telegram.send_update(press)
                await telegram.wait_for(chat, _containing(first_line))
                await telegram.send_update(telegram.text_update(chat, question))
                await telegram.wait_for(chat, _containing("500 millions"))
            finally:
                process.send_signal(signal.SIGTERM)
                output, _ = await process.communicate()
            assert process.returncode is not None
            return process.returncode, output.decode(), telegram, press["callback_query"]["id"]

    code, output, telegram, query_id = run(scenario())
    assert code == 0, output
    assert telegram.refused == []
    welcome, *rest = telegram.messages(chat)
    # /start: the welcome, then the themes of the knowledge's help topic as buttons.
    assert welcome.visible.startswith(WELCOME)
    assert french_spacing(help_topic.answer.strip().splitlines()[0]) in welcome.visible
    assert welcome.buttons == themes
    # The button Rasa offered is a payload Rasa accepts; the spinner is stopped.
    assert [a["callback_query_id"] for a in telegram.callback_answers] == [query_id]
    answer = next(m for m in rest if first_line in m.visible)
    assert [(link.title, link.url) for link in transports.links] == answer.links[
        -len(transports.links) :
    ]
    smart_city = next(m for m in rest if "500 millions" in m.visible)
    assert smart_city.parse_mode == "HTML" and "200 millions" in smart_city.visible
    assert {c["command"] for c in telegram.commands} == {"start", "aide", "alertes", "stop_alertes"}
    polls = [p for m, p in telegram.calls if m == "getUpdates"]
    assert '"callback_query"' in polls[0]["allowed_updates"]
    # The resident's conversation is stored under a keyed hash, never the chat id.
    with sqlite3.connect(running_bot.database) as connection:
        senders = {row[0] for row in connection.execute("SELECT DISTINCT sender_id FROM events")}
    assert ChatConversationIds(HASH_KEY).for_chat(chat) in senders
    assert not [s for s in senders if str(chat) in s]
    assert "long polling" in output
    assert str(chat) not in output
    assert question not in output
    assert telegram.token not in output


@pytest.mark.servers
def test_webhook_answers_authentic_updates_once_and_refuses_the_others(
    running_bot: RunningBot,
) -> None:
    chat, intruder = 606, 607

    async def scenario() -> tuple[list[int | None], list[SentMessage], list[SentMessage]]:
        async with (
            FakeTelegram() as telegram,
            bridge(telegram, running_bot.processes.rest_url, webhook=True) as settings,
        ):
            assert telegram.webhook is not None
            assert telegram.webhook.url == settings.webhook_url
            assert telegram.webhook.secret_token == SECRET
            assert telegram.webhook.allowed_updates == ALLOWED_UPDATES
            url = telegram.webhook.url
            question = telegram.text_update(chat, ICAPITAL)
            statuses: list[int | None] = [
                await post_update(url, telegram.text_update(intruder, "bonjour"), {}),
                await post_update(
                    url, telegram.text_update(intruder, "bonjour"), {SECRET_HEADER: "mauvais"}
                ),
                await telegram.send_update(question),
                await telegram.send_update(question),  # Telegram retrying
            ]
            await telegram.send_update(telegram.text_update(chat, "/aide"))
            answered = await telegram.wait_for(chat, _containing("/start"))
            # Same chat, in order: a refused update, had it been queued, would be answered first.
            await telegram.send_update(telegram.text_update(intruder, "/aide"))
            intruder_sent = await telegram.wait_for(intruder, _containing("/start"))
            return statuses, answered, intruder_sent

    statuses, answered, intruder_sent = run(scenario())
    assert statuses == [403, 403, 200, 200]
    assert sum("Athènes" in m.visible for m in answered) == 1
    assert not any("Bonjour" in m.visible for m in intruder_sent)


@pytest.mark.servers
def test_rasa_down_then_up_the_resident_is_told_then_answered(running_bot: RunningBot) -> None:
    chat = 609

    async def scenario() -> tuple[list[SentMessage], list[SentMessage]]:
        proxy = SwitchableProxy(running_bot.processes.rasa_port)
        async with FakeTelegram() as telegram, bridge(telegram, proxy.rest_url):
            await telegram.send_update(telegram.text_update(chat, ICAPITAL))
            down = await telegram.wait_for(chat, _containing("indisponible"))
            await proxy.start()
            try:
                await telegram.send_update(telegram.text_update(chat, ICAPITAL))
                up = await telegram.wait_for(chat, _containing("Athènes"))
            finally:
                await proxy.stop()
            return down, up

    down, up = run(scenario())
    assert len(down) == 1
    assert "service momentanément indisponible" in down[0].visible
    assert any("Athènes" in m.visible for m in up[1:])
