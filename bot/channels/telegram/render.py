"""The bot's plain-text answers as Telegram messages: HTML, clickable links, split to fit.

Answers come from the knowledge files as plain text; anything in them (`<`,
`&`, `*`, `_`) is escaped, so no answer can break a send. Telegram's HTML mode
needs only `<`, `>` and `&` escaped; Markdown's `*` and `_` mean nothing there.

Usage:
    for chunk in render_chunks(text):      # each at most 4,096 characters
        await bot.send_message(chat_id, chunk, parse_mode="HTML")
"""

from __future__ import annotations

import hashlib
import html
import re
from collections import OrderedDict

from telegram.constants import InlineKeyboardButtonLimit, MessageLimit

__all__ = [
    "MAX_CALLBACK_BYTES",
    "MAX_MESSAGE_LENGTH",
    "ButtonPayloads",
    "render_chunks",
    "telegram_length",
    "to_html",
]

MAX_MESSAGE_LENGTH = int(MessageLimit.MAX_TEXT_LENGTH)
MAX_CALLBACK_BYTES = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)

# "- Titre : https://…", the way answers list their official links.
_LINK_LINE = re.compile(r"(?P<bullet>\s*[-•]\s+)(?P<title>.+?)\s+:\s+(?P<url>https://\S+)\s*")
_URL = re.compile(r"https?://[^\s<>\"]+")
_TRAILING = ".,;:!?)»"
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


def telegram_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units): an emoji counts twice."""
    return len(text.encode("utf-16-le")) // 2


def _link(url: str, label: str) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{html.escape(label, quote=False)}</a>'


def _inline_urls(text: str) -> str:
    parts: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        url = match.group().rstrip(_TRAILING)
        parts.append(html.escape(text[position : match.start()], quote=False))
        parts.append(_link(url, url))
        position = match.start() + len(url)
    parts.append(html.escape(text[position:], quote=False))
    return "".join(parts)


def to_html(text: str) -> str:
    """Plain text as Telegram HTML: everything escaped, links clickable."""
    lines = []
    for line in text.split("\n"):
        link = _LINK_LINE.fullmatch(line)
        if link:
            url = link["url"].rstrip(_TRAILING)
            bullet = html.escape(link["bullet"], quote=False)
            tail = html.escape(link["url"][len(url) :], quote=False)
            lines.append(f"{bullet}{_link(url, link['title'])}{tail}")
        else:
            lines.append(_inline_urls(line))
    return "\n".join(lines)


def _pack(pieces: list[str], separator: str, limit: int) -> list[str]:
    """Joins consecutive pieces while the result fits."""
    chunks: list[str] = []
    current: str | None = None
    for piece in pieces:
        candidate = piece if current is None else current + separator + piece
        if telegram_length(candidate) <= limit:
            current = candidate
        else:
            if current is not None:
                chunks.append(current)
            current = piece
    if current is not None:
        chunks.append(current)
    return chunks


def _hard_cut(text: str, limit: int) -> list[str]:
    """Last resort for one enormous word: cut between characters, never inside an entity."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for character in text:
        escaped = html.escape(character, quote=False)
        width = telegram_length(escaped)
        if current and size + width > limit:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(escaped)
        size += width
    if current:
        chunks.append("".join(current))
    return chunks


def _fit(text: str, limit: int, separators: tuple[str, ...]) -> list[str]:
    """One paragraph as HTML pieces that each fit, cut at lines, then words, then characters."""
    rendered = to_html(text)
    if telegram_length(rendered) <= limit:
        return [rendered]
    if not separators:
        return _hard_cut(text, limit)
    separator, rest = separators[0], separators[1:]
    pieces = [piece for part in text.split(separator) for piece in _fit(part, limit, rest)]
    return _pack(pieces, separator, limit)


def render_chunks(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """An answer as Telegram HTML messages, in order, split between paragraphs when too long."""
    paragraphs = [p.strip("\n") for p in _PARAGRAPH_BREAK.split(text.strip()) if p.strip()]
    pieces = [piece for paragraph in paragraphs for piece in _fit(paragraph, limit, ("\n", " "))]
    return _pack(pieces, "\n\n", limit)


class ButtonPayloads:
    """Callback data for inline buttons: the payload itself when it fits Telegram's 64 bytes.

    A longer payload travels as a short key remembered here (the most recent
    ones); a key that was forgotten, after a restart for instance, decodes to
    None and the resident is asked to type the question instead.
    """

    KEY_PREFIX = "#"

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._long: OrderedDict[str, str] = OrderedDict()

    def encode(self, payload: str) -> str:
        """The callback data to put on a button sending `payload`."""
        if (
            len(payload.encode()) <= MAX_CALLBACK_BYTES
            and payload
            and not payload.startswith(self.KEY_PREFIX)
        ):
            return payload
        key = self.KEY_PREFIX + hashlib.sha256(payload.encode()).hexdigest()[:40]
        self._long[key] = payload
        self._long.move_to_end(key)
        while len(self._long) > self._capacity:
            self._long.popitem(last=False)
        return key

    def decode(self, data: str) -> str | None:
        """The payload a pressed button stands for; None when it is unknown."""
        if not data.startswith(self.KEY_PREFIX):
            return data or None
        return self._long.get(data)
