"""Request bodies the channels must refuse, with the status and French text each gets.

One table per channel, used by the pure checks (tests/channels/test_validation.py)
and by the channels served in-process (test_rest.py, web/test_channel.py).
"""

from __future__ import annotations

import json
from typing import Any

from bot.channels.texts import (
    BAD_JSON,
    BAD_MESSAGE,
    BAD_REQUEST,
    BAD_SENDER,
    NOT_JSON,
    TOO_LONG,
)

__all__ = ["DEEP", "JSON", "REST_REFUSED", "WEB_REFUSED", "body"]

JSON = "application/json"


def body(**fields: Any) -> bytes:
    """A JSON request body."""
    return json.dumps(fields).encode()


# REST: body, Content-Type, status, text.
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
    "missing sender": (body(message="bonjour"), JSON, 400, BAD_SENDER),
    "empty sender": (body(sender="", message="bonjour"), JSON, 400, BAD_SENDER),
    "blank sender": (body(sender="   ", message="bonjour"), JSON, 400, BAD_SENDER),
    "sender not a string": (body(sender=42, message="bonjour"), JSON, 400, BAD_SENDER),
    "sender null": (body(sender=None, message="bonjour"), JSON, 400, BAD_SENDER),
    "10 KB sender": (body(sender="s" * 10_000, message="bonjour"), JSON, 400, BAD_SENDER),
    "sender with a line feed": (body(sender="a\nb", message="bonjour"), JSON, 400, BAD_SENDER),
    "sender with half an emoji": (body(sender="a\ud800", message="x"), JSON, 400, BAD_SENDER),
    "missing message": (body(sender="a"), JSON, 400, BAD_MESSAGE),
    "message null": (body(sender="a", message=None), JSON, 400, BAD_MESSAGE),
    "message a number": (body(sender="a", message=3), JSON, 400, BAD_MESSAGE),
    "message an object": (body(sender="a", message={"text": "x"}), JSON, 400, BAD_MESSAGE),
    "message a list": (body(sender="a", message=["x"]), JSON, 400, BAD_MESSAGE),
    "message true": (body(sender="a", message=True), JSON, 400, BAD_MESSAGE),
    "1,001 characters": (body(sender="a", message="a" * 1001), JSON, 413, TOO_LONG),
    "1 MB message": (body(sender="a", message="a" * 1_000_000), JSON, 413, TOO_LONG),
    "10,000 emoji": (body(sender="a", message="🙂" * 10_000), JSON, 413, TOO_LONG),
    "text/plain": (body(sender="a", message="bonjour"), "text/plain", 400, NOT_JSON),
    "form": (
        b"sender=a&message=bonjour",
        "application/x-www-form-urlencoded",
        400,
        NOT_JSON,
    ),
}

# The web widget's messages (sent as text/plain): body, status, text.
WEB_REFUSED: dict[str, tuple[bytes, int, str]] = {
    "empty body": (b"", 400, BAD_REQUEST),
    "null": (b"null", 400, BAD_REQUEST),
    "array": (b"[]", 400, BAD_REQUEST),
    "string": (b'"x"', 400, BAD_REQUEST),
    "number": (b"42", 400, BAD_REQUEST),
    "not JSON": (b"conversation=x&text=bonjour", 400, BAD_REQUEST),
    "nested 5,000 deep": (DEEP, 400, BAD_REQUEST),
    "object nested 5,000 deep": (
        b'{"conversation": "c", "text": "x", "autre": ' + DEEP + b"}",
        400,
        BAD_REQUEST,
    ),
    "invalid UTF-8": (b'{"conversation": "c", "text": "\xff"}', 400, BAD_REQUEST),
    "text missing": (body(conversation="c"), 400, BAD_REQUEST),
    "text null": (body(conversation="c", text=None), 400, BAD_REQUEST),
    "text a number": (body(conversation="c", text=1), 400, BAD_REQUEST),
    "text an object": (body(conversation="c", text={"a": 1}), 400, BAD_REQUEST),
    "text a list": (body(conversation="c", text=["bonjour"]), 400, BAD_REQUEST),
    "1,001 characters": (body(conversation="c", text="é" * 1001), 413, TOO_LONG),
    "10,000 emoji": (body(conversation="c", text="🙂" * 10_000), 413, TOO_LONG),
    "20 KB body": (body(conversation="c", text="x", pad="p" * 20_000), 413, TOO_LONG),
    "1 MB body": (body(conversation="c", text="a" * 1_000_000), 413, TOO_LONG),
}
