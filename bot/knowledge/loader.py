"""Reads one knowledge file and says, in French with file and line, everything wrong in it.

A file is either accepted whole or refused whole: a refused file never reaches
citizens (the caller keeps serving the last valid version).

The YAML's field names are French, because city staff write them; this
module is the only code that knows them (with `bot.knowledge.hours` for what
`horaires:` holds). It translates them once, into the English attributes of
`bot.knowledge.schema`:

    YAML (staff)            code
    titre                   Topic.title
    reponse                 Topic.answer
    source, service         Topic.source, Topic.service
    verifie_le              Topic.checked_on
    selon_commune           Topic.per_commune
    communes                Topic.commune_variants
    boutons: titre, sujet   Topic.buttons: Button.title, Button.intent
    liens: titre, url       Topic.links: Link.title, Link.url
    horaires                Topic.hours (`bot.knowledge.hours`)
    a_completer             Topic.to_fill
    precisions: mots, texte Topic.precisions (`bot.knowledge.precisions`)
    liens_communes          Topic.commune_links
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from bot.communes import COMMUNES, fold
from bot.knowledge.hours import OpeningHours, parse_hours
from bot.knowledge.precisions import Precision, expression_words, is_common
from bot.knowledge.schema import (
    BOT_MESSAGES,
    LEAD_MAX_CHARS,
    PRECISION_MAX_CHARS,
    TELEGRAM_MAX_CHARS,
    Button,
    Link,
    Problem,
    ThemeFile,
    Topic,
)

__all__ = ["SET_ASIDE", "commune_of_url", "load_file", "read_document"]

REQUIRED_TOPIC_FIELDS = ("titre", "reponse", "source", "service", "verifie_le")
OPTIONAL_TOPIC_FIELDS = (
    "selon_commune",
    "communes",
    "boutons",
    "liens",
    "liens_communes",
    "horaires",
    "precisions",
    "a_completer",
)
TOP_LEVEL_FIELDS = ("theme", "sujets", "messages")

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_SMART_CITY_SOURCE_PREFIX = "Article"


class _Located:
    """A YAML value with the line (1-based) where it starts."""

    __slots__ = ("line", "value")

    def __init__(self, value: Any, line: int) -> None:
        self.value = value
        self.line = line


class _AliasFound(Exception):
    """The file reuses a node through a YAML alias (`*name`): refused, see `_Reader.read`."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class _Reader:
    """Turns a composed YAML node tree into `_Located` values, noting duplicate keys."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[Problem] = []
        self._constructor = yaml.constructor.SafeConstructor()
        self._seen: set[int] = set()

    def read(self, node: yaml.Node) -> _Located:
        line = node.start_mark.line + 1
        # An alias makes one node appear in several places; nested aliases
        # multiply (a few lines can stand for billions of values). Staff never
        # need them, so the first reuse is refused.
        if isinstance(node, yaml.CollectionNode):
            if id(node) in self._seen:
                raise _AliasFound(line)
            self._seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            mapping: dict[str, _Located] = {}
            key_lines: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = str(self._constructor.construct_object(key_node, deep=True))
                key_line = key_node.start_mark.line + 1
                if key in mapping:
                    self.problems.append(
                        Problem(
                            self.path,
                            key_line,
                            f"la clé « {key} » apparaît deux fois (déjà ligne "
                            f"{key_lines[key]}). Gardez-en une seule : la seconde "
                            "effacerait la première sans prévenir.",
                        )
                    )
                    continue
                key_lines[key] = key_line
                value = self.read(value_node)
                mapping[key] = _Located(value.value, key_line)
            return _Located(mapping, line)
        if isinstance(node, yaml.SequenceNode):
            return _Located([self.read(item) for item in node.value], line)
        return _Located(self._constructor.construct_object(node, deep=True), line)


_TOO_DEEP = (
    "le fichier est imbriqué trop profondément pour être un fichier de connaissances : "
    "repartez de l'exemple en tête du fichier."
)


def _plain(located: _Located) -> Any:
    """The plain Python value under a `_Located` tree."""
    value = located.value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _closest(word: str, choices: Iterable[str]) -> str:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Vouliez-vous dire « {matches[0]} » ?" if matches else ""


def not_a_commune(name: str, hint: str | None = None) -> str:
    """The error for a name that is not one of the 37 communes; `hint` defaults to the closest one."""
    hint = _closest(name, COMMUNES) if hint is None else hint
    return (
        f"« {name} » n'est pas l'une des 37 communes de Toulouse Métropole "
        f"(nom officiel attendu).{hint}"
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _item_lines(located: _Located) -> list[int]:
    return [item.line for item in located.value] if isinstance(located.value, list) else []


def _site_label(commune: str) -> str:
    return fold(commune).replace(" ", "-")


# Site names of the communes: "toulouse" for toulouse.fr, "saint-orens-de-gameville"…
_COMMUNE_SITE_LABELS = {
    label: commune
    for commune in COMMUNES
    for label in (_site_label(commune), _site_label(commune).replace("-", ""))
}
_SITE_PREFIXES = ("ville-de-", "mairie-de-", "ville-", "mairie-")


def commune_of_url(url: str) -> str | None:
    """The commune whose own site an address is on (toulouse.fr, mairie-blagnac.fr…), or None.

    The metropole's site (toulouse-metropole.fr) and national sites belong to no commune.
    """
    host = re.sub(r"^https?://", "", url.strip().lower()).split("/", 1)[0].split(":", 1)[0]
    labels = host.split(".")
    if len(labels) < 2:
        return None
    name = labels[-2]
    for prefix in _SITE_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    return _COMMUNE_SITE_LABELS.get(name) or _COMMUNE_SITE_LABELS.get(name.replace("-", ""))


# In the warning of what is left out of a served file (logged by `bot.knowledge.base`):
# a topic whose intent the bot does not know, a button leading to one.
SET_ASIDE = "mis de côté"

# Fields of other levels, and the communes: met as a topic's field, they are misplaced.
_OTHER_LEVEL_FIELDS = frozenset({*TOP_LEVEL_FIELDS, "titre", "sujet", "url", "mots", "texte"})


def _misplaced(key: str, allowed: Iterable[str]) -> str:
    """The hint for an unknown field: an indentation mistake when the name belongs elsewhere."""
    if key in COMMUNES:
        return (
            f" « {key} » est une commune : c'est sans doute une erreur d'indentation. Décalez "
            "la ligne de deux espaces de plus que « communes: » (ou « liens_communes: ») au-dessus."
        )
    if key in _OTHER_LEVEL_FIELDS:
        return (
            f" « {key} » existe, mais à un autre niveau : c'est sans doute une erreur "
            "d'indentation. Alignez la ligne sur ses voisines (des espaces, jamais de tabulation)."
        )
    return _closest(key, allowed)


def _misplaced_at_top(key: str, known_intents: frozenset[str] | None) -> str:
    """The hint for an unknown field at the file's top: a topic or its field not indented enough."""
    if (
        key in REQUIRED_TOPIC_FIELDS + OPTIONAL_TOPIC_FIELDS
        or key in COMMUNES
        or (known_intents is not None and key in known_intents)
    ):
        return (
            f" « {key} » commence en début de ligne : c'est sans doute une erreur d'indentation. "
            "Décalez-le comme ses voisins (un sujet de deux espaces sous « sujets: », ses champs "
            "de quatre)."
        )
    return _closest(key, TOP_LEVEL_FIELDS)


class _TopicChecker:
    """Validates one topic mapping and builds the `Topic` when it is sound."""

    def __init__(
        self,
        path: Path,
        known_intents: frozenset[str] | None,
        today: dt.date,
        max_age_days: int | None,
    ) -> None:
        self.path = path
        self.known_intents = known_intents
        self.today = today
        self.max_age_days = max_age_days
        self.problems: list[Problem] = []
        self._setting_aside: str | None = None

    def error(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, message))

    def warn(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, message, "avertissement"))

    def check(self, name: str, located: _Located) -> Topic | None:
        errors_before = sum(p.severity == "erreur" for p in self.problems)
        if (
            self.known_intents is not None
            and name not in self.known_intents
            and name != self._setting_aside
        ):
            self._set_aside(name, located)
            return None
        if not isinstance(located.value, dict):
            self.error(
                located.line, f"le sujet « {name} » doit contenir des champs (titre, reponse…)."
            )
            return None
        fields: dict[str, _Located] = located.value
        allowed = REQUIRED_TOPIC_FIELDS + OPTIONAL_TOPIC_FIELDS
        for key, value in fields.items():
            if key not in allowed:
                self.error(value.line, f"champ inconnu « {key} ».{_misplaced(key, allowed)}")
        for key in REQUIRED_TOPIC_FIELDS:
            if key not in fields:
                self.error(located.line, f"le sujet « {name} » n'a pas de champ « {key} ».")

        title = self._required_text(fields, "titre")
        answer = self._required_text(fields, "reponse")
        source = self._required_text(fields, "source")
        service = self._required_text(fields, "service")
        per_commune = self._flag(fields, "selon_commune")
        checked_on = self._date(fields, name)
        commune_variants = self._commune_variants(fields)
        buttons = self._buttons(fields)
        links = self._links(fields)
        commune_links = self._commune_links(fields, per_commune)
        precisions = self._precisions(fields)
        to_fill = self._to_fill(fields, name)
        hours = self._hours(fields)
        if source is not None and source.startswith("http") and not source.startswith("https://"):
            self.error(fields["source"].line, "la source doit être une adresse en https://.")
        if source is not None and not source.startswith(("https://", _SMART_CITY_SOURCE_PREFIX)):
            self.error(
                fields["source"].line,
                "la source doit être l'adresse de la page officielle (https://…) "
                "ou la référence de l'article.",
            )
        texts = [(fields["reponse"].line, answer)] if answer is not None else []
        texts += [(fields["communes"].line, text) for text in commune_variants.values()]
        for line, text in texts:
            self._placeholders(line, text, per_commune)
            self._length(line, text, links)
            self._lead_length(line, text)
        if per_commune and "liens" in fields:
            self._links_of_no_commune(fields["liens"].line, links)

        if sum(p.severity == "erreur" for p in self.problems) > errors_before:
            return None
        assert title and answer and source and service and checked_on
        return Topic(
            name=name,
            title=title,
            answer=answer,
            source=source,
            service=service,
            checked_on=checked_on,
            path=self.path,
            line=located.line,
            per_commune=per_commune,
            commune_variants=commune_variants,
            buttons=buttons,
            links=links,
            hours=hours,
            to_fill=to_fill,
            precisions=precisions,
            commune_links=commune_links,
        )

    def _required_text(self, fields: dict[str, _Located], key: str) -> str | None:
        if key not in fields:
            return None
        value = _text(fields[key].value)
        if value is None or not value.strip():
            self.error(fields[key].line, f"le champ « {key} » est vide : écrivez un texte.")
            return None
        return value

    def _flag(self, fields: dict[str, _Located], key: str) -> bool:
        if key not in fields:
            return False
        value = fields[key].value
        if not isinstance(value, bool):
            self.error(fields[key].line, f"« {key} » s'écrit true (oui) ou false (non).")
            return False
        return value

    def _date(self, fields: dict[str, _Located], name: str) -> dt.date | None:
        if "verifie_le" not in fields:
            return None
        value = fields["verifie_le"].value
        line = fields["verifie_le"].line
        if isinstance(value, dt.datetime):
            value = value.date()
        if not isinstance(value, dt.date):
            self.error(
                line,
                "« verifie_le » doit être une date au format AAAA-MM-JJ, par exemple 2026-11-27.",
            )
            return None
        if value > self.today:
            self.error(line, f"la date « verifie_le » ({value.isoformat()}) est dans le futur.")
        elif self.max_age_days is not None and (self.today - value).days > self.max_age_days:
            service = _text(fields["service"].value) if "service" in fields else None
            self.warn(
                line,
                f"réponse « {name} » vérifiée il y a {(self.today - value).days} jours "
                f"(plus de {self.max_age_days}) : à revoir par {service or 'son service responsable'}.",
            )
        return value

    def _commune_variants(self, fields: dict[str, _Located]) -> dict[str, str]:
        if "communes" not in fields:
            return {}
        located = fields["communes"]
        if not isinstance(located.value, dict):
            self.error(located.line, "« communes » doit associer un nom de commune à un texte.")
            return {}
        if not self._flag(fields, "selon_commune"):
            self.error(located.line, "des réponses par commune demandent « selon_commune: true ».")
        variants: dict[str, str] = {}
        for commune, text in located.value.items():
            if commune not in COMMUNES:
                self.error(text.line, not_a_commune(commune))
                continue
            value = _text(text.value)
            if value is None or not value.strip():
                self.error(text.line, f"la réponse pour {commune} est vide.")
                continue
            variants[commune] = value
        return variants

    def _titled_items(
        self, fields: dict[str, _Located], key: str, value_field: str
    ) -> list[tuple[str, str, int]]:
        """The items of a list whose elements have a `titre` and a `value_field`.

        Returns (title, value, line of the value) for each sound item.
        """
        if key not in fields:
            return []
        located = fields[key]
        if not isinstance(located.value, list):
            self.error(
                located.line, f"« {key} » doit être une liste d'éléments commençant par « - »."
            )
            return []
        titled: list[tuple[str, str, int]] = []
        for item in located.value:
            if not isinstance(item.value, dict):
                self.error(
                    item.line,
                    f"chaque élément de « {key} » a un « titre » et un « {value_field} ».",
                )
                continue
            for field_name, field_value in item.value.items():
                if field_name not in ("titre", value_field):
                    self.error(
                        field_value.line,
                        f"champ inconnu « {field_name} » dans « {key} »."
                        f"{_closest(field_name, ('titre', value_field))}",
                    )
            title = _text(item.value.get("titre", _Located(None, 0)).value)
            value = _text(item.value.get(value_field, _Located(None, 0)).value)
            if not title or not value:
                self.error(
                    item.line,
                    f"chaque élément de « {key} » a un « titre » et un « {value_field} » non vides.",
                )
                continue
            titled.append((title.strip(), value.strip(), item.value[value_field].line))
        return titled

    def _set_aside(self, name: str, located: _Located) -> None:
        """A topic whose intent the bot does not know: checked, said in warnings, not served.

        The rest of its file keeps serving: a topic being written must not
        hold back an unrelated edit.
        """
        assert self.known_intents is not None
        start = len(self.problems)
        self._setting_aside = name
        try:
            self.check(name, located)
        finally:
            self._setting_aside = None
        found = self.problems[start:]
        del self.problems[start:]
        self.warn(
            located.line,
            f"sujet {SET_ASIDE} : « {name} » ne correspond à aucune intention que le bot sait "
            f"reconnaître.{_closest(name, self.known_intents)} Le reste du fichier est servi ; "
            "les habitants ne peuvent pas encore atteindre ce sujet. Il lui faut : l'intention "
            f"« {name} » dans domain.yml (intents:), au moins 20 exemples de questions dans "
            "data/nlu.yml, l'intention dans la règle de data/rules.yml, puis make train et "
            "redémarrer le bot (guide, section 7).",
        )
        for problem in found:
            self.warn(problem.line, f"(dans le sujet mis de côté « {name} ») {problem.message}")

    def _buttons(self, fields: dict[str, _Located]) -> tuple[Button, ...]:
        buttons = []
        for title, intent, line in self._titled_items(fields, "boutons", "sujet"):
            if self.known_intents is not None and intent not in self.known_intents:
                self.warn(
                    line,
                    f"bouton « {title} » {SET_ASIDE} : il mène au sujet « {intent} », que le bot "
                    f"ne connaît pas (encore).{_closest(intent, self.known_intents)}",
                )
                continue
            buttons.append(Button(title, intent))
        return tuple(buttons)

    def _links(self, fields: dict[str, _Located], key: str = "liens") -> tuple[Link, ...]:
        links = []
        for title, url, line in self._titled_items(fields, key, "url"):
            if not re.fullmatch(r"https://[^\s/]+\.[^\s]+", url):
                self.error(
                    line,
                    f"le lien « {url} » doit être une adresse complète en https:// "
                    "(les adresses http:// ne sont pas sûres).",
                )
                continue
            links.append(Link(title, url))
        return tuple(links)

    def _commune_links(
        self, fields: dict[str, _Located], per_commune: bool
    ) -> dict[str, tuple[Link, ...]]:
        if "liens_communes" not in fields:
            return {}
        located = fields["liens_communes"]
        if not isinstance(located.value, dict):
            self.error(
                located.line,
                "« liens_communes » associe un nom de commune à une liste de liens (titre, url).",
            )
            return {}
        if not per_commune:
            self.error(located.line, "des liens par commune demandent « selon_commune: true ».")
        by_commune: dict[str, tuple[Link, ...]] = {}
        for commune, items in located.value.items():
            if commune not in COMMUNES:
                self.error(items.line, not_a_commune(commune))
                continue
            links = self._links({"liens_communes": items}, "liens_communes")
            for link, line in zip(links, _item_lines(items), strict=False):
                owner = commune_of_url(link.url)
                if owner is not None and owner != commune:
                    self.error(
                        line,
                        f"le lien « {link.url} » est celui de {owner}, pas de {commune} : "
                        f"les habitants de {commune} doivent recevoir le site de leur commune ou, "
                        "à défaut, celui de Toulouse Métropole.",
                    )
            by_commune[commune] = links
        return by_commune

    def _links_of_no_commune(self, line: int, links: tuple[Link, ...]) -> None:
        # A per-commune answer shows `liens` to the residents of all 37 communes.
        for link in links:
            owner = commune_of_url(link.url)
            if owner is not None:
                self.error(
                    line,
                    f"le lien « {link.title} » ({link.url}) est le site de {owner} : cette réponse "
                    "dépend de la commune, il serait montré aux habitants des autres communes. "
                    f"Placez-le sous « liens_communes: » puis « {owner}: ».",
                )

    def _precisions(self, fields: dict[str, _Located]) -> tuple[Precision, ...]:
        if "precisions" not in fields:
            return ()
        located = fields["precisions"]
        if not isinstance(located.value, list):
            self.error(
                located.line,
                "« precisions » doit être une liste d'éléments commençant par « - », "
                "chacun avec « mots » et « texte ».",
            )
            return ()
        precisions: list[Precision] = []
        for item in located.value:
            if not isinstance(item.value, dict):
                self.error(item.line, "chaque précision a des « mots » et un « texte ».")
                continue
            for key, value in item.value.items():
                if key not in ("mots", "texte"):
                    self.error(
                        value.line,
                        f"champ inconnu « {key} » dans « precisions ».{_closest(key, ('mots', 'texte'))}",
                    )
            text = _text(item.value["texte"].value) if "texte" in item.value else None
            if text is None or not text.strip():
                self.error(
                    item.line, "la précision n'a pas de « texte » : écrivez une ou deux phrases."
                )
                continue
            text = " ".join(text.split())
            if len(text) > PRECISION_MAX_CHARS:
                self.warn(
                    item.value["texte"].line,
                    f"précision de {len(text)} caractères (plus de {PRECISION_MAX_CHARS}) : "
                    "une ou deux phrases courtes suffisent, le reste est dans la réponse.",
                )
            expressions = self._trigger_words(item)
            if expressions:
                precisions.append(Precision(expressions, text, item.line))
        return tuple(precisions)

    def _trigger_words(self, item: _Located) -> tuple[tuple[str, ...], ...]:
        words = item.value.get("mots")
        if words is None:
            self.error(
                item.line,
                "la précision n'a pas de « mots » : la liste des mots qui la déclenchent.",
            )
            return ()
        entries = words.value if isinstance(words.value, list) else [words]
        expressions: list[tuple[str, ...]] = []
        for entry in entries:
            raw = entry.value
            if not isinstance(raw, (str, int)) or not expression_words(str(raw)):
                self.error(
                    entry.line, "un mot déclencheur est vide : écrivez un mot ou une expression."
                )
                continue
            expression = expression_words(str(raw))
            if is_common(expression):
                self.error(
                    entry.line,
                    f"« {raw} » est trop courant pour déclencher une précision (il figure dans des "
                    "questions sur tous les sujets) : choisissez un mot propre à cette question, "
                    "ou une expression qui en contient un (par exemple « qui a gagné »).",
                )
                continue
            expressions.append(expression)
        return tuple(expressions)

    def _hours(self, fields: dict[str, _Located]) -> OpeningHours | None:
        if "horaires" not in fields:
            return None
        located = fields["horaires"]
        if not isinstance(located.value, dict):
            self.error(
                located.line,
                "« horaires » donne les heures de chaque jour, par exemple « lundi: 08:30-12:00 ».",
            )
            return None
        try:
            return parse_hours({key: _plain(value) for key, value in located.value.items()})
        except ValueError as error:
            self.error(located.line, f"horaires : {error}.")
            return None

    def _to_fill(self, fields: dict[str, _Located], name: str) -> tuple[str, ...]:
        if "a_completer" not in fields:
            return ()
        located = fields["a_completer"]
        items = located.value if isinstance(located.value, list) else [located]
        notes = tuple(str(item.value).strip() for item in items if str(item.value).strip())
        for note in notes:
            self.warn(located.line, f"à compléter dans « {name} » : {note}")
        return notes

    def _placeholders(self, line: int, text: str, per_commune: bool) -> None:
        for placeholder in _PLACEHOLDER.findall(text):
            if placeholder != "commune":
                self.error(
                    line, f"« {{{placeholder}}} » n'est pas reconnu : seul {{commune}} l'est."
                )
            elif not per_commune:
                self.error(line, "{commune} n'est utilisable qu'avec « selon_commune: true ».")

    def _lead_length(self, line: int, text: str) -> None:
        lead = text.strip().split("\n\n", 1)[0]
        if len(lead) > LEAD_MAX_CHARS:
            self.warn(
                line,
                f"premier paragraphe de {len(lead)} caractères (plus de {LEAD_MAX_CHARS}) : sur un "
                "téléphone, il faut faire défiler deux fois avant « En savoir plus ». Mettez "
                "l'essentiel dans une ou deux phrases, puis une ligne vide avant la suite.",
            )

    def _length(self, line: int, text: str, links: tuple[Link, ...]) -> None:
        # Each link is shown as "- title : url" on a line of its own.
        shown_chars = len(text) + sum(len(link.title) + len(link.url) + 6 for link in links)
        if shown_chars > TELEGRAM_MAX_CHARS:
            self.warn(
                line,
                f"réponse de {shown_chars} caractères : trop longue pour un seul message Telegram "
                f"({TELEGRAM_MAX_CHARS}) ; elle sera coupée en plusieurs messages.",
            )


def read_document(path: Path) -> tuple[_Located | None, list[Problem]]:
    """Reads a staff-edited YAML file into `_Located` values, or says in French why it cannot.

    Shared by the theme files and `communes.yml`: the same refusals (not UTF-8, syntax,
    forbidden characters, aliases, absurd nesting), with file and line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        return None, [
            Problem(
                path,
                1,
                f"le fichier n'est pas en UTF-8 ({error.reason}) : enregistrez-le en UTF-8.",
            )
        ]
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        return None, [Problem(path, _error_line(error), _syntax_message(error, text))]
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        return None, [
            Problem(
                path,
                line,
                f"caractère interdit (code {error.character:#04x}) : supprimez-le, il ne peut "
                "pas figurer dans un fichier de connaissances.",
            )
        ]
    except RecursionError:
        return None, [Problem(path, 1, _TOO_DEEP)]
    if node is None:
        return None, [Problem(path, 1, "le fichier est vide.")]

    reader = _Reader(path)
    try:
        root = reader.read(node)
    except _AliasFound as alias:
        return None, [
            Problem(
                path,
                alias.line,
                "les renvois YAML (« &nom » puis « *nom ») ne sont pas acceptés : écrivez le "
                "texte en entier à chaque endroit.",
            )
        ]
    except RecursionError:
        return None, [Problem(path, 1, _TOO_DEEP)]
    return root, reader.problems


def load_file(
    path: Path,
    known_intents: frozenset[str] | None = None,
    *,
    today: dt.date | None = None,
    max_age_days: int | None = None,
) -> tuple[ThemeFile | None, list[Problem]]:
    """Reads a knowledge file; returns it (None if any error) and every problem found.

    Args:
        path: the YAML file.
        known_intents: the bot's intents; topics and buttons must name one of them.
        today: the date staleness is measured against (today by default).
        max_age_days: warn about answers checked longer ago than this.
    """
    today = today or dt.date.today()
    root, problems = read_document(path)
    if root is None:
        return None, problems
    if not isinstance(root.value, dict):
        return None, [
            *problems,
            Problem(path, root.line, "le fichier doit commencer par « theme: » puis « sujets: »."),
        ]
    top: dict[str, _Located] = root.value
    for key, value in top.items():
        if key not in TOP_LEVEL_FIELDS:
            problems.append(
                Problem(
                    path,
                    value.line,
                    f"champ inconnu « {key} ».{_misplaced_at_top(key, known_intents)}",
                )
            )
    theme = _text(top["theme"].value) if "theme" in top else None
    if not theme:
        problems.append(Problem(path, 1, "il manque « theme: » suivi du titre du thème."))

    theme_file = ThemeFile(path=path, theme=theme or "")
    checker = _TopicChecker(path, known_intents, today, max_age_days)
    topics = top.get("sujets")
    if topics is not None and not isinstance(topics.value, dict):
        problems.append(
            Problem(
                path, topics.line, "« sujets » doit contenir des sujets nommés par leur intention."
            )
        )
    elif topics is not None:
        for name, located in topics.value.items():
            topic = checker.check(name, located)
            if topic is not None:
                theme_file.topics[name] = topic
    problems.extend(checker.problems)

    if "messages" in top:
        theme_file.messages = _messages(path, top["messages"], problems)
    elif topics is None:
        problems.append(Problem(path, 1, "il manque « sujets: » (les réponses du thème)."))

    if any(p.severity == "erreur" for p in problems):
        return None, problems
    return theme_file, problems


# The parser's usual complaints, said the way a staff member can act on them.
_SYNTAX_HINTS = (
    (
        "could not find expected ':'",
        "il manque « : » après un nom de champ, ou une ligne est mal indentée",
    ),
    (
        "mapping values are not allowed here",
        "un « : » est mal placé ; un texte qui contient « : » s'écrit sous « | » ou entre guillemets",
    ),
    ("cannot start any token", "un caractère interdit commence la ligne (souvent une tabulation)"),
    ("expected <block end>", "l'indentation ne correspond pas à celle des lignes voisines"),
    ("found duplicate anchor", "un « & » est utilisé deux fois"),
)


def _error_line(error: yaml.MarkedYAMLError) -> int:
    mark = error.problem_mark or error.context_mark
    # "while scanning a simple key": the culprit is where the key started, not
    # where the parser gave up (the next line).
    if error.context and "simple key" in error.context and error.context_mark is not None:
        mark = error.context_mark
    return mark.line + 1 if mark else 1


def _syntax_message(error: yaml.MarkedYAMLError, text: str) -> str:
    problem = (error.problem or "").strip()
    hint = next((french for english, french in _SYNTAX_HINTS if english in problem), None)
    detail = hint or f"le lecteur YAML signale : {problem}"
    tabs = " Les tabulations sont interdites : indentez avec des espaces." if "\t" in text else ""
    return (
        f"erreur de syntaxe YAML : {detail}. Vérifiez l'indentation (des espaces), les deux-points "
        f"et que les textes sur plusieurs lignes commencent par « | ».{tabs}"
    )


def _messages(path: Path, located: _Located, problems: list[Problem]) -> dict[str, str]:
    if not isinstance(located.value, dict):
        problems.append(
            Problem(path, located.line, "« messages » doit associer un nom de message à un texte.")
        )
        return {}
    messages: dict[str, str] = {}
    for name, value in located.value.items():
        if name not in BOT_MESSAGES:
            problems.append(
                Problem(
                    path, value.line, f"message inconnu « {name} ».{_closest(name, BOT_MESSAGES)}"
                )
            )
            continue
        text = _text(value.value)
        if not text or not text.strip():
            problems.append(Problem(path, value.line, f"le message « {name} » est vide."))
            continue
        for placeholder in _PLACEHOLDER.findall(text):
            if placeholder != "commune" or "{commune}" not in BOT_MESSAGES[name]:
                problems.append(
                    Problem(
                        path, value.line, f"« {{{placeholder}}} » n'est pas permis dans « {name} »."
                    )
                )
        messages[name] = text.strip()
    return messages
