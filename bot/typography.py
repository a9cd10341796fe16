"""French typography for what the bot says: a non-breaking space before « : ; ! ? », inside guillemets and in numbers.

Applied once, by the action server, to every text and button label it sends,
so every channel (widget, REST, Telegram) shows a "?" on the same line as the
word before it, and staff never type special spaces in the YAML files.

One space is used everywhere: U+00A0 (NO-BREAK SPACE), which every font has;
the narrow U+202F is missing from some fonts that phones fall back on.

Left alone: addresses ("https://…", "www.…", e-mails), times and ratios
("9:30"), emoticons (":)", ";-)"), and a mark that starts a line or follows
another mark ("?!" gets one space, before "?").
"""

from __future__ import annotations

import re

__all__ = ["NBSP", "french_spacing"]

NBSP = "\u00a0"

# Addresses and e-mails are copied as they are: "https://x.fr/?a=1" must still work.
_UNTOUCHED = re.compile(r"(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+\.[\w.-]+", re.IGNORECASE)

# Spaces (ordinary, or the narrow no-break one) before the mark become one
# no-break space; a mark glued to a word gets one. ";" and ":" only when a
# space or the end follows them: "9:30", "a:b", ":)" and ";-)" are untouched.
_SPACES = "[ \u202f\u00a0]+"
_SPACED_HIGH = re.compile(rf"(?<=\S){_SPACES}(?=[!?])")
_SPACED_LOW = re.compile(rf"(?<=\S){_SPACES}(?=[;:](?:\s|$))")
_GLUED_HIGH = re.compile(r"(?<=[\w)\]»\"'’…])(?=[!?])")
_GLUED_LOW = re.compile(r"(?<=[\w)\]»\"’…])(?=[;:](?:\s|$))")
# "10 000 euros", "200 000 €", "5 %": a number stays whole, and with its unit.
_NUMBER_GROUP = re.compile(r"(?<=\d) (?=\d{3}(?!\d))")
_NUMBER_UNIT = re.compile(r"(?<=\d) (?=[€%])")
_OPENING_GUILLEMET = re.compile(r"«[ \u202f\u00a0]*")
_CLOSING_GUILLEMET = re.compile(r"[ \u202f\u00a0]*»")


def _space(text: str) -> str:
    text = _SPACED_HIGH.sub(NBSP, text)
    text = _SPACED_LOW.sub(NBSP, text)
    text = _GLUED_HIGH.sub(NBSP, text)
    text = _GLUED_LOW.sub(NBSP, text)
    text = _NUMBER_GROUP.sub(NBSP, text)
    text = _NUMBER_UNIT.sub(NBSP, text)
    text = _OPENING_GUILLEMET.sub("«" + NBSP, text)
    return _CLOSING_GUILLEMET.sub(NBSP + "»", text)


def french_spacing(text: str) -> str:
    """The text with French non-breaking spaces; idempotent, and addresses are kept intact."""
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group())
        # A stand-in from Unicode's private area, which no citizen-facing text uses.
        return f"\ue000{len(kept) - 1}\ue001"

    spaced = _space(_UNTOUCHED.sub(keep, text))
    return re.sub("\ue000(\\d+)\ue001", lambda m: kept[int(m.group(1))], spaced)
