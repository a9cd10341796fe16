"""The staff report: on hostile messages in a store built here, and on a store filled by the running bot."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import main
from bot.staff.report import (
    Activity,
    Category,
    build_report,
    collect,
    write_csv,
    write_html,
)
from tests.support import RunningBot

NOW = dt.datetime.now(dt.timezone.utc)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Said:
    """One user message as Rasa stores it; `topic` makes it a negative feedback on that topic."""

    sender: str
    intent: str
    text: str
    confidence: float = 0.3
    topic: str | None = None
    ranking: tuple[tuple[str, float], ...] = ()


HOSTILE = [
    Said("nul", "nlu_fallback", "avant\x00après le caractère nul"),
    Said("long", "nlu_fallback", "appelez le 06 12 34 56 78 " + "blabla " * 30_000),
    Said("formule", "nlu_fallback", '=HYPERLINK("http://x","clic")'),
    Said("somme", "hors_sujet", "+SUM(1)", confidence=0.9),
    Said("moins", "nlu_fallback", "-2+3"),
    Said("arobase", "nlu_fallback", "@SUM(A1)"),
    Said("tab", "nlu_fallback", "\t=1+1"),
    Said("retour", "nlu_fallback", "\r=1+1"),
    Said("script", "nlu_fallback", "<script>alert('x')</script> mon mail zorglub@qwx.org"),
    Said("controle", "nlu_fallback", "ligne\nsuivante\x1b[31m\u202eeruges\x07"),
]


def _store(path: Path, messages: list[Said]) -> str:
    """An SQLite file with Rasa's `events` table holding these user messages; its URL."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, type_name TEXT,"
            " timestamp REAL, intent_name TEXT, action_name TEXT, data TEXT)"
        )
        for offset, said in enumerate(messages):
            text, entities = said.text, []
            if said.topic is not None:
                entities = [{"entity": "sujet_avis", "value": said.topic}]
                text = "/avis_negatif" + json.dumps({"sujet_avis": said.topic})
            parse = {
                "intent": {"name": said.intent, "confidence": said.confidence},
                "entities": entities,
                "text": text,
                "intent_ranking": [{"name": n, "confidence": c} for n, c in said.ranking],
            }
            db.execute(
                "INSERT INTO events (sender_id, type_name, timestamp, intent_name, data)"
                " VALUES (?, 'user', ?, ?, ?)",
                (
                    said.sender,
                    NOW.timestamp() - 60 + offset,
                    said.intent,
                    json.dumps({"event": "user", "text": text, "parse_data": parse}),
                ),
            )
    return f"sqlite:///{path}"


def _window() -> tuple[dt.datetime, dt.datetime]:
    return NOW - dt.timedelta(hours=1), NOW + dt.timedelta(minutes=5)


def _csv_cells(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


@pytest.fixture
def hostile_store(tmp_path: Path) -> str:
    return _store(tmp_path / "conversations.db", HOSTILE)


@pytest.mark.timeout(120)
def test_report_command_survives_hostile_messages(hostile_store: str, tmp_path: Path) -> None:
    out = tmp_path / "rapport"
    today = dt.date.today().isoformat()
    assert main(["rapport", "--base", hostile_store, "--depuis", today, "--sortie", str(out)]) == 0
    rows = _csv_cells(out / "rapport.csv")
    assert sum(int(row["nombre"]) for row in rows) == len(HOSTILE)
    assert "avantaprès le caractère nul" in {row["exemple"] for row in rows}
    page = (out / "rapport.html").read_text(encoding="utf-8")
    assert "avantaprès le caractère nul" in page and "\x00" not in page


@pytest.mark.parametrize("typed", ["=HYPERLINK(", "+SUM(1)", "-2+3", "@SUM(A1)", "=1+1"])
def test_formulas_reach_the_spreadsheet_as_text(
    hostile_store: str, tmp_path: Path, typed: str
) -> None:
    path = tmp_path / "rapport.csv"
    write_csv(build_report(collect(hostile_store, *_window())), path)
    cells = [cell for row in _csv_cells(path) for cell in row.values()]
    assert any(cell.startswith("'" + typed) for cell in cells)
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]


def test_topics_and_variants_are_neutralised_too(tmp_path: Path) -> None:
    url = _store(
        tmp_path / "conversations.db",
        [
            Said("a", "nlu_fallback", "=1+1 kjqsdh fjqsdkj"),
            Said("b", "nlu_fallback", "kjqsdh fjqsdkj"),
            Said("c", "nlu_fallback", "kjqsdh fjqsdkj"),
            Said("d", "transports_en_commun", "bus", confidence=0.4),
            Said("d", "avis_negatif", "", topic='=HYPERLINK("http://x","clic")'),
        ],
    )
    path = tmp_path / "rapport.csv"
    write_csv(build_report(collect(url, *_window())), path)
    rows = _csv_cells(path)
    not_understood = next(r for r in rows if r["catégorie"] == Category.NOT_UNDERSTOOD)
    assert (not_understood["exemple"], not_understood["variantes"]) == (
        "kjqsdh fjqsdkj",
        "'=1+1 kjqsdh fjqsdkj",
    )
    negative = next(r for r in rows if r["catégorie"] == Category.NEGATIVE)
    assert negative["sujet"] == '\'=HYPERLINK("http://x","clic")'
    assert negative["exemple"] == "bus"


def test_control_characters_are_removed_and_line_breaks_become_spaces(
    hostile_store: str,
) -> None:
    texts = [text for g in build_report(collect(hostile_store, *_window())) for text in g.texts]
    assert "avantaprès le caractère nul" in texts
    assert "ligne suivante[31meruges" in texts
    assert "=1+1" in texts  # the tab and the carriage return in front are gone
    assert not [t for t in texts if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in t)]


@pytest.mark.timeout(120)
def test_a_long_message_is_masked_and_cut_for_display(hostile_store: str) -> None:
    texts = [t for g in build_report(collect(hostile_store, *_window())) for t in g.texts]
    [long_text] = [t for t in texts if t.startswith("appelez le")]
    assert long_text.startswith("appelez le [téléphone] blabla blabla")
    assert len(long_text) <= 301 and long_text.endswith("…")


@pytest.mark.timeout(120)
def test_long_messages_without_spaces_are_reported_in_bounded_time(tmp_path: Path) -> None:
    # Long runs of letters made the old masking quadratic, and the grouping
    # compared whole messages with SequenceMatcher: minutes for these.
    messages = [
        Said(f"s{i}", "nlu_fallback", f"{letter}{i} " + letter * 100_000)
        for i, letter in enumerate("abcdefghij")
    ]
    url = _store(tmp_path / "conversations.db", messages)
    groups = build_report(collect(url, *_window()))
    assert sum(g.count for g in groups) == len(messages)
    assert all(len(t) <= 301 for g in groups for t in g.texts)


def test_html_is_escaped(hostile_store: str, tmp_path: Path) -> None:
    path = tmp_path / "rapport.html"
    today = dt.date.today()
    write_html(build_report(collect(hostile_store, *_window())), path, today, today)
    page = path.read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; mon mail [e-mail]" in page
    assert "zorglub" not in page


def test_broken_rows_are_skipped_and_unwritable_characters_dropped(tmp_path: Path) -> None:
    url = _store(tmp_path / "conversations.db", [Said("a", "nlu_fallback", "kjqsdh fjqsdkj")])
    with sqlite3.connect(tmp_path / "conversations.db") as db:
        for data in [
            "{not json",
            "[1, 2]",
            '{"text": 12, "parse_data": "x"}',
            "null",
            "[" * 100_000 + "]" * 100_000,
            '{"text": "\\ud800 ok", "parse_data": {"intent": []}}',
        ]:
            db.execute(
                "INSERT INTO events (sender_id, type_name, timestamp, intent_name, data)"
                " VALUES ('b', 'user', ?, 'nlu_fallback', ?)",
                (NOW.timestamp(), data),
            )
    flagged = collect(url, *_window())
    assert [message.text for message in flagged] == ["kjqsdh fjqsdkj", "ok"]
    write_html(build_report(flagged), tmp_path / "rapport.html", dt.date.today(), dt.date.today())


# --- What staff should do: feedback with its topic, closest topics, charts (issue 15) ---

FEEDBACK = [
    Said("bouton", "velo", "ou garer mon velo", confidence=0.9),
    Said("bouton", "avis_negatif", "", topic="velo"),
    Said("tape", "collecte_dechets", "quand passe la poubelle", confidence=0.9),
    Said("tape", "donner_commune", "Balma", confidence=0.9),
    Said("tape", "avis_negatif", "non", confidence=0.9),
    Said("vraiment", "encombrants", "jeter un matelas", confidence=0.9),
    Said("vraiment", "/encombrants", "/decheteries", confidence=1.0),
    Said("vraiment", "avis_negatif", "pas vraiment", confidence=0.8),
    Said("agent-0123456789ab", "avis_negatif", "non", confidence=0.9),
]


def test_every_negative_feedback_carries_its_topic_and_question_however_given(
    tmp_path: Path,
) -> None:
    # The /decheteries press above is stored with its intent, as Rasa does.
    said = [
        Said(s.sender, "decheteries", s.text, s.confidence) if s.intent.startswith("/") else s
        for s in FEEDBACK
    ]
    groups = build_report(collect(_store(tmp_path / "c.db", said), *_window()))
    negative = sorted((g.topic, g.example) for g in groups if g.category == Category.NEGATIVE)
    assert negative == [
        ("collecte_dechets", "quand passe la poubelle"),
        ("decheteries", "jeter un matelas"),
        ("velo", "ou garer mon velo"),
    ]


def test_each_group_shows_the_topics_the_bot_hesitated_between(tmp_path: Path) -> None:
    hesitant = [
        Said(f"h{n}", "nlu_fallback", text, 0.4, ranking=ranking)
        for n, (text, ranking) in enumerate(
            [
                (
                    "cantine de l ecole",
                    (("nlu_fallback", 0.5), ("encombrants", 0.3), ("velo", 0.1)),
                ),
                ("cantine de l ecole svp", (("encombrants", 0.2), ("horaires_mairie", 0.15))),
            ]
        )
    ]
    store = _store(tmp_path / "c.db", hesitant)
    (group,) = build_report(collect(store, *_window()))
    assert [name for name, _ in group.closest_topics] == ["encombrants", "horaires_mairie", "velo"]
    assert group.closest_topics[0][1] == pytest.approx(0.25)
    write_csv([group], tmp_path / "r.csv")
    assert _csv_cells(tmp_path / "r.csv")[0]["sujets proches"].startswith("encombrants (0,25)")
    write_html([group], tmp_path / "r.html", dt.date.today(), dt.date.today())
    assert "Sujets proches" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_the_page_shows_two_charts_with_a_text_alternative(tmp_path: Path) -> None:
    said = [*FEEDBACK, Said("x", "nlu_fallback", "kjqsdh"), Said("y", "nlu_fallback", "zzz")]
    activity = Activity()
    groups = build_report(collect(_store(tmp_path / "c.db", said), *_window(), activity=activity))
    # Staff's own questions (python -m bot demander) are not counted.
    assert sum(activity.per_day.values()) == len(said) - 1
    assert sum(activity.not_understood_per_day.values()) == 2
    assert activity.topics["velo"] == 1
    assert not {"avis_negatif", "donner_commune", "nlu_fallback"} & set(activity.topics)
    today = dt.datetime.now().date()
    write_html(groups, tmp_path / "r.html", today - dt.timedelta(days=6), today, activity)
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    images = re.findall(r"<img src='data:image/png;base64,([A-Za-z0-9+/=]+)' alt='([^']+)'", page)
    assert len(images) == 2
    for data, alt in images:
        assert base64.b64decode(data).startswith(b"\x89PNG") and alt
    assert f"{len(said) - 1} message(s) d'habitants, dont 2 non compris" in html.unescape(page)
    assert "Sujets les plus demandés : " in page and "velo : 1" in page


def test_long_messages_wrap_in_the_table(hostile_store: str, tmp_path: Path) -> None:
    groups = build_report(collect(hostile_store, *_window()))
    write_html(groups, tmp_path / "r.html", dt.date.today(), dt.date.today())
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "td{overflow-wrap:anywhere" in page and "table-layout:fixed" in page
    longest = max((len(text) for g in groups for text in g.texts), default=0)
    assert 0 < longest <= 301


# --- On a store filled by real conversations with the running bot (slower) ---


@pytest.fixture(scope="module")
def filled_store(running_bot: RunningBot) -> str:
    for message in [
        "kjqsdh fjqsdkj",
        "kjqsdh fjqsdk",
        "tu peux me donner la recette du cassoulet ?",
        "recette du cassoulet stp",
        "wxcvbn zorglub.kzw@qwx.org",
    ]:
        running_bot.conversation().send(message)
    conversation = running_bot.conversation()
    conversation.send("qui a gagné le prix icapital ?")
    conversation.send('/avis_negatif{"sujet_avis": "prix_icapital"}')
    return f"sqlite:///{running_bot.database}"


def _live_window() -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.timezone.utc)
    return now - dt.timedelta(hours=1), now + dt.timedelta(minutes=5)


@pytest.mark.servers
def test_unanswered_messages_are_grouped_counted_and_masked(filled_store: str) -> None:
    groups = build_report(collect(filled_store, *_live_window()))
    by_category = {(g.category, g.example): g.count for g in groups}
    not_understood = [g for g in groups if g.category == Category.NOT_UNDERSTOOD]
    assert not_understood[0].count >= 2  # the two near-identical messages form one group
    assert any("[e-mail]" in g.example for g in not_understood)
    assert not any("zorglub.kzw" in text for g in groups for text in g.texts)
    assert sum(c for (cat, _), c in by_category.items() if cat == Category.OFF_TOPIC) >= 1
    negative = [g for g in groups if g.category == Category.NEGATIVE]
    assert [(g.topic, g.example) for g in negative] == [
        ("prix_icapital", "qui a gagné le prix icapital ?")
    ]


@pytest.mark.servers
def test_report_command_writes_csv_and_html(filled_store: str, tmp_path: Path) -> None:
    today = dt.date.today().isoformat()
    assert (
        main(["rapport", "--base", filled_store, "--depuis", today, "--sortie", str(tmp_path)]) == 0
    )
    with (tmp_path / "rapport.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert rows and {"catégorie", "sujet", "nombre", "exemple"} <= set(rows[0])
    page = (tmp_path / "rapport.html").read_text(encoding="utf-8")
    assert "Non compris" in page and "[e-mail]" in page and "zorglub.kzw" not in page
    assert page.count("<img src='data:image/png;base64,") == 2
    assert "Messages par jour et part non comprise" in page and "Sujets les plus demandés" in page
