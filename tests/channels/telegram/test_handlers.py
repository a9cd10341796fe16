"""What the bridge answers to each kind of update (bot/channels/telegram/handlers.py), in-process.

The bridge's real `Application` gets hand-built updates through
`application.process_update`; the Bot API and Rasa are in memory
(tests/support/telegram.py), so each test says what a resident would read
and what Rasa was sent. What Rasa itself answers is tested against the real
servers (test_app.py, tests/e2e/, tests/rasa_plugins/test_patches.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from bot.channels.telegram import RasaButton, RasaClient, RasaReply
from bot.channels.telegram.handlers import (
    BUTTON_EXPIRED,
    EDITED,
    PRIVATE_ONLY,
    TELEGRAM_HELP,
    TEXT_ONLY,
    UNKNOWN_COMMAND,
    WELCOME,
)
from bot.channels.texts import MAX_MESSAGE_CHARS, TOO_LONG, UNAVAILABLE
from tests.support.telegram import (
    BOT_USERNAME,
    InProcessBridge,
    RasaStandIn,
    bridge_in_process,
    conversation_of,
    rest_channel_answering,
)

T = TypeVar("T")

CHAT = 555000111
HELP = RasaReply(
    "Je peux vous renseigner sur les transports, la collecte des déchets et vos démarches.",
    (
        RasaButton("Transports en commun", "/transports_en_commun"),
        RasaButton("Collecte des déchets", "/collecte_dechets"),
    ),
)
HOSTILE = "Tarif < 5 € & gratuit pour les *moins* de 26 ans_ <b>x</b> [lien](y) `code` &amp; 3 > 2"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs one scenario; a stuck one fails instead of hanging the suite."""
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def _rasa_answering(*replies: RasaReply) -> RasaStandIn:
    return RasaStandIn(list(replies))


# -- commands ----------------------------------------------------------------------


def test_start_greets_then_shows_the_themes_rasa_gives_for_aide() -> None:
    async def scenario() -> InProcessBridge:
        async with bridge_in_process(_rasa_answering(HELP)) as bridge:
            await bridge.process(bridge.updates.text(CHAT, "/start"))
            return bridge

    bridge = run(scenario())
    # The help topic is asked in words: Rasa takes "/..." only from a button it offered.
    assert bridge.rasa.received == [(conversation_of(CHAT), "aide")]
    [welcome] = bridge.api.messages(CHAT)
    assert welcome.visible == f"{WELCOME}\n\n{HELP.text}"
    assert welcome.buttons == [(b.title, b.payload) for b in HELP.buttons]


@pytest.mark.parametrize("command", ["/aide", "/help"])
def test_aide_asks_rasa_for_help_and_adds_how_to_use_telegram(command: str) -> None:
    async def scenario() -> InProcessBridge:
        async with bridge_in_process(_rasa_answering(HELP)) as bridge:
            await bridge.process(bridge.updates.text(CHAT, command))
            return bridge

    bridge = run(scenario())
    assert bridge.rasa.texts == ["aide"]
    [help_message] = bridge.api.messages(CHAT)
    assert help_message.visible == f"{HELP.text}\n\n{TELEGRAM_HELP}"
    assert help_message.buttons == [(b.title, b.payload) for b in HELP.buttons]


# -- written messages ------------------------------------------------------------------


def test_a_question_goes_to_rasa_under_a_hidden_id_and_each_reply_comes_back_in_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    question = "combien la métropole investit dans la smart city ?"
    replies = [
        RasaReply("Environ 500 millions d'euros, dont 200 millions pour les transports."),
        RasaReply(
            "Pour en savoir plus :\n- Toulouse Métropole : https://www.toulouse-metropole.fr",
            (RasaButton("Oui, merci", "/avis_positif"), RasaButton("Non", "/avis_negatif")),
        ),
        RasaReply("", (RasaButton("Calendrier de la Smart City", "/smart_city_calendrier"),)),
    ]

    async def scenario() -> InProcessBridge:
        async with bridge_in_process(_rasa_answering(*replies)) as bridge:
            await bridge.process(bridge.updates.text(CHAT, question))
            return bridge

    bridge = run(scenario())
    [(sender, text)] = bridge.rasa.received
    assert (sender, text) == (conversation_of(CHAT), question)
    assert sender.startswith("tg-") and str(CHAT) not in sender
    first, second, third = bridge.api.messages(CHAT)
    assert first.visible == replies[0].text and first.buttons == []
    assert second.links == [("Toulouse Métropole", "https://www.toulouse-metropole.fr")]
    assert second.buttons == [("Oui, merci", "/avis_positif"), ("Non", "/avis_negatif")]
    # Buttons without words come under a short prompt: Telegram refuses an empty message.
    assert (third.visible, third.buttons) == (
        "Choisissez\u00a0:",
        [("Calendrier de la Smart City", "/smart_city_calendrier")],
    )
    sends = [params for method, params in bridge.api.calls if method == "sendMessage"]
    assert all(p["parse_mode"] == "HTML" for p in sends)
    assert all(p["link_preview_options"] == {"is_disabled": True} for p in sends)
    assert str(CHAT) not in caplog.text and question not in caplog.text


def test_hostile_formatting_in_an_answer_is_sent_as_written() -> None:
    async def scenario() -> InProcessBridge:
        async with bridge_in_process(_rasa_answering(RasaReply(f"{HOSTILE}\n\nSuite."))) as bridge:
            await bridge.process(bridge.updates.text(CHAT, "signaler un nid de poule"))
            return bridge

    [answer] = run(scenario()).api.messages(CHAT)
    assert answer.parse_mode == "HTML"
    assert answer.visible == f"{HOSTILE}\n\nSuite."


def test_a_6000_character_answer_arrives_split_at_paragraphs_in_order() -> None:
    sentence = "L'eau du robinet est contrôlée régulièrement par l'Agence régionale de santé. "
    paragraphs = [f"Paragraphe {n:02d} : {sentence * 4}".strip() for n in range(1, 21)]
    link = "- Eau de Toulouse Métropole : https://www.eaudetoulousemetropole.fr"
    text = "\n\n".join([*paragraphs, f"Pour en savoir plus :\n{link}"])
    assert len(text) > 6000
    buttons = (RasaButton("Oui, merci", "/avis_positif"), RasaButton("Non", "/avis_negatif"))

    async def scenario() -> InProcessBridge:
        async with bridge_in_process(_rasa_answering(RasaReply(text, buttons))) as bridge:
            await bridge.process(bridge.updates.text(CHAT, "l'eau du robinet est potable ?"))
            return bridge

    parts = run(scenario()).api.messages(CHAT)
    assert len(parts) >= 2
    assert re.findall(r"Paragraphe (\d\d)", "".join(m.visible for m in parts)) == [
        f"{n:02d}" for n in range(1, 21)
    ]
    assert all(any(p in m.visible for m in parts) for p in paragraphs)
    assert [bool(m.buttons) for m in parts] == [False] * (len(parts) - 1) + [True]
    assert parts[-1].links == [
        ("Eau de Toulouse Métropole", "https://www.eaudetoulousemetropole.fr")
    ]


def test_too_long_messages_never_reach_rasa(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    reply = RasaReply("Réponse de l'assistant.")
    longest = "é" * MAX_MESSAGE_CHARS

    async def scenario() -> InProcessBridge:
        async with bridge_in_process(_rasa_answering(reply)) as bridge:
            for text in ("🙂" * 4096, "é" * (MAX_MESSAGE_CHARS + 1), longest):
                await bridge.process(bridge.updates.text(CHAT, text))
            return bridge

    bridge = run(scenario())
    assert bridge.api.visible(CHAT) == [TOO_LONG, TOO_LONG, reply.text]
    assert bridge.rasa.texts == [longest]
    assert "🙂" not in caplog.text


def test_nul_characters_and_blank_messages_are_passed_on_and_answered() -> None:
    # The REST channel cleans them (tests/channels/test_rest.py), and the real
    # bot answers them there with the conversation's memory intact.
    async def scenario() -> InProcessBridge:
        async with bridge_in_process() as bridge:
            for text in ("bonjour\x00\x00", "     "):
                await bridge.process(bridge.updates.text(CHAT, text))
            return bridge

    bridge = run(scenario())
    assert bridge.rasa.texts == ["bonjour\x00\x00", "     "]
    assert bridge.api.visible(CHAT) == ["reçu : bonjour\x00\x00", "reçu :"]


# -- buttons ----------------------------------------------------------------------------


def test_a_pressed_button_stops_the_spinner_then_sends_its_payload() -> None:
    async def scenario() -> tuple[InProcessBridge, str]:
        async with bridge_in_process(_rasa_answering(HELP)) as bridge:
            await bridge.process(bridge.updates.text(CHAT, "/start"))
            [welcome] = bridge.api.messages(CHAT)
            press = bridge.updates.press(CHAT, welcome.buttons[0][1], on=welcome)
            await bridge.process(press)
            assert press.callback_query is not None
            return bridge, press.callback_query.id

    bridge, query_id = run(scenario())
    assert bridge.api.callback_answers == [{"callback_query_id": query_id}]
    assert bridge.rasa.texts == ["aide", "/transports_en_commun"]
    assert len(bridge.api.messages(CHAT)) == 2


def test_a_long_button_payload_from_rasa_goes_back_intact() -> None:
    payload = '/avis_negatif{"sujet_avis": "' + "smart_city_demonstrateurs_" * 4 + '"}'
    assert len(payload.encode()) > 64

    async def scenario() -> InProcessBridge:
        reply = RasaReply("Réponse utile ?", (RasaButton("Non", payload),))
        async with bridge_in_process(_rasa_answering(reply)) as bridge:
            await bridge.process(bridge.updates.text(CHAT, "bonjour"))
            [question] = bridge.api.messages(CHAT)
            [(_, data)] = question.buttons
            assert len(data.encode()) <= 64
            await bridge.process(bridge.updates.press(CHAT, data, on=question))
            return bridge

    bridge = run(scenario())
    assert bridge.rasa.texts == ["bonjour", payload]


def test_forged_or_expired_buttons_get_an_answer_and_never_a_spinner() -> None:
    group = -1001234567

    async def scenario() -> InProcessBridge:
        async with bridge_in_process() as bridge:
            updates = bridge.updates
            await bridge.process(
                # Made up by a client: Rasa reads an unoffered payload as text
                # (tests/rasa_plugins/test_patches.py).
                updates.press(CHAT, "/restart"),
                updates.press(CHAT, "#" + "0" * 40),  # a long payload's key, forgotten
                updates.press(CHAT, "pas une commande"),
                updates.press(group, "/transports_en_commun"),
            )
            await bridge.process(updates.text(CHAT, "/start"))
            return bridge

    bridge = run(scenario())
    answers = bridge.api.callback_answers
    assert len(answers) == 4 and "text" not in answers[0]
    assert [a.get("text") for a in answers[1:]] == [BUTTON_EXPIRED] * 3
    assert bridge.rasa.texts == ["/restart", "aide"]
    assert bridge.api.visible(CHAT) == ["reçu : /restart", f"{WELCOME}\n\nreçu : aide"]
    assert bridge.api.messages(group) == []


# -- everything else -------------------------------------------------------------------


def test_stickers_media_edits_and_unknown_commands_get_a_short_french_reply() -> None:
    async def scenario() -> InProcessBridge:
        async with bridge_in_process(_rasa_answering(HELP)) as bridge:
            updates = bridge.updates
            await bridge.process(
                updates.sticker(CHAT),
                updates.edited(CHAT, "quand passe la collecte ?"),
                updates.photo(CHAT),
                updates.voice(CHAT),
                updates.location(CHAT),
                updates.text(CHAT, "/velo"),
                updates.text(CHAT, "/session_start"),
                updates.text(CHAT, "/aide"),
            )
            return bridge

    bridge = run(scenario())
    assert bridge.api.visible(CHAT) == [
        TEXT_ONLY,
        EDITED,
        TEXT_ONLY,
        TEXT_ONLY,
        TEXT_ONLY,
        UNKNOWN_COMMAND,
        UNKNOWN_COMMAND,
        f"{HELP.text}\n\n{TELEGRAM_HELP}",
    ]
    assert bridge.rasa.texts == ["aide"]
    # Seven messages to one chat: spaced by the flood limiter after a short burst.
    assert bridge.time.slept == [pytest.approx(1.0)] * (len(bridge.api.sent) - 3)


def test_group_messages_are_ignored_unless_the_bot_is_addressed() -> None:
    group = -1001234567

    async def scenario() -> InProcessBridge:
        async with bridge_in_process() as bridge:
            updates = bridge.updates
            await bridge.process(
                updates.text(group, "bonjour à tous", user_id=612),
                updates.text(group, f"@{BOT_USERNAME} tu es là ?", user_id=612),
                updates.text(group, "merci", user_id=613),
                updates.text(group, "/aide", user_id=613),
                updates.sticker(group),
                updates.text(group, "et pour Balma ?", user_id=613, reply_to_bot=True),
                updates.text(group, f"/aide@{BOT_USERNAME}", user_id=614),
            )
            return bridge

    bridge = run(scenario())
    assert bridge.api.visible(group) == [PRIVATE_ONLY.format(username=BOT_USERNAME)] * 3
    assert bridge.rasa.received == []


def test_rasa_unavailable_is_said_in_french_then_the_next_message_is_answered() -> None:
    async def scenario() -> InProcessBridge:
        async with bridge_in_process(_rasa_answering(HELP)) as bridge:
            updates = bridge.updates
            bridge.rasa.down = True
            await bridge.process(
                updates.text(CHAT, "qui a gagné le prix icapital ?"),
                updates.text(CHAT, "/start"),
                updates.text(CHAT, "/aide"),
                updates.press(CHAT, "/transports_en_commun"),
            )
            bridge.rasa.down = False
            await bridge.process(updates.text(CHAT, "qui a gagné le prix icapital ?"))
            return bridge

    bridge = run(scenario())
    *down, up = bridge.api.messages(CHAT)
    assert [(m.visible, m.buttons) for m in down] == [(UNAVAILABLE, [])] * 4
    assert len(bridge.api.callback_answers) == 1  # the spinner stops all the same
    assert up.visible == HELP.text


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, f'[{{"recipient_id": "x", "text": "{UNAVAILABLE}"}}]'),
        (200, "[]"),
        (200, '[{"recipient_id": "x", "image": "https://exemple.fr/a.png"}]'),
        (400, '{"erreur": "Requête invalide"}'),
    ],
    ids=["REST channel 503", "no reply", "nothing to show", "REST channel 400"],
)
def test_a_failure_behind_the_rest_channel_is_never_silence(status: int, body: str) -> None:
    async def scenario() -> InProcessBridge:
        async with rest_channel_answering(status, body) as (url, received):
            async with bridge_in_process(rasa_client=RasaClient(url)) as bridge:
                updates = bridge.updates
                await bridge.process(updates.text(CHAT, "bonjour"), updates.text(CHAT, "/aide"))
            assert [r["message"] for r in received] == ["bonjour", "aide"]
            return bridge

    bridge = run(scenario())
    assert bridge.api.visible(CHAT) == [UNAVAILABLE, UNAVAILABLE]


def test_an_update_delivered_twice_is_answered_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    async def scenario() -> InProcessBridge:
        async with bridge_in_process() as bridge:
            question = bridge.updates.text(CHAT, "qui a gagné le prix icapital ?")
            await bridge.process(question, question, bridge.updates.text(CHAT, "merci"))
            return bridge

    bridge = run(scenario())
    assert bridge.rasa.texts == ["qui a gagné le prix icapital ?", "merci"]
    assert len(bridge.api.messages(CHAT)) == 2
    assert "reçue une seconde fois" in caplog.text


def test_flood_control_delays_the_message_which_arrives_once() -> None:
    async def scenario() -> InProcessBridge:
        async with bridge_in_process(_rasa_answering(HELP)) as bridge:
            bridge.api.flood(CHAT, retry_after=7)
            await bridge.process(bridge.updates.text(CHAT, "/aide"))
            return bridge

    bridge = run(scenario())
    assert len(bridge.api.messages(CHAT)) == 1
    assert bridge.api.refused == [("sendMessage", "Too Many Requests: retry after 7")]
    assert bridge.time.slept == [pytest.approx(7.0)]


def test_a_resident_who_blocked_the_bot_is_an_info_line_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)

    async def scenario() -> InProcessBridge:
        async with bridge_in_process() as bridge:
            bridge.api.block(CHAT)
            await bridge.process(bridge.updates.text(CHAT, "bonjour"))
            return bridge

    bridge = run(scenario())
    assert bridge.rasa.texts == ["bonjour"] and bridge.api.sent == []
    assert "l'habitant a bloqué le bot" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
