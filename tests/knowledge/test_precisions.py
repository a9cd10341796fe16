"""Precisions and per-commune links in knowledge files: loading, French checks with lines, live reload."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import textwrap
import time
from pathlib import Path

import pytest

from bot.answers import split_answer
from bot.knowledge import KnowledgeBase, load_file
from bot.knowledge.loader import commune_of_url
from bot.knowledge.precisions import best_precision
from bot.knowledge.schema import LEAD_MAX_CHARS
from bot.paths import PROJECT_ROOT

INTENTS = frozenset({"prix_icapital", "horaires_mairie", "velo"})
TODAY = dt.date(2026, 11, 27)

TOPIC = """\
theme: Smart City
sujets:
  prix_icapital:
    titre: Le prix iCapital
    reponse: |
      Athènes a gagné le prix en 2018.
    precisions:
      - mots: [gagné, vainqueur, qui a gagné]
        texte: C'est Athènes qui a gagné en 2018.
      - mots: [subvention, combien gagné]
        texte: Toulouse a reçu 10 000 euros.
{extra}    source: "Article « Toulouse est-elle une capitale européenne de l'innovation ? »"
    service: Smart City
    verifie_le: 2026-11-01
"""

MAIRIE = """\
theme: Mairies
sujets:
  horaires_mairie:
    titre: Horaires de la mairie
    selon_commune: true
    reponse: |
      Les horaires de la mairie de {{commune}} sont sur l'annuaire.
{links}    source: https://lannuaire.service-public.fr
    service: Accueil
    verifie_le: 2026-11-01
"""


def write(tmp_path: Path, text: str, name: str = "smart_city.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path, severity: str = "erreur") -> list[str]:
    _, found = load_file(path, INTENTS, today=TODAY)
    return [f"{p.line}: {p.message}" for p in found if p.severity == severity]


def test_precisions_load_and_are_chosen_from_the_question(tmp_path: Path) -> None:
    theme, found = load_file(write(tmp_path, TOPIC.format(extra="")), INTENTS, today=TODAY)
    assert found == [] and theme is not None
    precisions = theme.topics["prix_icapital"].precisions
    assert best_precision(precisions, "Qui a GAGNE ?") == precisions[0]
    assert best_precision(precisions, "combien toulouse a gagné") == precisions[1]
    assert best_precision(precisions, "parle-moi du prix") is None


@pytest.mark.parametrize(
    ("extra", "line", "words"),
    [
        ("      - mots: [finale]\n        texte: '  '\n", 12, "pas de « texte »"),
        (
            "      - mots: [finale]\n        texte: Lisbonne.\n        mot: [x]\n",
            14,
            "champ inconnu « mot »",
        ),
        ("      - texte: Lisbonne.\n", 12, "pas de « mots »"),
        ("      - mots: [qui, quand]\n        texte: Lisbonne.\n", 12, "« qui » est trop courant"),
        ("      - mots: [la ville de toulouse]\n        texte: Lisbonne.\n", 12, "trop courant"),
    ],
)
def test_a_bad_precision_is_refused_with_its_line(
    tmp_path: Path, extra: str, line: int, words: str
) -> None:
    path = write(tmp_path, TOPIC.format(extra=textwrap.indent(extra, "")))
    found = problems(path)
    assert any(p.startswith(f"{line}: ") and words in p for p in found), found


def test_a_long_precision_or_lead_is_warned_about(tmp_path: Path) -> None:
    long_text = "Une phrase assez longue pour dépasser la limite. " * 10
    extra = f"      - mots: [finale]\n        texte: {long_text}\n"
    text = TOPIC.format(extra=extra).replace(
        "      Athènes a gagné le prix en 2018.\n", f"      {long_text}\n"
    )
    warnings = problems(write(tmp_path, text), "avertissement")
    assert any("précision de" in w for w in warnings)
    assert any(f"plus de {LEAD_MAX_CHARS}" in w and "En savoir plus" in w for w in warnings)


def test_a_per_commune_answer_must_not_show_one_communes_site_to_all(tmp_path: Path) -> None:
    links = "    liens:\n      - titre: Ville de Toulouse\n        url: https://www.toulouse.fr\n"
    found = problems(write(tmp_path, MAIRIE.format(links=links), "mairies.yml"))
    assert (
        len(found) == 1 and "est le site de Toulouse" in found[0] and "liens_communes" in found[0]
    )


def test_a_communes_links_must_not_be_another_communes_site(tmp_path: Path) -> None:
    links = (
        "    liens_communes:\n"
        "      Colomiers:\n"
        "        - titre: Ville de Toulouse\n"
        "          url: https://www.toulouse.fr\n"
        "      Toulouse:\n"
        "        - titre: Ville de Toulouse\n"
        "          url: https://www.toulouse.fr\n"
    )
    found = problems(write(tmp_path, MAIRIE.format(links=links), "mairies.yml"))
    assert len(found) == 1
    assert found[0].startswith("10: ") and "celui de Toulouse, pas de Colomiers" in found[0]


def test_per_commune_links_are_shown_to_that_commune_only(tmp_path: Path) -> None:
    links = (
        "    liens:\n      - titre: Toulouse Métropole\n        url: https://www.toulouse-metropole.fr\n"
        "    liens_communes:\n      Toulouse:\n        - titre: Ville de Toulouse\n"
        "          url: https://www.toulouse.fr\n"
    )
    theme, found = load_file(
        write(tmp_path, MAIRIE.format(links=links), "mairies.yml"), INTENTS, today=TODAY
    )
    assert found == [] and theme is not None
    topic = theme.topics["horaires_mairie"]
    assert [link.url for link in topic.links_for("Toulouse")] == [
        "https://www.toulouse-metropole.fr",
        "https://www.toulouse.fr",
    ]
    assert [link.url for link in topic.links_for("Blagnac")] == [
        "https://www.toulouse-metropole.fr"
    ]


@pytest.mark.parametrize(
    ("url", "commune"),
    [
        ("https://www.toulouse.fr/web/mairies", "Toulouse"),
        ("https://www.mairie-blagnac.fr", "Blagnac"),
        ("https://www.ville-colomiers.fr", "Colomiers"),
        ("https://www.toulouse-metropole.fr", None),
        ("https://lannuaire.service-public.fr", None),
    ],
)
def test_which_commune_a_site_belongs_to(url: str, commune: str | None) -> None:
    assert commune_of_url(url) == commune


def test_a_saved_precision_is_served_at_the_next_message(
    tmp_path: Path, intents: frozenset[str]
) -> None:
    shutil.copytree(PROJECT_ROOT / "knowledge", tmp_path / "knowledge")
    path = tmp_path / "knowledge" / "smart_city.yml"
    base = KnowledgeBase(path.parent, intents)
    base.refresh()
    question = "quelle est la couleur du trophée icapital"
    topic = base.topic("prix_icapital")
    assert topic is not None and best_precision(topic.precisions, question) is None
    text = path.read_text(encoding="utf-8").replace(
        "    precisions:\n      - mots: [finale",
        "    precisions:\n      - mots: [couleur]\n        texte: Je ne connais pas la couleur du trophée.\n"
        "      - mots: [finale",
        1,
    )
    path.write_text(text, encoding="utf-8")
    os.utime(path, (time.time() + 5, time.time() + 5))
    base.refresh()
    topic = base.topic("prix_icapital")
    assert topic is not None
    chosen = best_precision(topic.precisions, question)
    assert chosen is not None and "couleur" in chosen.text


# --- The project's own knowledge ---


def test_every_smart_city_topic_has_precisions_and_says_2018_up_front(
    knowledge: KnowledgeBase,
) -> None:
    smart_city = [t for t in knowledge.topics().values() if t.path.name == "smart_city.yml"]
    assert len(smart_city) == 13
    for topic in smart_city:
        lead, _ = split_answer(topic.answer)
        assert topic.precisions, topic.name
        assert "2018" in lead, topic.name


def test_every_leads_fits_a_phone_screen(knowledge: KnowledgeBase) -> None:
    for topic in knowledge.topics().values():
        for commune in (None, *topic.commune_variants):
            lead, _ = split_answer(topic.text_for(commune))
            assert len(lead) <= LEAD_MAX_CHARS, (topic.name, commune, len(lead))


def test_main_service_topics_have_precisions(knowledge: KnowledgeBase) -> None:
    services = [
        "collecte_dechets",
        "decheteries",
        "encombrants",
        "transports_en_commun",
        "velo",
        "stationnement",
        "etat_civil",
        "papiers_identite",
        "eau_assainissement",
        "signaler_probleme",
        "horaires_mairie",
        "contact_metropole",
    ]
    for name in services:
        topic = knowledge.topic(name)
        assert topic is not None and topic.precisions, name
