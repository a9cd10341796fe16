"""The checks every request body passes before a channel gives its text to Rasa (bot/channels/validation.py), pure.

Each refusal carries its status and French text. The tables of bad bodies
(tests/support/bad_requests.py) are sent over HTTP too, to the channels served
in-process (test_rest.py, web/test_channel.py).
"""

from __future__ import annotations

import pytest

from bot.channels.texts import MAX_MESSAGE_CHARS
from bot.channels.validation import Refused, clean_text, read_rest_request, read_web_request
from tests.support.bad_requests import JSON, REST_REFUSED, WEB_REFUSED, body


@pytest.mark.parametrize("case", REST_REFUSED)
def test_rest_request_refused_with_status_and_french_text(case: str) -> None:
    data, content_type, status, text = REST_REFUSED[case]
    with pytest.raises(Refused) as refused:
        read_rest_request(data, content_type)
    assert (refused.value.status, refused.value.text) == (status, text)
    assert "Requête invalide" in text or "trop long" in text


def test_rest_request_accepted_cleaned_and_stripped_of_client_metadata() -> None:
    read = read_rest_request(
        body(sender="tg-1", message="a" * MAX_MESSAGE_CHARS, metadata={"x": 1}), JSON
    )
    assert (read.sender, read.text) == ("tg-1", "a" * MAX_MESSAGE_CHARS)
    assert read_rest_request(body(sender="a", message="🙂" * 1000), JSON).text == "🙂" * 1000
    assert read_rest_request(body(sender="a", message=""), None).text == ""
    charset = "application/json; charset=utf-8"
    assert read_rest_request(body(sender="a", message="   "), charset).text == "   "
    assert read_rest_request(body(sender="a", message="ok"), "application/vnd.x+json").text
    nul = read_rest_request(body(sender="a", message="bon\x00jour\x1b[31m\r\n"), JSON)
    assert nul.text == "bon jour [31m \n"
    assert read_rest_request(body(sender="a", message="x\ud800y"), JSON).text == "x\ufffdy"
    assert not hasattr(read, "metadata")


def test_clean_text_keeps_what_people_write() -> None:
    text = "Où est la déchèterie ?\n\t- Balma 🙂 « merci » € ’"
    assert clean_text(text) == text


@pytest.mark.parametrize("case", WEB_REFUSED)
def test_web_request_refused_with_status_and_french_text(case: str) -> None:
    data, status, text = WEB_REFUSED[case]
    with pytest.raises(Refused) as refused:
        read_web_request(data)
    assert (refused.value.status, refused.value.text) == (status, text)


def test_web_request_keeps_the_token_for_the_channel_to_verify() -> None:
    read = read_web_request(body(conversation=["forged"], text="bonjour\x00"))
    assert read.conversation == ["forged"] and read.text == "bonjour "
