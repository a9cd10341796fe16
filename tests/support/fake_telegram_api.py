"""A fake Telegram Bot API on 127.0.0.1, for testing the bridge with the real python-telegram-bot.

It implements the methods the bridge calls (getMe, getUpdates with long
polling, deleteWebhook, setWebhook, setMyCommands, sendMessage,
answerCallbackQuery) and refuses what Telegram refuses: HTML that Telegram
cannot parse, text over 4,096 characters, callback data over 64 bytes
(`read_sent_message`, which the in-process Bot API of tests/support/telegram.py
applies too). It can play Telegram's side of a webhook, and answer 429 (flood
control) on demand.

Usage:
    async with FakeTelegram() as telegram:
        settings = TelegramSettings(token=telegram.token, hash_key=b"k", api_url=telegram.api_url)
        ...                                     # start the bridge with these settings
        await telegram.send_update(telegram.text_update(42, "bonjour"))
        messages = await telegram.wait_for(42, lambda sent: len(sent) >= 1)
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

__all__ = [
    "ApiError",
    "FakeTelegram",
    "HtmlError",
    "SentMessage",
    "parse_telegram_html",
    "read_sent_message",
]

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
_TAG = re.compile(r'<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+\s*=\s*"[^"<>]*")*)\s*>')
_ATTRIBUTE = re.compile(r'([a-zA-Z-]+)\s*=\s*"([^"]*)"')
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")
# The tags of Telegram's HTML style (Bot API, "Formatting options").
_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "span",
    "tg-spoiler",
    "tg-emoji",
    "blockquote",
}


class HtmlError(ValueError):
    """Text Telegram would refuse in HTML mode; the message is Telegram's kind of description."""


def parse_telegram_html(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The text a resident sees and its links (label, href), as Telegram parses HTML.

    Raises:
        HtmlError: a bare `<` or `&`, an unknown tag, or unbalanced tags.
    """
    visible: list[str] = []
    links: list[tuple[str, str]] = []
    open_tags: list[tuple[str, str | None, int]] = []
    position = 0
    while position < len(text):
        character = text[position]
        if character == "<":
            tag = _TAG.match(text, position)
            if tag is None:
                raise HtmlError(
                    f"Bad Request: can't parse entities: unsupported start tag at byte offset {position}"
                )
            closing, name, attributes = tag.group(1) == "/", tag.group(2).lower(), tag.group(3)
            if name not in _TAGS:
                raise HtmlError(f'Bad Request: can\'t parse entities: unsupported tag "{name}"')
            if closing:
                if not open_tags or open_tags[-1][0] != name:
                    raise HtmlError(
                        f'Bad Request: can\'t parse entities: unexpected end tag "{name}"'
                    )
                _, href, start = open_tags.pop()
                if href is not None:
                    links.append(("".join(visible[start:]), href))
            else:
                href = None
                if name == "a":
                    values = dict(_ATTRIBUTE.findall(attributes))
                    if "href" not in values:
                        raise HtmlError("Bad Request: can't parse entities: a tag without href")
                    href = html.unescape(values["href"])
                open_tags.append((name, href, len(visible)))
            position = tag.end()
        elif character == "&":
            entity = _ENTITY.match(text, position)
            if entity is None:
                raise HtmlError(
                    "Bad Request: can't parse entities: can't find end of the entity "
                    f"starting at byte offset {position}"
                )
            visible.append(html.unescape(entity.group()))
            position = entity.end()
        else:
            visible.append(character)
            position += 1
    if open_tags:
        raise HtmlError(
            f"Bad Request: can't parse entities: can't find end tag for \"{open_tags[-1][0]}\""
        )
    return "".join(visible), links


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class SentMessage:
    """A message the bot sent, as the resident would see it."""

    chat_id: int
    message_id: int
    text: str
    parse_mode: str | None
    visible: str
    links: list[tuple[str, str]]
    buttons: list[tuple[str, str]]


class ApiError(Exception):
    """What the Bot API answers instead of a result: an HTTP code and Telegram's description."""

    def __init__(self, code: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        """The Bot API's JSON answer for this refusal."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    allowed_updates: list[str] | None


@dataclass
class FakeTelegram:
    """The fake Bot API server and what the bot did with it."""

    token: str = "123456789:FAKE-token-for-tests"
    bot_id: int = 123456789
    username: str = "ToulouseMetropoleBot"
    host: str = "127.0.0.1"
    sent: list[SentMessage] = field(default_factory=list)
    callback_answers: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    webhook: _Webhook | None = None
    refused: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._floods: dict[int, list[int]] = {}
        self._blocked: set[int] = set()
        self._chat_types: dict[int, str] = {}
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.port = 0

    # -- server ------------------------------------------------------------

    async def __aenter__(self) -> FakeTelegram:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Long polls still open end now rather than at their timeout.
        async with self._changed:
            self._closing = True
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        """What python-telegram-bot's `base_url` must be to reach this server."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Toulouse Métropole",
            "username": self.username,
        }

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        if request.content_type == "application/json":
            params: dict[str, Any] = await request.json()
        else:
            params = dict(await request.post())
            params.update(request.query)
        async with self._changed:
            self.calls.append((method, params))
            self._changed.notify_all()
        handler = getattr(self, f"_api_{method}", None)
        try:
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = await handler(params)
        except ApiError as error:
            async with self._changed:
                self.refused.append((method, error.description))
                self._changed.notify_all()
            return web.json_response(error.body(), status=error.code)
        return web.json_response({"ok": True, "result": result})

    # -- Bot API methods ---------------------------------------------------

    async def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        return True

    async def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = _Webhook(
            url=str(params["url"]),
            secret_token=params.get("secret_token"),
            allowed_updates=_json(params.get("allowed_updates")),
        )
        return True

    async def _api_setMyCommands(self, params: dict[str, Any]) -> bool:
        self.commands = list(_json(params["commands"]))
        return True

    async def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        async with self._changed:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while (
                not self._updates
                and not self._closing
                and (remaining := deadline - time.monotonic()) > 0
            ):
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            return [u for u in self._updates if u["update_id"] >= offset][:100]

    async def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
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
        async with self._changed:
            self.sent.append(message)
            self._changed.notify_all()
        return {
            "message_id": message.message_id,
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": self.bot_user,
            "text": message.visible,
        }

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        async with self._changed:
            self.callback_answers.append(params)
            self._changed.notify_all()
        return True

    # -- what the tests do -------------------------------------------------

    def flood(self, chat_id: int, retry_after: int = 1) -> None:
        """The next sendMessage to `chat_id` gets 429 Too Many Requests."""
        self._floods.setdefault(chat_id, []).append(retry_after)

    def block(self, chat_id: int) -> None:
        """Every later sendMessage to `chat_id` gets 403: the resident blocked the bot."""
        self._blocked.add(chat_id)

    async def send_update(self, update: dict[str, Any]) -> int | None:
        """Delivers an update like Telegram: to the webhook if one is set, else to getUpdates.

        Returns the webhook's HTTP status, or None when queued for polling.
        """
        if self.webhook is not None:
            headers = {}
            if self.webhook.secret_token is not None:
                headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook.secret_token
            return await post_update(self.webhook.url, update, headers)
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return None

    async def wait_for(
        self,
        chat_id: int,
        done: Callable[[list[SentMessage]], bool],
        timeout: float = 60.0,
    ) -> list[SentMessage]:
        """The messages sent to `chat_id`, once `done` holds for them.

        Raises:
            AssertionError: at once, if the API refused a request as Telegram would (400).
        """

        def refused() -> list[tuple[str, str]]:
            return [r for r in self.refused if r[1].startswith("Bad Request")]

        def ready() -> bool:
            return bool(refused()) or done(self.messages(chat_id))

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(ready), timeout)
        assert not refused(), f"Telegram would have refused: {refused()}"
        return self.messages(chat_id)

    async def wait_for_call(
        self, method: str, done: Callable[[dict[str, Any]], bool], timeout: float = 60.0
    ) -> dict[str, Any]:
        """The first call of `method` whose parameters satisfy `done`."""

        def found() -> dict[str, Any] | None:
            return next((p for m, p in self.calls if m == method and done(p)), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), timeout)
        call = found()
        assert call is not None
        return call

    def messages(self, chat_id: int) -> list[SentMessage]:
        """Everything the bot sent to one chat, in order."""
        return [m for m in self.sent if m.chat_id == chat_id]

    # -- updates as Telegram builds them ----------------------------------

    def _chat(self, chat_id: int) -> dict[str, Any]:
        kind = self._chat_types.get(chat_id, "private" if chat_id > 0 else "group")
        if kind == "private":
            return {"id": chat_id, "type": kind, "first_name": "Habitant"}
        return {"id": chat_id, "type": kind, "title": "Quartier Saint-Cyprien"}

    def _message(
        self,
        chat_id: int,
        user_id: int | None,
        *,
        chat_type: str | None = None,
        **content: Any,
    ) -> dict[str, Any]:
        if chat_type is not None:
            self._chat_types[chat_id] = chat_type
        sender = user_id if user_id is not None else chat_id
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": {
                "id": sender,
                "is_bot": False,
                "first_name": "Habitant",
                "language_code": "fr",
            },
            **content,
        }

    def _update(self, **content: Any) -> dict[str, Any]:
        return {"update_id": next(self._ids), **content}

    def text_update(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str | None = None,
        reply_to_bot: bool = False,
    ) -> dict[str, Any]:
        """A written message; commands and @mentions carry their entities, as Telegram adds them."""
        entities = []
        for match in re.finditer(r"(?<!\S)(/[A-Za-z0-9_]+(?:@\w+)?|@\w+)", text):
            kind = "bot_command" if match.group().startswith("/") else "mention"
            if kind == "bot_command" and match.start() != 0:
                continue
            entities.append(
                {
                    "type": kind,
                    "offset": _utf16(text[: match.start()]),
                    "length": _utf16(match.group()),
                }
            )
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        if reply_to_bot:
            content["reply_to_message"] = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": self._chat(chat_id),
                "from": self.bot_user,
                "text": "Réponse précédente du bot",
            }
        return self._update(message=self._message(chat_id, user_id, chat_type=chat_type, **content))

    def edited_update(self, chat_id: int, text: str) -> dict[str, Any]:
        """An edit of an earlier written message."""
        message = self._message(chat_id, None, text=text, edit_date=int(time.time()))
        return self._update(edited_message=message)

    def sticker_update(self, chat_id: int) -> dict[str, Any]:
        """A sticker."""
        sticker = {
            "file_id": "CAACAgIAAxkBAAIB",
            "file_unique_id": "AgADsticker",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
        }
        return self._update(message=self._message(chat_id, None, sticker=sticker))

    def photo_update(self, chat_id: int) -> dict[str, Any]:
        """A photo without caption."""
        photo = [
            {
                "file_id": "AgACAgQAAxkBAAIC",
                "file_unique_id": "AQADphoto",
                "width": 90,
                "height": 90,
            }
        ]
        return self._update(message=self._message(chat_id, None, photo=photo))

    def voice_update(self, chat_id: int) -> dict[str, Any]:
        """A voice note."""
        voice = {"file_id": "AwACAgQAAxkBAAID", "file_unique_id": "AgADvoice", "duration": 3}
        return self._update(message=self._message(chat_id, None, voice=voice))

    def location_update(self, chat_id: int) -> dict[str, Any]:
        """A shared location (the Capitole)."""
        location = {"latitude": 43.6045, "longitude": 1.4440}
        return self._update(message=self._message(chat_id, None, location=location))

    def callback_update(
        self, chat_id: int, data: str, message: SentMessage | None = None
    ) -> dict[str, Any]:
        """A press on an inline button of `message` (a bot message)."""
        query_id = f"cb-{next(self._ids)}"
        return self._update(
            callback_query={
                "id": query_id,
                "from": {"id": chat_id, "is_bot": False, "first_name": "Habitant"},
                "chat_instance": f"instance-{chat_id}",
                "data": data,
                "message": {
                    "message_id": message.message_id if message else next(self._message_ids),
                    "date": int(time.time()),
                    "chat": self._chat(chat_id),
                    "from": self.bot_user,
                    "text": message.visible if message else "Choisissez :",
                },
            }
        )


def read_sent_message(params: dict[str, Any], message_id: int) -> SentMessage:
    """A sendMessage call as Telegram reads it: what the resident sees, its links and buttons.

    Raises:
        ApiError: 400, as Telegram refuses it: HTML it cannot parse, no
            visible text, over 4,096 characters, callback data over 64 bytes.
    """
    text = str(params.get("text", ""))
    parse_mode = params.get("parse_mode")
    if parse_mode == "HTML":
        try:
            visible, links = parse_telegram_html(text)
        except HtmlError as error:
            raise ApiError(400, str(error)) from error
    elif parse_mode is None:
        visible, links = text, []
    else:
        raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode}")
    if not visible.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if _utf16(visible) > MAX_TEXT:
        raise ApiError(400, "Bad Request: message is too long")
    buttons: list[tuple[str, str]] = []
    markup = _json(params.get("reply_markup"))
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data", "")
            if not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            buttons.append((button["text"], data))
    return SentMessage(
        int(params["chat_id"]), message_id, text, parse_mode, visible, links, buttons
    )


def _json(value: Any) -> Any:
    """A parameter python-telegram-bot sent JSON-encoded in a form field."""
    if isinstance(value, str):
        return json.loads(value)
    return value


async def post_update(url: str, update: dict[str, Any], headers: dict[str, str]) -> int:
    """POSTs one update to a webhook, as Telegram does; returns the HTTP status."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=update, headers=headers) as response,
    ):
        return response.status
