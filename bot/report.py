"""The staff's review of what citizens could not get answered, from the conversation store.

Usage:
    python -m bot rapport [--jours 7] [--base sqlite:///var/conversations.db] [--sortie var/rapport]

Reads the `events` table that Rasa's SQL tracker store writes (SQLite by
default, PostgreSQL with a `postgresql://` URL) and lists, for the period:

- messages the bot did not understand (fallback) or judged off-topic;
- messages it answered with low confidence (which topic, how sure);
- answers citizens said did not help (the topic and the question asked).

Similar messages are grouped and counted, most frequent first, and personal
data (e-mails, phone numbers…) is masked. Written as CSV (for a spreadsheet)
and as an HTML page; each example can be copied into `data/nlu.yml` as a
training example of the right intent (see the staff guide).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

import sqlalchemy as sa
from spacy.lang.fr.stop_words import STOP_WORDS

from bot.communes import fold
from bot.privacy import mask

__all__ = ["Category", "Group", "build_report", "collect", "write_csv", "write_html"]

FALLBACK = "nlu_fallback"
OFF_TOPIC = "hors_sujet"
NEGATIVE_FEEDBACK = "avis_negatif"
FEEDBACK_ENTITY = "sujet_avis"


class Category:
    """The kinds of unanswered messages, as staff read them."""

    NOT_UNDERSTOOD = "non compris"
    OFF_TOPIC = "hors sujet"
    LOW_CONFIDENCE = "réponse peu sûre"
    NEGATIVE = "avis négatif"

    ORDER = (NOT_UNDERSTOOD, NEGATIVE, LOW_CONFIDENCE, OFF_TOPIC)


@dataclass
class Item:
    """One citizen message worth a look."""

    category: str
    text: str
    topic: str
    confidence: float | None
    when: dt.datetime


@dataclass
class Group:
    """Similar messages of one category and topic, counted."""

    category: str
    topic: str
    texts: Counter[str] = field(default_factory=Counter)
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    confidences: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(self.texts.values())

    @property
    def example(self) -> str:
        return self.texts.most_common(1)[0][0]


_STOP = frozenset(fold(word) for word in STOP_WORDS)


def _words(text: str) -> frozenset[str]:
    return frozenset(w for w in fold(text).split() if w not in _STOP) or frozenset(
        fold(text).split()
    )


def _similar(a: str, b: str) -> bool:
    wa, wb = _words(a), _words(b)
    if wa and wb and len(wa & wb) / len(wa | wb) >= 0.5:
        return True
    return SequenceMatcher(None, fold(a), fold(b)).ratio() >= 0.8


def collect(
    database_url: str,
    since: dt.datetime,
    until: dt.datetime,
    low_confidence: float = 0.6,
) -> list[Item]:
    """The messages of the period that staff should review, personal data masked."""
    engine = sa.create_engine(database_url)
    query = sa.text(
        "SELECT sender_id, type_name, timestamp, intent_name, data FROM events "
        "WHERE timestamp >= :since AND timestamp < :until AND type_name = 'user' "
        "ORDER BY id"
    )
    items: list[Item] = []
    last_question: dict[str, str] = {}
    with engine.connect() as connection:
        rows = connection.execute(query, {"since": since.timestamp(), "until": until.timestamp()})
        for sender, _, timestamp, intent, data in rows:
            event = json.loads(data)
            text = (event.get("text") or "").strip()
            parse = event.get("parse_data") or {}
            confidence = (parse.get("intent") or {}).get("confidence")
            when = dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc)
            if intent == NEGATIVE_FEEDBACK:
                topic = next(
                    (
                        e.get("value")
                        for e in parse.get("entities", [])
                        if e.get("entity") == FEEDBACK_ENTITY
                    ),
                    "",
                )
                question = last_question.get(sender, "")
                items.append(Item(Category.NEGATIVE, mask(question), topic or "", None, when))
                continue
            if text.startswith("/"):
                continue  # a button press: the citizen's own words came before
            last_question[sender] = text
            if intent == FALLBACK:
                items.append(Item(Category.NOT_UNDERSTOOD, mask(text), "", confidence, when))
            elif intent == OFF_TOPIC:
                items.append(Item(Category.OFF_TOPIC, mask(text), "", confidence, when))
            elif confidence is not None and confidence < low_confidence:
                items.append(
                    Item(Category.LOW_CONFIDENCE, mask(text), intent or "", confidence, when)
                )
    engine.dispose()
    return items


def build_report(items: list[Item]) -> list[Group]:
    """Groups similar messages per category and topic, most frequent first."""
    groups: list[Group] = []
    for item in items:
        target = next(
            (
                g
                for g in groups
                if g.category == item.category
                and g.topic == item.topic
                and (item.category == Category.NEGATIVE or _similar(g.example, item.text))
            ),
            None,
        )
        if target is None:
            target = Group(item.category, item.topic)
            groups.append(target)
        target.texts[item.text or "(question inconnue)"] += 1
        target.first = min(target.first or item.when, item.when)
        target.last = max(target.last or item.when, item.when)
        if item.confidence is not None:
            target.confidences.append(item.confidence)
    groups.sort(key=lambda g: (Category.ORDER.index(g.category), -g.count, g.example))
    return groups


def write_csv(groups: list[Group], path: Path) -> None:
    """One line per group, for a spreadsheet (semicolon-separated, UTF-8 with BOM for Excel)."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(
            ["catégorie", "sujet", "nombre", "exemple", "variantes", "confiance moyenne", "dernier"]
        )
        for g in groups:
            variants = " | ".join(text for text, _ in g.texts.most_common()[1:6])
            mean = f"{sum(g.confidences) / len(g.confidences):.2f}" if g.confidences else ""
            last = g.last.astimezone().strftime("%Y-%m-%d %H:%M") if g.last else ""
            writer.writerow([g.category, g.topic, g.count, g.example, variants, mean, last])


def write_html(groups: list[Group], path: Path, since: dt.date, until: dt.date) -> None:
    """A page staff can read in a browser, one table per category."""
    e = html.escape
    parts = [
        "<!doctype html><html lang='fr'><head><meta charset='utf-8'>",
        "<title>Questions sans réponse satisfaisante</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}"
        "table{border-collapse:collapse;width:100%;margin-bottom:2rem}th,td{border:1px solid #888;padding:.4rem;text-align:left;vertical-align:top}"
        "th{background:#eee}code{background:#f3f3f3;padding:.1rem .3rem}</style></head><body>",
        "<h1>Questions sans réponse satisfaisante</h1>",
        f"<p>Du {since.strftime('%d/%m/%Y')} au {until.strftime('%d/%m/%Y')}. Les données personnelles "
        "(courriels, téléphones, numéros) sont masquées. Pour apprendre au bot une formulation, copiez "
        "la ligne <code>- …</code> sous la bonne intention dans <code>data/nlu.yml</code> "
        "(voir le guide des agents).</p>",
    ]
    if not groups:
        parts.append("<p>Aucune question à revoir sur la période.</p>")
    for category in Category.ORDER:
        rows = [g for g in groups if g.category == category]
        if not rows:
            continue
        parts.append(f"<h2>{e(category.capitalize())} ({sum(g.count for g in rows)})</h2>")
        parts.append(
            "<table><thead><tr><th scope='col'>Nombre</th><th scope='col'>Message</th>"
            "<th scope='col'>Sujet</th><th scope='col'>À copier</th></tr></thead><tbody>"
        )
        for g in rows:
            variants = "".join(f"<br><small>{e(t)}</small>" for t, _ in g.texts.most_common()[1:4])
            parts.append(
                f"<tr><td>{g.count}</td><td>{e(g.example)}{variants}</td><td>{e(g.topic)}</td>"
                f"<td><code>- {e(g.example)}</code></td></tr>"
            )
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
