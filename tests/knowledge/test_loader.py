"""Knowledge files: loading, French errors with file and line, live reload, coverage of the intents."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from bot.knowledge import Button, KnowledgeBase, Link, check_directory, load_file, topic_intents
from bot.paths import PROJECT_ROOT

INTENTS = frozenset({"collecte_dechets", "velo", "saluer", "demander_aide"})

VALID = """\
theme: Déchets
sujets:
  collecte_dechets:
    titre: Collecte des déchets
    reponse: |
      À {commune}, les jours de collecte dépendent de votre adresse.
    selon_commune: true
    communes:
      Toulouse: |
        À Toulouse, consultez le calendrier de votre rue.
    boutons:
      - titre: Vélo
        sujet: velo
    liens:
      - titre: Toulouse Métropole
        url: https://www.toulouse-metropole.fr
    source: https://www.toulouse-metropole.fr
    service: Direction Déchets
    verifie_le: 2026-11-01
"""


def write(tmp_path: Path, text: str, name: str = "dechets.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors(path: Path) -> list[str]:
    _, problems = load_file(path, INTENTS, today=dt.date(2026, 11, 27))
    return [f"{p.line}: {p.message}" for p in problems if p.severity == "erreur"]


def test_valid_file_loads_with_commune_variants(tmp_path: Path) -> None:
    theme_file, problems = load_file(write(tmp_path, VALID), INTENTS, today=dt.date(2026, 11, 27))
    assert problems == []
    assert theme_file is not None
    topic = theme_file.topics["collecte_dechets"]
    assert (
        topic.text_for("Blagnac") == "À Blagnac, les jours de collecte dépendent de votre adresse."
    )
    assert topic.text_for("Toulouse") == "À Toulouse, consultez le calendrier de votre rue."
    assert topic.buttons[0].payload == "/velo"


def test_loader_translates_the_staff_field_names_into_the_code_names(tmp_path: Path) -> None:
    theme_file, _ = load_file(write(tmp_path, VALID), INTENTS, today=dt.date(2026, 11, 27))
    assert theme_file is not None
    topic = theme_file.topics["collecte_dechets"]
    assert (topic.name, topic.title, topic.answer) == (
        "collecte_dechets",
        "Collecte des déchets",
        "À {commune}, les jours de collecte dépendent de votre adresse.\n",
    )
    assert topic.per_commune is True
    assert topic.commune_variants == {
        "Toulouse": "À Toulouse, consultez le calendrier de votre rue.\n"
    }
    assert topic.buttons == (Button(title="Vélo", intent="velo"),)
    assert topic.links == (
        Link(title="Toulouse Métropole", url="https://www.toulouse-metropole.fr"),
    )
    assert (topic.source, topic.service, topic.checked_on) == (
        "https://www.toulouse-metropole.fr",
        "Direction Déchets",
        dt.date(2026, 11, 1),
    )
    assert (topic.hours, topic.to_fill, topic.line) == (None, (), 3)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            (
                "    titre: Collecte des déchets\n",
                "    titre: Collecte des déchets\n  mauvais indentation\n",
            ),
            "5: erreur de syntaxe YAML",
        ),
        (
            (
                "    service: Direction Déchets\n",
                "    service: Direction Déchets\n    titre: Autre\n",
            ),
            "19: la clé « titre » apparaît deux fois (déjà ligne 4)",
        ),
        (
            ("    reponse: |", "    repone: |"),
            "5: champ inconnu « repone ». Vouliez-vous dire « reponse » ?",
        ),
        (
            ("      Toulouse: |", "      Toulous: |"),
            "9: « Toulous » n'est pas l'une des 37 communes de Toulouse Métropole (nom officiel attendu). Vouliez-vous dire « Toulouse » ?",
        ),
        (
            (
                "        url: https://www.toulouse-metropole.fr",
                "        url: http://www.toulouse-metropole.fr",
            ),
            "16: le lien « http://www.toulouse-metropole.fr » doit être une adresse complète en https://",
        ),
        (
            ("    verifie_le: 2026-11-01", "    verifie_le: 1er novembre"),
            "19: « verifie_le » doit être une date au format AAAA-MM-JJ",
        ),
        (
            ("      À {commune}, les jours", "      À {comune}, les jours"),
            "5: « {comune} » n'est pas reconnu : seul {commune} l'est.",
        ),
        (
            ("    service: Direction Déchets\n", ""),
            "3: le sujet « collecte_dechets » n'a pas de champ « service ».",
        ),
    ],
    ids=[
        "syntaxe",
        "cle-en-double",
        "champ-inconnu",
        "commune-inconnue",
        "lien-http",
        "date",
        "variable",
        "champ-manquant",
    ],
)
def test_each_mistake_is_refused_with_its_line(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    theme_file, _ = load_file(path, INTENTS, today=dt.date(2026, 11, 27))
    assert theme_file is None
    assert any(error.startswith(expected) for error in errors(path)), errors(path)


def test_empty_answer_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        VALID.replace(
            "      À {commune}, les jours de collecte dépendent de votre adresse.\n", "      \n"
        ),
    )
    assert any("« reponse » est vide" in e for e in errors(path))


def test_tab_indentation_gets_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("    titre: Collecte", "\ttitre: Collecte"))
    message = errors(path)[0]
    assert "tabulations sont interdites" in message


def test_warnings_do_not_refuse_the_file(tmp_path: Path) -> None:
    text = VALID + "    a_completer:\n      - Lien direct vers le calendrier\n"
    path = write(tmp_path, text)
    theme_file, problems = load_file(path, INTENTS, today=dt.date(2027, 12, 1), max_age_days=365)
    assert theme_file is not None
    assert theme_file.topics["collecte_dechets"].to_fill == ("Lien direct vers le calendrier",)
    messages = [p.message for p in problems if p.severity == "avertissement"]
    assert "à compléter dans « collecte_dechets » : Lien direct vers le calendrier" in messages
    assert (
        "réponse « collecte_dechets » vérifiée il y a 395 jours (plus de 365) : à revoir par Direction Déchets."
        in messages
    )


def test_problem_reads_as_file_line_message(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("    reponse: |", "    repone: |"))
    _, problems = load_file(path, INTENTS)
    assert str(problems[0]).startswith(f"{path}:5 : erreur : champ inconnu « repone »")


def test_reload_picks_up_a_saved_change_and_keeps_last_good_on_error(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    base = KnowledgeBase(tmp_path, INTENTS)
    base.refresh()
    assert "calendrier de votre rue" in base.topic("collecte_dechets").text_for("Toulouse")  # type: ignore[union-attr]

    write(tmp_path, VALID.replace("calendrier de votre rue", "nouveau calendrier"))
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    assert base.refresh() == [path]
    assert "nouveau calendrier" in base.topic("collecte_dechets").text_for("Toulouse")  # type: ignore[union-attr]

    write(tmp_path, VALID.replace("    reponse: |", "    reponse: |\n  cassé: ["))
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 10))
    assert base.refresh() == []
    assert "nouveau calendrier" in base.topic("collecte_dechets").text_for("Toulouse")  # type: ignore[union-attr]


def test_project_knowledge_has_no_error(intents: frozenset[str]) -> None:
    problems = check_directory(PROJECT_ROOT / "knowledge", intents)
    assert [str(p) for p in problems if p.severity == "erreur"] == []


def test_every_topic_intent_has_an_answer_and_every_answer_an_intent(
    knowledge: KnowledgeBase, intents: frozenset[str]
) -> None:
    assert set(knowledge.topics()) == set(topic_intents(intents))


def test_check_reports_an_intent_without_answer(tmp_path: Path, intents: frozenset[str]) -> None:
    for path in (PROJECT_ROOT / "knowledge").glob("*.yml"):
        shutil.copy(path, tmp_path / path.name)
    text = (tmp_path / "mobilite.yml").read_text(encoding="utf-8")
    start = text.index("\n  velo:")
    end = text.index("\n  stationnement:")
    (tmp_path / "mobilite.yml").write_text(text[:start] + text[end:], encoding="utf-8")
    messages = [p.message for p in check_directory(tmp_path, intents)]
    assert any(m.startswith("l'intention « velo » n'a pas de réponse") for m in messages), messages


def test_rules_cover_every_intent(intents: frozenset[str]) -> None:
    rules = yaml.safe_load((PROJECT_ROOT / "data" / "rules.yml").read_text(encoding="utf-8"))
    covered: set[str] = set()
    for rule in rules["rules"]:
        for step in rule["steps"]:
            for item in step.get("or", [step]):
                if "intent" in item:
                    covered.add(item["intent"])
    assert intents <= covered


def test_at_least_twenty_varied_examples_per_intent(intents: frozenset[str]) -> None:
    counts: dict[str, int] = {}
    # Rasa reads every file under data/ (data/alertes.yml holds demander_alertes).
    blocks = [
        block
        for path in sorted((PROJECT_ROOT / "data").glob("*.yml"))
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or [])
    ]
    for block in blocks:
        if "intent" in block:
            examples = [
                line[2:].strip() for line in block["examples"].splitlines() if line.startswith("- ")
            ]
            assert len(examples) == len(set(examples)), f"exemples en double pour {block['intent']}"
            counts[block["intent"]] = counts.get(block["intent"], 0) + len(examples)
    assert {i: counts.get(i, 0) for i in intents if counts.get(i, 0) < 20} == {}


def test_watcher_serves_a_saved_file_without_any_request(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    base = KnowledgeBase(tmp_path, INTENTS)
    base.refresh()
    base.watch(interval=0.05)
    write(tmp_path, VALID.replace("calendrier de votre rue", "calendrier mis à jour"))
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    deadline = time.monotonic() + 10
    while "mis à jour" not in base.topic("collecte_dechets").text_for("Toulouse"):  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "le fichier enregistré n'a pas été rechargé"
        time.sleep(0.05)


_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x00\x01\x02\xff\xfe binaire",
        "theme: Déchets\n".encode("latin-1"),
        b"- une\n- liste\n",
        b"juste du texte",
        b"theme: [\n",
        _BOMB.encode(),
        b"theme: D\xc3\xa9chets\nsujets:\n  collecte_dechets: !!python/object/apply:os.system ['true']\n",
        (
            "theme: Déchets\nsujets:\n"
            + "  collecte_dechets:\n    reponse: "
            + "x" * 200_000
            + "\n"
        ).encode(),
        b"theme: Dechets\nsujets:\n  collecte_dechets:\n    reponse: \x00\n",
        b"theme: " + b"[" * 20_000 + b"]" * 20_000 + b"\n",
    ],
    ids=[
        "vide",
        "binaire",
        "latin-1",
        "liste",
        "texte",
        "yaml-casse",
        "bombe-alias",
        "balise-python",
        "reponse-enorme",
        "caractere-nul",
        "imbrication",
    ],
)
def test_hostile_knowledge_files_are_refused_in_french_without_crashing(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "dechets.yml"
    path.write_bytes(content)
    theme_file, problems = load_file(path, INTENTS, today=dt.date(2026, 11, 27))
    assert theme_file is None
    assert problems and all(p.severity in {"erreur", "avertissement"} for p in problems)
    assert any(p.severity == "erreur" for p in problems)


# --- A topic being written, and entries at the wrong level (issue 15) ---

NEW_TOPIC = """\
  cantine_scolaire:
    titre: Cantine scolaire
    reponse: |
      Les menus sont publiés par chaque commune.
    boutons:
      - titre: Vélo
        sujet: vello
    source: https://www.toulouse-metropole.fr
    service: Éducation
    verifie_le: 2026-11-01
"""


def test_a_topic_the_bot_does_not_know_is_set_aside_and_the_rest_of_its_file_served(
    tmp_path: Path, intents: frozenset[str], caplog: pytest.LogCaptureFixture
) -> None:
    shutil.copytree(PROJECT_ROOT / "knowledge", tmp_path / "knowledge")
    path = tmp_path / "knowledge" / "demarches.yml"
    base = KnowledgeBase(path.parent, intents)
    base.refresh()
    text = path.read_text(encoding="utf-8")
    edited = text.replace(
        "Les démarches d'état civil se font auprès des mairies.",
        "Les démarches d'état civil (texte modifié) se font auprès des mairies.",
    )
    assert edited != text
    path.write_text(edited + "\n" + NEW_TOPIC, encoding="utf-8")
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    with caplog.at_level("WARNING", logger="bot.knowledge.base"):
        assert base.refresh() == [path]

    assert "(texte modifié)" in base.topic("etat_civil").answer  # type: ignore[union-attr]
    assert base.topic("cantine_scolaire") is None
    logged = caplog.text
    assert "sujet mis de côté : « cantine_scolaire »" in logged
    assert "domain.yml" in logged and "data/nlu.yml" in logged and "make train" in logged

    problems = [p for p in check_directory(path.parent, intents) if p.path == path]
    assert [p for p in problems if p.severity == "erreur"] == []
    aside = [p.message for p in problems if "cantine_scolaire" in p.message]
    assert any(m.startswith("sujet mis de côté") and "data/rules.yml" in m for m in aside)
    # Its own mistakes are said too, as warnings: the topic is not served anyway.
    assert any("« vello »" in m for m in aside)


def test_a_button_to_a_topic_the_bot_does_not_know_is_left_out_with_a_warning(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, VALID.replace("        sujet: velo", "        sujet: vello", 1))
    theme_file, problems = load_file(path, INTENTS, today=dt.date(2026, 11, 27))
    assert theme_file is not None
    assert theme_file.topics["collecte_dechets"].buttons == ()
    (warning,) = [p for p in problems if p.severity == "avertissement"]
    assert warning.line == 13
    assert "« vello »" in warning.message and "Vouliez-vous dire « velo » ?" in warning.message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("      Toulouse: |", "    Toulouse: |"),
            "9: champ inconnu « Toulouse ». « Toulouse » est une commune : c'est sans doute une "
            "erreur d'indentation.",
        ),
        (
            (
                "        url: https://www.toulouse-metropole.fr",
                "    url: https://www.toulouse-metropole.fr",
            ),
            "16: champ inconnu « url ». « url » existe, mais à un autre niveau : c'est sans doute "
            "une erreur d'indentation.",
        ),
        (
            ("    verifie_le: 2026-11-01", "verifie_le: 2026-11-01"),
            "19: champ inconnu « verifie_le ». « verifie_le » commence en début de ligne : c'est "
            "sans doute une erreur d'indentation.",
        ),
    ],
    ids=["commune", "champ-de-lien", "champ-de-sujet"],
)
def test_an_entry_at_the_wrong_level_is_said_to_be_an_indentation_mistake(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    assert any(e.startswith(expected) for e in errors(path)), errors(path)
