"""Masks the personal data citizens type (e-mails, phone numbers, card and bank numbers, addresses' numbers).

Used wherever a citizen's words leave the conversation store for a person to
read: the staff report, and any log line that would quote a message.
"""

from __future__ import annotations

import re

__all__ = ["mask"]

# Order matters: the longest patterns (IBAN, card numbers) go before phone numbers.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[e-mail]"),
    (re.compile(r"\bFR\d{2}(?:[ ]?[\dA-Z]{4}){5}[ ]?[\dA-Z]{3}\b", re.IGNORECASE), "[IBAN]"),
    (re.compile(r"(?:\+33[ .-]?|\b0)[1-9](?:[ .-]?\d{2}){4}\b"), "[téléphone]"),
    (
        re.compile(r"\b[12][ ]?\d{2}[ ]?(?:0[1-9]|1[0-2])[ ]?\d{2}[ ]?\d{3}[ ]?\d{3}[ ]?\d{2}\b"),
        "[n° sécu]",
    ),
    (re.compile(r"\b\d(?:[ -]?\d){12,18}\b"), "[numéro]"),
    (
        re.compile(
            r"\b\d{1,4}(?:[ ]?(?:bis|ter))?[ ,]+(?=(?:rue|avenue|av|bd|boulevard|allée|allées|allee|chemin|impasse|place|route|quai)\b)",
            re.IGNORECASE,
        ),
        "[n°] ",
    ),
)


def mask(text: str) -> str:
    """The text with e-mails, phone, card, IBAN, social-security and street numbers replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
