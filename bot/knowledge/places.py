"""Reads `knowledge/communes.yml`, the communes' other spellings and the places outside, with French checks.

    communes:                    # the 37 communes (official names) and their other spellings
      Saint-Orens-de-Gameville:
        - st orens
    hors_metropole:              # places outside the metropole, each with its other spellings
      Portet-sur-Garonne:
        - portet
      Muret:                     # no other spelling: nothing after the colon

Like the theme files, the file is accepted whole or refused whole; a refused
file leaves the last good version serving (`bot.communes`). Refused: a
spelling given to two places (which one would the bot choose?), a spelling
that is a common French word ("pour", "la mairie": every message with it
would name the place), a spelling too short to be told apart from a word, a
commune that is not one of the 37 official names.
"""

from __future__ import annotations

from pathlib import Path

from bot.communes import COMMUNES, Places, common_words, fold
from bot.knowledge.loader import _closest, _Located, read_document
from bot.knowledge.schema import Problem

__all__ = ["FIELDS", "MIN_VARIANT_CHARS", "load_places"]

FIELDS = ("communes", "hors_metropole")
MIN_VARIANT_CHARS = 4  # "tlse" is the shortest spelling people use


def _indentation_hint(key: str, where: str) -> str:
    return (
        f" « {key} » semble mal indenté : il doit être décalé sous « {where}: » "
        "(deux espaces de plus que la ligne « " + where + ": »)."
    )


def load_places(path: Path) -> tuple[Places | None, list[Problem]]:
    """Reads a communes file; returns its places (None if any error) and every problem found."""
    root, problems = read_document(path)
    if root is None:
        return None, problems
    if not isinstance(root.value, dict):
        problems.append(
            Problem(
                path,
                root.line,
                "le fichier doit commencer par « communes: » puis « hors_metropole: ».",
            )
        )
        return None, problems
    top: dict[str, _Located] = root.value
    for key, value in top.items():
        if key in FIELDS:
            continue
        hint = _indentation_hint(key, "communes") if key in COMMUNES else _closest(key, FIELDS)
        problems.append(Problem(path, value.line, f"champ inconnu « {key} ».{hint}"))

    owners: dict[str, tuple[str, int]] = {}  # folded spelling or name -> (place, line)
    for name in COMMUNES:
        owners[fold(name)] = (name, 0)
    variants: dict[str, str] = {}
    outside: list[str] = []

    def claim(spelling: str, place: str, line: int, *, is_name: bool = False) -> bool:
        folded = fold(spelling)
        earlier = owners.get(folded)
        if earlier is not None and earlier[0] != place:
            where = f" (ligne {earlier[1]})" if earlier[1] else " (c'est son nom officiel)"
            problems.append(
                Problem(
                    path,
                    line,
                    f"« {spelling} » est déjà l'écriture de {earlier[0]}{where} : une écriture "
                    "ne peut désigner qu'un seul lieu. Retirez-la de l'un des deux.",
                )
            )
            return False
        if earlier is not None:
            if not is_name and earlier[1] == 0:
                problems.append(
                    Problem(
                        path,
                        line,
                        f"« {spelling} » est déjà reconnu : c'est le nom officiel une fois "
                        "majuscules, accents, tirets et « st » ignorés. Cette ligne est inutile.",
                        "avertissement",
                    )
                )
            elif not is_name:
                problems.append(
                    Problem(
                        path,
                        line,
                        f"« {spelling} » répète l'écriture de la ligne {earlier[1]} "
                        "(majuscules, accents, tirets et « st » ignorés) : cette ligne est inutile.",
                        "avertissement",
                    )
                )
            return False
        owners[folded] = (place, line)
        return True

    def spellings(place: str, located: _Located) -> list[tuple[str, int]]:
        value = located.value
        if value is None:
            return []
        items = value if isinstance(value, list) else [located]
        found: list[tuple[str, int]] = []
        for item in items:
            if isinstance(item.value, dict):
                problems.append(
                    Problem(
                        path,
                        item.line,
                        f"sous « {place} », une écriture par ligne, précédée de « - ». "
                        + (
                            _indentation_hint(place, "communes").strip()
                            if place in COMMUNES
                            else "Un nom de lieu est peut-être mal indenté."
                        ),
                    )
                )
                continue
            if not isinstance(item.value, str) or not item.value.strip():
                problems.append(
                    Problem(path, item.line, f"écriture vide ou illisible sous « {place} ».")
                )
                continue
            found.append((item.value.strip(), item.line))
        return found

    def check_spelling(spelling: str, place: str, line: int) -> bool:
        folded = fold(spelling)
        if len(folded.replace(" ", "")) < MIN_VARIANT_CHARS:
            problems.append(
                Problem(
                    path,
                    line,
                    f"l'écriture « {spelling} » de {place} est trop courte (moins de "
                    f"{MIN_VARIANT_CHARS} lettres) : le bot la confondrait avec des mots ordinaires.",
                )
            )
            return False
        if all(word in common_words() for word in folded.split()):
            problems.append(
                Problem(
                    path,
                    line,
                    f"l'écriture « {spelling} » de {place} est un mot courant du français : "
                    "chaque message qui le contient serait lu comme nommant ce lieu. Retirez-la.",
                )
            )
            return False
        return True

    communes = top.get("communes")
    if communes is not None and communes.value is not None:
        if not isinstance(communes.value, dict):
            problems.append(
                Problem(
                    path, communes.line, "« communes » associe un nom officiel à ses écritures."
                )
            )
        else:
            for name, located in communes.value.items():
                if name not in COMMUNES:
                    hint = (
                        _indentation_hint(name, "hors_metropole").replace("décalé", "placé")
                        if name in FIELDS
                        else _closest(name, COMMUNES)
                    )
                    problems.append(
                        Problem(
                            path,
                            located.line,
                            f"« {name} » n'est pas l'une des 37 communes de Toulouse Métropole "
                            f"(nom officiel attendu ; un lieu hors de la Métropole va sous "
                            f"« hors_metropole: »).{hint}",
                        )
                    )
                    continue
                for spelling, line in spellings(name, located):
                    if check_spelling(spelling, name, line) and claim(spelling, name, line):
                        variants[spelling] = name

    places = top.get("hors_metropole")
    if places is not None and places.value is not None:
        if not isinstance(places.value, dict):
            problems.append(
                Problem(
                    path,
                    places.line,
                    "« hors_metropole » associe le nom d'un lieu à ses écritures "
                    "(« Muret: » seul s'il n'en a pas).",
                )
            )
        else:
            for name, located in places.value.items():
                if name in FIELDS:
                    problems.append(
                        Problem(
                            path,
                            located.line,
                            f"« {name} » est une rubrique du fichier, pas un lieu : "
                            "elle doit commencer en début de ligne, sans décalage.",
                        )
                    )
                    continue
                if name in COMMUNES:
                    problems.append(
                        Problem(
                            path,
                            located.line,
                            f"{name} est une commune de la Métropole : "
                            "ses écritures vont sous « communes: ».",
                        )
                    )
                    continue
                if not fold(name) or not claim(name, name, located.line, is_name=True):
                    if not fold(name):
                        problems.append(Problem(path, located.line, "nom de lieu vide."))
                    continue
                outside.append(name)
                for spelling, line in spellings(name, located):
                    if check_spelling(spelling, name, line) and claim(spelling, name, line):
                        variants[spelling] = name

    if any(p.severity == "erreur" for p in problems):
        return None, problems
    return Places(variants=variants, outside=tuple(outside)), problems
