"""The web widget's channel (bot/channels/web/channel.py): its routes in-process, then one conversation through the real Rasa.

In-process, the channel's Sanic routes run with a stand-in for Rasa
(tests/support/channels.py): signed conversations, allowed sites, bad bodies,
rate limits, a failing or silent Rasa, the widget's files. Then the session's
real Rasa server, which mounts this channel from credentials.yml: a
conversation keeps its commune while forged ids and bad bodies are refused,
and nothing they carried is stored. The browser tests are in test_widget.py.

Run alone: .venv/bin/python -m pytest tests/channels/web/test_channel.py -q
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.error
import urllib.request
from typing import Any

import pytest
import yaml

from bot.channels.ratelimit import RateLimits, WebRateLimiter
from bot.channels.texts import BAD_METHOD, RATE_LIMITED, UNAVAILABLE
from bot.channels.web.channel import (
    ERROR_CONVERSATION,
    ERROR_ORIGIN,
    WebChannel,
    public_messages,
)
from bot.channels.web.conversations import SECRET_ENV, SignedConversationIds
from bot.channels.web.origins import ORIGINS_ENV
from bot.paths import PROJECT_ROOT
from tests.support import RunningBot
from tests.support.bad_requests import WEB_REFUSED, body
from tests.support.channels import FAULTS, ChannelsClient, StandInRasa, channels_served
from tests.support.clocks import ManualClock

TEXT = "text/plain;charset=UTF-8"  # what the widget sends: no CORS preflight
CITY_ORIGIN = "https://www.toulouse-metropole.fr"  # allowed in credentials.yml
OTHER_ORIGIN = "https://site-tiers.example"  # allowed nowhere
WEB_CREDENTIALS = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8"))[
    "bot.channels.web.channel.WebChannel"
]


async def _start(client: ChannelsClient, origin: str | None = None) -> tuple[int, Any, Any]:
    return await client.post("/web/conversations", b"", TEXT, origin=origin)


async def _say(
    client: ChannelsClient, token: object, text: str, origin: str | None = None
) -> tuple[int, Any, Any]:
    return await client.post(
        "/web/messages", body(conversation=token, text=text), TEXT, origin=origin
    )


def test_feedback_buttons_are_marked_so_the_widget_shows_them_under_the_answer() -> None:
    yes = '/avis_positif{"sujet_avis": "velo"}'
    no = '/avis_negatif{"sujet_avis": "velo"}'
    shown = public_messages(
        [
            {"text": "À vélo…", "buttons": [{"title": "Vélo", "payload": "/velo"}]},
            {
                "text": "Cette réponse vous a-t-elle aidé ?",
                "buttons": [
                    {"title": "Oui, merci", "payload": yes},
                    {"title": "Non, pas vraiment", "payload": no},
                ],
            },
            # Look-alikes are ordinary buttons.
            {"text": "", "buttons": [{"title": "a", "payload": "/avis_positifs"}]},
            {"text": "", "buttons": [{"title": "b", "payload": "avis_negatif"}]},
        ]
    )
    assert shown == [
        {"text": "À vélo…", "buttons": [{"title": "Vélo", "payload": "/velo"}]},
        {
            "text": "Cette réponse vous a-t-elle aidé ?",
            "buttons": [
                {"title": "Oui, merci", "payload": yes, "feedback": "yes"},
                {"title": "Non, pas vraiment", "payload": no, "feedback": "no"},
            ],
        },
        {"text": "", "buttons": [{"title": "a", "payload": "/avis_positifs"}]},
        {"text": "", "buttons": [{"title": "b", "payload": "avis_negatif"}]},
    ]


# -- in-process, with a stand-in for Rasa ----------------------------------------------


def test_a_conversation_is_issued_then_answered_without_cookies() -> None:
    async def scenario() -> tuple[tuple[int, Any, Any], tuple[int, Any, Any], StandInRasa]:
        rasa = StandInRasa()
        async with channels_served(rasa) as client:
            started = await _start(client)
            answered = await _say(client, started[1]["conversation"], "bonjour")
        return started, answered, rasa

    (status, started, headers), (answer_status, answer, answer_headers), rasa = asyncio.run(
        scenario()
    )
    assert status == 201 and "Set-Cookie" not in headers
    assert headers["Cache-Control"] == "no-store"
    assert (answer_status, answer) == (
        200,
        {"messages": [{"text": "reçu : bonjour", "buttons": []}]},
    )
    assert "Set-Cookie" not in answer_headers
    # The sender Rasa sees is the signed id, without its signature.
    assert [m.sender_id for m in rasa.received] == [started["conversation"].rsplit(".", 1)[0]]
    assert all(m.input_channel == "web" and m.metadata is None for m in rasa.received)


def test_forged_or_foreign_conversation_ids_are_refused_before_rasa() -> None:
    async def scenario() -> tuple[dict[str, tuple[int, Any]], StandInRasa]:
        rasa = StandInRasa()
        async with channels_served(rasa) as client:
            _, started, _ = await _start(client)
            token = started["conversation"]
            sender, signature = token.rsplit(".", 1)
            guessed = sender[:-1] + ("A" if sender[-1] != "A" else "B")
            forged = {
                "a REST conversation's id": "test-0123456789ab",
                "a guessed id with a real signature": f"{guessed}.{signature}",
                "a real id with a made-up signature": f"{sender}.{'A' * len(signature)}",
                "a token from another server": SignedConversationIds(b"x" * 32).issue(),
                "no id at all": None,
                "an id that is not text": ["forged"],
            }
            seen = {}
            for case, conversation in forged.items():
                status, reply, _ = await _say(client, conversation, "je lis ta conversation")
                seen[case] = (status, reply)
        return seen, rasa

    seen, rasa = asyncio.run(scenario())
    assert seen == {case: (401, {"erreur": ERROR_CONVERSATION}) for case in seen}
    assert rasa.received == []


def test_every_bad_body_gets_its_status_and_french_text_and_never_reaches_rasa() -> None:
    async def scenario() -> tuple[dict[str, tuple[int, Any]], StandInRasa, tuple[int, Any, Any]]:
        rasa = StandInRasa()
        seen: dict[str, tuple[int, Any]] = {}
        async with channels_served(rasa) as client:
            _, started, _ = await _start(client)
            token = started["conversation"]
            for case, (data, _, _) in WEB_REFUSED.items():
                # The conversation's real token wherever the body names one.
                data = data.replace(b'"conversation": "c"', f'"conversation": "{token}"'.encode())
                status, reply, _ = await client.post("/web/messages", data, TEXT)
                seen[case] = (status, reply)
            for path in ("messages", "conversations"):
                status, raw, headers = await client.request("GET", f"/web/{path}")
                seen[f"GET /{path}"] = (status, (json.loads(raw), headers["Allow"]))
            after = await _say(client, token, "toujours là ?")
        return seen, rasa, after

    seen, rasa, after = asyncio.run(scenario())
    expected: dict[str, tuple[int, Any]] = {
        case: (status, {"erreur": text}) for case, (_, status, text) in WEB_REFUSED.items()
    }
    for path in ("messages", "conversations"):
        expected[f"GET /{path}"] = (405, ({"erreur": BAD_METHOD}, "POST"))
    assert seen == expected
    assert rasa.texts == ["toujours là ?"] and after[0] == 200


def test_rasa_failing_silent_or_showing_nothing_is_a_503_in_french() -> None:
    async def scenario() -> list[tuple[int, Any]]:
        rasa = StandInRasa()
        seen = []
        async with channels_served(rasa) as client:
            _, started, _ = await _start(client)
            token = started["conversation"]
            for fault in [*FAULTS, None]:
                rasa.fault = fault
                seen.append((await _say(client, token, "bonjour"))[:2])
            rasa.answer_with_an_image_only()
            seen.append((await _say(client, token, "une image ?"))[:2])
        return seen

    *faults, recovered, image_only = asyncio.run(scenario())
    assert faults == [(503, {"erreur": UNAVAILABLE})] * len(FAULTS)
    assert recovered == (200, {"messages": [{"text": "reçu : bonjour", "buttons": []}]})
    assert image_only == (503, {"erreur": UNAVAILABLE})


def test_only_the_bot_itself_and_the_sites_of_credentials_are_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_ENV, "s" * 40)  # not the project's var/web-secret
    monkeypatch.delenv(ORIGINS_ENV, raising=False)
    web = WebChannel.from_credentials(WEB_CREDENTIALS)

    async def scenario() -> dict[str, tuple[int, Any, Any]]:
        rasa = StandInRasa()
        async with channels_served(rasa, web) as client:
            seen = {
                "other site starts": await _start(client, OTHER_ORIGIN),
                "city starts": await _start(client, CITY_ORIGIN),
            }
            token = seen["city starts"][1]["conversation"]
            seen["other site, valid conversation"] = await _say(client, token, "x", OTHER_ORIGIN)
            seen["the bot's own pages"] = await _say(client, token, "x", f"http://{client.host}")
            seen["sandboxed frame"] = await _say(client, token, "x", "null")
            assert rasa.texts == ["x"]
        return seen

    seen = asyncio.run(scenario())
    status, reply, headers = seen["other site starts"]
    assert (status, reply) == (403, {"erreur": ERROR_ORIGIN})
    assert ERROR_ORIGIN == "Ce site n'est pas autorisé à utiliser l'assistant."
    # Readable by that site, so the widget can say why; nothing else is.
    assert headers["Access-Control-Allow-Origin"] == OTHER_ORIGIN
    status, _, headers = seen["city starts"]
    assert status == 201
    assert headers["Access-Control-Allow-Origin"] == CITY_ORIGIN
    assert headers["Vary"] == "Origin"
    # A valid conversation does not let another site in.
    status, _, headers = seen["other site, valid conversation"]
    assert status == 403
    status, reply, headers = seen["the bot's own pages"]
    assert status == 200 and reply["messages"] and "Set-Cookie" not in headers
    assert seen["sandboxed frame"][0] == 403


def test_rate_limit_on_one_conversation_leaves_the_others_alone() -> None:
    clock = ManualClock()
    limits = RateLimits(messages_per_minute=2, conversations_per_minute_per_address=2)
    web = WebChannel(
        ids=SignedConversationIds(b"k" * 32), limiter=WebRateLimiter(limits, clock=clock)
    )

    async def scenario() -> dict[str, Any]:
        rasa = StandInRasa()
        async with channels_served(rasa, web) as client:
            tokens = [(await _start(client))[1]["conversation"] for _ in range(2)]
            first, other = tokens
            answered = [await _say(client, first, f"question {n}") for n in range(2)]
            limited = await _say(client, first, "question 3")
            other_answered = await _say(client, other, "autre conversation")
            clock.now += 30.0
            later = await _say(client, first, "question 3")
            starts = [await _start(client) for _ in range(2)]
            return {
                "answered": [s for s, _, _ in answered],
                "limited": limited,
                "other": other_answered[:2],
                "later": later[:2],
                "starts": [s for s, _, _ in starts],
                "received": rasa.texts,
            }

    seen = asyncio.run(scenario())
    assert seen["answered"] == [200, 200]
    status, reply, headers = seen["limited"]
    assert (status, reply) == (429, {"erreur": RATE_LIMITED})
    assert headers["Retry-After"] == "30"
    assert seen["other"] == (
        200,
        {"messages": [{"text": "reçu : autre conversation", "buttons": []}]},
    )
    assert seen["later"][0] == 200
    # Two conversations a minute per address: 30 s later, room for one more, not two.
    assert seen["starts"] == [201, 429]
    assert seen["received"] == ["question 0", "question 1", "autre conversation", "question 3"]


def test_requests_per_address_limit_covers_both_routes() -> None:
    limits = RateLimits(requests_per_minute_per_address=3)
    web = WebChannel(
        ids=SignedConversationIds(b"k" * 32), limiter=WebRateLimiter(limits, clock=ManualClock())
    )

    async def scenario() -> list[int]:
        async with channels_served(StandInRasa(), web) as client:
            statuses = [(await _start(client))[0]]
            for _ in range(3):
                statuses.append((await client.post("/web/messages", b"[]", TEXT))[0])
            statuses.append((await client.request("GET", "/web/"))[0])
            return statuses

    # Two refused messages (400) count, the fourth request waits; health is never limited.
    assert asyncio.run(scenario()) == [201, 400, 400, 429, 200]


def test_the_widget_files_are_served_with_their_cache_and_security_headers() -> None:
    async def scenario() -> dict[str, tuple[int, bytes, Any]]:
        async with channels_served(StandInRasa()) as client:
            script = await client.request("GET", "/web/widget.js")
            etag = script[2]["ETag"]
            return {
                "widget.js": script,
                "unchanged": await client.request(
                    "GET", "/web/widget.js", headers={"If-None-Match": etag}
                ),
                "demo": await client.request("GET", "/web/demo"),
            }

    seen = asyncio.run(scenario())
    status, script, headers = seen["widget.js"]
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert b"innerHTML" not in script
    assert seen["unchanged"][0] == 304
    status, page, headers = seen["demo"]
    assert status == 200 and "default-src 'self'" in headers["Content-Security-Policy"]
    assert 'src="/webhooks/web/widget.js"' in page.decode()


def test_credentials_file_configures_the_default_limits() -> None:
    assert RateLimits.from_config(WEB_CREDENTIALS["rate_limits"], {}) == RateLimits()
    assert CITY_ORIGIN in WEB_CREDENTIALS["allowed_origins"]


# -- the real Rasa server ------------------------------------------------------------------


def _post(url: str, data: bytes) -> tuple[int, Any, Any]:
    request = urllib.request.Request(
        url, data=data or None, headers={"Content-Type": TEXT}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers


def _events(bot: RunningBot, sender: str) -> int:
    with sqlite3.connect(bot.database) as connection:
        (count,) = connection.execute(
            "SELECT count(*) FROM events WHERE sender_id = ?", (sender,)
        ).fetchone()
    return int(count)


@pytest.mark.servers
def test_a_conversation_keeps_its_commune_while_forged_ids_and_bad_bodies_are_refused(
    running_bot: RunningBot,
) -> None:
    api = f"http://127.0.0.1:{running_bot.processes.rasa_port}/webhooks/web"
    status, started, headers = _post(f"{api}/conversations", b"")
    assert status == 201 and "Set-Cookie" not in headers
    token = started["conversation"]
    sender, signature = token.rsplit(".", 1)

    def say(conversation: object, text: str) -> tuple[int, Any]:
        status, reply, _ = _post(f"{api}/messages", body(conversation=conversation, text=text))
        return status, reply

    status, reply = say(token, "horaires de la mairie de colomiers")
    assert status == 200 and "Colomiers" in reply["messages"][0]["text"]
    stored = _events(running_bot, sender)

    rest = running_bot.conversation()
    rest.send("bonjour")
    rest_events = _events(running_bot, rest.sender)
    guessed = sender[:-1] + ("A" if sender[-1] != "A" else "B")
    for conversation in (rest.sender, f"{guessed}.{signature}"):
        assert say(conversation, "je lis ta conversation") == (401, {"erreur": ERROR_CONVERSATION})
    for case in ("invalid UTF-8", "text a number", "1 MB body"):
        data, status, text = WEB_REFUSED[case]
        data = data.replace(b'"conversation": "c"', f'"conversation": "{token}"'.encode())
        assert _post(f"{api}/messages", data)[:2] == (status, {"erreur": text}), case

    assert _events(running_bot, rest.sender) == rest_events
    assert _events(running_bot, guessed) == 0
    assert _events(running_bot, sender) == stored
    status, reply = say(token, "et la collecte des déchets ?")
    assert status == 200 and "Colomiers" in reply["messages"][0]["text"]
