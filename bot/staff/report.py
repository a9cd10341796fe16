"""The staff's review of what citizens could not get answered, from the conversation store.

Usage:
    python -m bot rapport [--jours 7] [--base sqlite:///var/conversations.db] [--sortie var/rapport]

Reads the `events` table that Rasa's SQL tracker store writes (SQLite by
default, PostgreSQL with a `postgresql://` URL) and lists, for the period:

- messages the bot did not understand (fallback) or judged off-topic;
- messages it answered with low confidence (which topic, how sure);
- answers citizens said did not help (the topic and the question asked),
  whether they pressed "Non" or typed it: the topic and question come from
  the conversation's last answered question before the feedback;
- for each group, the topics the bot hesitated between (from the stored
  `intent_ranking`): where an example belongs, or that a new topic is needed;
- charts (`bot.staff.charts`): questions per day with the not-understood
  rate, and the most asked topics, each with a French text alternative.

Staff's own questions (`python -m bot demander`) are left out.

Similar messages are grouped and counted, most frequent first, and personal
data (e-mails, phone numbers, names…) is masked (`bot.privacy.mask`). Written
as CSV (for a spreadsheet) and as an HTML page; each example can be copied
into `data/nlu.yml` as a training example of the right intent (see the staff
guide).

Whatever citizens typed, the report is written, in bounded time:

- control characters are removed (line breaks and tabs become spaces), so a
  NUL or an escape sequence neither breaks the CSV nor reaches the page;
- only the start of a message is masked and shown (`SHOWN_CHARS`, then "…"),
  and only its first `COMPARED_CHARS` characters are compared for grouping;
- a CSV cell that a spreadsheet would read as a formula (starting with `=`,
  `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'` (OWASP's
  advice against CSV injection); the HTML page escapes everything.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import html
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bot.communes import fold
from bot.domain import (
    ENTITY_FEEDBACK_TOPIC,
    INTENT_FALLBACK,
    INTENT_FEEDBACK_NO,
    INTENT_FEEDBACK_YES,
    INTENT_GIVE_COMMUNE,
    INTENT_OFF_TOPIC,
)
from bot.privacy import mask
from bot.staff.ask import STAFF_SENDER_PREFIX

__all__ = [
    "COMPARED_CHARS",
    "SHOWN_CHARS",
    "Activity",
    "Category",
    "Group",
    "build_report",
    "clean",
    "collect",
    "write_csv",
    "write_html",
]

logger = logging.getLogger(__name__)

SHOWN_CHARS = 300  # a message is shown (and masked) up to this length, then "…"
COMPARED_CHARS = 200  # grouping compares messages on their start only
# Nothing past this is read from a message: what follows is never shown.
_READ_CHARS = 10_000
_TOPIC_CHARS = 100
_RANKED = 3  # closest topics kept per message, and shown per group
# Intents that are no topic: a feedback, a commune given, the NLU's fallback.
_NOT_TOPICS = frozenset(
    {INTENT_FALLBACK, INTENT_FEEDBACK_NO, INTENT_FEEDBACK_YES, INTENT_GIVE_COMMUNE}
)


class Category:
    """The kinds of unanswered messages, as staff read them."""

    NOT_UNDERSTOOD = "non compris"
    OFF_TOPIC = "hors sujet"
    LOW_CONFIDENCE = "réponse peu sûre"
    NEGATIVE = "avis négatif"

    ORDER = (NOT_UNDERSTOOD, NEGATIVE, LOW_CONFIDENCE, OFF_TOPIC)


@dataclass
class FlaggedMessage:
    """One citizen message worth a look."""

    category: str
    text: str
    topic: str
    confidence: float | None
    when: dt.datetime
    # The closest topics the bot considered (name, confidence), best first.
    ranking: tuple[tuple[str, float], ...] = ()


@dataclass
class Activity:
    """What the period's citizens asked, counted: what the charts draw."""

    per_day: Counter[dt.date] = field(default_factory=Counter)
    not_understood_per_day: Counter[dt.date] = field(default_factory=Counter)
    topics: Counter[str] = field(default_factory=Counter)


@dataclass
class Group:
    """Similar messages of one category and topic, counted."""

    category: str
    topic: str
    texts: Counter[str] = field(default_factory=Counter)
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    confidences: list[float] = field(default_factory=list)
    # Summed confidence of each topic the bot hesitated between, over the group's messages.
    hesitations: dict[str, float] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(self.texts.values())

    @property
    def closest_topics(self) -> list[tuple[str, float]]:
        """The topics the bot hesitated between, with their mean confidence, closest first."""
        ranked = sorted(self.hesitations.items(), key=lambda item: (-item[1], item[0]))
        return [(topic, total / self.count) for topic, total in ranked[:_RANKED]]

    @property
    def example(self) -> str:
        return self.texts.most_common(1)[0][0]


# Line breaks, tabs and other separators become spaces; other control and
# format characters (NUL, escape sequences, bidirectional overrides, lone
# surrogates that cannot be written as UTF-8) are dropped.
_SPACES = re.compile(r"[\t\n\v\f\r\x1c-\x1f\x85\u2028\u2029]+")
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    r"\ufeff\ud800-\udfff]+"
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def clean(text: str, limit: int = SHOWN_CHARS) -> str:
    """A citizen's text as staff may read it: one line, personal data masked, `limit` characters at most.

    A longer text is cut and ends with "…". Bounded cost whatever the length.
    """
    text = _INVISIBLE.sub("", _SPACES.sub(" ", text[:_READ_CHARS])).strip()
    masked_chars = limit + 100
    if len(text) > masked_chars:
        # Cut between words where possible, so that no number is masked half.
        cut = text.rfind(" ", limit, masked_chars)
        text = text[: cut if cut > 0 else masked_chars]
    text = mask(text)
    if len(text) > limit:
        text = text[:limit].rstrip() + "…"
    return text


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


@functools.cache
def _stop_words() -> frozenset[str]:
    from spacy.lang.fr.stop_words import STOP_WORDS

    return frozenset(fold(word) for word in STOP_WORDS)


@functools.lru_cache(maxsize=16384)
def _signature(text: str) -> tuple[str, frozenset[str]]:
    """The folded start of a text and its significant words: what grouping compares."""
    folded = fold(text[:COMPARED_CHARS])
    words = folded.split()
    stop = _stop_words()
    return folded, frozenset(w for w in words if w not in stop) or frozenset(words)


def _similar(a: str, b: str) -> bool:
    (fa, wa), (fb, wb) = _signature(a), _signature(b)
    if wa and wb and len(wa & wb) / len(wa | wb) >= 0.5:
        return True
    matcher = SequenceMatcher(None, fa, fb)
    # The cheap upper bounds first: most pairs stop there.
    return (
        matcher.real_quick_ratio() >= 0.8
        and matcher.quick_ratio() >= 0.8
        and matcher.ratio() >= 0.8
    )


def _event(data: Any) -> dict[str, Any] | None:
    """A stored user event as a dict, or None if it is not one (never fatal)."""
    try:
        event = json.loads(data) if isinstance(data, (str, bytes)) else None
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        return None
    return event if isinstance(event, dict) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _feedback_topic(parse: dict[str, Any]) -> str:
    entities = parse.get("entities")
    for entity in entities if isinstance(entities, list) else []:
        if isinstance(entity, dict) and entity.get("entity") == ENTITY_FEEDBACK_TOPIC:
            return clean(str(entity.get("value") or ""), _TOPIC_CHARS)
    return ""


def _ranking(parse: dict[str, Any]) -> tuple[tuple[str, float], ...]:
    """The closest topics of a parse (`intent_ranking`), fallback and non-topics left out."""
    ranked: list[tuple[str, float]] = []
    items = parse.get("intent_ranking")
    for item in items[:20] if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        name, confidence = item.get("name"), item.get("confidence")
        if (
            isinstance(name, str)
            and name not in _NOT_TOPICS
            and name != INTENT_OFF_TOPIC
            and isinstance(confidence, (int, float))
            and not isinstance(confidence, bool)
        ):
            ranked.append((clean(name, _TOPIC_CHARS), float(confidence)))
        if len(ranked) == _RANKED:
            break
    return tuple(ranked)


def collect(
    database_url: str,
    since: dt.datetime,
    until: dt.datetime,
    low_confidence: float = 0.6,
    activity: Activity | None = None,
) -> list[FlaggedMessage]:
    """The messages of the period that staff should review, cleaned and personal data masked.

    A row that is not a readable user event is skipped (and counted in the log).
    With `activity`, also counts every citizen message per day and per topic.
    """
    engine = sa.create_engine(database_url)
    query = sa.text(
        "SELECT sender_id, type_name, timestamp, intent_name, data FROM events "
        "WHERE timestamp >= :since AND timestamp < :until AND type_name = 'user' "
        "ORDER BY id"
    )
    flagged: list[FlaggedMessage] = []
    # Each conversation's last answered question: its raw start (cleaned only
    # if a feedback asks for it) and its topic. A feedback is about it.
    last_question: dict[str, tuple[str, str]] = {}
    unreadable = 0
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                query, {"since": since.timestamp(), "until": until.timestamp()}
            )
            for sender, _, timestamp, intent, data in rows:
                if isinstance(sender, str) and sender.startswith(STAFF_SENDER_PREFIX):
                    continue
                event = _event(data)
                text = event.get("text") if event else None
                if event is None or not isinstance(text, (str, type(None))):
                    unreadable += 1
                    continue
                text = (text or "")[:_READ_CHARS].strip()
                parse = _dict(event.get("parse_data"))
                confidence = _dict(parse.get("intent")).get("confidence")
                if not isinstance(confidence, (int, float)) or isinstance(confidence, bool):
                    confidence = None
                when = dt.datetime.fromtimestamp(float(timestamp), tz=dt.timezone.utc)
                intent = intent if isinstance(intent, str) else ""
                button = text.startswith("/")
                if activity is not None:
                    day = when.astimezone().date()
                    activity.per_day[day] += 1
                    if intent == INTENT_FALLBACK:
                        activity.not_understood_per_day[day] += 1
                    elif intent and intent not in _NOT_TOPICS:
                        activity.topics[clean(intent, _TOPIC_CHARS)] += 1
                if intent == INTENT_FEEDBACK_NO:
                    question, last_topic = last_question.get(sender, ("", ""))
                    topic = _feedback_topic(parse) or clean(last_topic, _TOPIC_CHARS)
                    flagged.append(
                        FlaggedMessage(Category.NEGATIVE, clean(question), topic, None, when)
                    )
                    continue
                if intent and intent not in _NOT_TOPICS and intent != INTENT_OFF_TOPIC:
                    # A button press names its topic; the question is the words typed before.
                    earlier = last_question.get(sender, ("", ""))[0]
                    last_question[sender] = (earlier if button else text, intent)
                elif not button and intent != INTENT_GIVE_COMMUNE:
                    last_question[sender] = (text, "")
                if button:
                    continue  # the citizen's own words came before
                ranking = _ranking(parse)
                if intent == INTENT_FALLBACK:
                    flagged.append(
                        FlaggedMessage(
                            Category.NOT_UNDERSTOOD, clean(text), "", confidence, when, ranking
                        )
                    )
                elif intent == INTENT_OFF_TOPIC:
                    flagged.append(
                        FlaggedMessage(
                            Category.OFF_TOPIC, clean(text), "", confidence, when, ranking
                        )
                    )
                elif confidence is not None and confidence < low_confidence:
                    topic = clean(intent, _TOPIC_CHARS)
                    flagged.append(
                        FlaggedMessage(
                            Category.LOW_CONFIDENCE, clean(text), topic, confidence, when, ranking
                        )
                    )
    finally:
        engine.dispose()
    if unreadable:
        logger.warning("Rapport : %d événement(s) illisible(s) ignoré(s).", unreadable)
    return flagged


def build_report(flagged: list[FlaggedMessage]) -> list[Group]:
    """Groups similar messages per category and topic, most frequent first."""
    groups: list[Group] = []
    for message in flagged:
        target = next(
            (
                group
                for group in groups
                if group.category == message.category
                and group.topic == message.topic
                and (message.category == Category.NEGATIVE or _similar(group.example, message.text))
            ),
            None,
        )
        if target is None:
            target = Group(message.category, message.topic)
            groups.append(target)
        target.texts[message.text or "(question inconnue)"] += 1
        target.first_seen = min(target.first_seen or message.when, message.when)
        target.last_seen = max(target.last_seen or message.when, message.when)
        if message.confidence is not None:
            target.confidences.append(message.confidence)
        for topic, confidence in message.ranking:
            target.hesitations[topic] = target.hesitations.get(topic, 0.0) + confidence
    groups.sort(
        key=lambda group: (Category.ORDER.index(group.category), -group.count, group.example)
    )
    return groups


def write_csv(groups: list[Group], path: Path) -> None:
    """One line per group, for a spreadsheet (semicolon-separated, UTF-8 with BOM for Excel).

    No cell starts like a formula: those get a leading `'`.
    """
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(
            [
                "catégorie",
                "sujet",
                "nombre",
                "exemple",
                "variantes",
                "confiance moyenne",
                "dernier",
                "sujets proches",
            ]
        )
        for group in groups:
            variants = " | ".join(text for text, _ in group.texts.most_common()[1:6])
            confidences = group.confidences
            mean = f"{sum(confidences) / len(confidences):.2f}" if confidences else ""
            last_seen = group.last_seen
            last = last_seen.astimezone().strftime("%Y-%m-%d %H:%M") if last_seen else ""
            closest = _closest_text(group)
            row = [group.category, group.topic, group.count, group.example, variants, mean, last]
            row.append(closest)
            writer.writerow([_cell(value) for value in row])


def _closest_text(group: Group) -> str:
    return ", ".join(
        f"{topic} ({confidence:.2f})".replace(".", ",")
        for topic, confidence in group.closest_topics
    )


def _charts_html(activity: Activity, since: dt.date, until: dt.date) -> list[str]:
    from bot.staff.charts import activity_chart, topics_chart

    escape = html.escape
    parts = ["<h2>En images</h2>"]
    for chart in (
        activity_chart(activity.per_day, activity.not_understood_per_day, since, until),
        topics_chart(activity.topics),
    ):
        parts.append(
            f"<figure><img src='{chart.image}' alt='{escape(chart.title)} (détail ci-dessous)'>"
            f"<figcaption>{escape(chart.text)}</figcaption></figure>"
        )
    return parts


def write_html(
    groups: list[Group],
    path: Path,
    since: dt.date,
    until: dt.date,
    activity: Activity | None = None,
) -> None:
    """A page staff can read in a browser: charts (with `activity`), then one table per category."""
    escape = html.escape
    parts = [
        "<!doctype html><html lang='fr'><head><meta charset='utf-8'>",
        "<title>Questions sans réponse satisfaisante</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}"
        "table{border-collapse:collapse;width:100%;margin-bottom:2rem}th,td{border:1px solid #888;padding:.4rem;text-align:left;vertical-align:top}"
        "th{background:#eee}code{background:#f3f3f3;padding:.1rem .3rem}"
        "table{table-layout:fixed}td{overflow-wrap:anywhere;word-break:break-word}"
        "th:nth-child(1){width:4.5rem}th:nth-child(3){width:9rem}th:nth-child(4){width:13rem}"
        "th:nth-child(5){width:25%}"
        "figure{margin:1rem 0 2rem}img{max-width:100%;height:auto}figcaption{font-size:.9rem}"
        "</style></head><body>",
        "<h1>Questions sans réponse satisfaisante</h1>",
        f"<p>Du {since.strftime('%d/%m/%Y')} au {until.strftime('%d/%m/%Y')}. Les données personnelles "
        "(courriels, téléphones, numéros, noms) sont masquées ; un message de plus de "
        f"{SHOWN_CHARS} caractères est coupé (…). Pour apprendre au bot une formulation, copiez "
        "la ligne <code>- …</code> sous la bonne intention dans <code>data/nlu.yml</code> "
        "(voir le guide des agents). « Sujets proches » : les sujets entre lesquels le bot a "
        "hésité ; si aucun ne convient, il manque peut-être un sujet.</p>",
    ]
    if activity is not None:
        parts.extend(_charts_html(activity, since, until))
    if not groups:
        parts.append("<p>Aucune question à revoir sur la période.</p>")
    for category in Category.ORDER:
        rows = [group for group in groups if group.category == category]
        if not rows:
            continue
        total = sum(group.count for group in rows)
        parts.append(f"<h2>{escape(category.capitalize())} ({total})</h2>")
        parts.append(
            "<table><thead><tr><th scope='col'>Nombre</th><th scope='col'>Message</th>"
            "<th scope='col'>Sujet</th><th scope='col'>Sujets proches (confiance)</th>"
            "<th scope='col'>À copier</th></tr></thead><tbody>"
        )
        for group in rows:
            variants = "".join(
                f"<br><small>{escape(text)}</small>" for text, _ in group.texts.most_common()[1:4]
            )
            example = escape(group.example)
            parts.append(
                f"<tr><td>{group.count}</td><td>{example}{variants}</td>"
                f"<td>{escape(group.topic)}</td><td>{escape(_closest_text(group))}</td>"
                f"<td><code>- {example}</code></td></tr>"
            )
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
