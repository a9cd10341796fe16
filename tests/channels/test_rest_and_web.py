"""The channels against bad input and faults: request checks, rate limits, Rasa failing or silent.

Pure checks first (request validation, the rate limiter, one turn with a
failing Rasa), then the REST and web channels in an in-process Sanic server
with a stand-in for Rasa (faults, limits), then the REST channel of the
session's real Rasa server: every kind of bad request gets its status and a
French text, never a 5xx, and the conversation goes on as if nothing happened.

Run alone: .venv/bin/python -m pytest tests/channels/test_rest_and_web.py -q
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import yaml
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels.ratelimit import (
    RateLimits,
    TokenBuckets,
    WebRateLimiter,
    address_key,
    retry_after_seconds,
)
from bot.channels.rest import RestChannel
from bot.channels.texts import (
    BAD_JSON,
    BAD_MESSAGE,
    BAD_METHOD,
    BAD_REQUEST,
    BAD_SENDER,
    MAX_MESSAGE_CHARS,
    NOT_JSON,
    RATE_LIMITED,
    TOO_LONG,
    UNAVAILABLE,
)
from bot.channels.turns import log_id, run_turn
from bot.channels.validation import Refused, clean_text, read_rest_request, read_web_request
from bot.channels.web.channel import WebChannel
from bot.channels.web.conversations import ConversationIds
from bot.knowledge import PROJECT_ROOT
from tests.support import RunningBot, free_port

SECRET_WORDS = "Jeanne Dupont 06 12 34 56 78"
JSON = "application/json"


def _body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


# -- request validation, pure -------------------------------------------------------

DEEP = b"[" * 5000 + b"]" * 5000
REST_REFUSED: dict[str, tuple[bytes, str | None, int, str]] = {
    "empty body": (b"", JSON, 400, BAD_JSON),
    "null": (b"null", JSON, 400, BAD_JSON),
    "array": (b"[]", JSON, 400, BAD_JSON),
    "string": (b'"x"', JSON, 400, BAD_JSON),
    "number": (b"42", JSON, 400, BAD_JSON),
    "not JSON": (b"sender=moi&message=bonjour", JSON, 400, BAD_JSON),
    "invalid UTF-8": (b'{"sender": "a", "message": "\xff\xfe"}', JSON, 400, BAD_JSON),
    "nested 5,000 deep": (DEEP, JSON, 400, BAD_JSON),
    "object nested 5,000 deep": (
        b'{"sender": "a", "message": "x", "metadata": ' + DEEP + b"}",
        JSON,
        400,
        BAD_JSON,
    ),
    "missing sender": (_body(message="bonjour"), JSON, 400, BAD_SENDER),
    "empty sender": (_body(sender="", message="bonjour"), JSON, 400, BAD_SENDER),
    "blank sender": (_body(sender="   ", message="bonjour"), JSON, 400, BAD_SENDER),
    "sender not a string": (_body(sender=42, message="bonjour"), JSON, 400, BAD_SENDER),
    "sender null": (_body(sender=None, message="bonjour"), JSON, 400, BAD_SENDER),
    "10 KB sender": (_body(sender="s" * 10_000, message="bonjour"), JSON, 400, BAD_SENDER),
    "sender with a line feed": (_body(sender="a\nb", message="bonjour"), JSON, 400, BAD_SENDER),
    "sender with half an emoji": (_body(sender="a\ud800", message="x"), JSON, 400, BAD_SENDER),
    "missing message": (_body(sender="a"), JSON, 400, BAD_MESSAGE),
    "message null": (_body(sender="a", message=None), JSON, 400, BAD_MESSAGE),
    "message a number": (_body(sender="a", message=3), JSON, 400, BAD_MESSAGE),
    "message an object": (_body(sender="a", message={"text": "x"}), JSON, 400, BAD_MESSAGE),
    "message a list": (_body(sender="a", message=["x"]), JSON, 400, BAD_MESSAGE),
    "message true": (_body(sender="a", message=True), JSON, 400, BAD_MESSAGE),
    "1,001 characters": (_body(sender="a", message="a" * 1001), JSON, 413, TOO_LONG),
    "1 MB message": (_body(sender="a", message="a" * 1_000_000), JSON, 413, TOO_LONG),
    "10,000 emoji": (_body(sender="a", message="🙂" * 10_000), JSON, 413, TOO_LONG),
    "text/plain": (_body(sender="a", message="bonjour"), "text/plain", 400, NOT_JSON),
    "form": (
        b"sender=a&message=bonjour",
        "application/x-www-form-urlencoded",
        400,
        NOT_JSON,
    ),
}


@pytest.mark.parametrize("case", REST_REFUSED)
def test_rest_request_refused_with_status_and_french_text(case: str) -> None:
    body, content_type, status, text = REST_REFUSED[case]
    with pytest.raises(Refused) as refused:
        read_rest_request(body, content_type)
    assert (refused.value.status, refused.value.text) == (status, text)
    assert "Requête invalide" in text or "trop long" in text


def test_rest_request_accepted_cleaned_and_stripped_of_client_metadata() -> None:
    read = read_rest_request(
        _body(sender="tg-1", message="a" * MAX_MESSAGE_CHARS, metadata={"x": 1}), JSON
    )
    assert (read.sender, read.text) == ("tg-1", "a" * MAX_MESSAGE_CHARS)
    assert read_rest_request(_body(sender="a", message="🙂" * 1000), JSON).text == "🙂" * 1000
    assert read_rest_request(_body(sender="a", message=""), None).text == ""
    charset = "application/json; charset=utf-8"
    assert read_rest_request(_body(sender="a", message="   "), charset).text == "   "
    assert read_rest_request(_body(sender="a", message="ok"), "application/vnd.x+json").text
    nul = read_rest_request(_body(sender="a", message="bon\x00jour\x1b[31m\r\n"), JSON)
    assert nul.text == "bon jour [31m \n"
    assert read_rest_request(_body(sender="a", message="x\ud800y"), JSON).text == "x\ufffdy"
    assert not hasattr(read, "metadata")


def test_clean_text_keeps_what_people_write() -> None:
    text = "Où est la déchèterie ?\n\t- Balma 🙂 « merci » € ’"
    assert clean_text(text) == text


WEB_REFUSED: dict[str, tuple[bytes, int, str]] = {
    "empty body": (b"", 400, BAD_REQUEST),
    "null": (b"null", 400, BAD_REQUEST),
    "array": (b"[]", 400, BAD_REQUEST),
    "nested 5,000 deep": (DEEP, 400, BAD_REQUEST),
    "invalid UTF-8": (b'{"conversation": "c", "text": "\xff"}', 400, BAD_REQUEST),
    "text missing": (_body(conversation="c"), 400, BAD_REQUEST),
    "text a number": (_body(conversation="c", text=1), 400, BAD_REQUEST),
    "1,001 characters": (_body(conversation="c", text="é" * 1001), 413, TOO_LONG),
    "20 KB body": (_body(conversation="c", text="x", pad="p" * 20_000), 413, TOO_LONG),
}


@pytest.mark.parametrize("case", WEB_REFUSED)
def test_web_request_refused_with_status_and_french_text(case: str) -> None:
    body, status, text = WEB_REFUSED[case]
    with pytest.raises(Refused) as refused:
        read_web_request(body)
    assert (refused.value.status, refused.value.text) == (status, text)


def test_web_request_keeps_the_token_for_the_channel_to_verify() -> None:
    read = read_web_request(_body(conversation=["forged"], text="bonjour\x00"))
    assert read.conversation == ["forged"] and read.text == "bonjour "


# -- the rate limiter, pure -----------------------------------------------------------


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_one_call_per_interval() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = buckets.take("a")
    assert wait == pytest.approx(20.0)
    assert retry_after_seconds(wait) == 20
    assert buckets.take("b") == 0.0  # another key is not affected
    clock.now += 19.0
    assert buckets.take("a") == pytest.approx(1.0)
    clock.now += 1.0
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0.0


def test_idle_buckets_are_forgotten_and_memory_is_bounded() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=60, clock=clock, max_keys=100)
    for n in range(1000):
        buckets.take(f"conversation-{n}")
    assert len(buckets) == 100
    clock.now += 61.0
    buckets.take("new")
    assert len(buckets) == 1


def test_a_limit_of_zero_is_off() -> None:
    buckets = TokenBuckets(per_minute=0, clock=Clock())
    assert all(buckets.take("a") == 0.0 for _ in range(1000))
    assert len(buckets) == 0


def test_retry_after_is_a_whole_number_of_seconds_at_least_one() -> None:
    assert [retry_after_seconds(w) for w in (0.01, 1.0, 1.2, 59.9)] == [1, 1, 2, 60]


def test_an_ipv6_client_is_one_address_for_its_whole_network() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("[2001:db8::1]") == "2001:db8::/64"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("inconnue") == "inconnue"


def test_web_limits_per_conversation_and_per_address() -> None:
    clock = Clock()
    limits = RateLimits(
        messages_per_minute=2,
        conversations_per_minute_per_address=1,
        requests_per_minute_per_address=5,
    )
    limiter = WebRateLimiter(limits, clock=clock)
    assert limiter.new_conversation("192.0.2.1") == 0.0
    assert limiter.new_conversation("192.0.2.1") > 0.0
    assert limiter.new_conversation("192.0.2.2") == 0.0
    assert [limiter.message("web-a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.message("web-a") == pytest.approx(30.0)
    assert limiter.message("web-b") == 0.0
    assert [limiter.request("192.0.2.1") for _ in range(5)] == [0.0] * 5
    assert limiter.request("192.0.2.1") > 0.0
    assert limiter.request("192.0.2.3") == 0.0


def test_limits_come_from_credentials_then_the_environment(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert RateLimits.from_config(None, {}) == RateLimits()
    configured = {"messages_per_minute": 5, "requests_per_minute_per_address": 0}
    limits = RateLimits.from_config(configured, {"BOT_WEB_MESSAGES_PER_MINUTE": "7"})
    assert limits == RateLimits(messages_per_minute=7, requests_per_minute_per_address=0)

    caplog.set_level(logging.WARNING)
    bad = {"messages_per_minute": "beaucoup", "conversation_per_minute": 3}
    limits = RateLimits.from_config(bad, {"BOT_WEB_REQUESTS_PER_MINUTE_PER_ADDRESS": "-1"})
    assert limits == RateLimits()
    assert (
        "rate_limits.messages_per_minute : « beaucoup » n'est pas un nombre entier" in caplog.text
    )
    assert "« conversation_per_minute » n'est pas une limite connue" in caplog.text
    assert "BOT_WEB_REQUESTS_PER_MINUTE_PER_ADDRESS : « -1 »" in caplog.text
    assert RateLimits.from_config(["messages_per_minute"], {}) == RateLimits()


def test_credentials_file_configures_both_channels() -> None:
    credentials = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8"))
    assert "rest" not in credentials  # Rasa's own REST channel is replaced, not doubled
    assert RestChannel.name() == "rest"
    assert "bot.channels.rest.RestChannel" in credentials
    web = credentials["bot.channels.web.channel.WebChannel"]
    assert RateLimits.from_config(web["rate_limits"], {}) == RateLimits()


# -- one turn through a failing Rasa -------------------------------------------------


async def _says(message: UserMessage) -> None:
    await message.output_channel.send_text_message(message.sender_id, f"reçu : {message.text}")


async def _raises(message: UserMessage) -> None:
    raise RuntimeError(f"database is locked while storing {message.text}")


async def _times_out(message: UserMessage) -> None:
    raise asyncio.TimeoutError


async def _cancelled(message: UserMessage) -> None:
    raise asyncio.CancelledError


async def _silent(message: UserMessage) -> None:
    return None


FAULTS: dict[str, Callable[[UserMessage], Awaitable[None]]] = {
    "exception": _raises,
    "timeout": _times_out,
    "cancelled": _cancelled,
    "no reply": _silent,
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_failed_turn_is_none_and_logs_no_text(
    fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sender = "jeanne.dupont@example.fr"
    replies = asyncio.run(run_turn(FAULTS[fault], sender, SECRET_WORDS, "rest"))
    assert replies is None
    assert SECRET_WORDS not in caplog.text and sender not in caplog.text
    assert log_id(sender) in caplog.text


def test_a_turn_passes_no_client_metadata() -> None:
    seen: list[UserMessage] = []

    async def handler(message: UserMessage) -> None:
        seen.append(message)
        await _says(message)

    replies = asyncio.run(run_turn(handler, "web-1", "bonjour", "web"))
    assert replies == [{"recipient_id": "web-1", "text": "reçu : bonjour"}]
    assert seen[0].metadata is None and seen[0].input_channel == "web"


def test_log_ids_hide_what_a_client_chose() -> None:
    assert log_id("web-674f1c2a-Qx3abcdefghij") == "web-674f1c2a-Qx3"
    assert log_id("tg-0123456789abcdef0123") == "tg-0123456789abc"
    assert "0612" not in log_id("0612345678") and log_id("0612345678").startswith("h-")


# -- the channels in process, with a stand-in for Rasa ----------------------------------


class StandInRasa:
    """What Rasa's `on_new_message` does for the channels, switchable to each fault."""

    def __init__(self) -> None:
        self.fault: str | None = None
        self.received: list[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        if self.fault is not None:
            await FAULTS[self.fault](message)
        else:
            await _says(message)


@contextlib.asynccontextmanager
async def channels_served(
    rasa: StandInRasa, web: WebChannel | None = None
) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    """The REST and web channels in an in-process Sanic server; yields its base URL and a client."""
    # Test mode lets Sanic set up a second app in the same process (its code
    # rewriting at start, "touchup", otherwise fails the second time).
    Sanic.test_mode = True
    app = Sanic(f"channels-{uuid.uuid4().hex}")
    app.blueprint(RestChannel().blueprint(rasa), url_prefix="/webhooks/rest")
    app.blueprint((web or WebChannel()).blueprint(rasa), url_prefix="/webhooks/web")
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    assert server is not None
    await server.startup()
    try:
        async with aiohttp.ClientSession() as session:
            yield f"http://127.0.0.1:{port}/webhooks", session
    finally:
        server.close()
        await server.wait_closed()


async def _post(
    session: aiohttp.ClientSession, url: str, body: bytes, content_type: str = JSON
) -> tuple[int, Any, Any]:
    async with session.post(url, data=body, headers={"Content-Type": content_type}) as response:
        return response.status, await response.json(content_type=None), response.headers


def test_rest_faults_are_503_with_the_french_unavailable_text() -> None:
    async def scenario() -> list[tuple[int, Any]]:
        rasa = StandInRasa()
        seen = []
        async with channels_served(rasa) as (base, session):
            for fault in [*FAULTS, None]:
                rasa.fault = fault
                status, body, _ = await _post(
                    session, f"{base}/rest/webhook", _body(sender="tg-42", message="bonjour")
                )
                seen.append((status, body))
        return seen

    *faults, recovered = asyncio.run(scenario())
    unavailable = [{"recipient_id": "tg-42", "text": UNAVAILABLE}]
    assert faults == [(503, unavailable)] * len(FAULTS)
    assert recovered == (200, [{"recipient_id": "tg-42", "text": "reçu : bonjour"}])


def test_web_faults_are_503_with_the_french_unavailable_text() -> None:
    async def scenario() -> list[tuple[int, Any]]:
        rasa = StandInRasa()
        seen = []
        async with channels_served(rasa) as (base, session):
            _, started, _ = await _post(session, f"{base}/web/conversations", b"")
            token = started["conversation"]
            for fault in [*FAULTS, None]:
                rasa.fault = fault
                status, body, _ = await _post(
                    session, f"{base}/web/messages", _body(conversation=token, text="bonjour")
                )
                seen.append((status, body))
        return seen

    *faults, recovered = asyncio.run(scenario())
    assert faults == [(503, {"erreur": UNAVAILABLE})] * len(FAULTS)
    assert recovered == (200, {"messages": [{"text": "reçu : bonjour", "buttons": []}]})


def test_refused_requests_never_reach_rasa_and_a_long_body_is_not_read_whole() -> None:
    async def scenario() -> tuple[list[int], StandInRasa]:
        rasa = StandInRasa()
        statuses = []
        async with channels_served(rasa) as (base, session):

            async def chunks() -> AsyncIterator[bytes]:
                yield b'{"sender": "a", "message": "'
                for _ in range(1000):  # 10 MB, sent without a Content-Length
                    yield b"a" * 10_000
                yield b'"}'

            async with session.post(f"{base}/rest/webhook", data=chunks()) as response:
                statuses.append(response.status)
                assert (await response.json())["erreur"] == TOO_LONG
            for body, content_type, _, _ in REST_REFUSED.values():
                status, _, _ = await _post(
                    session, f"{base}/rest/webhook", body, content_type or JSON
                )
                statuses.append(status)
        return statuses, rasa

    statuses, rasa = asyncio.run(scenario())
    assert statuses[0] == 413 and set(statuses[1:]) <= {400, 413}
    assert rasa.received == []


def test_rate_limit_on_one_conversation_leaves_the_others_alone() -> None:
    clock = Clock()
    limits = RateLimits(messages_per_minute=2, conversations_per_minute_per_address=2)
    web = WebChannel(ids=ConversationIds(b"k" * 32), limiter=WebRateLimiter(limits, clock=clock))

    async def scenario() -> dict[str, Any]:
        rasa = StandInRasa()
        async with channels_served(rasa, web) as (base, session):
            tokens = []
            for _ in range(2):
                _, started, _ = await _post(session, f"{base}/web/conversations", b"")
                tokens.append(started["conversation"])
            first, other = tokens

            async def say(token: str, text: str) -> tuple[int, Any, Any]:
                body = _body(conversation=token, text=text)
                return await _post(session, f"{base}/web/messages", body, "text/plain")

            answered = [await say(first, f"question {n}") for n in range(2)]
            limited = await say(first, "question 3")
            other_answered = await say(other, "autre conversation")
            clock.now += 30.0
            later = await say(first, "question 3")
            starts = [await _post(session, f"{base}/web/conversations", b"") for _ in range(2)]
            return {
                "answered": [s for s, _, _ in answered],
                "limited": limited,
                "other": other_answered[:2],
                "later": later[:2],
                "starts": [s for s, _, _ in starts],
                "received": [m.text for m in rasa.received],
            }

    seen = asyncio.run(scenario())
    assert seen["answered"] == [200, 200]
    status, body, headers = seen["limited"]
    assert (status, body) == (429, {"erreur": RATE_LIMITED})
    assert headers["Retry-After"] == "30"
    assert seen["other"] == (
        200,
        {"messages": [{"text": "reçu : autre conversation", "buttons": []}]},
    )
    assert seen["later"][0] == 200
    # Two conversations a minute per address: 30 s later, room for one more, not two.
    assert seen["starts"] == [201, 429]
    assert seen["received"] == [
        "question 0",
        "question 1",
        "autre conversation",
        "question 3",
    ]


def test_requests_per_address_limit_covers_both_routes() -> None:
    limits = RateLimits(requests_per_minute_per_address=3)
    web = WebChannel(limiter=WebRateLimiter(limits, clock=Clock()))

    async def scenario() -> list[int]:
        async with channels_served(StandInRasa(), web) as (base, session):
            statuses = [(await _post(session, f"{base}/web/conversations", b""))[0]]
            for _ in range(3):
                status, _, _ = await _post(session, f"{base}/web/messages", b"[]")
                statuses.append(status)
            async with session.get(f"{base}/web/") as health:
                statuses.append(health.status)
            return statuses

    # Two refused messages (400) count, the fourth request waits; health is never limited.
    assert asyncio.run(scenario()) == [201, 400, 400, 429, 200]


def test_other_methods_get_a_french_405() -> None:
    async def scenario() -> list[tuple[int, Any, str | None]]:
        seen = []
        async with channels_served(StandInRasa()) as (base, session):
            for method, path in (
                ("GET", "/rest/webhook"),
                ("PUT", "/rest/webhook"),
                ("GET", "/web/messages"),
                ("DELETE", "/web/conversations"),
            ):
                async with session.request(method, base + path) as response:
                    seen.append((response.status, await response.json(), response.headers["Allow"]))
            async with session.get(f"{base}/rest/") as response:
                seen.append((response.status, await response.json(), None))
        return seen

    *refused, health = asyncio.run(scenario())
    assert refused == [(405, {"erreur": BAD_METHOD}, "POST")] * 4
    assert health == (200, {"status": "ok"}, None)


# -- the REST channel of the real Rasa server ---------------------------------------------


def _rest(
    bot: RunningBot, body: bytes, content_type: str | None = JSON, method: str = "POST"
) -> tuple[int, Any]:
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(
        bot.processes.rest_url, data=body or None, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _events(bot: RunningBot, sender: str) -> list[str]:
    with sqlite3.connect(bot.database) as connection:
        rows = connection.execute(
            "SELECT data FROM events WHERE sender_id = ? ORDER BY id", (sender,)
        ).fetchall()
    return [str(data) for (data,) in rows]


@pytest.mark.servers
def test_rest_bad_requests_get_french_4xx_and_the_conversation_goes_on(
    running_bot: RunningBot,
) -> None:
    conversation = running_bot.conversation()
    assert "Colomiers" in conversation.text("horaires de la mairie de colomiers")
    stored = len(_events(running_bot, conversation.sender))
    default_before = len(_events(running_bot, "default"))

    seen = {}
    for case, (body, content_type, _, _) in REST_REFUSED.items():
        # The same conversation's id wherever the request names one.
        body = body.replace(b'"sender": "a"', f'"sender": "{conversation.sender}"'.encode())
        seen[case] = _rest(running_bot, body, content_type)
    seen["GET on the webhook"] = _rest(running_bot, b"", None, method="GET")

    expected = {
        case: (status, {"erreur": text}) for case, (_, _, status, text) in REST_REFUSED.items()
    }
    expected["GET on the webhook"] = (405, {"erreur": BAD_METHOD})
    assert seen == expected
    # Nothing was stored, no one shares a "default" conversation, and the context is intact.
    assert len(_events(running_bot, conversation.sender)) == stored
    assert len(_events(running_bot, "default")) == default_before
    assert "Colomiers" in conversation.text("et la collecte des déchets ?")


@pytest.mark.servers
def test_rest_odd_but_valid_messages_are_answered(running_bot: RunningBot) -> None:
    conversation = running_bot.conversation()
    sender = conversation.sender

    def reply(message: str, **extra: Any) -> tuple[int, Any]:
        return _rest(running_bot, _body(sender=sender, message=message, **extra))

    for message in ("bonjour\x00\x00", "x\ud800y", "   ", "bonjour " * 125):
        assert len(message) <= MAX_MESSAGE_CHARS
        status, replies = reply(message)
        assert status == 200, message
        assert replies and all(r["recipient_id"] == sender for r in replies), message
        assert any(r.get("text") for r in replies), message

    status, replies = reply("bonjour", metadata={"secret": SECRET_WORDS}, input_channel="web")
    assert status == 200 and replies
    events = _events(running_bot, sender)
    assert not [e for e in events if SECRET_WORDS in e]
    assert not [e for e in events if '"input_channel": "web"' in e]
    assert all("\x00" not in e and "\\u0000" not in e for e in events)


@pytest.mark.servers
def test_rest_health_route_is_kept(running_bot: RunningBot) -> None:
    url = f"http://127.0.0.1:{running_bot.processes.rasa_port}/webhooks/rest/"
    with urllib.request.urlopen(url, timeout=30) as response:
        assert json.loads(response.read()) == {"status": "ok"}
