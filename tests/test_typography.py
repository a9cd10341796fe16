"""French typography applied to what the bot says: no-break spaces, addresses and times untouched."""

from __future__ import annotations

import pytest

from bot.typography import NBSP, french_spacing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bonjour ! Une question ?", f"Bonjour{NBSP}! Une question{NBSP}?"),
        ("Pour vous répondre : votre commune ?", f"Pour vous répondre{NBSP}: votre commune{NBSP}?"),
        ("Vraiment?!", f"Vraiment{NBSP}?!"),
        ("un ; deux", f"un{NBSP}; deux"),
        ("le « prix » iCapital", f"le «{NBSP}prix{NBSP}» iCapital"),
        ("«prix»", f"«{NBSP}prix{NBSP}»"),
        ("Liste :\n- a ;\n- b", f"Liste{NBSP}:\n- a{NBSP};\n- b"),
        ("une aide de 10 000 euros", f"une aide de 10{NBSP}000 euros"),
        ("200 000 € et 5 %", f"200{NBSP}000{NBSP}€ et 5{NBSP}%"),
        ("de 2015 à 2020, en 2015 2020", "de 2015 à 2020, en 2015 2020"),
    ],
)
def test_no_break_space_before_high_marks_and_inside_guillemets(text: str, expected: str) -> None:
    assert french_spacing(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "https://www.tisseo.fr/horaires?ligne=A",
        "www.toulouse-metropole.fr",
        "ouvert de 9:30 à 12:00",
        "merci :) ;-) :D",
        "? au début",
        "écrivez à contact@exemple.fr",
    ],
)
def test_addresses_times_emoticons_and_a_leading_mark_are_untouched(text: str) -> None:
    assert french_spacing(text) == text


def test_a_link_line_keeps_its_address_and_spaces_its_colon() -> None:
    line = "- Tisséo : https://www.tisseo.fr/?a=1 ?"
    assert french_spacing(line) == f"- Tisséo{NBSP}: https://www.tisseo.fr/?a=1{NBSP}?"


@pytest.mark.parametrize(
    "text", ["Bonjour ! Ça va ?", "« Toulouse » : la ville ; oui !", "a\u202f?"]
)
def test_idempotent(text: str) -> None:
    once = french_spacing(text)
    assert french_spacing(once) == once
    assert "\u202f" not in once
