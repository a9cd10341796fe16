"""The checks every request body passes before a channel gives its text to Rasa.

Pure functions (no Rasa, no Sanic): the channels call them on the raw body,
the tests call them directly. A request that fails a check raises `Refused`,
which carries the HTTP status and the French sentence the client gets.

Order of the checks: size of the body, JSON, shape, then the message's length
(before anything else reads the message), then its characters.

Usage:
    try:
        request = read_rest_request(body, content_type)    # RestRequest(sender, text)
    except Refused as refused:
        ...                                                 # refused.status, refused.text
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bot.channels.texts import (
    BAD_JSON,
    BAD_MESSAGE,
    BAD_REQUEST,
    BAD_SENDER,
    MAX_MESSAGE_CHARS,
    MAX_SENDER_CHARS,
    NOT_JSON,
    TOO_LONG,
)

__all__ = [
    "MAX_BODY_BYTES",
    "Refused",
    "RestRequest",
    "WebRequest",
    "check_text",
    "clean_text",
    "parse_json",
    "read_rest_request",
    "read_web_request",
]

# Room for the longest message with every character escaped as JSON does by
# default (an emoji is "\ud83d\ude00", 12 bytes), plus the rest of the request.
MAX_BODY_BYTES = 16 * 1024

# Control characters other than line feed and tab: no citizen types them, and
# some tools downstream (reports, terminals, databases) choke on them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Half of a UTF-16 pair: a browser may send one when a paste cuts an emoji in
# two. It cannot be stored as UTF-8, so it becomes the replacement character.
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


class Refused(Exception):
    """A request the channel answers itself: the HTTP status and the French text for the client."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(status, text)
        self.status = status
        self.text = text


@dataclass(frozen=True)
class RestRequest:
    """A message for the REST channel: whose conversation, and what was written."""

    sender: str
    text: str


@dataclass(frozen=True)
class WebRequest:
    """A message from the web widget: its conversation token (still to verify) and its text."""

    conversation: object
    text: str


def parse_json(body: bytes, bad: str = BAD_JSON) -> Any:
    """The JSON value of `body`.

    Raises:
        Refused: 413 when the body is over `MAX_BODY_BYTES`; 400 when it is not
            JSON (empty, invalid UTF-8, nested too deep for the parser).
    """
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, TOO_LONG)
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:
        raise Refused(400, bad) from error


def clean_text(text: str) -> str:
    """`text` with control characters as spaces and halves of UTF-16 pairs as U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", _CONTROL.sub(" ", text))


def check_text(value: object, bad: str) -> str:
    """A citizen's message, checked and cleaned.

    Raises:
        Refused: 400 (`bad`) when it is not a string; 413 when it is longer than
            `MAX_MESSAGE_CHARS`, checked before the text is read any further.
    """
    if not isinstance(value, str):
        raise Refused(400, bad)
    if len(value) > MAX_MESSAGE_CHARS:
        raise Refused(413, TOO_LONG)
    return clean_text(value)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # a bare client (nc, a script) that names no type: try the body as JSON
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _valid_sender(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_SENDER_CHARS
        and bool(value.strip())
        and value.isprintable()
    )


def read_rest_request(body: bytes, content_type: str | None) -> RestRequest:
    """The sender and text of a REST channel request (`{"sender": ..., "message": ...}`).

    Anything else in the object (`metadata`, `input_channel`) is ignored: it
    would be stored with the conversation. An empty message is a message (the
    bot says it did not understand).

    Raises:
        Refused: 400 (with what to fix) or 413 (too long), in French.
    """
    if not _is_json(content_type):
        raise Refused(400, NOT_JSON)
    data = parse_json(body)
    if not isinstance(data, dict):
        raise Refused(400, BAD_JSON)
    sender = data.get("sender")
    if not _valid_sender(sender):
        raise Refused(400, BAD_SENDER)
    assert isinstance(sender, str)
    return RestRequest(sender, check_text(data.get("message"), BAD_MESSAGE))


def read_web_request(body: bytes) -> WebRequest:
    """The conversation token and text of a web widget message (`{"conversation", "text"}`).

    The widget sends JSON as text/plain (no CORS preflight), so the content
    type is not checked. The token is returned as sent, for the channel to verify.

    Raises:
        Refused: 400 or 413, in French words a citizen can read.
    """
    data = parse_json(body, BAD_REQUEST)
    if not isinstance(data, dict):
        raise Refused(400, BAD_REQUEST)
    return WebRequest(data.get("conversation"), check_text(data.get("text"), BAD_REQUEST))
