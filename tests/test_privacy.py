"""Personal data is masked before a person reads citizens' messages."""

from __future__ import annotations

import pytest

from bot.privacy import mask


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ecrivez moi a jean.dupont@example.fr svp", "ecrivez moi a [e-mail] svp"),
        ("mon numero 06 12 34 56 78", "mon numero [téléphone]"),
        ("appelez le 0612345678 ou +33 6 12 34 56 78", "appelez le [téléphone] ou [téléphone]"),
        ("ma carte 4970 1012 3456 7890 a ete debitee", "ma carte [numéro] a ete debitee"),
        ("iban FR76 3000 6000 0112 3456 7890 189", "iban [IBAN]"),
        ("secu 1 85 05 78 006 084 36", "secu [n° sécu]"),
        ("j'habite 12 rue des Lilas a Balma", "j'habite [n°] rue des Lilas a Balma"),
    ],
)
def test_personal_data_is_masked(text: str, expected: str) -> None:
    assert mask(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "collecte le 12 mars a Blagnac",
        "la ligne 14 du bus",
        "500 millions d'euros en 2015-2020",
        "code postal 31000",
    ],
)
def test_ordinary_numbers_stay(text: str) -> None:
    assert mask(text) == text
