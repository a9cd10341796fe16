"""Commune recognition: the 37 communes however citizens write them, and places outside."""

from __future__ import annotations

import pytest

from bot.communes import COMMUNES, find_communes, normalise


def test_there_are_37_distinct_communes() -> None:
    assert len(COMMUNES) == len(set(COMMUNES)) == 37


@pytest.mark.parametrize("name", COMMUNES)
def test_every_commune_is_found_by_its_official_name_and_without_accents_or_hyphens(
    name: str,
) -> None:
    plain = name.lower().replace("-", " ").replace("'", " ")
    plain = plain.translate(str.maketrans("éèêàç", "eeeac"))
    assert normalise(f"c'est pour {name}") == name
    assert normalise(f"j'habite a {plain}") == name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("st orens", "Saint-Orens-de-Gameville"),
        ("la collecte a saint orens svp", "Saint-Orens-de-Gameville"),
        ("l union", "L'Union"),
        ("LUNION", "L'Union"),
        ("colommiers", "Colomiers"),
        ("tournefeuile", "Tournefeuille"),
        ("Blangac", "Blagnac"),
        ("quint fonsegrive", "Quint-Fonsegrives"),
        ("drémil", "Drémil-Lafage"),
        ("st jory", "Saint-Jory"),
        ("villeneuve tolosanne", "Villeneuve-Tolosane"),
        ("TOULOUSE", "Toulouse"),
    ],
)
def test_variants_and_misspellings_resolve_to_the_official_name(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_pin_balma_is_not_balma() -> None:
    assert [m.name for m in find_communes("je suis a pin balma")] == ["Pin-Balma"]


def test_span_points_at_the_words_in_the_message() -> None:
    text = "quand passe la collecte à St-Orens ?"
    (match,) = find_communes(text)
    assert text[match.start : match.end] == "St-Orens"


def test_places_outside_the_metropole_are_recognised_as_outside() -> None:
    (match,) = find_communes("et a Muret ?")
    assert (match.name, match.in_metropole) == ("Muret", False)
    assert normalise("et a Muret ?") is None


@pytest.mark.parametrize(
    "text",
    [
        "les paris sportifs",
        "une grenade",
        "je cherche un bras de fer",
        "comment trier mes dechets",
        "merci beaucoup",
    ],
)
def test_ordinary_words_are_not_taken_for_places(text: str) -> None:
    assert find_communes(text) == []
