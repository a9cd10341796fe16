"""The Telegram bridge: real python-telegram-bot against a fake Bot API on 127.0.0.1, real Rasa behind.

Unit tests first (rendering, splitting, ids, settings, rate limiter, update
order), then conversations through the session's Rasa and action servers.
No request leaves loopback: python-telegram-bot's HTTP client is wrapped in
`LoopbackOnly`, which refuses anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import re
import signal
import sqlite3
import stat
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from telegram import Chat, Message, Update, User
from telegram.error import RetryAfter
from telegram.request import HTTPXRequest

from bot.channels.telegram import (
    ALLOWED_UPDATES,
    ConversationIds,
    RasaClient,
    RasaUnavailable,
    SettingsError,
    TelegramSettings,
    build_application,
    serving,
)
from bot.channels.telegram.handlers import (
    EDITED,
    PRIVATE_ONLY,
    TELEGRAM_HELP,
    TEXT_ONLY,
    UNKNOWN_COMMAND,
    WELCOME,
)
from bot.channels.telegram.processing import ChatOrderedUpdateProcessor, RecentUpdates
from bot.channels.telegram.ratelimit import ChatRateLimiter
from bot.channels.telegram.render import ButtonPayloads, render_chunks, telegram_length, to_html
from bot.channels.telegram.webhook import SECRET_HEADER
from bot.channels.texts import MAX_MESSAGE_CHARS, TOO_LONG, UNAVAILABLE
from bot.knowledge import PROJECT_ROOT, KnowledgeBase
from tests.support import RunningBot, free_port
from tests.support.fake_telegram_api import (
    FakeTelegram,
    SentMessage,
    parse_telegram_html,
    post_update,
)

T = TypeVar("T")

SECRET = "secret-de-test_0123456789"
HASH_KEY = b"cle-de-test-des-conversations"
HOSTILE = "Tarif < 5 € & gratuit pour les *moins* de 26 ans_ <b>x</b> [lien](y) `code` &amp; 3 > 2"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs one test scenario; a stuck scenario fails instead of hanging the suite."""
    return asyncio.run(asyncio.wait_for(coroutine, 240))


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


class StandInRasa:
    """A loopback stand-in for Rasa's REST channel that answers with scripted replies (and status)."""

    def __init__(self, replies: list[dict[str, Any]], status: int = 200) -> None:
        self.replies = replies
        self.status = status
        self.received: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _webhook(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        return web.json_response(self.replies, status=self.status)

    async def __aenter__(self) -> StandInRasa:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/rest/webhook"


@contextlib.contextmanager
def knowledge_answer_prefixed(
    running_bot: RunningBot, file: str, topic: str, lines: list[str]
) -> Iterator[None]:
    """The action server's copy of a knowledge file, with `lines` added at the top of a topic's answer."""
    path = running_bot.knowledge_dir / file
    original = path.read_text(encoding="utf-8")
    start = original.index(f"\n  {topic}:\n")
    anchor = original.index("    reponse: |\n", start) + len("    reponse: |\n")
    added = "".join(f"      {line}\n" if line else "\n" for line in lines)
    try:
        path.write_text(original[:anchor] + added + original[anchor:], encoding="utf-8")
        bump = time.time() + 2
        os.utime(path, (bump, bump))
        yield
    finally:
        path.write_text(original, encoding="utf-8")
        os.utime(path, (time.time() + 10, time.time() + 10))


# -- rendering ----------------------------------------------------------------


def test_hostile_characters_are_escaped_and_shown_as_written() -> None:
    html = to_html(HOSTILE)
    visible, links = parse_telegram_html(html)
    assert visible == HOSTILE
    assert links == []
    assert "<b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_knowledge_links_become_clickable_titles_and_bare_urls_links() -> None:
    text = (
        "Voir https://exemple.fr/a?b=1&c=2. Merci.\n\nPour en savoir plus :\n"
        "- Service-Public : papiers : https://www.service-public.fr/particuliers"
    )
    visible, links = parse_telegram_html(to_html(text))
    assert links == [
        ("https://exemple.fr/a?b=1&c=2", "https://exemple.fr/a?b=1&c=2"),
        ("Service-Public : papiers", "https://www.service-public.fr/particuliers"),
    ]
    assert "Merci." in visible and visible.endswith("- Service-Public : papiers")


def test_long_answer_is_split_between_paragraphs_in_order() -> None:
    sentence = "Une phrase de la réponse & <suite>. "
    paragraphs = [f"Paragraphe {n:02d}. {sentence * 9}".strip() for n in range(30)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 6000
    chunks = render_chunks(text)
    assert len(chunks) >= 2
    assert all(telegram_length(chunk) <= 4096 for chunk in chunks)
    visible = [parse_telegram_html(chunk)[0] for chunk in chunks]
    assert "\n\n".join(visible) == text
    assert all(piece in paragraphs for chunk in visible for piece in chunk.split("\n\n"))


def test_an_overlong_paragraph_is_cut_at_lines_then_words_and_emoji_count_double() -> None:
    lines = "\n".join(f"- ligne {n} " + "mot " * 30 for n in range(60))
    one_word = "é" * 5000
    emoji = "🚲" * 3000
    for text in (lines, one_word, emoji):
        chunks = render_chunks(text)
        assert all(telegram_length(chunk) <= 4096 for chunk in chunks)
        joined = "".join(parse_telegram_html(c)[0] for c in chunks)
        assert joined.replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
    assert len(render_chunks(emoji)) == 2


def test_payloads_over_64_bytes_travel_as_a_short_key() -> None:
    payloads = ButtonPayloads(capacity=2)
    short = '/avis_positif{"sujet_avis": "velo"}'
    long = '/avis_negatif{"sujet_avis": "' + "smart_city_" * 8 + '"}'
    assert payloads.encode(short) == short
    key = payloads.encode(long)
    assert len(key.encode()) <= 64 and key != long
    assert payloads.decode(key) == long
    payloads.encode("/" + "a" * 80)
    payloads.encode("/" + "b" * 80)
    assert payloads.decode(key) is None


# -- identity and settings ------------------------------------------------------


def test_conversation_id_is_a_keyed_hash_that_hides_the_chat_id() -> None:
    ids = ConversationIds(HASH_KEY)
    conversation = ids.for_chat(555000111)
    assert conversation.startswith("tg-") and "555000111" not in conversation
    assert conversation == ConversationIds(HASH_KEY).for_chat(555000111)
    assert conversation != ids.for_chat(555000112)
    assert conversation != ConversationIds(b"une autre cle").for_chat(555000111)


def test_settings_from_the_environment(tmp_path: Path) -> None:
    assert TelegramSettings.from_env({}, state_dir=tmp_path) is None
    polling = TelegramSettings.from_env({"BOT_TELEGRAM_TOKEN": "1:abc"}, state_dir=tmp_path)
    assert polling is not None and polling.mode == "polling"
    key_file = tmp_path / "telegram-hash-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = TelegramSettings.from_env({"BOT_TELEGRAM_TOKEN": "1:abc"}, state_dir=tmp_path)
    assert again is not None and again.hash_key == polling.hash_key
    webhook = TelegramSettings.from_env(
        {
            "BOT_TELEGRAM_TOKEN": "1:abc",
            "BOT_TELEGRAM_WEBHOOK_URL": "https://bot.toulouse-metropole.fr/telegram",
            "BOT_TELEGRAM_SECRET": SECRET,
            "BOT_TELEGRAM_HASH_KEY": "cle",
        },
        state_dir=tmp_path,
    )
    assert webhook is not None and webhook.mode == "webhook"
    assert webhook.webhook_path == "/telegram" and webhook.secret_token == SECRET
    assert webhook.hash_key == b"cle"
    with pytest.raises(SettingsError, match="https"):
        TelegramSettings(token="1:abc", hash_key=b"k", webhook_url="http://bot.example.fr/t")
    with pytest.raises(SettingsError, match="BOT_TELEGRAM_SECRET"):
        TelegramSettings(token="1:abc", hash_key=b"k", secret_token="pas de secret !")


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


def test_standalone_command_without_token_says_telegram_is_off() -> None:
    async def scenario() -> tuple[int, str]:
        env = {k: v for k, v in os.environ.items() if k != "BOT_TELEGRAM_TOKEN"}
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
        output, _ = await process.communicate()
        assert process.returncode is not None
        return process.returncode, output.decode()

    code, output = run(scenario())
    assert code == 2
    assert "Telegram désactivé : BOT_TELEGRAM_TOKEN n'est pas défini" in output


# -- flood limits and order --------------------------------------------------------


class VirtualTime:
    """A clock and a sleep for the rate limiter, so no test waits or measures real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self.gate: asyncio.Event | None = None

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.gate is not None:
            await self.gate.wait()
        self.now += seconds


def test_rate_limiter_lets_a_short_burst_through_then_spaces_one_chat() -> None:
    async def scenario() -> list[float]:
        time_ = VirtualTime()
        limiter = ChatRateLimiter(clock=time_.clock, sleep=time_.sleep)

        async def send() -> bool:
            return True

        for _ in range(5):
            await limiter.process_request(send, (), {}, "sendMessage", {"chat_id": 42}, None)
        for chat in range(100, 110):
            await limiter.process_request(send, (), {}, "sendMessage", {"chat_id": chat}, None)
        return time_.slept

    assert run(scenario()) == [pytest.approx(1.0), pytest.approx(1.0)]


def test_retry_after_delays_only_its_own_chat() -> None:
    async def scenario() -> tuple[list[int], list[float]]:
        time_ = VirtualTime()
        time_.gate = asyncio.Event()
        limiter = ChatRateLimiter(clock=time_.clock, sleep=time_.sleep)
        calls: list[int] = []

        async def send(chat: int) -> bool:
            calls.append(chat)
            if calls == [1]:
                raise RetryAfter(dt.timedelta(seconds=5))
            return True

        def request(chat: int) -> Awaitable[Any]:
            return limiter.process_request(
                send, (chat,), {}, "sendMessage", {"chat_id": chat}, None
            )

        flooded = asyncio.create_task(request(1))
        while not time_.slept:
            await asyncio.sleep(0)
        assert await request(2) is True
        assert not flooded.done()
        time_.gate.set()
        assert await flooded is True
        return calls, time_.slept

    calls, slept = run(scenario())
    assert calls == [1, 2, 1]
    assert slept == [pytest.approx(5.0)]


def _update(update_id: int, chat_id: int) -> Update:
    chat = Chat(chat_id, Chat.PRIVATE)
    user = User(chat_id, "Habitant", is_bot=False)
    message = Message(update_id, dt.datetime.now(dt.timezone.utc), chat, from_user=user, text="x")
    return Update(update_id, message=message)


def test_updates_of_one_chat_run_in_order_and_other_chats_do_not_wait() -> None:
    async def scenario() -> list[str]:
        processor = ChatOrderedUpdateProcessor()
        events: list[str] = []
        release_first = asyncio.Event()

        async def handle(name: str, wait: asyncio.Event | None = None) -> None:
            events.append(f"début {name}")
            if wait is not None:
                await wait.wait()
            events.append(f"fin {name}")

        first = asyncio.create_task(
            processor.process_update(_update(1, 7), handle("7a", release_first))
        )
        second = asyncio.create_task(processor.process_update(_update(2, 7), handle("7b")))
        other = asyncio.create_task(processor.process_update(_update(3, 8), handle("8")))
        await other
        release_first.set()
        await asyncio.gather(first, second)
        return events

    assert run(scenario()) == ["début 7a", "début 8", "fin 8", "fin 7a", "début 7b", "fin 7b"]


def test_recent_updates_recognise_a_repeat() -> None:
    recent = RecentUpdates(size=2)
    assert recent.first_time(1) and recent.first_time(2)
    assert not recent.first_time(1)
    assert recent.first_time(3) and recent.first_time(1)


def test_rasa_client_reports_an_unreachable_server() -> None:
    async def scenario() -> None:
        client = RasaClient(f"http://127.0.0.1:{free_port()}/webhooks/rest/webhook")
        try:
            with pytest.raises(RasaUnavailable, match="injoignable"):
                await client.send("tg-test", "bonjour")
        finally:
            await client.close()

    run(scenario())


# -- conversations through the real Rasa ---------------------------------------------------


@pytest.mark.servers
def test_smart_city_question_by_polling_is_answered_without_exposing_the_resident(
    running_bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    chat = 555000111
    question = "combien la métropole investit dans la smart city ?"

    async def scenario() -> list[SentMessage]:
        async with FakeTelegram() as telegram, bridge(telegram, running_bot.processes.rest_url):
            await telegram.send_update(telegram.text_update(chat, question))
            sent = await telegram.wait_for(chat, _containing("500 millions"))
            assert [name for name, _ in telegram.refused] == []
            assert {c["command"] for c in telegram.commands} == {"start", "aide"}
            polls = [p for m, p in telegram.calls if m == "getUpdates"]
            assert '"callback_query"' in polls[0]["allowed_updates"]
            return sent

    sent = run(scenario())
    answer = next(m for m in sent if "500 millions" in m.visible)
    assert answer.parse_mode == "HTML" and "200 millions" in answer.visible
    with sqlite3.connect(running_bot.database) as connection:
        senders = {row[0] for row in connection.execute("SELECT DISTINCT sender_id FROM events")}
    assert ConversationIds(HASH_KEY).for_chat(chat) in senders
    assert not [s for s in senders if str(chat) in s]
    assert str(chat) not in caplog.text
    assert question not in caplog.text


@pytest.mark.servers
def test_start_greets_in_french_with_the_themes_of_the_knowledge(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    help_topic = knowledge.topic("demander_aide")
    assert help_topic is not None
    themes = [(button.titre, button.payload) for button in help_topic.boutons]

    async def scenario() -> list[SentMessage]:
        async with FakeTelegram() as telegram, bridge(telegram, running_bot.processes.rest_url):
            await telegram.send_update(telegram.text_update(601, "/start"))
            return await telegram.wait_for(601, lambda sent: any(m.buttons for m in sent))

    [welcome] = run(scenario())
    assert welcome.visible.startswith(WELCOME)
    assert help_topic.reponse.strip().splitlines()[0] in welcome.visible
    assert welcome.buttons == themes


@pytest.mark.servers
def test_aide_lists_what_the_bot_can_do_and_how_on_telegram(running_bot: RunningBot) -> None:
    async def scenario() -> list[SentMessage]:
        async with FakeTelegram() as telegram, bridge(telegram, running_bot.processes.rest_url):
            await telegram.send_update(telegram.text_update(602, "/aide"))
            return await telegram.wait_for(602, _containing("/start"))

    [help_message] = run(scenario())
    assert "Je peux vous renseigner sur" in help_message.visible
    assert help_message.visible.endswith(TELEGRAM_HELP)
    assert help_message.buttons


@pytest.mark.servers
def test_button_press_sends_its_payload_and_stops_the_spinner(
    running_bot: RunningBot, knowledge: KnowledgeBase
) -> None:
    chat = 603
    topic = knowledge.topic("transports_en_commun")
    assert topic is not None
    first_line = topic.reponse.strip().splitlines()[0]

    async def scenario() -> tuple[list[SentMessage], list[dict[str, Any]], str]:
        async with FakeTelegram() as telegram, bridge(telegram, running_bot.processes.rest_url):
            await telegram.send_update(telegram.text_update(chat, "/start"))
            [welcome] = await telegram.wait_for(chat, lambda sent: any(m.buttons for m in sent))
            data = next(d for _, d in welcome.buttons if d == "/transports_en_commun")
            press = telegram.callback_update(chat, data, welcome)
            await telegram.send_update(press)
            sent = await telegram.wait_for(chat, _containing(first_line))
            return sent, telegram.callback_answers, press["callback_query"]["id"]

    sent, answers, query_id = run(scenario())
    assert [a["callback_query_id"] for a in answers] == [query_id]
    answer = next(m for m in sent if first_line in m.visible)
    assert [(link.titre, link.url) for link in topic.liens] == answer.links[-len(topic.liens) :]


@pytest.mark.servers
def test_a_6000_character_answer_arrives_split_at_paragraphs_in_order(
    running_bot: RunningBot,
) -> None:
    chat = 604
    sentence = "L'eau du robinet est contrôlée régulièrement par l'Agence régionale de santé. "
    paragraphs = [f"Paragraphe {n:02d} : {sentence * 4}".strip() for n in range(1, 21)]
    assert len("\n\n".join(paragraphs)) > 6000
    lines = [line for paragraph in paragraphs for line in (paragraph, "")]

    async def scenario() -> list[SentMessage]:
        async with FakeTelegram() as telegram, bridge(telegram, running_bot.processes.rest_url):
            await telegram.send_update(telegram.text_update(chat, "l'eau du robinet est potable ?"))
            sent = await telegram.wait_for(chat, lambda sent: any(m.links for m in sent))
            assert telegram.refused == []
            return sent

    with knowledge_answer_prefixed(running_bot, "cadre_de_vie.yml", "eau_assainissement", lines):
        sent = run(scenario())
    parts = [m for m in sent if "Paragraphe" in m.visible or m.links]
    assert len(parts) >= 2
    assert re.findall(r"Paragraphe (\d\d)", "".join(m.visible for m in parts)) == [
        f"{n:02d}" for n in range(1, 21)
    ]
    assert all(any(p in m.visible for m in parts) for p in paragraphs)
    assert [bool(m.buttons) for m in parts] == [False] * (len(parts) - 1) + [True]


@pytest.mark.servers
def test_hostile_formatting_in_an_answer_is_sent_as_written(running_bot: RunningBot) -> None:
    chat = 605

    async def scenario() -> list[SentMessage]:
        async with FakeTelegram() as telegram, bridge(telegram, running_bot.processes.rest_url):
            await telegram.send_update(telegram.text_update(chat, "signaler un nid de poule"))
            sent = await telegram.wait_for(chat, _containing("Tarif"))
            assert telegram.refused == []
            return sent

    with knowledge_answer_prefixed(
        running_bot, "cadre_de_vie.yml", "signaler_probleme", [HOSTILE, ""]
    ):
        sent = run(scenario())
    answer = next(m for m in sent if "Tarif" in m.visible)
    assert answer.visible.startswith(HOSTILE + "\n\n")
    assert answer.parse_mode == "HTML"


@pytest.mark.servers
def test_webhook_accepts_only_updates_with_the_secret_token(running_bot: RunningBot) -> None:
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
            statuses: list[int | None] = [
                await post_update(url, telegram.text_update(intruder, "bonjour"), {}),
                await post_update(
                    url, telegram.text_update(intruder, "bonjour"), {SECRET_HEADER: "mauvais"}
                ),
                await telegram.send_update(
                    telegram.text_update(chat, "qui a gagné le prix icapital ?")
                ),
            ]
            answered = await telegram.wait_for(chat, _containing("Athènes"))
            # Same chat, in order: a refused update, had it been queued, would be answered first.
            await telegram.send_update(telegram.text_update(intruder, "/aide"))
            intruder_sent = await telegram.wait_for(intruder, _containing("/start"))
            return statuses, answered, intruder_sent

    statuses, answered, intruder_sent = run(scenario())
    assert statuses == [403, 403, 200]
    assert any("Athènes" in m.visible for m in answered)
    assert not any("Bonjour" in m.visible for m in intruder_sent)


@pytest.mark.servers
def test_an_update_delivered_twice_is_answered_once(running_bot: RunningBot) -> None:
    chat = 608

    async def scenario() -> list[SentMessage]:
        async with (
            FakeTelegram() as telegram,
            bridge(telegram, running_bot.processes.rest_url, webhook=True),
        ):
            question = telegram.text_update(chat, "qui a gagné le prix icapital ?")
            assert await telegram.send_update(question) == 200
            assert await telegram.send_update(question) == 200
            await telegram.send_update(telegram.text_update(chat, "/aide"))
            return await telegram.wait_for(chat, _containing("/start"))

    sent = run(scenario())
    assert sum("Athènes" in m.visible for m in sent) == 1


@pytest.mark.servers
def test_rasa_down_then_up_the_resident_is_told_then_answered(running_bot: RunningBot) -> None:
    chat = 609
    question = "qui a gagné le prix icapital ?"

    async def scenario() -> tuple[list[SentMessage], list[SentMessage]]:
        proxy = SwitchableProxy(running_bot.processes.rasa_port)
        async with FakeTelegram() as telegram, bridge(telegram, proxy.rest_url):
            await telegram.send_update(telegram.text_update(chat, question))
            down = await telegram.wait_for(chat, _containing("indisponible"))
            await proxy.start()
            try:
                await telegram.send_update(telegram.text_update(chat, question))
                up = await telegram.wait_for(chat, _containing("Athènes"))
            finally:
                await proxy.stop()
            return down, up

    down, up = run(scenario())
    assert len(down) == 1
    assert "service momentanément indisponible" in down[0].visible
    assert any("Athènes" in m.visible for m in up[1:])


@pytest.mark.servers
def test_flood_control_delays_the_message_which_arrives_once(running_bot: RunningBot) -> None:
    chat = 610

    async def scenario() -> tuple[list[SentMessage], list[tuple[str, str]]]:
        async with FakeTelegram() as telegram, bridge(telegram, running_bot.processes.rest_url):
            telegram.flood(chat, retry_after=1)
            await telegram.send_update(telegram.text_update(chat, "/aide"))
            return await telegram.wait_for(chat, _containing("/start")), telegram.refused

    sent, refused = run(scenario())
    assert len(sent) == 1
    assert refused == [("sendMessage", "Too Many Requests: retry after 1")]


@pytest.mark.servers
def test_stickers_media_edits_and_unknown_commands_get_a_short_french_reply(
    running_bot: RunningBot,
) -> None:
    chat = 611

    async def scenario() -> list[SentMessage]:
        async with FakeTelegram() as telegram, bridge(telegram, running_bot.processes.rest_url):
            for update in (
                telegram.sticker_update(chat),
                telegram.edited_update(chat, "quand passe la collecte ?"),
                telegram.photo_update(chat),
                telegram.voice_update(chat),
                telegram.location_update(chat),
                telegram.text_update(chat, "/velo"),
                telegram.text_update(chat, "/aide"),
            ):
                await telegram.send_update(update)
            return await telegram.wait_for(chat, _containing("/start :"))

    sent = run(scenario())
    assert [m.visible for m in sent[:6]] == [
        TEXT_ONLY,
        EDITED,
        TEXT_ONLY,
        TEXT_ONLY,
        TEXT_ONLY,
        UNKNOWN_COMMAND,
    ]
    assert len(sent) == 7


@pytest.mark.servers
def test_group_messages_are_ignored_unless_the_bot_is_addressed(running_bot: RunningBot) -> None:
    group = -1001234567

    async def scenario() -> list[SentMessage]:
        async with FakeTelegram() as telegram, bridge(telegram, running_bot.processes.rest_url):
            for update in (
                telegram.text_update(group, "bonjour à tous", user_id=612, chat_type="supergroup"),
                telegram.text_update(group, "@ToulouseMetropoleBot tu es là ?", user_id=612),
                telegram.text_update(group, "merci", user_id=613),
                telegram.text_update(group, "et pour Balma ?", user_id=613, reply_to_bot=True),
            ):
                await telegram.send_update(update)
            return await telegram.wait_for(group, lambda sent: len(sent) >= 2)

    sent = run(scenario())
    private_only = PRIVATE_ONLY.format(username="ToulouseMetropoleBot")
    assert [m.visible for m in sent] == [private_only, private_only]


def test_long_button_payload_from_rasa_goes_back_intact() -> None:
    chat = 614
    payload = '/avis_negatif{"sujet_avis": "' + "smart_city_demonstrateurs_" * 4 + '"}'

    async def scenario() -> tuple[list[SentMessage], list[dict[str, Any]]]:
        reply = {
            "recipient_id": "x",
            "text": "Réponse utile ?",
            "buttons": [{"title": "Non", "payload": payload}],
        }
        async with StandInRasa([reply]) as rasa, FakeTelegram() as telegram:
            async with bridge(telegram, rasa.rest_url):
                await telegram.send_update(telegram.text_update(chat, "bonjour"))
                [question] = await telegram.wait_for(chat, lambda sent: len(sent) >= 1)
                [(_, data)] = question.buttons
                await telegram.send_update(telegram.callback_update(chat, data, question))
                await telegram.wait_for(chat, lambda sent: len(sent) >= 2)
            return telegram.sent, rasa.received

    sent, received = run(scenario())
    assert len(sent[0].buttons[0][1].encode()) <= 64
    assert [r["message"] for r in received] == ["bonjour", payload]
    assert received[0]["sender"] == ConversationIds(HASH_KEY).for_chat(chat)


@pytest.mark.servers
def test_standalone_command_polls_and_logs_no_personal_data(running_bot: RunningBot) -> None:
    chat = 615
    question = "qui a gagné le prix icapital ?"

    async def scenario() -> tuple[int, str, str]:
        async with FakeTelegram() as telegram:
            env = {
                **os.environ,
                "BOT_TELEGRAM_TOKEN": telegram.token,
                "BOT_TELEGRAM_API_URL": telegram.api_url,
                "BOT_TELEGRAM_RASA_URL": running_bot.processes.rest_url,
                "BOT_TELEGRAM_HASH_KEY": HASH_KEY.decode(),
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
                await telegram.send_update(telegram.text_update(chat, question))
                await telegram.wait_for(chat, _containing("Athènes"))
            finally:
                process.send_signal(signal.SIGTERM)
                output, _ = await process.communicate()
            assert process.returncode is not None
            return process.returncode, output.decode(), telegram.token

    code, output, token = run(scenario())
    assert code == 0, output
    assert "long polling" in output
    assert str(chat) not in output
    assert question not in output
    assert token not in output


# -- bad input and faults -------------------------------------------------------------------


def test_too_long_message_never_reaches_rasa_and_help_is_asked_in_words() -> None:
    chat = 616
    reply = {"recipient_id": "x", "text": "Réponse de l'assistant."}

    async def scenario() -> tuple[list[SentMessage], list[dict[str, Any]]]:
        async with StandInRasa([reply]) as rasa, FakeTelegram() as telegram:
            async with bridge(telegram, rasa.rest_url):
                for text in ("🙂" * 4096, "é" * (MAX_MESSAGE_CHARS + 1), "é" * MAX_MESSAGE_CHARS):
                    await telegram.send_update(telegram.text_update(chat, text))
                await telegram.send_update(telegram.text_update(chat, "/start"))
                await telegram.send_update(telegram.text_update(chat, "/aide"))
                sent = await telegram.wait_for(chat, lambda sent: len(sent) >= 5)
            return sent, rasa.received

    sent, received = run(scenario())
    assert [m.visible for m in sent[:3]] == [TOO_LONG, TOO_LONG, reply["text"]]
    assert sent[3].visible.startswith(WELCOME) and sent[4].visible.endswith(TELEGRAM_HELP)
    # The help topic is asked in words: Rasa takes "/..." only from a button it offered.
    assert [r["message"] for r in received] == ["é" * MAX_MESSAGE_CHARS, "aide", "aide"]


@pytest.mark.parametrize(
    ("status", "replies"),
    [
        (503, [{"recipient_id": "x", "text": UNAVAILABLE}]),
        (200, []),
        (200, [{"recipient_id": "x", "image": "https://exemple.fr/a.png"}]),
        (400, {"erreur": "Requête invalide"}),
    ],
    ids=["REST channel 503", "no reply", "nothing to show", "REST channel 400"],
)
def test_a_failure_behind_the_rest_channel_is_never_silence(
    status: int, replies: list[dict[str, Any]]
) -> None:
    chat = 617

    async def scenario() -> list[SentMessage]:
        async with (
            StandInRasa(replies, status) as rasa,
            FakeTelegram() as telegram,
            bridge(telegram, rasa.rest_url),
        ):
            await telegram.send_update(telegram.text_update(chat, "bonjour"))
            await telegram.send_update(telegram.text_update(chat, "/aide"))
            return await telegram.wait_for(chat, lambda sent: len(sent) >= 2)

    sent = run(scenario())
    assert [m.visible for m in sent] == [UNAVAILABLE, UNAVAILABLE]


@pytest.mark.servers
def test_bad_updates_get_a_reply_and_the_conversation_keeps_its_context(
    running_bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    chat, other = 618, 619

    async def scenario() -> tuple[list[SentMessage], list[SentMessage], list[dict[str, Any]]]:
        async with FakeTelegram() as telegram, bridge(telegram, running_bot.processes.rest_url):
            await telegram.send_update(telegram.text_update(chat, "horaires de la mairie de balma"))
            await telegram.wait_for(chat, _containing("Balma"))
            for text in ("🙂" * 4096, "bonjour\x00\x00", "     ", "/session_start"):
                await telegram.send_update(telegram.text_update(chat, text))
            await telegram.send_update(telegram.text_update(chat, "et la collecte des déchets ?"))

            def context_kept(sent: list[SentMessage]) -> bool:
                visible = [m.visible for m in sent]
                return UNKNOWN_COMMAND in visible and any(
                    "collecte" in text.lower() and "Balma" in text
                    for text in visible[visible.index(UNKNOWN_COMMAND) :]
                )

            sent = await telegram.wait_for(chat, context_kept)

            # A forged button, made up by a client: an answer, whatever it is, and no spinner left.
            press = telegram.callback_update(other, "/restart")
            await telegram.send_update(press)
            forged = await telegram.wait_for(other, lambda sent: len(sent) >= 1)
            await telegram.send_update(telegram.text_update(other, "/start"))
            forged = await telegram.wait_for(other, lambda sent: any(m.buttons for m in sent[1:]))
            return sent, forged, telegram.callback_answers

    sent, forged, answers = run(scenario())
    visible = [m.visible for m in sent]
    too_long, unknown = visible.index(TOO_LONG), visible.index(UNKNOWN_COMMAND)
    # "bonjour" with NUL characters, then only spaces: each answered by the bot.
    assert unknown - too_long >= 3 and all(visible[too_long + 1 : unknown])
    assert len(answers) == 1 and "text" not in answers[0]
    assert forged[0].visible and forged[-1].visible.startswith(WELCOME)
    assert "🙂" not in caplog.text
