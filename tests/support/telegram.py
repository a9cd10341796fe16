"""The Telegram bridge in-process, as python-telegram-bot's own suite tests bots: no network at all.

The bridge's real `Application` (`build_application`: handlers, defaults,
update order, flood limiter) talks to:

- `RecordingBotApi`, a `telegram.request.BaseRequest` that answers the Bot
  API methods the handlers call (getMe, sendMessage, answerCallbackQuery)
  from memory, refuses what Telegram refuses (`read_sent_message`) and fails
  the test on any other method;
- `RasaStandIn`, a `RasaClient` that records what the bridge sends to Rasa and
  answers from the test's script (or is down);
- a `ChatRateLimiter` on `VirtualTime`, so flood limits cost no real time.

To test the real `RasaClient` with the handlers, `rest_channel_answering`
plays Rasa's REST channel over HTTP (aiohttp's test server).

Updates are hand-built `Update`/`Message`/`CallbackQuery` objects (`Updates`)
fed to `application.process_update(...)`.

Usage:
    async with bridge_in_process(RasaStandIn([RasaReply("Bonjour !")])) as bridge:
        await bridge.process(bridge.updates.text(42, "bonjour"))
        assert [m.visible for m in bridge.api.messages(42)] == ["Bonjour !"]
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from telegram import (
    CallbackQuery,
    Chat,
    Location,
    Message,
    MessageEntity,
    PhotoSize,
    Sticker,
    Update,
    User,
    Voice,
)
from telegram.request import BaseRequest, RequestData

from bot.channels.telegram import (
    ChatConversationIds,
    RasaClient,
    RasaReply,
    RasaUnavailable,
    TelegramSettings,
    build_application,
)
from bot.channels.telegram.app import AnyApplication
from bot.channels.telegram.ratelimit import ChatRateLimiter
from tests.support.clocks import VirtualTime
from tests.support.fake_telegram_api import ApiError, SentMessage, read_sent_message

__all__ = [
    "BOT_USERNAME",
    "HASH_KEY",
    "REST_PATH",
    "InProcessBridge",
    "OfflineRequest",
    "RasaStandIn",
    "RecordingBotApi",
    "Updates",
    "bridge_in_process",
    "conversation_of",
    "rest_channel_answering",
]

TOKEN = "123456789:in-process-test-token"
BOT_ID = 123456789
BOT_USERNAME = "ToulouseMetropoleBot"
HASH_KEY = b"cle-de-test-des-conversations"
REST_PATH = "/webhooks/rest/webhook"
BOT_USER = User(BOT_ID, "Toulouse Métropole", is_bot=True, username=BOT_USERNAME)


def conversation_of(chat_id: int) -> str:
    """The Rasa conversation id the bridge uses for a chat (with the tests' key)."""
    return ChatConversationIds(HASH_KEY).for_chat(chat_id)


class OfflineRequest(BaseRequest):
    """A Bot API client that fails the test on any request (PTB's suite has the same)."""

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = None,
        write_timeout: object = None,
        connect_timeout: object = None,
        pool_timeout: object = None,
    ) -> tuple[int, bytes]:
        pytest.fail(f"no Bot API request was expected here: {_endpoint(url)}")


def _endpoint(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def _chat_dict(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Habitant"}
    return {"id": chat_id, "type": "supergroup", "title": "Quartier Saint-Cyprien"}


class RecordingBotApi(OfflineRequest):
    """The Bot API in memory: records every call, answers the bridge's methods, fails on the rest.

    A sendMessage that Telegram would refuse (bad HTML, too long, callback
    data over 64 bytes) fails the test. `flood(chat)` makes the next
    sendMessage to that chat answer 429, and `block(chat)` makes every one
    answer 403, as when a resident has blocked the bot.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[SentMessage] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.refused: list[tuple[str, str]] = []
        self._message_ids = itertools.count(1000)
        self._floods: dict[int, list[int]] = {}
        self._blocked: set[int] = set()

    def messages(self, chat_id: int) -> list[SentMessage]:
        """Everything the bot sent to one chat, in order."""
        return [m for m in self.sent if m.chat_id == chat_id]

    def visible(self, chat_id: int) -> list[str]:
        """The texts one chat reads, in order."""
        return [m.visible for m in self.messages(chat_id)]

    def flood(self, chat_id: int, retry_after: int = 1) -> None:
        """The next sendMessage to `chat_id` gets 429 Too Many Requests."""
        self._floods.setdefault(chat_id, []).append(retry_after)

    def block(self, chat_id: int) -> None:
        """Every sendMessage to `chat_id` gets 403: the resident blocked the bot."""
        self._blocked.add(chat_id)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = None,
        write_timeout: object = None,
        connect_timeout: object = None,
        pool_timeout: object = None,
    ) -> tuple[int, bytes]:
        endpoint = _endpoint(url)
        params = dict(request_data.parameters) if request_data is not None else {}
        self.calls.append((endpoint, params))
        answer: Callable[[dict[str, Any]], object] | None = getattr(self, f"_{endpoint}", None)
        if answer is None:
            pytest.fail(f"unexpected Bot API call: {endpoint}({sorted(params)})")
        try:
            result = answer(params)
        except ApiError as error:
            self.refused.append((endpoint, error.description))
            if error.code == 400:
                pytest.fail(f"Telegram would have refused {endpoint}: {error.description}")
            return error.code, json.dumps(error.body()).encode()
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return BOT_USER.to_dict()

    def _sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        floods = self._floods.get(chat_id)
        if floods:
            retry_after = floods.pop(0)
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        message = read_sent_message(params, next(self._message_ids))
        self.sent.append(message)
        return {
            "message_id": message.message_id,
            "date": int(dt.datetime.now(dt.timezone.utc).timestamp()),
            "chat": _chat_dict(chat_id),
            "from": BOT_USER.to_dict(),
            "text": message.visible,
        }

    def _answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        self.callback_answers.append(params)
        return True


Script = Sequence[RasaReply] | Callable[[str], Sequence[RasaReply]]


class RasaStandIn(RasaClient):
    """Rasa's REST channel as the bridge sees it: records each message, answers from a script.

    `replies` is the answer to every message, or a function of the message's
    text. Down (`down = True`), every message raises `RasaUnavailable`, as
    the real client does for every failure.
    """

    def __init__(self, replies: Script | None = None) -> None:
        super().__init__("http://rasa.invalid/webhooks/rest/webhook")
        self._replies: Script = (
            replies if replies is not None else (lambda text: [RasaReply(f"reçu : {text}")])
        )
        self.received: list[tuple[str, str]] = []
        self.down = False

    @property
    def texts(self) -> list[str]:
        """What Rasa was sent, in order."""
        return [text for _, text in self.received]

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def send(self, sender: str, message: str) -> list[RasaReply]:
        self.received.append((sender, message))
        if self.down:
            raise RasaUnavailable("Rasa injoignable (ClientConnectorError)")
        replies = self._replies(message) if callable(self._replies) else self._replies
        return list(replies)


_COMMAND_OR_MENTION = re.compile(r"(?<!\S)(/[A-Za-z0-9_]+(?:@\w+)?|@\w+)")


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _entities(text: str) -> tuple[MessageEntity, ...]:
    """The entities Telegram adds to a text: a leading /command, @mentions."""
    entities = []
    for match in _COMMAND_OR_MENTION.finditer(text):
        command = match.group().startswith("/")
        if command and match.start() != 0:
            continue
        kind = MessageEntity.BOT_COMMAND if command else MessageEntity.MENTION
        entities.append(MessageEntity(kind, _utf16(text[: match.start()]), _utf16(match.group())))
    return tuple(entities)


class Updates:
    """Hand-built updates, as Telegram sends them to the bridge: private chats have positive ids."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(1)

    @staticmethod
    def chat(chat_id: int) -> Chat:
        if chat_id > 0:
            return Chat(chat_id, Chat.PRIVATE, first_name="Habitant")
        return Chat(chat_id, Chat.SUPERGROUP, title="Quartier Saint-Cyprien")

    def _message(self, chat_id: int, user_id: int | None = None, **content: Any) -> Message:
        sender = User(
            user_id if user_id is not None else chat_id,
            "Habitant",
            is_bot=False,
            language_code="fr",
        )
        now = dt.datetime.now(dt.timezone.utc)
        return Message(
            next(self._message_ids), now, self.chat(chat_id), from_user=sender, **content
        )

    def text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        reply_to_bot: bool = False,
    ) -> Update:
        """A written message; a leading /command and @mentions carry their entities."""
        reply_to = None
        if reply_to_bot:
            reply_to = Message(
                next(self._message_ids),
                dt.datetime.now(dt.timezone.utc),
                self.chat(chat_id),
                from_user=BOT_USER,
                text="Réponse précédente du bot",
            )
        message = self._message(
            chat_id, user_id, text=text, entities=_entities(text), reply_to_message=reply_to
        )
        return Update(next(self._ids), message=message)

    def edited(self, chat_id: int, text: str) -> Update:
        """An edit of an earlier written message."""
        message = self._message(chat_id, text=text, edit_date=dt.datetime.now(dt.timezone.utc))
        return Update(next(self._ids), edited_message=message)

    def sticker(self, chat_id: int) -> Update:
        sticker = Sticker("CAACAgIAAxkB", "AgADsticker", 512, 512, False, False, Sticker.REGULAR)
        return Update(next(self._ids), message=self._message(chat_id, sticker=sticker))

    def photo(self, chat_id: int) -> Update:
        photo = (PhotoSize("AgACAgQAAxkB", "AQADphoto", 90, 90),)
        return Update(next(self._ids), message=self._message(chat_id, photo=photo))

    def voice(self, chat_id: int) -> Update:
        voice = Voice("AwACAgQAAxkB", "AgADvoice", dt.timedelta(seconds=3))
        return Update(next(self._ids), message=self._message(chat_id, voice=voice))

    def location(self, chat_id: int) -> Update:
        """A shared location (the Capitole)."""
        location = Location(longitude=1.4440, latitude=43.6045)
        return Update(next(self._ids), message=self._message(chat_id, location=location))

    def press(self, chat_id: int, data: str, on: SentMessage | None = None) -> Update:
        """A press on an inline button of `on` (a message the bot sent), or of a made-up one."""
        shown = Message(
            on.message_id if on is not None else next(self._message_ids),
            dt.datetime.now(dt.timezone.utc),
            self.chat(chat_id),
            from_user=BOT_USER,
            text=on.visible if on is not None else "Choisissez :",
        )
        query = CallbackQuery(
            f"cb-{next(self._ids)}",
            User(chat_id, "Habitant", is_bot=False),
            f"instance-{chat_id}",
            message=shown,
            data=data,
        )
        return Update(next(self._ids), callback_query=query)


SETTINGS = TelegramSettings(token=TOKEN, hash_key=HASH_KEY)


@dataclass
class InProcessBridge:
    """The bridge's `Application` and everything it talks to, all in memory."""

    application: AnyApplication
    api: RecordingBotApi
    rasa: RasaStandIn
    time: VirtualTime
    updates: Updates

    async def process(self, *updates: Update) -> None:
        """Hands each update to the application, as the polling loop or the webhook would."""
        for update in updates:
            # Objects built by hand are not bound to a bot; Telegram's would be (de_json).
            for part in (update, update.effective_message, update.callback_query):
                if part is not None:
                    part.set_bot(self.application.bot)
            await self.application.process_update(update)


@contextlib.asynccontextmanager
async def bridge_in_process(
    rasa: RasaStandIn | None = None, *, rasa_client: RasaClient | None = None
) -> AsyncIterator[InProcessBridge]:
    """The bridge initialised (getMe answered from memory), shut down after the block.

    With `rasa_client` (the real client, pointed at `rest_channel_answering`),
    the bridge talks HTTP to that instead of the stand-in, which then receives nothing.
    """
    api = RecordingBotApi()
    time_ = VirtualTime()
    rasa = rasa if rasa is not None else RasaStandIn()
    client = rasa_client if rasa_client is not None else rasa
    application = build_application(
        SETTINGS,
        request=api,
        get_updates_request=OfflineRequest(),
        rasa=client,
        rate_limiter=ChatRateLimiter(clock=time_.clock, sleep=time_.sleep),
    )
    await application.initialize()
    try:
        yield InProcessBridge(application, api, rasa, time_, Updates())
    finally:
        await application.shutdown()
        await client.close()


@contextlib.asynccontextmanager
async def rest_channel_answering(
    status: int, body: str, delay: float = 0.0
) -> AsyncIterator[tuple[str, list[Any]]]:
    """A stand-in for Rasa's REST channel over HTTP (aiohttp's test server) answering every message alike.

    Yields its URL and the JSON bodies it received.
    """
    received: list[Any] = []

    async def webhook(request: web.Request) -> web.Response:
        received.append(await request.json())
        await asyncio.sleep(delay)
        return web.Response(status=status, text=body, content_type="application/json")

    app = web.Application()
    app.router.add_post(REST_PATH, webhook)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url(REST_PATH)), received
