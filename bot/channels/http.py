"""What the channels need from Sanic: a request body read up to a limit, never further.

The channels' routes are streaming routes (`stream=True`): Sanic does not
buffer the body before the handler runs, so a body over the limit is refused
after reading at most `limit + 1` bytes, whatever its size (Sanic itself
would buffer up to 100 MB). Sanic discards the unread rest after the reply.
"""

from __future__ import annotations

from sanic.exceptions import SanicException
from sanic.request import Request

from bot.channels.texts import BAD_REQUEST, TOO_LONG
from bot.channels.validation import Refused

__all__ = ["NO_STORE", "read_body"]

# Headers of every JSON answer of the bot's own routes: never cached, never sniffed.
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body.

    Raises:
        Refused: 413 when it is longer than `limit` bytes (said by its
            Content-Length or found while reading), 400 when it cannot be read.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, TOO_LONG)
    stream = request.stream
    if stream is None or not getattr(stream, "request_body", None):
        return bytes(request.body or b"")
    chunks: list[bytes] = []
    size = 0
    try:
        while (chunk := await stream.read()) is not None:
            size += len(chunk)
            if size > limit:
                raise Refused(413, TOO_LONG)
            chunks.append(chunk)
    except SanicException as error:
        # A broken chunked encoding: nothing usable came, and Sanic closes the connection.
        raise Refused(400, BAD_REQUEST) from error
    return b"".join(chunks)
